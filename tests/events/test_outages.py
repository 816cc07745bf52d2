"""Faults: Redis killed and restarted under live streams, and a graceful gunicorn reload.

A separate stack (control, events, media, nginx) points at a throwaway Redis this module
kills; the machine's Redis and the session stack are never touched.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from devtools.stack import Stack
from devtools.throwaway import ThrowawayRedis
from tests.conftest import start_stack, stop_stack
from tests.events.conftest import (
    STATE_EVENTS,
    CachedSession,
    EventStream,
    stalled_client,
    streams_on_both_workers,
    worker_views,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]


def start_redis(server: ThrowawayRedis) -> None:
    # devtools.throwaway leaves its log file object to the garbage collector: a ResourceWarning,
    # which this suite turns into an error.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        server.start()


@pytest.fixture(scope="module")
def throwaway_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path_factory.mktemp("events-redis"))
    start_redis(server)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def outage_stack(
    tmp_path_factory: pytest.TempPathFactory, music_root: Path, throwaway_redis: ThrowawayRedis
) -> Iterator[Stack]:
    stack = start_stack(
        tmp_path_factory.mktemp("events-outage-stack"), music_root, US_REDIS_URL=throwaway_redis.url
    )
    try:
        yield stack
    finally:
        stop_stack(stack)


@pytest.fixture
def outage_session(outage_stack: Stack) -> Iterator[CachedSession]:
    client = redis.Redis.from_url(outage_stack.env["US_REDIS_URL"], socket_timeout=2)
    session = CachedSession(client, outage_stack.env)
    session.store(None)
    yield session
    session.forget()
    client.close()


@pytest.fixture
async def outage_http(outage_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=outage_stack.public_url, timeout=15, limits=limits) as http:
        yield http


async def readyz(stack: Stack) -> int:
    async with httpx.AsyncClient(timeout=5) as http:
        return (await http.get(f"{stack.public_url}/readyz/events")).status_code


async def wait_for(condition_name: str, check: object, timeout: float) -> float:
    """Poll an async predicate; returns how long it took."""
    started = time.monotonic()
    assert callable(check)
    while not await check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{condition_name} not reached within {timeout}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_redis_killed_and_restarted_mid_stream(
    outage_stack: Stack,
    throwaway_redis: ThrowawayRedis,
    outage_session: CachedSession,
    outage_http: httpx.AsyncClient,
    streams: list[EventStream],
) -> None:
    session = outage_session
    await streams_on_both_workers(outage_stack, outage_http, session, streams)
    rev = session.store("timeline")
    for stream in streams:
        assert int((await stream.next(names=STATE_EVENTS))["id"]) == rev

    resyncs_before = {pid: view["resyncs"] for pid, view in (await worker_views(outage_stack)).items()}
    throwaway_redis.kill()

    async def all_workers_disconnected() -> bool:
        return not any(v["connected"] for v in (await worker_views(outage_stack)).values())

    await wait_for("subscribers disconnected", all_workers_disconnected, 10)
    assert await readyz(outage_stack) == 503
    await asyncio.sleep(2)  # a real outage: the reconnect backoff grows meanwhile
    assert not any(stream.ended.is_set() for stream in streams)  # clients stay connected

    start_redis(throwaway_redis)  # empty: the cache is gone too
    back = time.monotonic()
    rev = session.store("timeline")  # the first commit after Redis is back
    for stream in streams:
        event = await stream.next(timeout=5 - (time.monotonic() - back), names=STATE_EVENTS)
        while int(event["id"]) < rev:
            event = await stream.next(timeout=5 - (time.monotonic() - back), names=STATE_EVENTS)
        assert int(event["id"]) == rev  # a timeline_update, or the resync snapshot carrying it
    assert time.monotonic() - back < 5

    async def all_workers_ready() -> bool:
        views = await worker_views(outage_stack)
        return all(v["connected"] for v in views.values()) and await readyz(outage_stack) == 200

    await wait_for("readyz 200 again", all_workers_ready, 5)
    # Every worker resynced its clients after the reconnect (its first connect, before any client
    # was here, had none to resync).
    for pid, view in (await worker_views(outage_stack)).items():
        assert view["disconnects"] >= 1 and view["resyncs"] > resyncs_before[pid], (view, resyncs_before)

    # And the stream is fully live again: the next message arrives as itself.
    sent = time.monotonic()
    rev = session.store("like")
    for stream in streams:
        event = await stream.next(timeout=5, names=STATE_EVENTS)
        while event["event"] == "snapshot" and int(event["id"]) < rev:
            event = await stream.next(timeout=5, names=STATE_EVENTS)
        assert (event["event"], int(event["id"])) == ("like", rev)
    assert time.monotonic() - sent < 5


async def test_graceful_reload_ends_streams_cleanly(
    outage_stack: Stack,
    outage_session: CachedSession,
    outage_http: httpx.AsyncClient,
    streams: list[EventStream],
) -> None:
    """SIGHUP: gunicorn replaces its workers; the old ones end their streams at once, with a
    reconnect hint, instead of holding the reload for graceful_timeout."""
    await outage_stack_ready(outage_stack)
    session = outage_session
    await streams_on_both_workers(outage_stack, outage_http, session, streams)
    old_pids = set(await worker_views(outage_stack))
    master = outage_stack.master_pid("events")
    assert master is not None

    os.kill(master, signal.SIGHUP)
    started = time.monotonic()
    for stream in streams:
        async with asyncio.timeout(8):
            await stream.ended.wait()
    assert time.monotonic() - started < 5
    for stream in streams:
        tail = stream.drain()
        assert tail and "retry" in tail[-1], tail[-3:]
        assert 500 <= int(tail[-1]["retry"]) <= 3000

    async def new_workers_ready() -> bool:
        try:
            views = await worker_views(outage_stack)
        except (TimeoutError, httpx.HTTPError):
            return False
        return not (set(views) & old_pids) and all(v["connected"] for v in views.values())

    await wait_for("new workers ready", new_workers_ready, 20)
    again = await EventStream.open(outage_http, session.device_uuids[0], session.token)
    streams.append(again)
    assert (await again.next())["event"] == "snapshot"
    log = outage_stack.log_file("events").read_text(errors="replace")
    assert "returned without completing response" not in log


async def test_a_stalled_client_does_not_hold_a_graceful_reload(
    outage_stack: Stack, outage_session: CachedSession, outage_http: httpx.AsyncClient
) -> None:
    """Regression: a client that stops reading left its stream stuck in a socket write, so a
    worker told to stop waited for the send timeout and gunicorn's graceful_timeout (10 s)
    expired. A closing stream now gives such a write one second."""
    await outage_stack_ready(outage_stack)
    session = outage_session
    session.title = "x" * 4000  # big frames fill the socket buffers quickly
    session.store(None)
    stalled = stalled_client(outage_stack, session, session.device_uuids[0])
    try:
        deadline = time.monotonic() + 30
        while True:
            await asyncio.to_thread(lambda: [session.store("timeline") for _ in range(50)])
            views = await worker_views(outage_stack, "/debug/clients")
            stuck = [c for v in views.values() for c in v["clients"] if c["dropped"] > 0]
            if stuck or time.monotonic() > deadline:
                break
        assert stuck, "the stalled client's socket never filled"
        old_pids = set(views)
        master = outage_stack.master_pid("events")
        assert master is not None
        os.kill(master, signal.SIGHUP)
        started = time.monotonic()

        def old_workers_alive() -> set[int]:
            alive = set()
            for pid in old_pids:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    continue
                alive.add(pid)
            return alive

        while old_workers_alive() and time.monotonic() - started < 15:
            await asyncio.sleep(0.1)
        assert not old_workers_alive()
        assert time.monotonic() - started < 5
    finally:
        stalled.close()
    await outage_stack_ready(outage_stack)


async def outage_stack_ready(stack: Stack) -> None:
    async def ready() -> bool:
        return await readyz(stack) == 200

    await wait_for("events ready", ready, 10)
