"""Per-user rate limits shared by every worker and host, through Redis (``limits``, async).

On a Redis Cluster (``US_REDIS_CLUSTER_URLS``) the storage is ``limits``' cluster storage on
redis-py's cluster client; each window's two keys share a slot through ``limits``' own braces.

When Redis is unreachable the limiter lets requests through: Postgres is the source of truth and
playback control must keep working during a Redis restart; the outage is logged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from us_common.bus import RATE_LIMIT_PREFIX
from us_common.errors import RateLimited
from us_common.redis import REDIS_ERRORS, AnyRedis, split_urls
from us_control.settings import ControlSettings

log = structlog.get_logger(__name__)

LimitName = Literal[
    "commands", "queue", "media_token", "login", "pairing_start", "pairing_misses", "scrobble_targets"
]


class RateLimits:
    def __init__(self, settings: ControlSettings) -> None:
        storage = _storage(settings)
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        notations: dict[str, str] = {
            "commands": settings.rate_limit_commands,
            "queue": settings.rate_limit_queue,
            "media_token": settings.rate_limit_media_token,
            "login": settings.rate_limit_login,
            "pairing_start": settings.rate_limit_pairing_start,
            "pairing_misses": settings.rate_limit_pairing_misses,
            # Adding a target or replacing its token makes this server call the receiver.
            "scrobble_targets": settings.rate_limit_scrobble_targets,
        }
        self._items: dict[str, list[RateLimitItem]] = {
            name: parse_many(notation) if notation else [] for name, notation in notations.items()
        }

    async def hit(self, name: LimitName, key: str) -> None:
        """Count one request; raise 429 with ``Retry-After`` once any window is exhausted."""
        await self._check(name, key, self._limiter.hit)

    async def refuse_if_exhausted(self, name: LimitName, key: str) -> None:
        """Raise 429 if ``key`` has no request left in some window, without counting one
        (for limits that count only failures, such as wrong pairing codes)."""
        await self._check(name, key, self._limiter.test)

    async def _check(self, name: LimitName, key: str, allows: Callable[..., Awaitable[bool]]) -> None:
        for item in self._items[name]:
            try:
                if await allows(item, name, key):
                    continue
                stats = await self._limiter.get_window_stats(item, name, key)
            except Exception as exc:  # noqa: BLE001 - limits wraps every storage failure
                log.warning("rate_limit_storage_unavailable", error_type=type(exc).__name__)
                return
            raise RateLimited(math.ceil(max(stats.reset_time - time.time(), 1)))


# A fixed window that starts with its first hit: INCR, and the expiry set by the first one.
_COUNT_IN_WINDOW_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
return n
"""


async def count_in_window(redis: AnyRedis, key: str, window_s: int) -> int | None:
    """Count one event in ``key``'s window; ``None`` when Redis is unreachable (logged)."""
    try:
        return int(await redis.eval(_COUNT_IN_WINDOW_LUA, 1, key, window_s))
    except REDIS_ERRORS as exc:
        log.warning("window_count_failed", error_type=type(exc).__name__)
        return None


def _storage(settings: ControlSettings) -> RedisStorage:
    options: dict[str, Any] = {
        "implementation": "redispy",
        "key_prefix": RATE_LIMIT_PREFIX,
        "wrap_exceptions": True,
        "socket_timeout": 0.5,
        "socket_connect_timeout": 0.5,
    }
    seeds = split_urls(settings.redis_cluster_urls)
    if not seeds:
        return RedisStorage("async+" + settings.redis_url, **options)
    # limits' cluster URI: one scheme, the first seed's credentials, every seed's host:port;
    # TLS and its query options (ssl_ca_certs=…) become client options.
    first = urlsplit(seeds[0])
    credentials = first.netloc.rpartition("@")[0]
    hosts = ",".join(urlsplit(seed).netloc.rpartition("@")[2] for seed in seeds)
    uri = f"async+redis+cluster://{credentials + '@' if credentials else ''}{hosts}"
    if first.scheme == "rediss":
        options["ssl"] = True
    options.update(parse_qsl(first.query))
    return RedisClusterStorage(uri, **options)
