"""A stack on a throwaway Redis Cluster (3 masters + 3 replicas), with two events processes
standing for two hosts behind one nginx upstream. The scenarios kill masters and move slots;
the machine's Redis is never touched. Each scenario takes a fresh user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.cluster import ThrowawayCluster
from devtools.stack import Stack, free_port
from tests.conftest import UserPool, start_stack, stop_stack
from tests.faults.conftest import FAULT_SETTINGS
from tests.faults.harness import Scene


@dataclass
class ClusterRig:
    stack: Stack
    cluster: ThrowawayCluster
    users: UserPool


@pytest.fixture(scope="session")
def cluster_rig(tmp_path_factory: pytest.TempPathFactory, music_root: Path) -> Iterator[ClusterRig]:
    base = tmp_path_factory.mktemp("cluster-rig")
    cluster = ThrowawayCluster(base / "cluster")
    try:
        cluster.start()
        stack = start_stack(
            base / "stack",
            music_root,
            # One worker per events host: two hosts, each a worker of its own (what the fault
            # harness places its clients on is the first host's).
            workers={"events": 1},
            replicas={"events-b": ("events", free_port())},
            overrides={**FAULT_SETTINGS, "US_REDIS_CLUSTER_URLS": cluster.urls, "US_TOPOLOGY_INTERVAL_S": "2"},
        )
        try:
            stack.usctl("library", "scan", str(music_root / "Library"), "--name", "Library")
            yield ClusterRig(stack, cluster, UserPool(stack, granted=8, ungranted=0))
        finally:
            stop_stack(stack)
    finally:
        cluster.stop()


@pytest.fixture
async def cluster_scene(cluster_rig: ClusterRig) -> AsyncIterator[Scene]:
    cluster_rig.stack.wait_ready(30)
    opened = await Scene.open(cluster_rig.stack, cluster_rig.users)
    try:
        yield opened
    finally:
        await opened.close()
