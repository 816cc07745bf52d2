"""Control's figures read from Postgres at scrape time (CONTRACTS C7): scan progress and the
scrobble outbox depth, added to ``/metrics`` by the worker that answers the scrape.

The figures come from the owning areas' repository functions, ``library.repository.scan_status``
and ``scrobble.repository.outbox_depth``; until an area has its function, its figures are left
out (the route does not fail).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from fastapi import FastAPI
from prometheus_client.core import GaugeMetricFamily, Metric

log = structlog.get_logger(__name__)


def _repository_function(module: str, name: str) -> Callable[..., Awaitable[Any]] | None:
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def scrape_time(app: FastAPI) -> Callable[[], Awaitable[Iterable[Metric]]]:
    async def collect() -> Iterable[Metric]:
        families: list[Metric] = []
        scan_status = _repository_function("us_control.library.repository", "scan_status")
        outbox_depth = _repository_function("us_control.scrobble.repository", "outbox_depth")
        try:
            async with app.state.sessions() as db:
                if scan_status is not None:
                    families.extend(_scan_families(await scan_status(db)))
                if outbox_depth is not None:
                    depth = GaugeMetricFamily("us_scrobble_outbox_depth", "Listens waiting for delivery.")
                    depth.add_metric([], float(_number(await outbox_depth(db))))
                    families.append(depth)
        except Exception as exc:  # noqa: BLE001 - Postgres down: the process metrics still answer
            log.warning("metrics_scrape_failed", error_type=type(exc).__name__)
        return families

    return collect


def _number(value: Any) -> float:
    if isinstance(value, dict):  # a breakdown (per target): the total
        return float(sum(value.values()))
    return float(value or 0)


def _scan_families(status: Any) -> list[Metric]:
    """``/library/status`` figures: ``scanning``, ``done``, ``total``, ``errors``."""
    fields = status if isinstance(status, dict) else getattr(status, "__dict__", {}) or status.model_dump()
    families: list[Metric] = []
    # ``total`` is exported as ``_files``: a gauge must not end in ``_total`` (promtool).
    for key, name, help_text in (
        ("scanning", "scanning", "1 while a library scan runs."),
        ("done", "done", "Files the current (or last) scan has done."),
        ("total", "files", "Files the current scan will look at (unknown: absent)."),
        ("errors", "errors", "Files the last scan could not read."),
    ):
        value = fields.get(key)
        if value is None:
            continue
        family = GaugeMetricFamily(f"us_library_scan_{name}", help_text)
        family.add_metric([], float(value))
        families.append(family)
    return families
