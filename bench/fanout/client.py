"""A benchmark client process: many idle SSE connections, and a publisher for the same users.

Publisher and readers share one event loop and one clock (``perf_counter``), so latency is
measured from just before the cache-write+PUBLISH script to the moment the event's bytes are
read — it includes this process's own scheduling delay, so it is an upper bound.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, cast

from us_common.bus import CACHE_TTL_S, session_cache_key, store_and_publish_script, user_channel
from us_common.redis import AnyRedis, create_redis, is_cluster

from .seed import cache_fields


@dataclass(frozen=True)
class Device:
    user_index: int
    user_uuid: str
    session_uuid: str
    device_uuid: str
    token: str
    user_devices: tuple[str, ...]  # every device of this user (the cache's device list)


@dataclass
class Tally:
    connected: int = 0
    failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # why: a status line, an exception
    closed: int = 0
    sent_at: dict[tuple[int, int], float] = field(default_factory=dict)
    connected_by_user: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    received: int = 0


class SseConnection(asyncio.Protocol):
    """Reads an SSE stream (chunked HTTP/1.1) just far enough to see each event's ``id``."""

    def __init__(
        self, device: Device, host: str, port: int, tally: Tally, ready: asyncio.Future[bool]
    ) -> None:
        self.device = device
        self.request = (
            f"GET /events?device_uuid={device.device_uuid} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {device.token}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
        self.tally = tally
        self.ready = ready
        self.buffer = b""
        self.started = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.WriteTransport, transport).write(self.request)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        if not self.started:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            self.started = True
            if not self.ready.done():
                ok = head.startswith(b"HTTP/1.1 200")
                if not ok:
                    self.tally.failures[head.split(b"\r\n", 1)[0].decode(errors="replace")] += 1
                self.ready.set_result(ok)
            self.buffer = rest
        *frames, self.buffer = self.buffer.split(b"\n\n")
        for frame in frames:
            # Chunk-size lines sit between frames; the id line (when any) comes first in a frame.
            at = frame.find(b"id: ")
            if at < 0:
                continue
            self.on_event(frame, int(frame[at + 4 : frame.index(b"\n", at)]), now)

    def on_event(self, frame: bytes, rev: int, now: float) -> None:
        """A state event (it has an id) was read at ``now``."""
        sent = self.tally.sent_at.get((self.device.user_index, rev))
        if sent is not None:
            self.tally.latencies.append(now - sent)
            self.tally.received += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.tally.closed += 1
        if not self.ready.done():
            self.ready.set_result(False)


async def _connect(device: Device, host: str, port: int, tally: Tally) -> asyncio.Transport | None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[bool] = loop.create_future()
    try:
        transport, _ = await loop.create_connection(
            lambda: SseConnection(device, host, port, tally, ready), host, port
        )
        ok = await asyncio.wait_for(ready, 30)
    except (OSError, TimeoutError) as exc:
        ok, transport = False, None
        tally.failures[type(exc).__name__] += 1
    if not ok:
        tally.failed += 1
        if transport is not None:
            transport.close()
        return None
    tally.connected += 1
    tally.connected_by_user[device.user_index] += 1
    return transport


async def _publish(
    redis: AnyRedis,
    devices_by_user: dict[int, Device],
    revs: dict[int, int],
    rate: float,
    seconds: float,
    tally: Tally,
) -> int:
    # SPUBLISH on a cluster, as control does.
    script = redis.register_script(store_and_publish_script(sharded=is_cluster(redis)))
    users = list(devices_by_user)
    templates: dict[int, dict[str, str]] = {}
    started = time.perf_counter()
    sent = 0
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int(elapsed * rate) + 1
        if sent >= due:
            await asyncio.sleep(min(0.001, (sent + 1) / rate - elapsed))
            continue
        user_index = random.choice(users)
        device = devices_by_user[user_index]
        rev = revs[user_index] = revs[user_index] + 1
        template = templates.get(user_index)
        if template is None:
            # Built once per user; each publish only swaps the revision (keeps this process light).
            template = templates[user_index] = cache_fields(
                device.user_uuid, device.session_uuid, 1, device.user_devices
            )
        fields = {
            **template,
            "rev": str(rev),
            "snapshot": template["snapshot"].replace('"revision":1,', f'"revision":{rev},', 1),
        }
        message = json.dumps({"rev": rev, "type": "timeline", "ts": int(time.time() * 1000)})
        flat = [item for pair in fields.items() for item in pair]
        tally.sent_at[(user_index, rev)] = time.perf_counter()
        await script(
            keys=[session_cache_key(device.user_uuid)],
            args=[rev, CACHE_TTL_S, user_channel(device.user_uuid), message, *flat],
        )
        sent += 1
    return sent


def _port_for(device: Device, ports: tuple[int, ...]) -> int:
    """A user's devices on different events hosts when there are several."""
    return ports[device.user_devices.index(device.device_uuid) % len(ports)]


async def _serve(
    pipe: Connection, devices: list[Device], host: str, ports: tuple[int, ...], redis_url: str, cluster_urls: str
) -> None:
    """Follow the orchestrator's commands: ("connect", n), ("publish", rate, s), ("close",)."""
    tally = Tally()
    transports: list[asyncio.Transport] = []
    devices_by_user: dict[int, Device] = {}
    for device in devices:
        devices_by_user.setdefault(device.user_index, device)
    revs = dict.fromkeys(devices_by_user, 1)
    redis = create_redis(redis_url, cluster_urls=cluster_urls, socket_timeout=5)
    loop = asyncio.get_running_loop()
    try:
        while True:
            command: tuple[Any, ...] = await loop.run_in_executor(None, pipe.recv)
            if command[0] == "connect":
                target = min(int(command[1]), len(devices))
                while len(transports) < target:
                    batch = devices[len(transports) : min(target, len(transports) + 200)]
                    opened = await asyncio.gather(*(_connect(d, host, _port_for(d, ports), tally) for d in batch))
                    transports.extend(t for t in opened if t is not None)
                    if len(opened) != sum(t is not None for t in opened):
                        break
                pipe.send({"connected": len(transports), "failed": tally.failed, "failures": dict(tally.failures)})
            elif command[0] == "publish":
                tally.latencies.clear()
                tally.received = 0
                sent = await _publish(
                    redis, devices_by_user, revs, float(command[1]), float(command[2]), tally
                )
                expected = sum(tally.connected_by_user[user] for user, _ in tally.sent_at)
                await asyncio.sleep(2)  # stragglers
                pipe.send(
                    {
                        "sent": sent,
                        "received": tally.received,
                        "expected": expected,
                        "latencies": tally.latencies,
                        "closed": tally.closed,
                    }
                )
                tally.sent_at.clear()
            elif command[0] == "close":
                for transport in transports:
                    transport.close()
                pipe.send({"closed": True})
                return
    finally:
        await redis.aclose()


def run(
    pipe: Connection, devices: list[Device], host: str, ports: tuple[int, ...], redis_url: str, cluster_urls: str = ""
) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.run(_serve(pipe, devices, host, ports, redis_url, cluster_urls))
    except ImportError:
        asyncio.run(_serve(pipe, devices, host, ports, redis_url, cluster_urls))
