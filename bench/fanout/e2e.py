"""End-to-end fan-out: control command → commit → Redis → gateway → nginx → client.

1,000 users × 2 devices hold SSE streams through nginx on the full stack (2 control workers,
2 events workers); commands (seeks on paused sessions, so nothing else moves the revision) go
through nginx at a fixed rate to random users, one outstanding command per user. Each command's
revision is predicted (the user's last + 1) before it is sent, because the event can reach the
screens before the HTTP answer does. Two latencies per event received:

- **press → screen**: from just before the command is sent to the moment a device reads the event
- **commit → screen**: from the message's ``ts`` (control's wall clock right after the commit) to
  the moment a device reads it (same host, same clock).

The streams are read by reader processes of their own (``--readers``, 2 by default) and the
commands sent by the main process, so no one client loop is the bottleneck; they still share the
2 cores with the whole stack: figures are upper bounds. A command that fails (a status other than
200, or a connection closed under it) is counted by outcome and reported, never raised.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import httpx
import psutil

from bench.common import bench_stack, stack_cpu_seconds
from bench.fanout.client import Device, SseConnection, Tally
from bench.fanout.sender import ConnectionLost, Sender
from devtools.stack import Stack


class Receipts(SseConnection):
    """One device's SSE stream, read in a reader process: every state event's revision, when it
    was read (``perf_counter``: one clock for every process of this host) and, for the command's
    own event, how long after its ``ts`` (control's wall clock right after the commit)."""

    def __init__(self, device: Device, host: str, port: int, ready: asyncio.Future[bool], out: list[Any]) -> None:
        super().__init__(device, host, port, Tally(), ready)
        self.out = out
        self.lost = False

    def on_event(self, frame: bytes, rev: int, now: float) -> None:
        commit_ms = None
        ts = frame.find(b'"ts":')
        if frame.find(b"event: timeline_update") >= 0 and ts >= 0:
            commit_ms = time.time() * 1000 - int(frame[ts + 5 : frame.find(b",", ts)])
        self.out.append((self.device.user_index, rev, now, commit_ms))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        super().connection_lost(exc)


async def _read_streams(pipe: Connection, devices: list[Device], host: str, port: int) -> None:
    """A reader process: open every device's stream, report, record until told to stop."""
    loop = asyncio.get_running_loop()
    out: list[Any] = []
    opened: list[tuple[asyncio.BaseTransport, Receipts]] = []
    failures: Counter[str] = Counter()
    for start in range(0, len(devices), 100):

        async def open_one(device: Device) -> None:
            ready: asyncio.Future[bool] = loop.create_future()
            try:
                transport, protocol = await loop.create_connection(
                    lambda: Receipts(device, host, port, ready, out), host, port
                )
                ok = await asyncio.wait_for(ready, 30)
            except (OSError, TimeoutError) as exc:
                failures[type(exc).__name__] += 1
                return
            if not ok:
                failures["refused"] += 1
                transport.close()
                return
            opened.append((transport, protocol))

        await asyncio.gather(*(open_one(d) for d in devices[start : start + 100]))
    pipe.send({"connected": len(opened), "failures": dict(failures)})
    await loop.run_in_executor(None, pipe.recv)  # "clear": snapshots are in, measuring starts
    out.clear()
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    pipe.send({"receipts": out, "lost": sum(p.lost for _, p in opened)})
    for transport, _ in opened:
        transport.close()


def _reader_process(pipe: Connection, devices: list[Device], host: str, port: int) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.run(_read_streams(pipe, devices, host, port))
    except ImportError:
        asyncio.run(_read_streams(pipe, devices, host, port))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2) if ordered else float("nan")


async def prepare(stack: Stack, users: int) -> tuple[list[tuple[Device, Device]], dict[int, int]]:
    """Users with two devices each, a paused track; returns the devices and each user's revision."""
    lines = [
        json.dumps({"username": f"e2e{i:05d}", "password": "bench-password", "libraries": ["Bench"]})
        for i in range(users)
    ]
    stack.usctl("user", "import", "-", stdin="\n".join(lines))
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=stack.public_url, timeout=60, limits=limits) as http:
        track = None
        semaphore = asyncio.Semaphore(32)

        async def one(i: int) -> tuple[Device, Device]:
            nonlocal track
            async with semaphore:
                form = {"username": f"e2e{i:05d}", "password": "bench-password"}
                token = (await http.post("/auth/token", data=form)).json()["access_token"]
                auth = {"Authorization": f"Bearer {token}"}
                me = (await http.get("/users/me", headers=auth)).json()
                devices = [
                    (await http.post("/devices/register", json={"device_name": f"d{n}"}, headers=auth)).json()
                    for n in range(2)
                ]
                if track is None:
                    track = (await http.get("/tracks", headers=auth)).json()["items"][0]
                session = (await http.get(f"/sessions/{me['user_uuid']}", headers=auth)).json()
                body = {"track_uuid": track["track_uuid"], "device_uuid": devices[0]["device_uuid"]}
                await http.post(f"/sessions/{session['session_uuid']}/play", json=body, headers=auth)
                paused = (await http.post(f"/sessions/{session['session_uuid']}/pause", headers=auth)).json()
                uuids = tuple(d["device_uuid"] for d in devices)
                made = [Device(i, me["user_uuid"], session["session_uuid"], d, token, uuids) for d in uuids]
                revisions[i] = paused["revision"]
                return made[0], made[1]

        revisions: dict[int, int] = {}
        pairs = await asyncio.gather(*(one(i) for i in range(users)))
        return list(pairs), revisions


