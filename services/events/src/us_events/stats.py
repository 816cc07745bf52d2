"""The worker's event counters: ``/debug/counts`` shows this worker's, ``/metrics`` the
service's (prometheus-client, added up over the workers: ``us_common.metrics``)."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

COUNTERS: Final[dict[str, str]] = {
    "messages_received": "Bus messages received for a user with clients here.",
    "messages_forwarded": "Bus messages forwarded to the clients of their user.",
    "messages_stale": "Bus messages dropped: not newer than what was forwarded.",
    "messages_undeliverable": "Bus messages dropped: no readable state (beacons heal them).",
    "gaps_waited_out": "Reorder waits that ended without the missing revision.",
    "beacons": "Beacons sent (one per user per interval).",
    "heals": "Lost messages healed by a beacon read (a snapshot sent).",
    "resyncs": "Resyncs after a subscriber (re)connect or a moved channel.",
    "disconnects": "Subscriber connections lost.",
    "subscriptions_moved": "Shard subscriptions Redis Cluster ended by itself (slot moved).",
    "frames_dropped_closed": "Frames dropped from full client queues (counted at close).",
}

_METRICS: Final = {
    name: Counter(f"us_events_{name}", help_text) for name, help_text in COUNTERS.items()
}

SSE_CONNECTIONS: Final = Gauge(
    "us_events_sse_connections", "Open SSE connections.", multiprocess_mode="livesum"
)
USERS: Final = Gauge("us_events_users", "Users with at least one open SSE connection, per worker summed.", multiprocess_mode="livesum")


class Stats:
    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values = dict.fromkeys(COUNTERS, 0)

    def add(self, name: str, count: int = 1) -> None:
        self._values[name] += count
        if count:
            _METRICS[name].inc(count)

    def __getitem__(self, name: str) -> int:
        return self._values[name]

    def as_dict(self) -> dict[str, int]:
        return dict(self._values)


def new_stats() -> Stats:
    return Stats()
