"""Media's settings: the common ``US_`` base plus what only the verifier reads."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from us_common.settings import CommonSettings


class MediaSettings(CommonSettings):
    # Stream bytes from the service itself (a setup without nginx). Off: nginx serves with sendfile.
    self_stream: bool = False
    # How long a verification waits for control when Redis misses (nginx waits 5 s in total).
    control_timeout_s: float = Field(default=1.0, gt=0, le=4)
    # Catalog paths learnt from control (Redis missed) are kept in-process this long.
    media_path_cache_ttl_s: float = Field(default=30.0, ge=0, le=300)


@lru_cache
def get_settings() -> MediaSettings:
    return MediaSettings()
