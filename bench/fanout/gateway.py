"""Mode "gateway alone": one events worker, a throwaway Redis, N idle SSE clients.

``cluster``: a throwaway Redis Cluster (3 masters + 3 replicas) and two events processes (one
worker each, standing for two hosts), a user's two devices on different ones; sharded publish.

1. Seeds ``N/2`` users (two devices each) into a throwaway Redis, starts ``us-events`` under
   gunicorn with ONE worker (no nginx, no control: the gateway never needs them on a hit).
2. Client processes open the connections in steps (1k, then 10k by default); after each step
   the worker's RSS is read (psutil) once the connections are idle.
3. At the largest step, the clients publish (cache write + PUBLISH, as control does) at the
   given rate to random users and time publish → receipt of the event's bytes.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import secrets
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import redis as redis_sync

from bench.fanout import client
from bench.fanout.seed import cache_fields
from devtools.cluster import ThrowawayCluster
from devtools.stack import Stack, free_port
from devtools.throwaway import ThrowawayRedis
from us_common.bus import CACHE_TTL_S, session_cache_key
from us_common.jwt import TokenCodec, TokenKind


@dataclass(frozen=True)
class GatewayBenchConfig:
    steps: tuple[int, ...]
    rate: float
    seconds: float
    processes: int
    run_dir: Path
    cluster: bool = False


def _devices(count: int, key: str) -> list[client.Device]:
    codec = TokenCodec(TokenKind.ACCESS, key, "universalscrobbler")
    devices: list[client.Device] = []
    for user_index in range((count + 1) // 2):
        user_uuid, session_uuid = str(uuid.uuid4()), str(uuid.uuid4())
        pair = (str(uuid.uuid4()), str(uuid.uuid4()))
        token = codec.encode({"sub": user_uuid}, 6 * 3600)
        devices.extend(client.Device(user_index, user_uuid, session_uuid, d, token, pair) for d in pair)
    return devices[:count]


def _seed(redis_url: str, devices: list[client.Device], cluster_urls: str) -> None:
    redis: Any = (
        redis_sync.RedisCluster.from_url(cluster_urls.split(",")[0]) if cluster_urls else redis_sync.Redis.from_url(redis_url)
    )
    try:
        pipe = redis.pipeline(transaction=False)
        for device in devices[::2]:
            key = session_cache_key(device.user_uuid)
            fields: dict[Any, Any] = cache_fields(
                device.user_uuid, device.session_uuid, 1, device.user_devices
            )
            pipe.hset(key, mapping=fields)
            pipe.expire(key, CACHE_TTL_S)
            if len(pipe) >= 2000:
                pipe.execute()
        pipe.execute()
    finally:
        redis.close()


def _events(stack: Stack) -> list[str]:
    return ["events", *stack.replicas]


def _worker_rss(stack: Stack) -> tuple[list[int], int]:
    """The events workers (one per events process) and their RSS together."""
    pids, rss = [], 0
    for name in _events(stack):
        master = stack.master_pid(name)
        assert master is not None
        workers = psutil.Process(master).children()
        assert len(workers) == 1, workers
        pids.append(workers[0].pid)
        rss += workers[0].memory_info().rss
    return pids, rss


def _counts(stack: Stack) -> dict[str, Any]:
    """``/debug/counts`` of every events process, numbers added up."""
    total: dict[str, Any] = {}
    for name in _events(stack):
        counts = httpx.get(f"{stack.service_url(name)}/debug/counts", timeout=10).json()
        for key, value in counts.items():
            if isinstance(value, int) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
            elif isinstance(value, list) and key.startswith("gc_") and key != "gc_long_pauses":  # per generation
                seen = total.get(key) or [0] * len(value)
                longest = key.endswith("max_ms")
                total[key] = [max(a, b) if longest else a + b for a, b in zip(seen, value, strict=True)]
    return total


def _cpu_seconds(watched: dict[str, Any]) -> dict[str, float]:
    def busy(process: Any) -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    seconds = {
        "worker": sum(busy(p) for p in watched["workers"]),
        "clients": sum(busy(p) for p in watched["clients"]),
    }
    if watched["redis"]:
        seconds["redis"] = sum(busy(p) for p in watched["redis"])
    return seconds


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(config: GatewayBenchConfig) -> dict[str, Any]:
    config.run_dir.mkdir(parents=True, exist_ok=True)
    redis = ThrowawayRedis(config.run_dir / "redis", extra=["--maxclients", "1000"])
    cluster = ThrowawayCluster(config.run_dir / "cluster") if config.cluster else None
    if cluster is not None:
        cluster.start()
    else:
        redis.start()
    cluster_urls = cluster.urls if cluster is not None else ""
    key = secrets.token_hex(32)
    env = {
        "US_ENV": "test",
        "US_LOG_LEVEL": "warning",
        "US_REDIS_URL": redis.url,
        "US_REDIS_CLUSTER_URLS": cluster_urls,
        "US_ACCESS_TOKEN_KEY": key,
        "US_MEDIA_TOKEN_KEY": secrets.token_hex(32),
        "US_EVENTS_PORT": str(free_port()),
        "US_CONTROL_PORT": str(free_port()),
        "US_MEDIA_PORT": str(free_port()),
        "US_NGINX_PORT": str(free_port()),
        "US_CONTROL_INTERNAL_URL": f"http://127.0.0.1:{free_port()}",
    }
    stack = Stack(run_dir=config.run_dir / "stack", env=env, workers={"control": 0, "events": 1, "media": 0})
    if cluster is not None:
        stack.replicas["events-b"] = ("events", free_port())
    stack.run_dir.mkdir(parents=True, exist_ok=True)
    total = max(config.steps)
    devices = _devices(total, key)
    _seed(redis.url, devices, cluster_urls)
    pipes: list[Any] = []
    procs: list[Any] = []
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{round(psutil.virtual_memory().total / 2**30, 1)} GiB, Python {platform.python_version()}",
        "steps": [],
    }
    try:
        for name in _events(stack):
            stack.start_service(name)
            _wait_ready(stack, name)
        worker_pids, rss = _worker_rss(stack)
        result["rss_empty_mib"] = round(rss / 2**20, 1)
        ctx = multiprocessing.get_context("spawn")
        # Whole users per process: each user's revisions come from one publisher.
        shares = [
            [d for d in devices if d.user_index % config.processes == i] for i in range(config.processes)
        ]
        for share in shares:
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=client.run,
                args=(child, share, "127.0.0.1", tuple(stack.port(n) for n in _events(stack)), redis.url, cluster_urls),
                daemon=True,
            )
            proc.start()
            pipes.append(parent)
            procs.append(proc)
        for step in config.steps:
            started = time.monotonic()
            for pipe, share in zip(pipes, shares, strict=True):
                pipe.send(("connect", round(step * len(share) / total)))
            answers = [pipe.recv() for pipe in pipes]
            ramp_s = time.monotonic() - started
            time.sleep(5)  # idle: snapshots flushed, a beacon round done
            _, rss = _worker_rss(stack)
            counts = _counts(stack)
            result["steps"].append(
                {
                    "connections": counts["clients"],
                    "opened_by_clients": sum(a["connected"] for a in answers),
                    "failed": sum(a["failed"] for a in answers),
                    "failures": {k: v for a in answers for k, v in a["failures"].items()},
                    "ramp_s": round(ramp_s, 1),
                    "rss_mib": round(rss / 2**20, 1),
                    "users": counts["users"],
                }
            )
            print(f"  {result['steps'][-1]}", flush=True)
        low, high = result["steps"][0], result["steps"][-1]
        if high["connections"] > low["connections"]:
            per_conn = (high["rss_mib"] - low["rss_mib"]) * 2**20 / (high["connections"] - low["connections"])
            result["rss_per_idle_connection_kib"] = round(per_conn / 1024, 1)
        watched = {
            "workers": [psutil.Process(pid) for pid in worker_pids],
            "redis": [psutil.Process(node.proc.pid) for node in (cluster.nodes if cluster else [redis]) if node.proc],
            "clients": [psutil.Process(proc.pid) for proc in procs],
        }
        cpu_before = _cpu_seconds(watched)
        publish_started = time.monotonic()  # CLOCK_MONOTONIC: the workers' clock too (Linux)
        load_before = os.getloadavg()[0]
        for pipe in pipes:
            pipe.send(("publish", config.rate / config.processes, config.seconds))
        reports = [pipe.recv() for pipe in pipes]
        cpu_after = _cpu_seconds(watched)
        publish_ended = time.monotonic()
        pauses = [
            p
            for name in _events(stack)
            for p in httpx.get(f"{stack.service_url(name)}/debug/counts", timeout=10).json()["gc_long_pauses"]
            if publish_started <= p[2] <= publish_ended
        ]
        latencies = [lat for r in reports for lat in r["latencies"]]
        window = config.seconds + 2
        result["publish"] = {
            "connections": high["connections"],
            "rate_per_s": config.rate,
            "seconds": config.seconds,
            "messages": sum(r["sent"] for r in reports),
            "receipts": sum(r["received"] for r in reports),
            "expected_receipts": sum(r["expected"] for r in reports),
            "cpu_percent": {k: round(100 * (cpu_after[k] - cpu_before[k]) / window, 1) for k in cpu_after},
            "load_average_before": round(load_before, 2),
            # Collections that stalled a worker ≥ 5 ms while messages flowed: [generation, ms].
            "gc_pauses_over_5ms": [p[:2] for p in pauses],
        }
        if latencies:
            result["publish"].update(
                p50_ms=round(statistics.median(latencies) * 1000, 2),
                p99_ms=round(_percentile(latencies, 0.99) * 1000, 2),
                max_ms=round(max(latencies) * 1000, 2),
            )
        result["events_processes"] = len(_events(stack))
        result["redis"] = "cluster, 3 masters + 3 replicas" if cluster is not None else "one Redis"
        result["final_counts"] = {
            k: v
            for k, v in _counts(stack).items()
            if k in ("clients", "users", "frames_dropped", "gc_collections", "gc_pause_max_ms", "gc_pause_total_ms")
        }
        for pipe in pipes:
            pipe.send(("close",))
            pipe.recv()
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        for name in _events(stack):
            stack.stop_service(name)
        redis.stop()
        if cluster is not None:
            cluster.stop()
    return result


def _wait_ready(stack: Stack, name: str = "events", timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{stack.service_url(name)}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(stack.log_file(name).read_text(errors="replace")[-3000:])
