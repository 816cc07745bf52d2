"""Prometheus metrics for operators: ``GET /metrics`` on each service's loopback port.

prometheus-client in its multiprocess mode: every gunicorn worker writes its own files under
``PROMETHEUS_MULTIPROC_DIR`` (one directory per running service, emptied by the master at start:
``infra/gunicorn/gunicorn.conf.py``) and a scrape, whichever worker answers it, adds them up —
so counters are the service's, not one worker's. Without the variable (a single process) the
default registry is used.

``/metrics`` answers only on loopback and only unproxied, like the events ``/debug`` routes:
nginx does not route it, and a request carrying ``X-Forwarded-For``/``X-Real-IP`` (anything that
came through a proxy) or from another host gets 404.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from fastapi import APIRouter, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from us_common.errors import NotFound

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LOOPBACK = {"127.0.0.1", "::1"}

HTTP_REQUESTS = Counter(
    "us_http_requests",
    "HTTP requests answered, by service, route template, method and status.",
    ["service", "route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "us_http_request_duration_seconds",
    "Time to the end of the response, by service and route template.",
    ["service", "route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

# Values read at scrape time (e.g. from Postgres) by the scraping worker: families to add.
ScrapeTime = Callable[[], Awaitable[Iterable[Metric]]]


def reset_multiprocess_dir() -> None:
    """At master start, before any worker: no files of a previous run (they would be added up)."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):
        stale.unlink(missing_ok=True)


def worker_exited(pid: int) -> None:
    """A worker is gone: its live gauges (connections) stop counting."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def require_loopback(request: Request) -> None:
    """404 unless the request came straight from this host (not through nginx)."""
    proxied = "x-forwarded-for" in request.headers or "x-real-ip" in request.headers
    if proxied or request.client is None or request.client.host not in _LOOPBACK:
        raise NotFound()


class _Fixed(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def metrics_router(scrape_time: ScrapeTime | None = None) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        require_loopback(request)
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = REGISTRY
        output = generate_latest(registry)
        if scrape_time is not None:
            extra = CollectorRegistry(auto_describe=False)
            extra.register(_Fixed(await scrape_time()))
            output += generate_latest(extra)
        return Response(output, media_type=CONTENT_TYPE_LATEST)

    return router


class RequestMetricsMiddleware:
    """Counts every answered request and times it, labelled with the route *template*
    (``/sessions/{session_uuid}/seek``, never the uuid: bounded label values). Streams
    (``text/event-stream``) are counted, not timed: their length is the client's."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        streaming = False

        async def send_and_observe(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name == b"content-type" and value.startswith(b"text/event-stream"):
                        streaming = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_observe)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            if template != "/metrics":
                HTTP_REQUESTS.labels(self.service, template, method, str(status)).inc()
                if not streaming:
                    HTTP_LATENCY.labels(self.service, template, method).observe(time.perf_counter() - started)
