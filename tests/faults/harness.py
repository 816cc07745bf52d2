"""The fault harness: a steady stream of commands from two devices, SSE recorders on every events
worker, a watch on the Redis channel, and the ledger that says whether anything was lost or doubled.

Every scenario in this package runs the same way (docs/RELIABILITY.md):

1. ``Scene.open``: a fresh user, two commanding devices and listener devices, a track paused on
   device A (the speaker), SSE recorders until both events workers serve some of them.
2. ``CommandDriver``: each device sends ``seek`` to a position nobody used before (so every
   applied command is a change, one revision each), each with its own ``client_event_uuid``.
   An answer that is not a 200 (502 from nginx, 503 from control, a dropped connection) leaves the
   outcome unknown, so the device retries *the same* command, as a real client does, until a 200.
3. The fault, injected by the test.
4. ``Scene.verify``: none lost and none doubled (the database's revision grew by exactly the
   number of commands that got a 200, and ``applied_event`` holds each of them once, at
   consecutive revisions), no 500 anywhere, revisions seen by each SSE client strictly increase,
   and every client ends on the database's final revision.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
import redis.asyncio as aredis
from redis.exceptions import RedisError

from devtools.stack import Stack
from tests.conftest import UserPool
from tests.support import PASSWORD, login, sql
from us_common.bus import user_channel

TRACK_TITLE = "Long Walk"  # 10 minutes: seeks to fresh positions never clamp to the end
STATE_EVENTS = {"snapshot", "timeline_update", "speaker_change", "queue_change", "options_change", "like"}


# --- commands ------------------------------------------------------------------------------------


@dataclass
class Command:
    """One seek with its own ``client_event_uuid``; retried as itself until it gets a 200."""

    event_uuid: str
    device_uuid: str
    position_ms: int
    outcomes: list[str] = field(default_factory=list)  # "200", "502", "ReadError", …
    revision: int | None = None
    acked_at: float | None = None

    @property
    def first_try(self) -> bool:
        """Answered 200 by the very first request: its publish ran before the answer left."""
        return self.outcomes[:1] == ["200"]


class CommandDriver:
    """Two devices, each sending one command at a time, ``interval_s`` apart."""

    def __init__(
        self, http: httpx.AsyncClient, session_uuid: str, devices: list[str], interval_s: float = 0.05
    ) -> None:
        self.http = http
        self.session_uuid = session_uuid
        self.devices = devices
        self.interval_s = interval_s
        self.commands: list[Command] = []
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self._positions = itertools.count(1000, 7)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._device_loop(d)) for d in self.devices]

    async def stop(self, resolve_within_s: float = 30.0) -> None:
        """Stop sending new commands; the ones in flight keep retrying until they get a 200."""
        self._stop.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(resolve_within_s):
                await asyncio.gather(*self._tasks)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def acked(self) -> list[Command]:
        return [c for c in self.commands if c.revision is not None]

    @property
    def unresolved(self) -> list[Command]:
        return [c for c in self.commands if c.revision is None]

    async def send(self, device_uuid: str) -> Command:
        """One command, retried until it gets a 200 (or the driver gives up after stop)."""
        command = Command(str(uuid.uuid4()), device_uuid, next(self._positions) % 590_000)
        self.commands.append(command)
        await self._settle(command)
        return command

    async def _device_loop(self, device_uuid: str) -> None:
        while not self._stop.is_set():
            await self.send(device_uuid)
            await asyncio.sleep(self.interval_s)

    async def _settle(self, command: Command) -> None:
        body = {
            "position_ms": command.position_ms,
            "device_uuid": command.device_uuid,
            "client_event_uuid": command.event_uuid,
        }
        while True:
            started = time.monotonic()
            try:
                response = await self.http.post(f"/sessions/{self.session_uuid}/seek", json=body)
                outcome = str(response.status_code)
            except httpx.HTTPError as exc:
                response, outcome = None, type(exc).__name__
            self.latencies.append(time.monotonic() - started)
            command.outcomes.append(outcome)
            self.statuses[outcome] += 1
            if response is not None and response.status_code == 200:
                command.revision = int(response.json()["revision"])
                command.acked_at = time.monotonic()
                return
            if response is not None and response.status_code not in (500, 502, 503, 504):
                return  # a definite refusal (4xx): the command did nothing; verify() reports it
            await asyncio.sleep(0.1)


# --- SSE clients -------------------------------------------------------------------------------------


@dataclass
class StreamEnd:
    at: float
    goodbye: bool  # the server said goodbye with a retry hint


class SseRecorder:
    """One SSE client that behaves like a good EventSource: it reconnects after the server's retry
    hint (or 200 ms after an abrupt end), sending ``Last-Event-ID``, and records what it saw."""

    def __init__(self, http: httpx.AsyncClient, token: str, device_uuid: str) -> None:
        self.http = http
        self.token = token
        self.device_uuid = device_uuid
        self.revs: list[int] = []  # state-event revisions in arrival order, across reconnects
        self.arrivals: dict[int, float] = {}
        self.violations: list[tuple[int, int]] = []  # (previous, offending) when not increasing
        self.beacon_rev: int | None = None
        self.connects = 0
        self.snapshots = 0
        self.refused: Counter[str] = Counter()  # statuses of connection attempts that failed
        self.ends: list[StreamEnd] = []
        self.back_after: list[float] = []  # stream end -> the next stream's first event
        self.connected = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def last_rev(self) -> int | None:
        return self.revs[-1] if self.revs else None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for(self, rev: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while (self.last_rev or -1) < rev:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 0.5)):
                    await self._changed.wait()
        return True

    async def _run(self) -> None:
        while True:
            retry_ms = await self._one_stream()
            await asyncio.sleep(retry_ms / 1000)

    async def _one_stream(self) -> int:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        if self.revs:
            headers["Last-Event-ID"] = str(self.revs[-1])
        retry_ms, goodbye, first, opened = 200, False, True, False
        try:
            async with self.http.stream(
                "GET", "/events", params={"device_uuid": self.device_uuid}, headers=headers
            ) as response:
                if response.status_code != 200:
                    self.refused[str(response.status_code)] += 1
                    return 200
                opened = True
                self.connects += 1
                self.connected.set()
                event: dict[str, str] = {}
                async for line in response.aiter_lines():
                    if line:
                        name, _, value = line.partition(":")
                        event[name] = value.removeprefix(" ")
                        continue
                    if first and self.ends and ("data" in event or "event" in event):
                        self.back_after.append(time.monotonic() - self.ends[-1].at)
                        first = False
                    if "retry" in event:
                        retry_ms, goodbye = int(event["retry"]), True
                    self._on_event(event)
                    event = {}
        except httpx.HTTPError as exc:
            if not opened:
                self.refused[type(exc).__name__] += 1
                return 200
        self.ends.append(StreamEnd(time.monotonic(), goodbye))
        return retry_ms

    def _on_event(self, event: dict[str, str]) -> None:
        name = event.get("event")
        if "data" not in event or name is None:
            return
        rev = int(json.loads(event["data"])["rev"])
        if name == "timeline_beacon":
            self.beacon_rev = rev
            return
        if name not in STATE_EVENTS:
            return
        if name == "snapshot":
            self.snapshots += 1
        if self.revs and rev <= self.revs[-1]:
            self.violations.append((self.revs[-1], rev))
        self.revs.append(rev)
        self.arrivals.setdefault(rev, time.monotonic())
        self._changed.set()


# --- the Redis channel -------------------------------------------------------------------------------


class ChannelWatch:
    """Every message published on the user's channel, as an outside subscriber sees them.
    Reconnects when Redis goes away (what was published meanwhile is, by design, gone)."""

    def __init__(self, redis_url: str, user_uuid: str) -> None:
        self.redis_url = redis_url
        self.channel = user_channel(user_uuid)
        self.revs: list[int] = []
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            client = aredis.Redis.from_url(self.redis_url, socket_timeout=2, socket_connect_timeout=1)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=0.5)
                    if message is not None and message["type"] == "message":
                        self.revs.append(int(json.loads(message["data"])["rev"]))
            except (RedisError, OSError):
                await asyncio.sleep(0.2)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()


# --- a scene: one user, the driver, the recorders -----------------------------------------------------


async def debug_clients(stack: Stack) -> dict[int, list[dict[str, Any]]]:
    """Each events worker's clients (``/debug/clients`` answers on loopback only)."""
    views: dict[int, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + 10
    attempts = 0
    while len(views) < stack.workers["events"] or attempts < 6:
        attempts += 1
        if time.monotonic() > deadline:
            break
        try:
            async with httpx.AsyncClient(base_url=stack.service_url("events"), timeout=3) as http:
                body = (await http.get("/debug/clients")).json()
        except (httpx.HTTPError, ValueError):
            await asyncio.sleep(0.1)
            continue
        views[int(body["pid"])] = list(body["clients"])
    return views


@dataclass
class Scene:
    stack: Stack
    user_uuid: str
    token: str
    session_uuid: str
    commanders: list[str]
    http: httpx.AsyncClient
    sse_http: httpx.AsyncClient
    start_rev: int
    recorders: list[SseRecorder] = field(default_factory=list)
    driver: CommandDriver | None = None
    watch: ChannelWatch | None = None

    # -- setup --

    @classmethod
    async def open(cls, stack: Stack, users: UserPool, admin_redis_url: str | None = None) -> Scene:
        username, user_uuid = users.take(stack, True)
        token = await asyncio.to_thread(login, stack, username, PASSWORD)
        headers = {"Authorization": f"Bearer {token}"}
        http = httpx.AsyncClient(
            base_url=stack.public_url,
            headers=headers,
            timeout=httpx.Timeout(15, connect=5),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        )
        sse_http = httpx.AsyncClient(
            base_url=stack.public_url,
            timeout=httpx.Timeout(30, connect=5),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=0),
        )
        commanders = [await register(http, "device A"), await register(http, "device B")]
        tracks = (await http.get("/tracks", params={"q": TRACK_TITLE})).json()["items"]
        session = (await http.get(f"/sessions/{user_uuid}")).json()
        session_uuid = str(session["session_uuid"])
        play = {"track_uuid": tracks[0]["track_uuid"], "device_uuid": commanders[0]}
        for name, body in (("play", play), ("pause", {"device_uuid": commanders[0]})):
            response = await http.post(f"/sessions/{session_uuid}/{name}", json=body)
            assert response.status_code == 200, response.text
        scene = cls(stack, user_uuid, token, session_uuid, commanders, http, sse_http, 0)
        if admin_redis_url is not None:
            scene.watch = ChannelWatch(admin_redis_url, user_uuid)
            scene.watch.start()
            async with asyncio.timeout(5):
                await scene.watch.subscribed.wait()
        await scene.listen_on_every_worker()
        return scene

    async def add_recorder(self) -> SseRecorder:
        device = await register(self.http, f"screen {len(self.recorders)}")
        recorder = SseRecorder(self.sse_http, self.token, device)
        recorder.start()
        self.recorders.append(recorder)
        async with asyncio.timeout(10):
            await recorder.connected.wait()
        return recorder

    async def listen_on_every_worker(self, at_least: int = 4) -> dict[int, list[SseRecorder]]:
        """SSE clients until each events worker serves at least one of them."""
        for _ in range(12):
            while len(self.recorders) < at_least:
                await self.add_recorder()
            placement = await self.placement()
            if len(placement) >= self.stack.workers["events"] and all(placement.values()):
                return placement
            await self.add_recorder()
        raise AssertionError("could not place SSE clients on every events worker")

    async def placement(self) -> dict[int, list[SseRecorder]]:
        by_device = {r.device_uuid: r for r in self.recorders}
        placement: dict[int, list[SseRecorder]] = {}
        for pid, clients in (await debug_clients(self.stack)).items():
            placement[pid] = [by_device[c["device_uuid"]] for c in clients if c["device_uuid"] in by_device]
        return placement

    async def start_driver(self, interval_s: float = 0.05, run: bool = True) -> CommandDriver:
        """The revision now is where the ledger starts (registering devices bumps it too)."""
        self.start_rev = await asyncio.to_thread(self.db_revision)
        self.driver = CommandDriver(self.http, self.session_uuid, self.commanders, interval_s)
        if run:
            self.driver.start()
        return self.driver

    # -- the database's view --

    def db_revision(self) -> int:
        rows = sql(
            self.stack, "SELECT revision FROM session_state WHERE user_uuid = $1", uuid.UUID(self.user_uuid)
        )
        return int(rows[0][0])

    def applied_events(self) -> dict[str, int]:
        """``client_event_uuid`` → the revision it was applied at, since the ledger started."""
        rows = sql(
            self.stack,
            "SELECT client_event_uuid, revision FROM applied_event WHERE user_uuid = $1 AND revision > $2",
            uuid.UUID(self.user_uuid),
            self.start_rev,
        )
        return {str(row[0]): int(row[1]) for row in rows}

    # -- the verdict --

    async def verify(self, converge_within_s: float = 15.0, every_first_try_published: bool = True) -> Report:
        """Stop the driver, then check the invariants; returns figures for docs/RELIABILITY.md."""
        assert self.driver is not None
        await self.driver.stop()
        driver = self.driver
        assert not driver.unresolved, [c.outcomes for c in driver.unresolved]
        final_rev = await asyncio.to_thread(self.db_revision)
        acked = driver.acked
        # None lost, none doubled: one revision per command that got a 200, each applied once.
        assert final_rev - self.start_rev == len(acked), (self.start_rev, final_rev, len(acked))
        applied = await asyncio.to_thread(self.applied_events)
        assert sorted(applied.values()) == list(range(self.start_rev + 1, final_rev + 1)), applied
        assert set(applied) == {c.event_uuid for c in acked}, "a command applied without a 200, or not at all"
        for c in acked:
            assert c.revision is not None
            # A retry of a command that had committed gets the current state, so a later revision.
            assert c.revision == applied[c.event_uuid] if c.first_try else c.revision >= applied[c.event_uuid], (
                c.outcomes,
                c.revision,
                applied[c.event_uuid],
            )
        assert driver.statuses["500"] == 0, driver.statuses
        # Every client ends on the database's final revision, having seen only increasing ones.
        converged = await asyncio.gather(*(r.wait_for(final_rev, converge_within_s) for r in self.recorders))
        behind = {
            r.device_uuid[:8]: (r.last_rev, r.beacon_rev)
            for r, ok in zip(self.recorders, converged, strict=True)
            if not ok
        }
        assert not behind, f"clients behind final revision {final_rev}: {behind}"
        for recorder in self.recorders:
            assert not recorder.violations, (recorder.device_uuid, recorder.violations)
            assert recorder.refused["500"] == 0, recorder.refused
        published_missing: list[int] = []
        if self.watch is not None:
            await asyncio.sleep(0.3)
            published = {rev for rev in self.watch.revs if rev > self.start_rev}
            assert all(rev <= final_rev for rev in published), sorted(published)
            if every_first_try_published:
                # A 200 on the first try means commit *and* publish happened before the answer.
                published_missing = [
                    c.revision
                    for c in acked
                    if c.first_try and c.revision is not None and c.revision not in published
                ]
                assert not published_missing, published_missing
        return Report(
            commands=len(acked),
            retried=sum(1 for c in acked if not c.first_try),
            statuses=dict(driver.statuses),
            max_latency_s=round(max(driver.latencies, default=0.0), 3),
            final_rev=final_rev,
            clients=len(self.recorders),
            reconnects=sum(max(r.connects - 1, 0) for r in self.recorders),
            goodbyes=sum(1 for r in self.recorders for e in r.ends if e.goodbye),
            abrupt_ends=sum(1 for r in self.recorders for e in r.ends if not e.goodbye),
            max_back_after_s=round(max((t for r in self.recorders for t in r.back_after), default=0.0), 3),
            published=len([r for r in self.watch.revs if r > self.start_rev]) if self.watch else None,
        )

    async def close(self) -> None:
        if self.driver is not None:
            await self.driver.stop(resolve_within_s=1)
        await asyncio.gather(*(r.close() for r in self.recorders))
        if self.watch is not None:
            await self.watch.close()
        await self.http.aclose()
        await self.sse_http.aclose()


