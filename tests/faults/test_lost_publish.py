"""A control worker that dies after its commit and before its publish reached Redis.

The window is microseconds wide under real load; these tests hold it open on purpose with
``CLIENT PAUSE WRITE`` (Redis keeps the after-commit script waiting) and then kill the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import pytest
import redis.asyncio as aredis
from redis.exceptions import RedisError

from devtools.stack import Stack
from tests.faults.conftest import FaultRig
from tests.faults.harness import Command, CommandDriver, Scene, wait_for_new_workers, workers
from tests.support import sql

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]


async def test_a_worker_killed_after_commit_still_publishes_what_it_sent(rig: FaultRig, scene: Scene) -> None:
    """The worker dies right after its commit, its publish script sent but not yet run (held by
    ``CLIENT PAUSE WRITE``): Redis runs what it already received, so the change is announced."""
    driver = await scene.start_driver(run=False)
    admin = aredis.Redis.from_url(rig.redis.url)
    try:
        await admin.client_pause(5000, all=False)
        command, pending = await send_and_wait_for_commit(rig, driver, scene.commanders[0])
        old = {p.pid for p in workers(rig.stack, "control")}
        for process in workers(rig.stack, "control"):
            process.kill()
        await admin.client_unpause()
    finally:
        await admin.aclose()
    await wait_for_new_workers(rig.stack, "control", old)
    await pending
    assert command.outcomes[0] == "502" and command.outcomes[-1] == "200", command.outcomes
    report = await scene.verify(converge_within_s=8)
    rig.record("control workers killed after commit, before their publish ran", report)
    assert scene.watch is not None and command.revision in scene.watch.revs


async def test_a_failed_publish_lost_with_its_worker_is_repaired(rig: FaultRig, scene: Scene) -> None:
    """Regression: the publish after a commit fails (Redis dropped the connection), the worker
    answers 200 and keeps the user in its in-memory re-send list — then dies. Nothing else knew;
    the cached state stayed one revision behind and no screen ever reached the final revision.
    Control must notice a cache behind Postgres by itself."""
    driver = await scene.start_driver(run=False)
    for device in scene.commanders:
        await driver.send(device)
    admin = aredis.Redis.from_url(rig.redis.url)
    try:
        await admin.client_pause(10000, all=False)
        command, pending = await send_and_wait_for_commit(rig, driver, scene.commanders[0])
        # Cut control's Redis connections until the answer is back: the held publish fails (and
        # so does its one retry on a new connection, us_common.redis), the answer is a 200.
        while not pending.done():
            await kill_redis_clients(admin, redis_peers(rig, "control"))
            await asyncio.wait({pending}, timeout=0.02)
        await pending
        assert command.outcomes == ["200"], command.outcomes
        peers = redis_peers(rig, "control")
        old = {p.pid for p in workers(rig.stack, "control")}
        for process in workers(rig.stack, "control"):
            process.kill()
        await kill_redis_clients(admin, peers)  # a re-send they may have sent dies with them
        await admin.client_unpause()
    finally:
        await admin.aclose()
    await wait_for_new_workers(rig.stack, "control", old)
    report = await scene.verify(converge_within_s=10, every_first_try_published=False)
    rig.record("failed publish lost with its worker", report)
    assert scene.watch is not None and command.revision not in scene.watch.revs


async def send_and_wait_for_commit(
    rig: FaultRig, driver: CommandDriver, device: str
) -> tuple[Command, asyncio.Task[Command]]:
    """Send one command and return once Postgres shows it committed (its answer still pending)."""
    pending = asyncio.create_task(driver.send(device))
    await asyncio.sleep(0)
    command = driver.commands[-1]
    deadline = time.monotonic() + 5
    while not await asyncio.to_thread(applied, rig.stack, command.event_uuid):
        assert time.monotonic() < deadline, "the command never committed"
        await asyncio.sleep(0.02)
    return command, pending


def redis_peers(rig: FaultRig, service: str) -> list[str]:
    """``ip:port`` of every connection the service's workers hold to Redis."""
    peers = []
    for process in workers(rig.stack, service):
        for conn in process.net_connections(kind="tcp"):
            if conn.raddr and conn.raddr.port == rig.redis.port:
                peers.append(f"{conn.laddr.ip}:{conn.laddr.port}")
    return peers


async def kill_redis_clients(admin: aredis.Redis, peers: list[str]) -> None:
    for peer in peers:
        with contextlib.suppress(RedisError):
            await admin.client_kill_filter(addr=peer)


def applied(stack: Stack, event_uuid: str) -> bool:
    rows = sql(stack, "SELECT 1 FROM applied_event WHERE client_event_uuid = $1", uuid.UUID(event_uuid))
    return bool(rows)
