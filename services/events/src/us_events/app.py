"""Events (SSE gateway) service: app factory and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from us_common.errors import install_error_handlers
from us_common.health import health_router
from us_common.logging import RequestLogMiddleware, configure_logging
from us_common.redis import create_redis
from us_events.settings import EventsSettings, get_settings


def create_app(settings: EventsSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging("events", settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = create_redis(settings.redis_url)
        app.state.settings = settings
        app.state.redis = redis
        try:
            yield
        finally:
            await redis.aclose()

    app = FastAPI(title="UniversalScrobbler Playback: events", version="0.1.0", lifespan=lifespan)
    app.add_middleware(RequestLogMiddleware)
    install_error_handlers(app)

    def readiness() -> dict[str, Callable[[], Coroutine[Any, Any, bool]]]:
        async def redis() -> bool:
            return bool(await app.state.redis.ping())

        return {"redis": redis}

    app.include_router(health_router(readiness))
    return app
