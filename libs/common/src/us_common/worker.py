"""The gunicorn worker class of all three services: uvicorn-worker's, plus a drain bound.

``US_GUNICORN_DRAIN_S`` becomes uvicorn's ``timeout_graceful_shutdown``: how long a stopping
worker waits for its connections before cancelling what is left. The events service sets it (a
client that stopped reading keeps its socket full, and the connection would otherwise hold the
worker until gunicorn's ``graceful_timeout`` kills it); control leaves it unset, so a request
in flight always finishes — commit *and* publish — within ``graceful_timeout``.
"""

from __future__ import annotations

import os
from typing import Any

from uvicorn_worker import UvicornWorker as _UvicornWorker


def _drain_s() -> float | None:
    raw = os.environ.get("US_GUNICORN_DRAIN_S", "").strip()
    return float(raw) if raw else None


class UvicornWorker(_UvicornWorker):  # type: ignore[misc]  # untyped base
    CONFIG_KWARGS: dict[str, Any] = {**_UvicornWorker.CONFIG_KWARGS, "timeout_graceful_shutdown": _drain_s()}
