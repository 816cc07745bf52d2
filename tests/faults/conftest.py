"""One stack for every fault scenario, on a throwaway Redis and a throwaway Postgres cluster.

The scenarios kill and restart these servers, gunicorn workers and masters, and nginx; the
machine's shared Redis and Postgres are never touched. Each scenario gets a fresh user (its own
channel, cache and rows) and leaves the stack as it found it: all up and ready.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.stack import Stack
from devtools.throwaway import ThrowawayPostgres, ThrowawayRedis
from tests.conftest import UserPool, start_stack, stop_stack
from tests.faults.harness import Report, Scene

# Beacons every second and a short heal grace: a client that missed a message (Redis down)
# converges within ~2 s, which keeps every scenario to seconds. Rate limits stay on (their
# fail-open path is part of what is tested) but far above what the driver sends.
FAULT_SETTINGS = {
    "US_BEACON_INTERVAL_S": "1",
    "US_HEAL_GRACE_S": "0.5",
    "US_HEARTBEAT_INTERVAL_S": "5",
    "US_RATE_LIMIT_COMMANDS": "100000/minute",
    "US_RATE_LIMIT_QUEUE": "100000/minute",
    "US_RATE_LIMIT_LOGIN": "1000/minute",
    "US_RATE_LIMIT_MEDIA_TOKEN": "1000/minute",
}


@dataclass
class FaultRig:
    stack: Stack
    redis: ThrowawayRedis
    postgres: ThrowawayPostgres
    users: UserPool
    report_file: Path

    def record(self, scenario: str, report: Report) -> None:
        """Figures of each run (docs/RELIABILITY.md quotes them); printed with ``-s`` too."""
        line = report.line(scenario)
        print(line)  # noqa: T201 - the figures are the point of these runs
        with self.report_file.open("a") as out:
            out.write(json.dumps({"scenario": scenario, **report.__dict__}) + "\n")


@pytest.fixture(scope="session")
def rig(tmp_path_factory: pytest.TempPathFactory, music_root: Path) -> Iterator[FaultRig]:
    base = tmp_path_factory.mktemp("faults")
    redis = ThrowawayRedis(base / "redis")
    redis.start()
    postgres = ThrowawayPostgres(base / "pg")
    postgres.init()
    postgres.start()
    stack = start_stack(
        base / "stack",
        music_root,
        US_REDIS_URL=redis.url,
        US_DATABASE_URL=postgres.url("us_faults"),
        overrides=FAULT_SETTINGS,
    )
    try:
        stack.usctl("library", "scan", str(music_root / "Library"), "--name", "Library")
        yield FaultRig(
            stack, redis, postgres, UserPool(stack, granted=16, ungranted=0), base / "report.jsonl"
        )
    finally:
        stop_stack(stack)
        postgres.cleanup()
        redis.stop()


@pytest.fixture
async def scene(rig: FaultRig) -> AsyncIterator[Scene]:
    rig.stack.wait_ready(30)
    opened = await Scene.open(rig.stack, rig.users, admin_redis_url=rig.redis.url)
    try:
        yield opened
    finally:
        await opened.close()
