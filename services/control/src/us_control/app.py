"""Control service: app factory and lifespan (engine, Redis, publisher, background loops)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import configure_mappers

from us_common.errors import error_response, install_error_handlers
from us_common.health import health_router
from us_common.jwt import DecodedTokens
from us_common.logging import RequestLogMiddleware, configure_logging
from us_common.metrics import RequestMetricsMiddleware, metrics_router
from us_common.redis import create_redis
from us_control.api.routers import (
    albums,
    artists,
    auth,
    covers,
    devices,
    genres,
    internal,
    library,
    likes,
    media,
    pairing,
    queue,
    scrobble,
    search,
    sessions,
    tracks,
    users,
)
from us_control.auth.tokens import access_codec
from us_control.background import background_loops
from us_control.db import create_db_engine, is_database_down, session_factory
from us_control.library.page_marks import TrackPageMarks
from us_control.metrics import scrape_time
from us_control.publisher import SessionPublisher
from us_control.ratelimit import RateLimits
from us_control.scrobble.runtime import build_runtime
from us_control.settings import ControlSettings, get_settings


def create_app(settings: ControlSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging("control", settings.log_level)
    # The command path builds rows with ``model_construct`` (no ORM load), which does not
    # configure the mappers: a fresh worker's first commands failed (500) until some ORM query
    # had. Configure them here, before the first request.
    configure_mappers()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_db_engine(settings)
        redis = create_redis(settings.redis_url, cluster_urls=settings.redis_cluster_urls)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        app.state.redis = redis
        app.state.publisher = SessionPublisher(redis)
        app.state.rate_limits = RateLimits(settings)
        app.state.track_marks = TrackPageMarks()
        app.state.access_tokens = DecodedTokens(access_codec(settings))
        app.state.scrobble = build_runtime(settings)
        tasks = [asyncio.create_task(loop(app)) for loop in background_loops()]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await app.state.scrobble.aclose()
            await redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="UniversalScrobbler Playback: control",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(RequestMetricsMiddleware, service="control")

    async def database_down(_: Request, exc: Exception) -> JSONResponse:
        if is_database_down(exc):
            return error_response(503, "database unavailable, try again shortly", {"Retry-After": "1"})
        raise exc

    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeoutError

    install_error_handlers(
        app,
        unavailable=(OSError, TimeoutError, PoolTimeoutError),
        extra={DBAPIError: database_down},
    )

    def readiness() -> dict[str, Callable[[], Coroutine[Any, Any, bool]]]:
        async def postgres() -> bool:
            async with app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True

        async def redis() -> bool:
            return bool(await app.state.redis.ping())

        return {"postgres": postgres, "redis": redis}

    app.include_router(health_router(readiness))
    app.include_router(metrics_router(scrape_time(app)))
    catalog = (tracks, albums, artists, genres, search, library, covers)
    for module in (auth, pairing, users, sessions, devices, queue, *catalog, likes, media, scrobble, internal):
        app.include_router(module.router)
    return app
