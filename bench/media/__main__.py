"""``python -m bench.media [--seconds 180] [--seeks 2000] [--ranges 300] [--files 10]``.

Same client for every contender: one keep-alive ``http.client`` connection per contender,
responses read into one preallocated buffer, requests interleaved (auth, ceiling, self, auth, …)
so load drift hits all three alike; tokens re-minted every round. Seeks are 4 KiB ranges at
random offsets. The parallel run opens N connections per contender, one contender at a time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.media import stack as bench_stack

MIB = 1024 * 1024
SEEK_BYTES = 4096


@dataclass
class Contender:
    name: str
    port: int
    url: Callable[[], str]  # a fresh target (tokens are re-minted between rounds)
    conn: http.client.HTTPConnection = field(init=False)

    def __post_init__(self) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)


@dataclass
class Samples:
    bytes_read: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def throughput_mib_s(self) -> float:
        return self.bytes_read / MIB / self.seconds if self.seconds else 0.0


def fetch(conn: http.client.HTTPConnection, target: str, buffer: memoryview, byte_range: str | None) -> int:
    headers = {"Range": byte_range} if byte_range else {}
    conn.request("GET", target, headers=headers)
    response = conn.getresponse()
    if response.status not in (200, 206):
        raise RuntimeError(f"{target.split('?')[0]}: {response.status} {response.read()[:200]!r}")
    total = 0
    while True:
        n = response.readinto(buffer)
        if not n:
            break
        total += n
    return total


def run_round(
    contenders: list[Contender],
    requests: int,
    make_range: Callable[[random.Random], str | None],
    buffer: memoryview,
    results: dict[str, Samples],
    seed: int,
) -> None:
    """Request by request, contender after contender (same offsets): load drift hits all alike."""
    targets = {c.name: c.url() for c in contenders}
    rngs = {c.name: random.Random(seed) for c in contenders}
    for _ in range(requests):
        for contender in contenders:
            byte_range = make_range(rngs[contender.name])
            samples = results[contender.name]
            started = time.perf_counter()
            samples.bytes_read += fetch(contender.conn, targets[contender.name], buffer, byte_range)
            elapsed = time.perf_counter() - started
            samples.seconds += elapsed
            samples.latencies_ms.append(elapsed * 1000)


def measure(
    contenders: list[Contender],
    rounds: int,
    per_round: int,
    make_range: Callable[[random.Random], str | None],
    buffer: memoryview,
) -> dict[str, Samples]:
    warm: dict[str, Samples] = {c.name: Samples() for c in contenders}
    run_round(contenders, max(3, per_round // 10), make_range, buffer, warm, seed=-1)
    results = {c.name: Samples() for c in contenders}
    for i in range(rounds):
        order = contenders[i % len(contenders) :] + contenders[: i % len(contenders)]
        run_round(order, per_round, make_range, buffer, results, seed=i)
    return results


def parallel_burst(
    contender: Contender,
    connections: int,
    per_connection: int,
    make_range: Callable[[random.Random], str | None],
    seed: int,
) -> tuple[int, float]:
    """Bytes read and wall time of ``connections`` keep-alive connections working at once."""
    target = contender.url()
    done = [0] * connections

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", contender.port, timeout=30)
        buffer = memoryview(bytearray(2 * MIB))
        rng = random.Random(seed * 1000 + index)
        try:
            for _ in range(per_connection):
                done[index] += fetch(conn, target, buffer, make_range(rng))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done), time.perf_counter() - started


def measure_parallel(
    contenders: list[Contender],
    rounds: int,
    connections: int,
    per_connection: int,
    make_range: Callable[[random.Random], str | None],
) -> dict[str, float]:
    """Aggregate MiB/s with ``connections`` in parallel; contenders take turns, round by round."""
    totals = {c.name: [0, 0.0] for c in contenders}
    for contender in contenders:
        parallel_burst(contender, connections, 2, make_range, seed=-1)  # warm-up
    for i in range(rounds):
        for contender in contenders:
            read, seconds = parallel_burst(contender, connections, per_connection, make_range, seed=i)
            totals[contender.name][0] += read
            totals[contender.name][1] += seconds
    return {name: read / MIB / seconds for name, (read, seconds) in totals.items()}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.media", description=__doc__)
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the noise FLAC (~10 MB/min)")
    parser.add_argument("--files", type=int, default=10, help="whole-file GETs per contender")
    parser.add_argument("--ranges", type=int, default=300, help="1 MiB range GETs per contender")
    parser.add_argument("--seeks", type=int, default=2000, help="4 KiB range GETs per contender")
    parser.add_argument("--media-workers", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=8, help="connections for the parallel 1 MiB run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="us-bench-media-") as tmp:
        setup = bench_stack.start(Path(tmp), args.seconds, args.media_workers)
        try:
            figures = run(setup, args)
        finally:
            bench_stack.stop(setup.stack)
    print_table(figures, setup.file_size, args)
    if args.json:
        print(json.dumps(figures, indent=2))


def run(setup: bench_stack.BenchSetup, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    stack = setup.stack
    size = setup.file_size
    nginx_port = int(stack.env["US_NGINX_PORT"])
    media_port = int(stack.env["US_MEDIA_PORT"])
    contenders = [
        Contender("nginx + auth_request", nginx_port, setup.mint_url),
        Contender("nginx, no auth (ceiling)", nginx_port, lambda: bench_stack.NOAUTH_PATH),
        Contender("media self-stream", media_port, setup.mint_url),
    ]
    buffer = memoryview(bytearray(4 * MIB))
    rounds = 5

    def whole(_: random.Random) -> str | None:
        return None

    def one_mib(rng: random.Random) -> str:
        start = rng.randrange(0, size - MIB)
        return f"bytes={start}-{start + MIB - 1}"

    def seek(rng: random.Random) -> str:
        start = rng.randrange(0, size - SEEK_BYTES)
        return f"bytes={start}-{start + SEEK_BYTES - 1}"

    whole_file = measure(contenders, rounds, max(1, args.files // rounds), whole, buffer)
    ranges = measure(contenders, rounds, max(1, args.ranges // rounds), one_mib, buffer)
    seeks = measure(contenders, rounds, max(1, args.seeks // rounds), seek, buffer)
    per_connection = max(1, args.ranges // args.parallel // rounds)
    parallel = measure_parallel(contenders, rounds, args.parallel, per_connection, one_mib)
    for contender in contenders:
        contender.conn.close()
    figures: dict[str, dict[str, float]] = {}
    for contender in contenders:
        name = contender.name
        figures[name] = {
            "whole_file_mib_s": round(whole_file[name].throughput_mib_s(), 1),
            "range_1mib_mib_s": round(ranges[name].throughput_mib_s(), 1),
            "range_1mib_p50_ms": round(statistics.median(ranges[name].latencies_ms), 3),
            "range_1mib_parallel_mib_s": round(parallel[name], 1),
            "seek_p50_ms": round(statistics.median(seeks[name].latencies_ms), 3),
            "seek_p99_ms": round(percentile(seeks[name].latencies_ms, 99), 3),
            "seek_requests": len(seeks[name].latencies_ms),
        }
    return figures


def print_table(figures: dict[str, dict[str, float]], file_size: int, args: argparse.Namespace) -> None:
    print(
        f"\nfile {file_size / MIB:.1f} MiB; {args.files} whole-file, {args.ranges} x 1 MiB and "
        f"{args.seeks} x {SEEK_BYTES // 1024} KiB range requests per contender; media workers: "
        f"{args.media_workers}; one keep-alive connection each, sequential\n"
    )
    parallel = f"x{args.parallel} conns"
    print(
        f"{'':28}{'whole file':>12}{'1 MiB ranges':>14}{'1 MiB p50':>11}{parallel:>14}"
        f"{'seek p50':>10}{'seek p99':>10}"
    )
    print(f"{'':28}{'MiB/s':>12}{'MiB/s':>14}{'ms':>11}{'1 MiB, MiB/s':>14}{'ms':>10}{'ms':>10}")
    for name, row in figures.items():
        print(
            f"{name:28}{row['whole_file_mib_s']:>12.1f}{row['range_1mib_mib_s']:>14.1f}"
            f"{row['range_1mib_p50_ms']:>11.3f}{row['range_1mib_parallel_mib_s']:>14.1f}"
            f"{row['seek_p50_ms']:>10.3f}{row['seek_p99_ms']:>10.3f}"
        )
    auth, ceiling = figures["nginx + auth_request"], figures["nginx, no auth (ceiling)"]
    share = auth["range_1mib_mib_s"] / ceiling["range_1mib_mib_s"] * 100
    share_p50 = ceiling["range_1mib_p50_ms"] / auth["range_1mib_p50_ms"] * 100
    share_parallel = auth["range_1mib_parallel_mib_s"] / ceiling["range_1mib_parallel_mib_s"] * 100
    added = auth["seek_p50_ms"] - ceiling["seek_p50_ms"]
    print(
        f"\n1 MiB ranges with auth vs the ceiling (target >= 90%): {share:.0f}% of the throughput on one "
        f"connection ({share_p50:.0f}% by p50 latency), {share_parallel:.0f}% with {args.parallel} "
        f"connections.\nauth adds {added:.3f} ms to a seek's p50 (target <= 1 ms)."
    )


if __name__ == "__main__":
    main()
