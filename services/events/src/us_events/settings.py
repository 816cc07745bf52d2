"""Events' settings: the common ``US_`` base plus what only the gateway reads."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from us_common.settings import CommonSettings


class EventsSettings(CommonSettings):
    client_queue_size: int = Field(default=50, ge=1, le=10000)
    beacon_interval_s: float = Field(default=4.0, ge=0.05, le=60)
    heartbeat_interval_s: float = Field(default=10.0, ge=0.05, le=60)
    # Streams end after this long and the client reconnects (bounds any one connection's life).
    stream_max_age_s: float = Field(default=3600.0, ge=5)
    redis_backoff_max_s: float = Field(default=5.0, ge=0.1)


@lru_cache
def get_settings() -> EventsSettings:
    return EventsSettings()
