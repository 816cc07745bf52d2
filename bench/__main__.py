"""``./dev bench`` (``python -m bench [names…]``): run every benchmark and write bench/RESULTS.md.

Each benchmark is its own module printing its figures; this runs them one after the other (never
together: they would measure each other) and records the output with the machine and the date.
"""

from __future__ import annotations

import os
import platform
import re
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
    "catalog": ["-m", "bench.catalog"],
    "lighthouse": ["-m", "bench.lighthouse"],
    "fanout-e2e": ["-m", "bench.fanout", "e2e"],
    "fanout-gateway": ["-m", "bench.fanout", "gateway"],
    # Same figures on a Redis Cluster with two events processes: compare with fanout-gateway.
    "fanout-cluster": ["-m", "bench.fanout", "gateway", "--cluster", "--processes", "2"],
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


def _sections(text: str) -> dict[str, str]:
    """The ``## name`` sections of an existing RESULTS.md, by benchmark name."""
    prelude, *chunks = re.split(r"^(?=## )", text, flags=re.M)
    # Files written before sections carried their own run line: keep the old header's facts.
    when = re.search(r"^Written by `./dev bench` on (.+?)\.$", prelude, re.M)
    where = re.search(r"^Machine: (.+?)\.$", prelude, re.M)
    found: dict[str, str] = {}
    for chunk in chunks:
        heading, _, body = chunk.partition("\n")
        if when and where and not body.lstrip().startswith("Run "):
            body = f"\nRun {when.group(1)} on {where.group(1)}.\n" + body
        found[heading.split(maxsplit=2)[1]] = (heading + "\n" + body).rstrip() + "\n"
    return found


def main() -> int:
    wanted = sys.argv[1:] or list(BENCHES)
    unknown = [name for name in wanted if name not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    # A run of some benchmarks replaces their sections and keeps the others' (each section says
    # when, where and at which commit it ran).
    sections = _sections(RESULTS.read_text()) if RESULTS.exists() else {}
    failed = 0
    for name in wanted:
        settle()
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"==> bench {name} (load {load})", file=sys.stderr, flush=True)
        started = time.monotonic()
        when = datetime.now(UTC)
        run = subprocess.run([sys.executable, *BENCHES[name]], capture_output=True, text=True)
        took = time.monotonic() - started
        sys.stdout.write(run.stdout)
        output = run.stdout.strip() or run.stderr.strip()[-3000:]
        status = "" if run.returncode == 0 else f" — FAILED (exit {run.returncode})"
        failed += run.returncode != 0
        sections[name] = "\n".join(
            [
                f"## {name} ({took:.0f} s){status}",
                "",
                f"Run {when:%Y-%m-%d %H:%M UTC} on {machine()}; load average before: {load}.",
                "",
                "```",
                output,
                "```",
                "",
            ]
        )
    ordered = [sections[n] for n in BENCHES if n in sections] + [
        text for n, text in sections.items() if n not in BENCHES
    ]
    header = [
        "# Benchmark results",
        "",
        "Written by `./dev bench` (`./dev bench NAME…` reruns some and keeps the other sections).",
        "",
    ]
    RESULTS.write_text("\n".join(header) + "\n" + "\n".join(ordered))
    print(f"wrote {RESULTS}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
