"""/readyz of each service follows its dependencies: 503 while Redis or Postgres is down, 200
again once they are back — without a restart. Uses throwaway Redis and Postgres servers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.stack import Stack
from devtools.throwaway import ThrowawayPostgres, ThrowawayRedis
from tests.conftest import start_stack, stop_stack


@pytest.fixture(scope="module")
def own_stack(
    tmp_path_factory: pytest.TempPathFactory, music_root: Path
) -> Iterator[tuple[Stack, ThrowawayRedis, ThrowawayPostgres]]:
    base = tmp_path_factory.mktemp("readiness")
    redis = ThrowawayRedis(base / "redis")
    postgres = ThrowawayPostgres(base / "pg")
    stack: Stack | None = None
    try:
        redis.start()
        postgres.init()
        postgres.start()
        stack = start_stack(
            base / "stack", music_root, US_REDIS_URL=redis.url, US_DATABASE_URL=postgres.url("us_playback")
        )
        yield stack, redis, postgres
    finally:
        if stack is not None:
            stop_stack(stack)
        postgres.cleanup()
        redis.stop()


def ready(stack: Stack, service: str) -> int:
    try:
        return httpx.get(f"{stack.public_url}/readyz/{service}", timeout=5).status_code
    except httpx.HTTPError:
        return 0


def wait_for(stack: Stack, service: str, status: int, timeout_s: float = 20) -> int:
    deadline = time.monotonic() + timeout_s
    code = ready(stack, service)
    while code != status and time.monotonic() < deadline:
        time.sleep(0.2)
        code = ready(stack, service)
    return code


def test_readyz_follows_redis_down_and_back(
    own_stack: tuple[Stack, ThrowawayRedis, ThrowawayPostgres],
) -> None:
    stack, redis, _ = own_stack
    assert [ready(stack, s) for s in ("control", "events", "media")] == [200, 200, 200]
    redis.kill()
    for service in ("control", "events", "media"):
        assert wait_for(stack, service, 503) == 503, service
        assert httpx.get(f"{stack.public_url}/healthz/{service}").status_code == 200  # alive, not ready
    body = httpx.get(f"{stack.public_url}/readyz/control").json()
    assert body["detail"]["checks"] == {"postgres": "ok", "redis": "down"}
    redis.start()
    for service in ("control", "events", "media"):
        assert wait_for(stack, service, 200) == 200, service


def test_readyz_follows_postgres_down_and_back(
    own_stack: tuple[Stack, ThrowawayRedis, ThrowawayPostgres],
) -> None:
    stack, _, postgres = own_stack
    assert wait_for(stack, "control", 200) == 200
    postgres.stop("immediate")
    assert wait_for(stack, "control", 503) == 503
    assert httpx.get(f"{stack.public_url}/readyz/control").json()["detail"]["checks"]["postgres"] == "down"
    # events and media do not use Postgres: they stay ready.
    assert ready(stack, "events") == 200 and ready(stack, "media") == 200
    postgres.start()
    assert wait_for(stack, "control", 200) == 200
