"""Control's settings: the common ``US_`` base plus what only control reads."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from us_common.settings import CommonSettings


class ControlSettings(CommonSettings):
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_statement_timeout_ms: int = Field(default=5000, ge=100)
    # Presence: a device is online when it heartbeated within this window.
    presence_window_s: int = Field(default=30, ge=2)
    # A playing session whose speaker has been offline this much longer is paused by the sweeper.
    speaker_grace_s: int = Field(default=15, ge=0)
    # A session untouched this long resumes paused at 0 on the same track.
    stale_session_s: int = Field(default=86400, ge=1)
    sweep_interval_s: float = Field(default=5.0, gt=0)
    # Applied client_event_uuids are kept this long to catch retries.
    client_event_retention_s: int = Field(default=86400, ge=60)

    # Rate limits ("limits" notation, per user; per username+address for login). "" disables.
    rate_limit_commands: str = "30/second;600/minute"
    rate_limit_queue: str = "20/second;300/minute"
    rate_limit_media_token: str = "60/minute"
    rate_limit_login: str = "10/minute"
    # Refused media verifications of one user's valid-looking tokens within a minute before
    # control revokes all that user's media tokens (bumps the speaker epoch).
    media_refusal_threshold: int = Field(default=30, ge=1)

    # Password hashing cost (argon2id). Production keeps the defaults (RFC 9106's second
    # recommended option is t=3, m=64 MiB; argon2-cffi's t=2/m=64 MiB is close); the test stack
    # lowers memory so that making hundreds of throwaway users stays fast. Existing hashes carry
    # their own parameters and keep verifying after a change.
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8192)


@lru_cache
def get_settings() -> ControlSettings:
    return ControlSettings()
