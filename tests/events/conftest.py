"""Helpers for gateway tests: a cached session written the way control writes it, SSE readers,
and a view of every events worker through its loopback debug endpoint.

Until control's session routes are used, tests play control's part: they write
the user's session hash and publish on the user's channel with the same Lua script
(``us_common.bus.store_and_publish_script``), for fresh users nobody else touches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis

from devtools.stack import Stack
from tests.support import redis_for
from us_common.bus import (
    SessionCache,
    session_cache_key,
    store_and_publish_call,
    store_and_publish_script,
    user_channel,
)
from us_common.jwt import TokenCodec, TokenKind
from us_common.timeline import Actions, PlayState, RepeatMode, SessionSnapshot, TrackPublic

STATE_EVENTS = {"snapshot", "timeline_update", "speaker_change", "queue_change", "options_change", "like"}


def now_ms() -> int:
    return int(time.time() * 1000)


def access_token(env: dict[str, str], user_uuid: str, ttl_s: int = 3600) -> str:
    codec = TokenCodec(
        TokenKind.ACCESS, env["US_ACCESS_TOKEN_KEY"], env.get("US_ISSUER", "universalscrobbler")
    )
    return codec.encode({"sub": user_uuid, "name": "events-test"}, ttl_s)


@dataclass
class CachedSession:
    """One user's session as control caches it; ``store`` commits a new revision."""

    redis: redis.Redis | redis.RedisCluster
    env: dict[str, str]
    user_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    session_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    device_uuids: list[str] = field(default_factory=lambda: [str(uuid.uuid4()) for _ in range(2)])
    rev: int = 0
    title: str = "Dawn"
    position_ms: int = 0
    play_state: PlayState = PlayState.PAUSED
    # A Redis Cluster client (tests/cluster): sharded publish, as control does there.
    sharded: bool = False

    @property
    def token(self) -> str:
        return access_token(self.env, self.user_uuid)

    def add_devices(self, count: int) -> list[str]:
        added = [str(uuid.uuid4()) for _ in range(count)]
        self.device_uuids.extend(added)
        return added

    def snapshot(self, rev: int) -> SessionSnapshot:
        track = TrackPublic(
            track_uuid=uuid.UUID(int=1),
            title=self.title,
            artist="Alpha",
            album="First Light",
            album_uuid=None,
            album_artist="Alpha",
            track_number=1,
            disc_number=1,
            duration_ms=600_000,
            available=True,
        )
        return SessionSnapshot(
            session_uuid=uuid.UUID(self.session_uuid),
            user_uuid=uuid.UUID(self.user_uuid),
            revision=rev,
            active_device_uuid=uuid.UUID(self.device_uuids[0]),
            track_uuid=track.track_uuid,
            position_ms=self.position_ms,
            play_state=self.play_state,
            shuffle=False,
            repeat_mode=RepeatMode.OFF,
            volume_percent=50,
            actions=Actions(play=True, pause=True, next=False, prev=False, seek=True),
            queue_position=0,
            queue_length=1,
            updated_at=datetime.now(UTC),
            server_time_ms=now_ms(),
            track=track,
        )

    def store(self, message_type: str | None = "timeline", rev: int | None = None) -> int:
        """Write the cache (if newer) and publish, as control does after a commit.

        ``message_type=None`` writes without publishing: a lost pub/sub message.
        """
        rev = self.rev + 1 if rev is None else rev
        self.rev = max(self.rev, rev)
        cache = SessionCache(
            rev=rev,
            snapshot=self.snapshot(rev),
            media_epoch=1,
            active_device_uuid=self.device_uuids[0],
            session_uuid=self.session_uuid,
            device_uuids=frozenset(self.device_uuids),
        )
        message = json.dumps({"rev": rev, "type": message_type, "ts": now_ms()}) if message_type else ""
        keys, args = store_and_publish_call(self.user_uuid, cache, message)
        self.redis.eval(store_and_publish_script(self.sharded), len(keys), *keys, *args)
        return rev

    def publish_only(self, rev: int, message_type: str = "timeline") -> None:
        """A message without a cache write (a re-send, or one published out of order)."""
        channel, data = user_channel(self.user_uuid), json.dumps({"rev": rev, "type": message_type, "ts": now_ms()})
        if self.sharded:
            self.redis.spublish(channel, data)
        else:
            self.redis.publish(channel, data)

    def forget(self) -> None:
        with contextlib.suppress(redis.RedisError):
            self.redis.delete(session_cache_key(self.user_uuid))


@pytest.fixture
def redis_client(stack: Stack) -> Iterator[redis.Redis | redis.RedisCluster]:
    client = redis_for(stack)
    yield client
    client.close()


@pytest.fixture
def cached_session(stack: Stack, redis_client: redis.Redis | redis.RedisCluster) -> Iterator[CachedSession]:
    session = CachedSession(redis_client, stack.env, sharded=isinstance(redis_client, redis.RedisCluster))
    session.store(None)
    yield session
    session.forget()


