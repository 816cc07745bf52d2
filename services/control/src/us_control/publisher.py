"""After-commit publishing: cache the committed state in Redis and announce it, in one script.

Redis may be down while Postgres commits: the command still succeeds (state lives in Postgres),
the user is remembered here and a background loop re-sends the latest state once Redis answers.
Gateways heal anything else through beacons that carry the current revision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from uuid import UUID

import structlog

from us_common.bus import (
    BusMessage,
    MessageType,
    SessionCache,
    media_track_key,
    session_cache_key,
    store_and_publish_call,
    store_and_publish_script,
)
from us_common.redis import REDIS_ERRORS, AnyRedis, is_cluster

log = structlog.get_logger(__name__)

CacheLoader = Callable[[UUID], Awaitable[SessionCache]]


def now_ms() -> int:
    return int(time.time() * 1000)


class SessionPublisher:
    def __init__(self, redis: AnyRedis) -> None:
        self.redis = redis
        # A cluster gets sharded pub/sub: the message goes to the user's shard only.
        self._script = redis.register_script(store_and_publish_script(sharded=is_cluster(redis)))
        # user -> message type of a publish that did not reach Redis
        self._unsent: dict[UUID, MessageType | None] = {}

    async def store(self, user_uuid: UUID, cache: SessionCache, message_type: MessageType | None) -> bool:
        """Write the cache (if newer) and publish one message; False when Redis is unreachable."""
        message = BusMessage(rev=cache.rev, type=message_type, ts=now_ms()).dumps() if message_type else ""
        keys, args = store_and_publish_call(user_uuid, cache, message)
        try:
            await self._script(keys=keys, args=args)
        except Exception as exc:  # noqa: BLE001 - after the commit: announce later, never a 500
            # Not only RedisError: redis-py's cluster client, reconnecting while a master fails
            # over, raised AttributeError ('NoneType' object has no attribute 'writelines') —
            # a committed command answered 500 (fault stage, master killed mid-stream).
            log.warning("publish_failed", user_uuid=str(user_uuid), error_type=type(exc).__name__)
            previous = self._unsent.get(user_uuid)
            self._unsent[user_uuid] = message_type or previous
            return False
        return True

    async def store_media_path(self, user_uuid: UUID, track_uuid: UUID, rel_path: str, ttl_s: int) -> None:
        """What the media verifier reads on its hot path (with the user's session hash: one slot);
        best effort (on a miss it asks control)."""
        try:
            await self.redis.set(media_track_key(user_uuid, track_uuid), rel_path.encode("utf-8"), ex=ttl_s)
        except REDIS_ERRORS as exc:
            log.warning("media_cache_write_failed", error_type=type(exc).__name__)

    async def resend_unsent(self, load: CacheLoader) -> int:
        """Re-send the latest committed state of every user whose publish failed."""
        sent = 0
        for user_uuid, message_type in list(self._unsent.items()):
            try:
                cache = await load(user_uuid)
            except Exception as exc:  # noqa: BLE001 - Postgres may be down too; try next round
                log.warning("resend_load_failed", error_type=type(exc).__name__)
                return sent
            self._unsent.pop(user_uuid, None)
            if await self.store(user_uuid, cache, message_type or "timeline"):
                sent += 1
            else:
                return sent
        return sent

    async def cached_revisions(self, user_uuids: list[UUID]) -> list[int | None]:
        """The revision each user's cache holds (``None``: no cache), in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for user_uuid in user_uuids:
            pipe.hget(session_cache_key(user_uuid), "rev")
        return [int(rev) if rev is not None else None for rev in await pipe.execute()]

    @property
    def unsent_count(self) -> int:
        return len(self._unsent)

    async def run_resend_loop(self, load: CacheLoader, interval_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval_s)
            if self._unsent:
                await self.resend_unsent(load)
