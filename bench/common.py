"""The stack every benchmark starts: the project's own, with one FLAC and rate limits off."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from devtools.ephemeral import start_stack, stop_stack
from devtools.flacgen import write_flac
from devtools.stack import Stack, read_pid

LIBRARY = "Bench"


@contextmanager
def bench_stack(prefix: str, workers: dict[str, int] | None = None, **overrides: str) -> Iterator[Stack]:
    """A whole stack (nginx, 3 services) whose library "Bench" holds one 60-second track."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        root = Path(tmp) / "music"
        write_flac(
            root / LIBRARY / "a.flac", duration_s=60, title="Bench", artist="B", album="B", sample_rate=8000
        )
        stack = start_stack(
            Path(tmp) / "stack",
            root,
            workers=workers,
            US_RATE_LIMIT_COMMANDS="",
            US_RATE_LIMIT_QUEUE="",
            US_RATE_LIMIT_LOGIN="",
            US_LOG_LEVEL="warning",
            overrides=overrides,
        )
        try:
            stack.usctl("library", "scan", str(root / LIBRARY), "--name", LIBRARY)
            yield stack
        finally:
            stop_stack(stack)


def stack_cpu_seconds(stack: Stack) -> dict[str, float]:
    """Cumulative CPU seconds of this stack's processes by role (Postgres and Redis are the
    machine's servers: every backend counts, so other load on the box shows up there)."""
    roles: dict[str, list[psutil.Process]] = {}
    for role in ("control", "events", "media", "nginx"):
        pid = stack.master_pid(role) if role != "nginx" else read_pid(stack.pid_file("nginx"))
        if pid is None:
            continue
        master = psutil.Process(pid)
        roles[role] = [master, *master.children(recursive=True)]
    for proc in psutil.process_iter(["name"]):
        name = proc.info["name"] or ""
        if name.startswith("postgres"):
            roles.setdefault("postgres", []).append(proc)
        elif name.startswith("redis-server"):
            roles.setdefault("redis", []).append(proc)
    totals: dict[str, float] = {}
    for role, procs in roles.items():
        for proc in procs:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            totals[role] = totals.get(role, 0.0) + times.user + times.system
    return totals
