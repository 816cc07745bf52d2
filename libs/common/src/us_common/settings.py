"""Settings every service reads: one flat ``US_`` namespace, one env file per deployment.

Each service subclasses :class:`CommonSettings` and adds only the fields it owns; a service never
reads another's fields. Secrets are refused at start-up when they look like placeholders.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = {"changeme", "change-me", "secret", "please-change", "xxx"}


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="US_", extra="ignore", frozen=True)

    env: Literal["dev", "test", "prod"] = "dev"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/us_playback"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Redis Cluster seed nodes (comma-separated redis:// or rediss:// URLs, credentials in the
    # first); when set, every service uses the cluster (sharded pub/sub) and US_REDIS_URL is unused.
    redis_cluster_urls: str = ""

    access_token_key: SecretStr = Field(min_length=32)
    media_token_key: SecretStr = Field(min_length=32)
    access_token_ttl_s: int = Field(default=12 * 3600, ge=60, le=30 * 86400)
    # Production keeps 60-120 s (DESIGN.md); tests may go lower to exercise expiry.
    media_token_ttl_s: int = Field(default=90, ge=1, le=120)
    issuer: str = "universalscrobbler"

    music_root: Path = Path("/mnt/Music")
    public_url: str = "http://127.0.0.1:8080"
    nginx_port: int = 8080
    control_port: int = 8001
    events_port: int = 8002
    media_port: int = 8003
    # Where events/media reach control for fallbacks (loopback in every deployment we ship).
    control_internal_url: str = "http://127.0.0.1:8001"

    @field_validator("access_token_key", "media_token_key")
    @classmethod
    def _no_placeholder(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw.lower() in _PLACEHOLDERS or len(set(raw)) < 8:
            raise ValueError("looks like a placeholder; generate one with `openssl rand -hex 32`")
        return value

    @field_validator("music_root")
    @classmethod
    def _absolute_root(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _distinct_keys(self) -> CommonSettings:
        if self.access_token_key.get_secret_value() == self.media_token_key.get_secret_value():
            raise ValueError("US_ACCESS_TOKEN_KEY and US_MEDIA_TOKEN_KEY must differ")
        return self

    def public_info(self) -> dict[str, object]:
        """Effective settings without secrets or credentials (``usctl info --json``)."""
        return {
            "env": self.env,
            "music_root": str(self.music_root),
            "public_url": self.public_url,
            "nginx_port": self.nginx_port,
            "control_port": self.control_port,
            "events_port": self.events_port,
            "media_port": self.media_port,
            "media_token_ttl_s": self.media_token_ttl_s,
            "access_token_ttl_s": self.access_token_ttl_s,
            "database": redact_url(self.database_url),
            "redis": redact_url(self.redis_url),
            "redis_cluster": [redact_url(url) for url in self.redis_cluster_urls.replace(",", " ").split()],
        }


def redact_url(url: str) -> str:
    """Drop the password from a connection URL so it can be printed or logged."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"


@lru_cache
def get_common_settings() -> CommonSettings:
    return CommonSettings()
