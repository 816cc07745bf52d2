"""What the loopback ``/debug`` routes show of a worker's hub: counts, and one line per client."""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import time
from typing import Any

from us_events.hub import Hub

# Garbage-collector pauses of this worker (a full collection over 10,000 connections' objects
# stalls the loop: every stream waits), per generation: the longest and the total, in ms.
_gc_started = 0.0
GC_PAUSES: dict[str, list[float]] = {"max_ms": [0.0, 0.0, 0.0], "total_ms": [0.0, 0.0, 0.0]}
# The last long ones (≥ 5 ms): [generation, ms, time.monotonic() when it ended].
GC_LONG_PAUSES: collections.deque[list[float]] = collections.deque(maxlen=64)


def _time_gc(phase: str, info: dict[str, int]) -> None:
    global _gc_started  # noqa: PLW0603 - one timer per process, as the collector is
    if phase == "start":
        _gc_started = time.perf_counter()
        return
    paused = (time.perf_counter() - _gc_started) * 1000
    generation = info["generation"]
    GC_PAUSES["max_ms"][generation] = max(GC_PAUSES["max_ms"][generation], paused)
    GC_PAUSES["total_ms"][generation] += paused
    if paused >= 5:
        GC_LONG_PAUSES.append([generation, round(paused, 2), round(time.monotonic(), 3)])


gc.callbacks.append(_time_gc)


def counts(hub: Hub) -> dict[str, Any]:
    clients = [client for feed in hub.feeds.values() for client in feed.clients]
    return {
        "pid": os.getpid(),
        "connected": hub.connected,
        "closing": hub.closing,
        "clients": len(clients),
        "users": len(hub.feeds),
        "subscriptions": sum(len(s.subscriptions) for s in hub.bus.subscribers),
        "redis_channels": sum(s.redis_channels for s in hub.bus.subscribers),
        "redis_subscribers": len(hub.bus.subscribers),
        "hub_tasks": len(hub.tasks),
        "control_fetches_in_flight": hub.caches.in_flight,
        "asyncio_tasks": len(asyncio.all_tasks()),
        "queued_frames": sum(len(client.queue) for client in clients),
        "max_queue": max((len(client.queue) for client in clients), default=0),
        "frames_dropped": hub.stats["frames_dropped_closed"] + sum(c.dropped for c in clients),
        "gc_collections": [generation["collections"] for generation in gc.get_stats()],
        "gc_pause_max_ms": [round(v, 2) for v in GC_PAUSES["max_ms"]],
        "gc_pause_total_ms": [round(v, 1) for v in GC_PAUSES["total_ms"]],
        "gc_long_pauses": list(GC_LONG_PAUSES),
        **hub.stats.as_dict(),
    }


def clients(hub: Hub) -> list[dict[str, Any]]:
    return [
        {
            "user_uuid": feed.user_uuid,
            "device_uuid": client.device_uuid,
            "queue": len(client.queue),
            "dropped": client.dropped,
            "last_rev": client.last_rev,
        }
        for feed in hub.feeds.values()
        for client in feed.clients
    ]
