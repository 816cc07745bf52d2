"""Events' settings: the common ``US_`` base plus what only the gateway reads."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from us_common.settings import CommonSettings


class EventsSettings(CommonSettings):
    client_queue_size: int = Field(default=50, ge=1, le=10000)
    beacon_interval_s: float = Field(default=4.0, ge=0.05, le=60)
    heartbeat_interval_s: float = Field(default=10.0, ge=0.05, le=60)
    # Streams end after this long (±10 %) and the client reconnects (bounds any one connection's life).
    stream_max_age_s: float = Field(default=3600.0, ge=5)
    # Cap of the subscriber's jittered exponential reconnect backoff. Kept low: a reconnect to a
    # local Redis is cheap, and the next message after an outage should arrive within seconds.
    redis_backoff_max_s: float = Field(default=2.0, ge=0.1)
    # A message that arrives ahead of a missing revision waits this long for it (pub/sub order
    # is not guaranteed across publishers); only gaps pay it.
    reorder_window_ms: int = Field(default=30, ge=0, le=1000)
    # A cache revision newer than the last forwarded one, still unannounced after this long, is
    # a lost message: the beacon loop forwards the state as a snapshot.
    heal_grace_s: float = Field(default=1.0, ge=0.05, le=60)
    # How long a connecting client waits for its user's SUBSCRIBE to be confirmed.
    subscribe_timeout_s: float = Field(default=2.0, gt=0, le=30)
    # The subscriber PINGs this often and reconnects when Redis stays silent for 3 intervals.
    subscriber_ping_interval_s: float = Field(default=5.0, ge=0.1, le=60)
    # Redis Cluster: how often the slot map is refreshed when nothing prompted it (a moved slot
    # or a master that went down refreshes it at once).
    topology_interval_s: float = Field(default=5.0, ge=0.1, le=300)
    # Cache reads (HGETALL) share this many Redis connections per worker.
    redis_pool_size: int = Field(default=32, ge=1, le=1000)
    control_timeout_s: float = Field(default=3.0, gt=0, le=60)
    control_concurrency: int = Field(default=8, ge=1, le=256)
    # A client whose socket accepts nothing for this long is cut off.
    send_timeout_s: float = Field(default=60.0, gt=0)
    # CPython's cyclic GC: with ~10k connections a full (generation 2) collection scans millions
    # of long-lived objects and stops the loop for ~1 s. A larger generation-0 threshold keeps
    # short-lived objects (frames, messages) from being promoted, so full collections become
    # rare (bench/fanout: p99 1.2 s → < 0.1 s at 10k connections). Cyclic garbage of closed
    # connections then waits longer for a full collection (more memory between them).
    gc_thresholds: tuple[int, int, int] = (50_000, 20, 100)
    # On SIGTERM streams get this long to say goodbye (below gunicorn's graceful_timeout).
    shutdown_grace_s: float = Field(default=5.0, ge=0, le=60)


@lru_cache
def get_settings() -> EventsSettings:
    return EventsSettings()
