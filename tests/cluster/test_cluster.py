"""The stack on a real Redis Cluster (3 masters + 3 replicas) with two events hosts: a user's
messages stay on the user's shard, a killed master and a moved slot lose nothing, and a user's
devices on different events hosts see the same revisions (issue 15).

Every scenario ends with the fault harness's invariant (``Scene.verify``): none lost, none
doubled, revisions strictly increasing per client, every client on the database's final revision.
"""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from redis.crc import key_slot

from devtools.cluster import ClusterNodeInfo, ThrowawayCluster
from tests.cluster.conftest import ClusterRig
from tests.faults.harness import Scene
from us_common.bus import user_channel

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

# After the promotion (or the move), every client is on the final revision within this long.
CONVERGE_S = 10.0


def user_slot(user_uuid: str) -> int:
    return key_slot(user_channel(user_uuid).encode())


def spublish_calls(cluster: ThrowawayCluster) -> dict[int, int]:
    """SPUBLISH executed per live node (INFO commandstats; a script's calls count too)."""
    calls = {}
    for port in cluster.live_ports():
        stats = cluster.cli(port, "info", "commandstats")
        match = re.search(r"cmdstat_spublish:calls=(\d+)", stats)
        calls[port] = int(match.group(1)) if match else 0
        assert "cmdstat_publish:" not in stats, "a classic PUBLISH in a cluster reaches every node"
    return calls


def shard_subscribers(cluster: ThrowawayCluster, channel: str) -> dict[int, int]:
    """PUBSUB SHARDNUMSUB of ``channel`` on every live node."""
    counts = {}
    for port in cluster.live_ports():
        reply = cluster.cli(port, "pubsub", "shardnumsub", channel).split()
        counts[port] = int(reply[1]) if len(reply) == 2 else 0
    return counts


async def wait_subscribed_on(cluster: ThrowawayCluster, channel: str, port: int) -> dict[int, int]:
    """Until only ``port`` carries the channel's subscribers (the gateways followed a move)."""
    deadline = time.monotonic() + CONVERGE_S
    while True:
        counts = await asyncio.to_thread(shard_subscribers, cluster, channel)
        if counts.get(port, 0) > 0 and all(n == 0 for p, n in counts.items() if p != port):
            return counts
        if time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.2)


async def recorders_by_host(rig: ClusterRig, scene: Scene) -> dict[str, list[str]]:
    """Which events host (process) serves which of the scene's SSE clients."""
    placed: dict[str, list[str]] = {}
    for host in ("events", "events-b"):
        seen: set[str] = set()
        async with httpx.AsyncClient(base_url=rig.stack.service_url(host), timeout=3) as http:
            for _ in range(8):  # the answer comes from one worker at a time
                body = (await http.get("/debug/clients")).json()
                seen.update(c["device_uuid"] for c in body["clients"])
        placed[host] = sorted(seen & {r.device_uuid for r in scene.recorders})
    return placed


async def test_a_users_messages_reach_one_shard_only(cluster_rig: ClusterRig, cluster_scene: Scene) -> None:
    cluster = cluster_rig.cluster
    slot = user_slot(cluster_scene.user_uuid)
    owner = await asyncio.to_thread(cluster.master_of, slot)
    channel = user_channel(cluster_scene.user_uuid)
    subscribers = await wait_subscribed_on(cluster, channel, owner.port)
    assert subscribers[owner.port] >= 2, subscribers  # both hosts' workers, on the owner only
    assert all(n == 0 for port, n in subscribers.items() if port != owner.port), subscribers

    before = await asyncio.to_thread(spublish_calls, cluster)
    driver = await cluster_scene.start_driver(run=False)
    for _ in range(10):
        await driver.send(cluster_scene.commanders[0])
    await cluster_scene.verify(converge_within_s=CONVERGE_S)
    after = await asyncio.to_thread(spublish_calls, cluster)
    delta = {port: after[port] - before.get(port, 0) for port in after}
    replica = await asyncio.to_thread(cluster.replica_of, owner)
    assert delta[owner.port] >= 10, delta
    others = {port: n for port, n in delta.items() if port not in (owner.port, replica.port)}
    assert set(others.values()) == {0}, delta  # the other shards never saw the user's messages


