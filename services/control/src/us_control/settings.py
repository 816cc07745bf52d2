"""Control's settings: the common ``US_`` base plus what only control reads."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from us_common.settings import CommonSettings


class ControlSettings(CommonSettings):
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_statement_timeout_ms: int = Field(default=5000, ge=100)
    # Presence: a device is online when it heartbeated within this window. A session never
    # plays on an offline speaker (docs/PLAYBACK.md, "Speaker truth").
    presence_window_s: int = Field(default=30, ge=2)
    # A device that said it is leaving (a tab closing or reloading) and shows no sign of life
    # within this grace is offline from then on; coming back within it changes nothing.
    leave_grace_s: float = Field(default=5.0, ge=0)
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
    # Pairing (RFC 8628, docs/PAIRING.md): codes asked for per client address, and wrong user codes
    # typed per approving user (past either: 429 with Retry-After).
    rate_limit_pairing_start: str = "10/minute"
    rate_limit_pairing_misses: str = "5/minute;20/hour"
    # A device code lives this long; the box polls no faster than the interval (RFC 8628 §3.2).
    device_code_ttl_s: int = Field(default=600, ge=10, le=1800)
    device_poll_interval_s: int = Field(default=5, ge=1, le=60)
    # A paired device's access tokens are short: its refresh token (revoked when the device is
    # forgotten) is the long-lived part, and every use of an access token re-checks it.
    device_access_token_ttl_s: int = Field(default=900, ge=30, le=86400)
    rate_limit_scrobble_targets: str = "10/minute;60/hour"
    # Refused media verifications of one user's valid-looking tokens within a minute before
    # control revokes all that user's media tokens (bumps the speaker epoch).
    media_refusal_threshold: int = Field(default=30, ge=1)

    # Password hashing cost (argon2id). Production keeps the defaults (RFC 9106's second
    # recommended option is t=3, m=64 MiB; argon2-cffi's t=2/m=64 MiB is close); the test stack
    # lowers memory so that making hundreds of throwaway users stays fast. Existing hashes carry
    # their own parameters and keep verifying after a change.
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8192)

    # Scrobbling (docs/SCROBBLING.md). The key seals receivers' tokens at rest (AES-256-GCM under
    # an HKDF-derived key); only control has it. Without it, scrobble targets cannot be added.
    scrobble_token_key: SecretStr | None = Field(default=None, min_length=32)
    # Keys used before the current one (comma-separated): tokens they sealed still open.
    scrobble_token_old_keys: SecretStr | None = None
    # host or host:port entries that may resolve to loopback or private addresses (a Maloja on
    # this machine or the LAN). Every other receiver must resolve to public addresses only.
    scrobble_allow_hosts: str = ""
    # ListenBrainz takes at most 1,000 listens per request; we send smaller batches.
    scrobble_batch_size: int = Field(default=100, ge=1, le=1000)
    # ListenBrainz asks clients for at most one call per second.
    scrobble_min_interval_s: float = Field(default=1.0, ge=0)
    scrobble_backoff_base_s: float = Field(default=2.0, gt=0)
    scrobble_backoff_max_s: float = Field(default=600.0, gt=0)
    # A target whose token was refused is tried again this rarely (or at once when it is fixed).
    scrobble_token_recheck_s: float = Field(default=3600.0, gt=0)
    scrobble_poll_interval_s: float = Field(default=1.0, gt=0)
    scrobble_http_timeout_s: float = Field(default=10.0, gt=0, le=60)
    scrobble_max_targets: int = Field(default=10, ge=1, le=100)
    # Concurrent sender tasks per control worker (each holds one target at a time).
    scrobble_senders: int = Field(default=2, ge=1, le=32)

    @field_validator("scrobble_token_key", "scrobble_token_old_keys", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("scrobble_token_key")
    @classmethod
    def _real_scrobble_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(set(value.get_secret_value())) < 8:
            raise ValueError("looks like a placeholder; generate one with `openssl rand -hex 32`")
        return value

    # Album covers resized at scan time (library/covers.py); nginx serves this folder (/covers/).
    cover_cache_dir: Path = Path("/var/cache/us-playback/covers")
    # The library watcher (library/watcher.py): one leader among all workers and hosts rescans
    # changed folders once changes have been quiet this long, and every library this often
    # (0 turns the periodic rescans off; they are what a filesystem without inotify relies on).
    library_watch: bool = True
    library_watch_settle_s: float = Field(default=2.0, gt=0, le=60)
    library_rescan_interval_s: float = Field(default=3600.0, ge=0)

    @field_validator("cover_cache_dir")
    @classmethod
    def _absolute_cache(cls, value: Path) -> Path:
        return value.expanduser().absolute()


@lru_cache
def get_settings() -> ControlSettings:
    return ControlSettings()
