"""``us_common.redis.create_redis`` against a throwaway Redis that restarts under it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from devtools.throwaway import ThrowawayRedis
from us_common.redis import create_redis

pytestmark = pytest.mark.faults  # it kills and restarts its own Redis


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    server = ThrowawayRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


async def test_a_restart_fails_no_command_on_a_pooled_connection(redis_server: ThrowawayRedis) -> None:
    """Every pooled connection died with the restart; each command still succeeds (one retry on
    a new connection). A stuck Redis costs one timeout, and one that is down fails at once."""
    redis = create_redis(redis_server.url)
    script = redis.register_script("return redis.call('PUBLISH', KEYS[1], ARGV[1])")
    try:
        await asyncio.gather(*(script(keys=["us:test"], args=[str(i)]) for i in range(8)))  # 8 pooled
        redis_server.restart()
        results = await asyncio.gather(
            *(script(keys=["us:test"], args=[str(i)]) for i in range(8)), return_exceptions=True
        )
        assert [r for r in results if isinstance(r, BaseException)] == []
        # A stuck Redis is not retried: one socket timeout (1 s), not two.
        admin = create_redis(redis_server.url)
        await admin.client_pause(2500, all=False)  # writes wait
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await redis.set("us:test", "x")
        assert time.monotonic() - started < 1.8
        await admin.client_unpause()
        await admin.aclose()
        redis_server.kill()
        started = time.monotonic()
        with pytest.raises(RedisConnectionError):
            await redis.get("us:test")
        assert time.monotonic() - started < 1.0
    finally:
        await redis.aclose()