class EventStream:
    """One SSE connection read in the background; parsed events land in a queue."""

    def __init__(self, response: httpx.Response, exit_stack: contextlib.AsyncExitStack) -> None:
        self.response = response
        self._exit_stack = exit_stack
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.ended = asyncio.Event()
        self._task = asyncio.create_task(self._pump())

    @classmethod
    async def open(
        cls,
        http: httpx.AsyncClient,
        device_uuid: str,
        token: str | None = None,
        last_event_id: str | None = None,
        cookies: dict[str, str] | None = None,
    ) -> EventStream:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        exit_stack = contextlib.AsyncExitStack()
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        request = http.build_request("GET", "/events", params={"device_uuid": device_uuid}, headers=headers)
        response = await http.send(request, stream=True)
        exit_stack.push_async_callback(response.aclose)
        return cls(response, exit_stack)

    async def _pump(self) -> None:
        event: dict[str, Any] = {}
        try:
            async for line in self.response.aiter_lines():
                if line == "":
                    if event:
                        event["received_at"] = time.monotonic()
                        self.events.put_nowait(event)
                        event = {}
                    continue
                if line.startswith(":"):
                    self.events.put_nowait({"comment": line[1:].strip()})
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    event["data"] = json.loads(value)
                elif name in ("event", "id", "retry"):
                    event[name] = value
        except (httpx.HTTPError, asyncio.CancelledError):
            pass
        finally:
            self.ended.set()

    async def next(self, timeout: float = 10.0, names: set[str] | None = None) -> dict[str, Any]:
        """The next event (comments skipped), optionally only of the given names."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no event {names or ''} within {timeout}s")
            async with asyncio.timeout(remaining):
                event = await self.events.get()
            if "comment" in event:
                continue
            if names is None or event.get("event") in names:
                return event

    async def state_events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return [await self.next(timeout, STATE_EVENTS) for _ in range(count)]

    def drain(self) -> list[dict[str, Any]]:
        """Everything received so far and not yet consumed."""
        drained = []
        while not self.events.empty():
            drained.append(self.events.get_nowait())
        return drained

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._exit_stack.aclose()


@pytest.fixture
async def public_http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=stack.public_url, timeout=15, limits=limits) as http:
        yield http


@pytest.fixture
async def streams() -> AsyncIterator[list[EventStream]]:
    """Streams a test opens; closed at the end whatever happened."""
    opened: list[EventStream] = []
    yield opened
    await asyncio.gather(*(stream.close() for stream in opened), return_exceptions=True)


async def worker_views(stack: Stack, path: str = "/debug/counts", workers: int = 2) -> dict[int, Any]:
    """``path`` as answered by each events worker (fresh connections until each has answered).

    Every debug answer carries the worker's ``pid``.
    """
    views: dict[int, Any] = {}
    deadline = time.monotonic() + 10
    while len(views) < workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only workers {sorted(views)} answered {path}")
        # A new connection per request: the kernel hands each to one of the workers.
        async with httpx.AsyncClient(base_url=stack.service_url("events"), timeout=5) as http:
            response = await http.get(path)
        assert response.status_code == 200, response.text
        body = response.json()
        views[int(body["pid"])] = body
    return views


async def open_streams(
    http: httpx.AsyncClient, session: CachedSession, devices: list[str], opened: list[EventStream]
) -> list[EventStream]:
    new = await asyncio.gather(*(EventStream.open(http, d, session.token) for d in devices))
    opened.extend(new)
    return list(new)


async def streams_on_both_workers(
    stack: Stack, http: httpx.AsyncClient, session: CachedSession, opened: list[EventStream]
) -> dict[int, list[EventStream]]:
    """Open streams (one device each) until both events workers serve at least one."""
    by_device: dict[str, EventStream] = {}
    for _ in range(8):
        devices = session.add_devices(4)
        session.store(None)  # the new devices are known to the cache
        for stream, device in zip(await open_streams(http, session, devices, opened), devices, strict=True):
            assert stream.response.status_code == 200
            await stream.next(names={"snapshot"})
            by_device[device] = stream
        placement: dict[int, list[EventStream]] = {}
        for pid, view in (await worker_views(stack, "/debug/clients")).items():
            mine = [by_device[c["device_uuid"]] for c in view["clients"] if c["device_uuid"] in by_device]
            placement[pid] = mine
        if all(placement.values()):
            return placement
    raise AssertionError(f"could not reach both workers: {[len(v) for v in placement.values()]}")


def stalled_client(stack: Stack, session: CachedSession, device: str) -> socket.socket:
    """An SSE client that connects, then never reads (small receive buffer, so it fills fast)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(stack.env["US_NGINX_PORT"])))
    request = (
        f"GET /events?device_uuid={device} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {session.token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    sock.sendall(request.encode())
    return sock
