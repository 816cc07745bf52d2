"""Per-user rate limits shared by every worker and host, through Redis (``limits``, async).

When Redis is unreachable the limiter lets requests through: Postgres is the source of truth and
playback control must keep working during a Redis restart; the outage is logged.
"""

from __future__ import annotations

import math
import time
from typing import Literal

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from us_common.errors import RateLimited
from us_control.settings import ControlSettings

log = structlog.get_logger(__name__)

LimitName = Literal["commands", "queue", "media_token", "login"]


class RateLimits:
    def __init__(self, settings: ControlSettings) -> None:
        storage = RedisStorage(
            "async+" + settings.redis_url,
            implementation="redispy",
            key_prefix="us:ratelimit",
            wrap_exceptions=True,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
        )
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._items: dict[str, list[RateLimitItem]] = {
            "commands": parse_many(settings.rate_limit_commands) if settings.rate_limit_commands else [],
            "queue": parse_many(settings.rate_limit_queue) if settings.rate_limit_queue else [],
            "media_token": parse_many(settings.rate_limit_media_token)
            if settings.rate_limit_media_token
            else [],
            "login": parse_many(settings.rate_limit_login) if settings.rate_limit_login else [],
        }

    async def hit(self, name: LimitName, key: str) -> None:
        """Count one request; raise 429 with ``Retry-After`` once any window is exhausted."""
        for item in self._items[name]:
            try:
                allowed = await self._limiter.hit(item, name, key)
                if allowed:
                    continue
                stats = await self._limiter.get_window_stats(item, name, key)
            except Exception as exc:  # noqa: BLE001 - limits wraps every storage failure
                log.warning("rate_limit_storage_unavailable", error_type=type(exc).__name__)
                return
            raise RateLimited(math.ceil(max(stats.reset_time - time.time(), 1)))
