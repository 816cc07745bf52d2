"""The gunicorn worker class of all three services: uvicorn-worker's, plus a drain bound.

``US_GUNICORN_DRAIN_S`` becomes uvicorn's ``timeout_graceful_shutdown``: how long a stopping
worker waits for its connections before cancelling what is left. The events service sets it (a
client that stopped reading keeps its socket full, and the connection would otherwise hold the
worker until gunicorn's ``graceful_timeout`` kills it); control leaves it unset, so a request
in flight always finishes — commit *and* publish — within ``graceful_timeout``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn_worker import UvicornWorker as _UvicornWorker


class WorkerSettings(BaseSettings):
    """The worker's own settings (``US_GUNICORN_*``). Separate from the services' settings: the
    worker class is imported by gunicorn's master, before (and without) any service secret."""

    model_config = SettingsConfigDict(env_prefix="US_GUNICORN_", extra="ignore", frozen=True)

    drain_s: float | None = Field(default=None, ge=0)

    @field_validator("drain_s", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


def _drain_s() -> float | None:
    return WorkerSettings().drain_s


class UvicornWorker(_UvicornWorker):  # type: ignore[misc]  # untyped base
    CONFIG_KWARGS: dict[str, Any] = {**_UvicornWorker.CONFIG_KWARGS, "timeout_graceful_shutdown": _drain_s()}
