"""One way to build an asyncio Redis client, for one Redis or a Redis Cluster.

Short timeouts, TCP keepalive, health checks. Short timeouts matter: control must keep
committing while Redis is down (state lives in Postgres), so a dead Redis costs a request
milliseconds, not seconds.

The mode is configuration: ``US_REDIS_CLUSTER_URLS`` (seed nodes, comma-separated
``redis://[user:password@]host:port`` or ``rediss://…``) selects redis-py's cluster client;
otherwise ``US_REDIS_URL`` is the one Redis. Both clients take the same calls (commands routed
by key slot in a cluster); what differs — sharded pub/sub, one subscriber connection per master —
is asked with :func:`is_cluster`. docs/SCALING.md.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError

KEEPALIVE: dict[int, int] = {}
if hasattr(socket, "TCP_KEEPIDLE"):
    KEEPALIVE = {socket.TCP_KEEPIDLE: 10, socket.TCP_KEEPINTVL: 5, socket.TCP_KEEPCNT: 3}

AnyRedis = Redis | RedisCluster

# What "Redis is unavailable" looks like: redis-py's errors, the socket's, and the cluster
# client's own (an uncovered slot mid-failover is a RedisClusterException, not a RedisError).
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError)

_CONNECTION_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 1.0,
    "socket_keepalive": True,
    "socket_keepalive_options": KEEPALIVE,
    "health_check_interval": 10,
    "decode_responses": False,
}


def split_urls(urls: str | Sequence[str]) -> list[str]:
    """``"a, b c"`` or ``["a", "b"]`` → the non-empty URLs."""
    items = urls.replace(",", " ").split() if isinstance(urls, str) else list(urls)
    return [url.strip() for url in items if url.strip()]


def is_cluster(redis: AnyRedis) -> bool:
    return isinstance(redis, RedisCluster)


def create_redis(
    url: str, *, cluster_urls: str | Sequence[str] = (), socket_timeout: float | None = 1.0, **extra: Any
) -> AnyRedis:
    """A client for ``cluster_urls`` (Redis Cluster seed nodes) when there are any, else ``url``."""
    seeds = split_urls(cluster_urls)
    if seeds:
        return create_cluster(seeds, socket_timeout=socket_timeout, **extra)
    # One immediate retry, on a new connection, of a command whose connection was closed under
    # it (a Redis restart closes every pooled one): without it the first command on each such
    # connection failed — a committed change went out only with the next resend (fault stage,
    # Postgres restarted after a Redis restart). Only ConnectionError: a timeout is not retried
    # (a stuck Redis still costs a request one socket timeout), and a Redis that is down still
    # fails a command within milliseconds (refused twice).
    options: dict[str, Any] = {
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        "retry_on_error": [RedisConnectionError],
        **_CONNECTION_OPTIONS,
        **extra,
    }
    return Redis.from_url(url, socket_timeout=socket_timeout, retry_on_timeout=False, **options)


def create_cluster(seeds: Sequence[str], *, socket_timeout: float | None = 1.0, **extra: Any) -> RedisCluster:
    """redis-py's cluster client: credentials and TLS from the first seed URL, every seed a
    startup node. Two quick retries let a command follow a MOVED or a promoted replica without
    holding a request for seconds while a master is down."""
    first, *others = seeds
    options: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), 2),
        **_CONNECTION_OPTIONS,
        **extra,
    }
    startup = [ClusterNode(*_host_port(url)) for url in others]
    return RedisCluster.from_url(first, startup_nodes=startup, **options)


def node_url(seed: str, host: str, port: int) -> str:
    """``seed`` (scheme, credentials, query) pointed at one node: a plain connection to it."""
    parts = urlsplit(seed)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, "/0", parts.query, ""))


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379
