"""End-to-end fan-out: control command → commit → Redis → gateway → nginx → client.

1,000 users × 2 devices hold SSE streams through nginx on the full stack (2 control workers,
2 events workers); commands (seeks on paused sessions, so nothing else moves the revision) go
through nginx at a fixed rate to random users, one outstanding command per user. Each command's
revision is predicted (the user's last + 1) before it is sent, because the event can reach the
screens before the HTTP answer does. Two latencies per event received:

- **press → screen**: from just before the command is sent to the moment a device reads the event
- **commit → screen**: from the message's ``ts`` (control's wall clock right after the commit) to
  the moment a device reads it (same host, same clock).

The client (one process, uvloop) shares the 2 cores with the whole stack: figures are upper bounds.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import httpx

from bench.common import bench_stack
from bench.fanout.client import Device, SseConnection, Tally
from devtools.stack import Stack


class E2eConnection(SseConnection):
    """Also reads each event's ``ts`` (the commit time) for commit → screen latency."""

    commit_latencies: list[float]

    def data_received(self, data: bytes) -> None:
        wall = time.time() * 1000
        before = self.tally.received
        pending = self.buffer + data
        super().data_received(data)
        if self.tally.received == before:
            return
        for frame in pending.split(b"\n\n")[:-1]:  # complete frames only
            at = frame.find(b'"ts":')
            if frame.find(b"event: timeline_update") >= 0 and at >= 0:
                end = frame.find(b",", at)
                self.commit_latencies.append(wall - int(frame[at + 5 : end]))


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
    stack: Stack, pairs: list[tuple[Device, Device]], revisions: dict[int, int], rate: float, seconds: float
) -> dict[str, Any]:
    tally = Tally()
    commit_latencies: list[float] = []
    loop = asyncio.get_running_loop()
    host, port = "127.0.0.1", int(stack.env["US_NGINX_PORT"])
    transports = []
    for batch_start in range(0, len(pairs), 100):
        batch = [d for pair in pairs[batch_start : batch_start + 100] for d in pair]

        async def open_one(device: Device) -> Any:
            ready: asyncio.Future[bool] = loop.create_future()

            def factory() -> E2eConnection:
                conn = E2eConnection(device, host, port, tally, ready)
                conn.commit_latencies = commit_latencies
                return conn

            transport, _ = await loop.create_connection(factory, host, port)
            if not await asyncio.wait_for(ready, 30):
                raise RuntimeError("SSE connection refused")
            tally.connected_by_user[device.user_index] += 1
            return transport

        transports += await asyncio.gather(*(open_one(d) for d in batch))
    await asyncio.sleep(1.0)  # let snapshots settle
    tally.latencies.clear()
    tally.received = 0
    commit_latencies.clear()

    busy: set[int] = set()
    mismatched = 0
    failed = 0
    sent = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=stack.public_url, timeout=30, limits=limits) as http:
        tasks: set[asyncio.Task[None]] = set()

        async def command(index: int) -> None:
            nonlocal mismatched, failed
            device = pairs[index][0]
            predicted = revisions[index] + 1
            tally.sent_at[(index, predicted)] = time.perf_counter()
            response = await http.post(
                f"/sessions/{device.session_uuid}/seek",
                json={"position_ms": random.randint(1000, 50_000)},
                headers={"Authorization": f"Bearer {device.token}"},
            )
            if response.status_code != 200:
                failed += 1
            else:
                revisions[index] = response.json()["revision"]
                mismatched += revisions[index] != predicted
            busy.discard(index)

        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            if sent >= int(elapsed * rate) + 1:
                await asyncio.sleep(0.001)
                continue
            index = random.randrange(len(pairs))
            if index in busy:
                continue
            busy.add(index)
            task = asyncio.create_task(command(index))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        await asyncio.gather(*tasks)
        await asyncio.sleep(2)  # stragglers
    for transport in transports:
        transport.close()
    latencies_ms = [x * 1000 for x in tally.latencies]
    return {
        "clients": len(transports),
        "commands": sent,
        "rate_per_s": rate,
        "failed_commands": failed,
        "revision_mispredicted": mismatched,
        "events_expected": 2 * (sent - failed),
        "events_received": tally.received,
        "press_to_screen_ms": {
            "p50": percentile(latencies_ms, 0.5),
            "p99": percentile(latencies_ms, 0.99),
            "max": round(max(latencies_ms), 2) if latencies_ms else None,
        },
        "commit_to_screen_ms": {
            "p50": percentile(commit_latencies, 0.5),
            "p99": percentile(commit_latencies, 0.99),
            "max": round(max(commit_latencies), 2) if commit_latencies else None,
        },
    }


def run(users: int = 1000, rate: float = 200.0, seconds: float = 20.0) -> dict[str, Any]:
    with bench_stack("us-bench-e2e-") as stack:

        async def main() -> dict[str, Any]:
            pairs, revisions = await prepare(stack, users)
            return await drive(stack, pairs, revisions, rate, seconds)

        try:
            import uvloop

            return uvloop.run(main())
        except ImportError:
            return asyncio.run(main())
