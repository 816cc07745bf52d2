"""One way to build an asyncio Redis client: short timeouts, TCP keepalive, health checks.

Short timeouts matter: control must keep committing while Redis is down (state lives in
Postgres), so a dead Redis costs a request milliseconds, not seconds.
"""

from __future__ import annotations

import socket
from typing import Any

from redis.asyncio import Redis

_KEEPALIVE: dict[int, int] = {}
if hasattr(socket, "TCP_KEEPIDLE"):
    _KEEPALIVE = {socket.TCP_KEEPIDLE: 10, socket.TCP_KEEPINTVL: 5, socket.TCP_KEEPCNT: 3}


def create_redis(url: str, *, socket_timeout: float | None = 1.0, **extra: Any) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=1.0,
        socket_keepalive=True,
        socket_keepalive_options=_KEEPALIVE,
        health_check_interval=10,
        retry_on_timeout=False,
        decode_responses=False,
        **extra,
    )
