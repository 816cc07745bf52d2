"""Media service: app factory and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from us_common.errors import install_error_handlers
from us_common.health import health_router
from us_common.jwt import TokenCodec, TokenKind
from us_common.logging import RequestLogMiddleware, configure_logging
from us_common.redis import create_redis
from us_media.settings import MediaSettings, get_settings


def create_app(settings: MediaSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging("media", settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = create_redis(settings.redis_url)
        app.state.settings = settings
        app.state.redis = redis
        app.state.media_codec = TokenCodec(
            TokenKind.MEDIA, settings.media_token_key.get_secret_value(), settings.issuer
        )
        try:
            yield
        finally:
            await redis.aclose()

    app = FastAPI(title="UniversalScrobbler Playback: media", version="0.1.0", lifespan=lifespan)
    app.add_middleware(RequestLogMiddleware)
    install_error_handlers(app)

    def readiness() -> dict[str, Callable[[], Coroutine[Any, Any, bool]]]:
        async def redis() -> bool:
            return bool(await app.state.redis.ping())

        async def token_key() -> bool:
            return getattr(app.state, "media_codec", None) is not None

        return {"redis": redis, "media_token_key": token_key}

    app.include_router(health_router(readiness))
    return app
