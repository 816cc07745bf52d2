"""``./dev bench`` (``python -m bench [names…]``): run every benchmark and write bench/RESULTS.md.

Each benchmark is its own module printing its figures; this runs them one after the other (never
together: they would measure each other) and records the output with the machine and the date.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# The 10k-connection gateway run goes last: the sockets it leaves in TIME_WAIT on loopback would
# stall the next run's connects for seconds.
BENCHES: dict[str, list[str]] = {
    "control": ["-m", "bench.control"],
    "media": ["-m", "bench.media"],
    "fanout-e2e": ["-m", "bench.fanout", "e2e"],
    "fanout-gateway": ["-m", "bench.fanout", "gateway"],
}
RESULTS = Path(__file__).parent / "RESULTS.md"


def machine() -> str:
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{platform.node()}: {os.cpu_count()} cores, {memory_gib:.1f} GiB, {platform.platform()}, "
        f"Python {platform.python_version()}, commit {commit or '?'}"
    )


def settle(timeout_s: float = 45.0) -> None:
    """Let the previous benchmark's leftovers (closing sockets, exiting processes) die down."""
    deadline = time.monotonic() + timeout_s
    time.sleep(5)
    while os.getloadavg()[0] > 1.0 and time.monotonic() < deadline:
        time.sleep(2)


def main() -> int:
    wanted = sys.argv[1:] or list(BENCHES)
    unknown = [name for name in wanted if name not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    sections = [
        "# Benchmark results",
        "",
        f"Written by `./dev bench` on {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.",
        f"Machine: {machine()}.",
        f"Load average before the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.",
        "",
    ]
    failed = 0
    for name in wanted:
        settle()
        print(f"==> bench {name} (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
        started = time.monotonic()
        run = subprocess.run([sys.executable, *BENCHES[name]], capture_output=True, text=True)
        took = time.monotonic() - started
        sys.stdout.write(run.stdout)
        output = run.stdout.strip() or run.stderr.strip()[-3000:]
        status = "" if run.returncode == 0 else f" — FAILED (exit {run.returncode})"
        failed += run.returncode != 0
        sections += [f"## {name} ({took:.0f} s){status}", "", "```", output, "```", ""]
    RESULTS.write_text("\n".join(sections))
    print(f"wrote {RESULTS}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