@dataclass(frozen=True)
class Report:
    commands: int
    retried: int
    statuses: dict[str, int]
    max_latency_s: float
    final_rev: int
    clients: int
    reconnects: int
    goodbyes: int
    abrupt_ends: int
    max_back_after_s: float
    published: int | None

    def line(self, scenario: str) -> str:
        return f"{scenario}: {json.dumps(self.__dict__, sort_keys=True)}"


def workers(stack: Stack, service: str) -> list[psutil.Process]:
    master = stack.master_pid(service)
    assert master is not None, f"{service} is not running"
    return list(psutil.Process(master).children())


async def wait_for_new_workers(stack: Stack, service: str, old: set[int], timeout_s: float = 30) -> None:
    """gunicorn has replaced ``old`` and the service answers /readyz again."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            pids = {p.pid for p in workers(stack, service)}
        except (AssertionError, psutil.Error):
            pids = set()
        if len(pids) == stack.workers[service] and not pids & old:
            break
        assert time.monotonic() < deadline, f"{service}: workers {pids} still include {old}"
        await asyncio.sleep(0.1)
    await asyncio.to_thread(stack.wait_ready, timeout_s, (service,))


async def media_url(scene: Scene) -> str:
    """A media URL for the speaker (device A) and the current track."""
    session = (await scene.http.get(f"/sessions/{scene.user_uuid}")).json()
    response = await scene.http.post(
        f"/sessions/{scene.session_uuid}/media-token",
        json={"device_uuid": scene.commanders[0], "track_uuid": session["track_uuid"]},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


async def register(http: httpx.AsyncClient, name: str) -> str:
    response = await http.post("/devices/register", json={"device_name": name})
    assert response.status_code == 200, response.text
    return str(response.json()["device_uuid"])


def stalled_sse_socket(stack: Stack, token: str, device_uuid: str) -> socket.socket:
    """An SSE client that connects and never reads (a tiny receive buffer fills at once)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(stack.env["US_NGINX_PORT"])))
    sock.sendall(
        (
            f"GET /events?device_uuid={device_uuid} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    return sock