async def drive(
    stack: Stack,
    pairs: list[tuple[Device, Device]],
    revisions: dict[int, int],
    rate: float,
    seconds: float,
    readers: int,
) -> dict[str, Any]:
    """The streams are read by ``readers`` processes of their own; this process only sends the
    commands (the load generator must not be the bottleneck it measures)."""
    host, port = "127.0.0.1", int(stack.env["US_NGINX_PORT"])
    devices = [d for pair in pairs for d in pair]
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for n in range(readers):
        parent, child = context.Pipe()
        process = context.Process(target=_reader_process, args=(child, devices[n::readers], host, port))
        process.start()
        pipes.append(parent)
        processes.append(process)
    loop = asyncio.get_running_loop()
    opened = [await loop.run_in_executor(None, p.recv) for p in pipes]
    await asyncio.sleep(1.0)  # let snapshots settle
    for p in pipes:
        p.send("clear")

    def cpu_now() -> dict[str, float]:
        totals = stack_cpu_seconds(stack)
        for name, procs in (("readers (load generator)", processes), ("driver (load generator)", [None])):
            seconds = 0.0
            for process in procs:
                times = psutil.Process(process.pid if process is not None else None).cpu_times()
                seconds += times.user + times.system
            totals[name] = seconds
        return totals

    cpu_before, wall_before = cpu_now(), time.perf_counter()
    sent_at: dict[tuple[int, int], float] = {}
    idle = list(range(len(pairs)))  # users without a command in flight (one at a time per user)
    outcomes: Counter[str] = Counter()
    mismatched = 0
    sent = 0
    sender = Sender(host, port, connections=64)
    tasks: set[asyncio.Task[None]] = set()

    async def command(index: int) -> None:
        nonlocal mismatched
        device = pairs[index][0]
        predicted = revisions[index] + 1
        sent_at[(index, predicted)] = time.perf_counter()  # the press: waiting for a connection counts
        try:
            answer = await sender.post_json(
                f"/sessions/{device.session_uuid}/seek", {"position_ms": random.randint(1000, 50_000)}, device.token
            )
        except (ConnectionLost, OSError) as exc:
            # Counted, not raised: what a user sees as a "network error" toast.
            outcomes[str(exc) if isinstance(exc, ConnectionLost) else type(exc).__name__] += 1
            return
        finally:
            idle.append(index)
        outcomes[str(answer.status)] += 1
        if answer.status == 200:
            revisions[index] = answer.body["revision"]
            mismatched += revisions[index] != predicted

    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        if sent >= int(elapsed * rate) + 1 or not idle:
            await asyncio.sleep(0.001)
            continue
        pick = random.randrange(len(idle))
        idle[pick], idle[-1] = idle[-1], idle[pick]
        task = asyncio.create_task(command(idle.pop()))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        sent += 1
    await asyncio.gather(*tasks)
    await sender.aclose()
    await asyncio.sleep(2)  # stragglers
    cpu_after, wall = cpu_now(), time.perf_counter() - wall_before
    # Percent of one core per process group over the drive: what bounds press → screen.
    cpu_percent = {
        k: round(100 * (cpu_after[k] - cpu_before.get(k, 0.0)) / wall, 1)
        for k in sorted(cpu_after, key=lambda k: cpu_before.get(k, 0.0) - cpu_after[k])
    }
    for p in pipes:
        p.send("stop")
    reports = [await loop.run_in_executor(None, p.recv) for p in pipes]
    for process in processes:
        process.join(10)
    latencies_ms, commit_ms = [], []
    for report in reports:
        for user_index, rev, read_at, commit_lag in report["receipts"]:
            sent_time = sent_at.get((user_index, rev))
            if sent_time is not None:
                latencies_ms.append((read_at - sent_time) * 1000)
                if commit_lag is not None:
                    commit_ms.append(commit_lag)
    ok = outcomes.get("200", 0)
    return {
        "clients": sum(o["connected"] for o in opened),
        "stream_failures": {k: v for o in opened for k, v in o["failures"].items()},
        "streams_lost": sum(r["lost"] for r in reports),
        "reader_processes": readers,
        "commands": sent,
        "rate_per_s": rate,
        "outcomes": dict(outcomes),
        "failed_commands": sent - ok,
        "revision_mispredicted": mismatched,
        "events_expected": 2 * ok,
        "events_received": len(latencies_ms),
        "drive_seconds": round(wall, 1),
        "cpu_percent_of_one_core": cpu_percent,
        "press_to_screen_ms": {
            "p50": percentile(latencies_ms, 0.5),
            "p99": percentile(latencies_ms, 0.99),
            "max": round(max(latencies_ms), 2) if latencies_ms else None,
        },
        "commit_to_screen_ms": {
            "p50": percentile(commit_ms, 0.5),
            "p99": percentile(commit_ms, 0.99),
            "max": round(max(commit_ms), 2) if commit_ms else None,
        },
    }


def run(users: int = 1000, rate: float = 200.0, seconds: float = 20.0, readers: int = 2) -> dict[str, Any]:
    with bench_stack("us-bench-e2e-") as stack:

        async def main() -> dict[str, Any]:
            pairs, revisions = await prepare(stack, users)
            return await drive(stack, pairs, revisions, rate, seconds, readers)

        try:
            import uvloop

            return uvloop.run(main())
        except ImportError:
            return asyncio.run(main())
