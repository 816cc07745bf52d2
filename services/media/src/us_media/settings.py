"""Media's settings: the common ``US_`` base plus what only the verifier reads."""

from __future__ import annotations

from functools import lru_cache

from us_common.settings import CommonSettings


class MediaSettings(CommonSettings):
    # Stream bytes from the service itself (a setup without nginx). Off: nginx serves with sendfile.
    self_stream: bool = False


@lru_cache
def get_settings() -> MediaSettings:
    return MediaSettings()
