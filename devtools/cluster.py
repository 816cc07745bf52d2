"""A throwaway Redis Cluster for tests and benchmarks: Debian's ``redis-server`` on free ports.

``masters`` masters with one replica each (``redis-cli --cluster create … --cluster-replicas 1``),
a short ``cluster-node-timeout`` so a killed master's replica is promoted within seconds. The
tests kill its nodes and move its slots; the machine's shared Redis is never touched.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devtools.stack import free_port
from devtools.throwaway import ThrowawayRedis

NODE_TIMEOUT_MS = 1000
BUS_PORT_OFFSET = 10_000  # Redis Cluster: a node's bus listens on its port + 10000


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too; Redis needs it below 55536."""
    return free_port(span=BUS_PORT_OFFSET)


@dataclass(frozen=True)
class ClusterNodeInfo:
    node_id: str
    port: int
    master: bool
    master_id: str | None
    slots: tuple[tuple[int, int], ...]
    failed: bool

    def owns(self, slot: int) -> bool:
        return any(low <= slot <= high for low, high in self.slots)


class ThrowawayCluster:
    def __init__(self, workdir: Path, masters: int = 3) -> None:
        self.workdir = workdir
        self.nodes = [
            ThrowawayRedis(
                workdir / f"node{i}",
                port,
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(workdir / f"node{i}" / "nodes.conf"),
                    "--cluster-node-timeout",
                    str(NODE_TIMEOUT_MS),
                    # A promoted replica must not wait for a full sync that never comes.
                    "--cluster-replica-validity-factor",
                    "0",
                ],
            )
            for i, port in enumerate(free_cluster_port() for _ in range(masters * 2))
        ]

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def urls(self) -> str:
        """``US_REDIS_CLUSTER_URLS``: every node a seed (any live one is enough)."""
        return ",".join(f"redis://127.0.0.1:{port}" for port in self.ports)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        redis_cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
        subprocess.run(
            [
                redis_cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.wait_ok()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def cli(self, port: int, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=30, check=check
        )
        return result.stdout.strip()

    def live_ports(self) -> list[int]:
        return [node.port for node in self.nodes if node.proc is not None and node.proc.poll() is None]

    def wait_ok(self, timeout_s: float = 30) -> None:
        """Every live node says ``cluster_state:ok`` and agrees on who serves every slot."""
        deadline = time.monotonic() + timeout_s
        while True:
            views = []
            for port in self.live_ports():
                info = self.cli(port, "cluster", "info", check=False)
                views.append(
                    "cluster_state:ok" in info
                    and {(n.node_id, n.slots) for n in self.topology(port) if n.master and not n.failed}
                )
            if views and all(views) and all(view == views[0] for view in views):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("throwaway cluster did not settle")
            time.sleep(0.1)

    def topology(self, port: int | None = None) -> list[ClusterNodeInfo]:
        """``CLUSTER NODES`` as one node (the first live one by default) sees it."""
        text = self.cli(port or self.live_ports()[0], "cluster", "nodes")
        nodes = []
        for line in text.splitlines():
            fields = line.split()
            flags = fields[2].split(",")
            slots = []
            for item in fields[8:]:
                if item.startswith("["):
                    continue  # a slot being migrated or imported
                low, _, high = item.partition("-")
                slots.append((int(low), int(high or low)))
            nodes.append(
                ClusterNodeInfo(
                    node_id=fields[0],
                    port=int(fields[1].split("@")[0].rsplit(":", 1)[1]),
                    master="master" in flags,
                    master_id=None if fields[3] == "-" else fields[3],
                    slots=tuple(slots),
                    failed="fail" in flags or "fail?" in flags,
                )
            )
        return nodes

    def master_of(self, slot: int) -> ClusterNodeInfo:
        for node in self.topology():
            if node.master and not node.failed and node.owns(slot):
                return node
        raise LookupError(f"no master serves slot {slot}")

    def replica_of(self, master: ClusterNodeInfo) -> ClusterNodeInfo:
        return next(n for n in self.topology() if n.master_id == master.node_id)

    def kill(self, port: int) -> None:
        next(node for node in self.nodes if node.port == port).kill()

    def wait_promoted(self, slot: int, old_master_port: int, timeout_s: float = 30) -> float:
        """Until a node other than ``old_master_port`` serves ``slot``; returns when (monotonic)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.master_of(slot).port != old_master_port:
                    return time.monotonic()
            except (LookupError, subprocess.SubprocessError, IndexError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"slot {slot} was not failed over")

    def move_slot(self, slot: int, target: ClusterNodeInfo) -> None:
        """Move one slot and its keys to ``target``, the steps ``redis-cli --cluster reshard``
        takes for each slot (IMPORTING, MIGRATING, MIGRATE the keys, SETSLOT NODE everywhere),
        for a slot we choose (reshard picks its own)."""
        source = self.master_of(slot)
        self.cli(target.port, "cluster", "setslot", str(slot), "importing", source.node_id)
        self.cli(source.port, "cluster", "setslot", str(slot), "migrating", target.node_id)
        while True:
            keys = self.cli(source.port, "cluster", "getkeysinslot", str(slot), "100").split()
            if not keys:
                break
            self.cli(source.port, "migrate", "127.0.0.1", str(target.port), "", "0", "5000", "keys", *keys)
        for node in (target, source):
            self.cli(node.port, "cluster", "setslot", str(slot), "node", target.node_id)
        for node in self.topology():
            if node.master and node.node_id not in (source.node_id, target.node_id) and not node.failed:
                self.cli(node.port, "cluster", "setslot", str(slot), "node", target.node_id, check=False)
        self.wait_ok()