async def test_two_events_hosts_serve_one_users_devices(cluster_rig: ClusterRig, cluster_scene: Scene) -> None:
    for _ in range(12):
        placed = await recorders_by_host(cluster_rig, cluster_scene)
        if placed["events"] and placed["events-b"]:
            break
        await cluster_scene.add_recorder()
    assert placed["events"] and placed["events-b"], placed
    await cluster_scene.start_driver(interval_s=0.05)
    await asyncio.sleep(2)
    report = await cluster_scene.verify(converge_within_s=CONVERGE_S)
    assert report.commands >= 10, report


async def test_master_killed_mid_stream(cluster_rig: ClusterRig, cluster_scene: Scene) -> None:
    """The user's master is SIGKILLed under a steady command load; its replica is promoted.
    Commands meanwhile may be retried (503/502 are unknown outcomes), none lost or doubled."""
    cluster = cluster_rig.cluster
    slot = user_slot(cluster_scene.user_uuid)
    owner = await asyncio.to_thread(cluster.master_of, slot)
    replica = await asyncio.to_thread(cluster.replica_of, owner)
    driver = await cluster_scene.start_driver()
    await asyncio.sleep(1.5)
    await asyncio.to_thread(cluster.kill, owner.port)
    try:
        promoted_at = await asyncio.to_thread(cluster.wait_promoted, slot, owner.port)
        await asyncio.sleep(2)  # the load goes on across the promotion
        await driver.stop()
        left = CONVERGE_S - (time.monotonic() - promoted_at)
        report = await cluster_scene.verify(converge_within_s=max(left, 0.5), every_first_try_published=False)
        assert report.statuses.get("500", 0) == 0, report.statuses
        after_promotion = [c for c in driver.acked if c.acked_at and c.acked_at > promoted_at]
        assert after_promotion, "commands resumed after the promotion"
        counts = await wait_subscribed_on(cluster, user_channel(cluster_scene.user_uuid), replica.port)
        assert counts.get(replica.port, 0) >= 1, counts  # the gateways followed the failover
    finally:
        await asyncio.to_thread(_restart_node, cluster, owner)


async def test_slot_moved_mid_stream(cluster_rig: ClusterRig, cluster_scene: Scene) -> None:
    """The slot holding the user (its cache, channel and subscribers) moves to another master
    while commands flow — what ``redis-cli --cluster reshard`` does, for the user's slot."""
    cluster = cluster_rig.cluster
    slot = user_slot(cluster_scene.user_uuid)
    source = await asyncio.to_thread(cluster.master_of, slot)
    target = next(n for n in await asyncio.to_thread(cluster.topology) if n.master and not n.failed and n != source)
    await cluster_scene.start_driver()
    await asyncio.sleep(1.5)
    await asyncio.to_thread(cluster.move_slot, slot, target)
    moved_at = time.monotonic()
    await asyncio.sleep(2)
    await cluster_scene.driver.stop()  # type: ignore[union-attr]
    left = CONVERGE_S - (time.monotonic() - moved_at)
    await cluster_scene.verify(converge_within_s=max(left, 0.5), every_first_try_published=False)
    counts = await wait_subscribed_on(cluster, user_channel(cluster_scene.user_uuid), target.port)
    assert counts.get(target.port, 0) >= 1 and counts.get(source.port, 0) == 0, counts


def _restart_node(cluster: ThrowawayCluster, node: ClusterNodeInfo) -> None:
    """The killed master comes back (as a replica of the promoted one): the next test starts whole."""
    next(n for n in cluster.nodes if n.port == node.port).start()
    cluster.wait_ok()
