"""Media service: app factory and lifespan (Redis reader, control client, the verifier)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from us_common.errors import install_error_handlers
from us_common.health import health_router
from us_common.jwt import TokenCodec, TokenKind
from us_common.logging import RequestLogMiddleware, configure_logging
from us_common.metrics import RequestMetricsMiddleware, metrics_router
from us_common.redis import create_redis
from us_media.api.routers import stream
from us_media.api.routers.verify import VerifyEndpoint
from us_media.control import ControlClient
from us_media.settings import MediaSettings, get_settings
from us_media.verifier import MediaVerifier


def create_app(settings: MediaSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging("media", settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Short socket timeout: a verification waits at most this long for Redis, then falls back.
        redis = create_redis(settings.redis_url, cluster_urls=settings.redis_cluster_urls, socket_timeout=0.5)
        media_key = settings.media_token_key.get_secret_value()
        http = httpx.AsyncClient(
            base_url=settings.control_internal_url,
            timeout=settings.control_timeout_s,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )
        control = ControlClient(http, TokenCodec(TokenKind.SERVICE, media_key, settings.issuer))
        app.state.settings = settings
        app.state.redis = redis
        app.state.media_codec = TokenCodec(TokenKind.MEDIA, media_key, settings.issuer)
        app.state.control = control
        app.state.verifier = MediaVerifier(
            app.state.media_codec, redis, control, settings.music_root, settings.media_path_cache_ttl_s
        )
        try:
            yield
        finally:
            await control.drain()
            await http.aclose()
            await redis.aclose()

    app = FastAPI(title="UniversalScrobbler Playback: media", version="0.1.0", lifespan=lifespan)
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(RequestMetricsMiddleware, service="media")
    # Added last, so it runs first: /verify is answered before logging, routing and dependencies.
    app.add_middleware(VerifyEndpoint)
    install_error_handlers(app)

    def readiness() -> dict[str, Callable[[], Coroutine[Any, Any, bool]]]:
        async def redis() -> bool:
            return bool(await app.state.redis.ping())

        async def token_key() -> bool:
            return getattr(app.state, "media_codec", None) is not None

        async def music_root() -> bool:
            return settings.music_root.is_dir()

        return {"redis": redis, "media_token_key": token_key, "music_root": music_root}

    app.include_router(health_router(readiness))
    app.include_router(metrics_router())
    if settings.self_stream:
        app.include_router(stream.router)
    return app
