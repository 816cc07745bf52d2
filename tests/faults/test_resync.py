"""Regression: a subscriber reconnect made every events worker re-send each client the revision
it already had (the resync snapshot was pushed with ``force``), so a client saw one revision twice
after every Redis blip or worker restart (found by the events graceful-restart scenario)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import redis.asyncio as aredis

from tests.faults.conftest import FaultRig
from tests.faults.harness import Scene

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]


async def resync_counts(rig: FaultRig) -> dict[int, int]:
    counts: dict[int, int] = {}
    deadline = time.monotonic() + 10
    while len(counts) < rig.stack.workers["events"] and time.monotonic() < deadline:
        async with httpx.AsyncClient(base_url=rig.stack.service_url("events"), timeout=3) as http:
            body = (await http.get("/debug/counts")).json()
        if body["connected"]:
            counts[int(body["pid"])] = int(body["resyncs"])
    return counts


async def test_a_subscriber_reconnect_does_not_resend_a_revision_a_client_has(
    rig: FaultRig, scene: Scene
) -> None:
    driver = await scene.start_driver(run=False)
    for device in scene.commanders:
        await driver.send(device)
    rev = driver.commands[-1].revision
    assert rev is not None
    assert all(await asyncio.gather(*(r.wait_for(rev, 5) for r in scene.recorders)))
    before = await resync_counts(rig)
    admin = aredis.Redis.from_url(rig.redis.url)
    try:
        await admin.client_kill_filter(_type="pubsub")  # every events subscriber reconnects
    finally:
        await admin.aclose()
    deadline = time.monotonic() + 10
    while True:
        after = await resync_counts(rig)
        if len(after) == len(before) and all(after[pid] > before.get(pid, 0) for pid in after):
            break
        assert time.monotonic() < deadline, (before, after)
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    await driver.send(scene.commanders[0])
    report = await scene.verify(converge_within_s=5)
    rig.record("subscriber reconnect (CLIENT KILL TYPE pubsub)", report)
