"""Events (SSE gateway) service: app factory and lifespan (Redis clients, control client, hub)."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from us_common.errors import install_error_handlers
from us_common.health import health_router
from us_common.jwt import TokenCodec, TokenKind
from us_common.logging import RequestLogMiddleware, configure_logging
from us_common.metrics import RequestMetricsMiddleware, metrics_router
from us_common.redis import KEEPALIVE, AnyRedis, create_redis, split_urls
from us_events.api.events_endpoint import EventsEndpoint
from us_events.api.routers import debug, events
from us_events.hub import Hub
from us_events.session_cache import SessionCacheReader
from us_events.settings import EventsSettings, get_settings
from us_events.shards import NO_RETRY, Bus, ClusterShards, SingleRedis
from us_events.subscriber import SubscriberSink


def cache_redis(settings: EventsSettings) -> AnyRedis:
    """Cache reads: a bounded pool that waits for a free connection (a reconnect storm of
    thousands of clients must not open thousands of Redis connections), one retry on a
    connection that died while pooled. Otherwise the options of ``us_common.redis``.
    In a cluster, redis-py's per-node pools refuse rather than wait when full, so the reader
    bounds its own concurrency to the same size (``SessionCacheReader``)."""
    if split_urls(settings.redis_cluster_urls):
        return create_redis(
            settings.redis_url,
            cluster_urls=settings.redis_cluster_urls,
            max_connections=settings.redis_pool_size,
        )
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_pool_size,
        timeout=2,
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        socket_keepalive=True,
        socket_keepalive_options=KEEPALIVE,
        health_check_interval=10,
        retry=Retry(NoBackoff(), 1),
    )
    return Redis.from_pool(pool)


def bus_factory(
    settings: EventsSettings, redis: AnyRedis, subscriber: AnyRedis
) -> Callable[[SubscriberSink], Bus]:
    """One subscriber connection on one Redis; one per master, placed by the cluster client's
    slot map, in a Redis Cluster (``us_events.shards``)."""
    if isinstance(redis, RedisCluster):
        seed = split_urls(settings.redis_cluster_urls)[0]
        return lambda sink: ClusterShards(redis, seed, settings, sink)
    assert isinstance(subscriber, Redis)
    return lambda sink: SingleRedis(subscriber.pubsub, settings, sink)


def create_app(settings: EventsSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging("events", settings.log_level)
    # httpx logs every fallback request at INFO; our own lines say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = cache_redis(settings)
        # The hub's own connection (pub/sub): no retries inside redis-py, the hub reconnects.
        subscriber = create_redis(settings.redis_url, retry=NO_RETRY)
        control = httpx.AsyncClient(
            base_url=settings.control_internal_url, timeout=settings.control_timeout_s, trust_env=False
        )
        key = settings.access_token_key.get_secret_value()
        caches = SessionCacheReader(
            redis,
            control,
            TokenCodec(TokenKind.SERVICE, key, settings.issuer),
            settings.control_concurrency,
            settings.redis_pool_size,
        )
        hub = Hub(settings, bus_factory(settings, redis, subscriber), caches)
        app.state.settings = settings
        app.state.redis = redis
        app.state.hub = hub
        app.state.access_codec = TokenCodec(TokenKind.ACCESS, key, settings.issuer)
        await hub.start()
        gc.freeze()  # what exists now lives as long as the worker: full collections skip it
        gc.set_threshold(*settings.gc_thresholds)
        try:
            yield
        finally:
            await hub.stop()
            await control.aclose()
            await subscriber.aclose()
            await redis.aclose()

    app = FastAPI(title="UniversalScrobbler Playback: events", version="0.1.0", lifespan=lifespan)
    # Added first, so it runs innermost: a stream is logged and counted, then served without the
    # framework's call chain under it (us_events.api.events_endpoint says why).
    app.add_middleware(EventsEndpoint)
    app.add_middleware(RequestLogMiddleware)
    app.add_middleware(RequestMetricsMiddleware, service="events")
    install_error_handlers(app)

    def readiness() -> dict[str, Callable[[], Coroutine[Any, Any, bool]]]:
        async def redis() -> bool:
            return bool(await app.state.redis.ping())

        async def subscriber() -> bool:
            return bool(app.state.hub.connected)

        return {"redis": redis, "subscriber": subscriber}

    app.include_router(health_router(readiness))
    app.include_router(events.router)
    app.include_router(debug.router)
    app.include_router(metrics_router())
    return app
