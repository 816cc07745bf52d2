"""Reading a user's cached session: Redis first, control only when the hash is missing.

Redis reads are pipelined with ``TIME`` so projections use the clock every worker and host
shares (DESIGN.md, Clock). On a miss, control's ``GET /internal/sessions/{user}/cache`` answers
from Postgres and refills the hash; one request per user at a time, a few users at a time.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from pydantic import ValidationError
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from us_common.bus import SessionCache, session_cache_key
from us_common.internal import ControlUnavailable, InternalClient
from us_common.jwt import TokenCodec
from us_common.redis import AnyRedis
from us_common.timeline import SessionSnapshot

log = structlog.get_logger(__name__)



@dataclass(frozen=True, slots=True)
class SessionState:
    """What streams need of the cache: the revision and the renderable snapshot."""

    rev: int
    snapshot: SessionSnapshot

    @classmethod
    def of(cls, cache: SessionCache) -> SessionState:
        return cls(cache.rev, cache.snapshot)


class CacheUnavailable(Exception):
    """Neither Redis nor control could say what the session is right now."""


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def parse_cache(fields: dict[Any, Any]) -> SessionCache | None:
    """``None`` for a missing or unreadable hash (a reader then treats it as a miss)."""
    if not fields:
        return None
    try:
        return SessionCache.from_fields(fields)
    except (ValidationError, ValueError, KeyError, TypeError):
        log.warning("session_cache_unreadable")
        return None


def parse_state(rev: bytes | str | None, snapshot: bytes | str | None) -> SessionState | None:
    if not rev or not snapshot:
        return None
    try:
        return SessionState(int(rev), SessionSnapshot.model_validate_json(snapshot))
    except (ValidationError, ValueError):
        log.warning("session_cache_unreadable")
        return None


class SessionCacheReader:
    def __init__(
        self,
        redis: AnyRedis,
        control: httpx.AsyncClient,
        service_codec: TokenCodec,
        concurrency: int,
        redis_concurrency: int = 32,
    ) -> None:
        self._redis = redis
        # At most this many reads at once. In a cluster a read may hold two connections of one
        # node (its pipeline and ``TIME``) and redis-py's per-node pools refuse when full (the
        # connect answered 503): half as many reads as a node's pool has connections.
        per_read = 2 if isinstance(redis, RedisCluster) else 1
        self._reads = asyncio.Semaphore(max(1, redis_concurrency // per_read))
        self._control = InternalClient(control, service_codec, "events")
        self._limit = asyncio.Semaphore(concurrency)
        self._inflight: dict[str, asyncio.Task[SessionCache | None]] = {}
        self.control_fetches = 0

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    async def read_many(self, user_uuids: Sequence[str]) -> tuple[int, list[SessionCache | None]]:
        """One round trip: the shared clock and every user's hash. Raises on Redis errors."""
        now_ms, results = await self._read_with_clock(user_uuids, lambda pipe, key: pipe.hgetall(key))
        return now_ms, [parse_cache(r) for r in results]

    async def read_states(self, user_uuids: Sequence[str]) -> tuple[int, list[SessionState | None]]:
        """Like :meth:`read_many`, two fields per user (``HMGET``): about a third of the cost of
        ``HGETALL`` with redis-py's parser — what beacons and deliveries need."""
        now_ms, results = await self._read_with_clock(
            user_uuids, lambda pipe, key: pipe.hmget(key, ["rev", "snapshot"])
        )
        return now_ms, [parse_state(*r) for r in results]

    async def _read_with_clock(
        self, user_uuids: Sequence[str], read: Callable[[Any, str], Any]
    ) -> tuple[int, list[Any]]:
        """``read`` of every user's hash and Redis ``TIME``: in one pipeline on one Redis; in a
        cluster (whose pipelines refuse keyless commands) ``TIME`` of the first user's master at
        the same time as the pipeline, so still one round trip of waiting."""
        keys = [session_cache_key(user_uuid) for user_uuid in user_uuids]
        pipe = self._redis.pipeline(transaction=False)
        cluster = isinstance(self._redis, RedisCluster)
        if not cluster:
            pipe.time()
        for key in keys:
            read(pipe, key)
        try:
            async with self._reads:
                if isinstance(self._redis, RedisCluster):
                    node = self._redis.get_node_from_key(keys[0]) if keys else self._redis.get_random_node()
                    clock, results = await asyncio.gather(self._redis.time(target_nodes=node), pipe.execute())
                else:
                    clock, *results = await pipe.execute()
        except RedisClusterException as exc:  # not a RedisError: no slot map, a cluster that is down
            raise RedisError(str(exc)) from exc
        seconds, micros = clock
        return int(seconds) * 1000 + int(micros) // 1000, results

    async def read_state(self, user_uuid: str) -> SessionState | None:
        """One user's state; control when the hash is missing; ``None`` for an unknown user.

        What a delivery reads per message: one ``HMGET``, no clock (a message's event carries the
        message's own ``ts``) and no pipeline — in a cluster, a pipeline plus ``TIME`` cost two
        requests and redis-py's cluster-pipeline machinery for every message."""
        try:
            async with self._reads:
                rev, snapshot = await self._redis.hmget(session_cache_key(user_uuid), ["rev", "snapshot"])
            state = parse_state(rev, snapshot)
        except (RedisError, RedisClusterException, OSError) as exc:
            log.warning("session_cache_read_failed", error_type=type(exc).__name__)
            state = None
        if state is None:
            cache = await self.from_control(user_uuid)
            state = SessionState.of(cache) if cache is not None else None
        return state

    async def read(self, user_uuid: str) -> tuple[int, SessionCache | None]:
        """The clock and the session; ``None`` when control does not know the user."""
        try:
            now_ms, (cache,) = await self.read_many([user_uuid])
        except (RedisError, OSError) as exc:
            log.warning("session_cache_read_failed", error_type=type(exc).__name__)
            now_ms, cache = wall_clock_ms(), None
        if cache is None:
            cache = await self.from_control(user_uuid)
        return now_ms, cache

    async def fill_missing(
        self, user_uuids: Sequence[str], states: list[SessionState | None]
    ) -> list[SessionState | None]:
        """Ask control for every missing entry (concurrently, bounded); failures stay ``None``."""
        missing = [i for i, state in enumerate(states) if state is None]
        if not missing:
            return states
        answers = await asyncio.gather(
            *(self.from_control(user_uuids[i]) for i in missing), return_exceptions=True
        )
        filled = list(states)
        for i, answer in zip(missing, answers, strict=True):
            if isinstance(answer, SessionCache):
                filled[i] = SessionState.of(answer)
        return filled

    async def from_control(self, user_uuid: str) -> SessionCache | None:
        task = self._inflight.get(user_uuid)
        if task is None:
            task = asyncio.create_task(self._fetch(user_uuid))
            self._inflight[user_uuid] = task
            task.add_done_callback(functools.partial(self._fetch_done, user_uuid))
        # shield: one caller going away must not cancel the fetch others wait for.
        return await asyncio.shield(task)

    def _fetch_done(self, user_uuid: str, task: asyncio.Task[SessionCache | None]) -> None:
        if self._inflight.get(user_uuid) is task:
            del self._inflight[user_uuid]
        if not task.cancelled():
            # Every waiter may have gone (shield drops their callbacks): mark it retrieved.
            task.exception()

    async def _fetch(self, user_uuid: str) -> SessionCache | None:
        async with self._limit:
            self.control_fetches += 1
            try:
                fields = await self._control.get_json(f"/internal/sessions/{user_uuid}/cache")
            except ControlUnavailable as exc:
                raise CacheUnavailable from exc
        if fields is None:
            return None
        try:
            cache = SessionCache.from_fields(fields)
        except (ValidationError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("control_fallback_unreadable")
            raise CacheUnavailable from exc
        if cache is None:
            raise CacheUnavailable
        return cache
