"""The stack every benchmark starts: the project's own, with one FLAC and rate limits off."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devtools.ephemeral import start_stack, stop_stack
from devtools.flacgen import write_flac
from devtools.stack import Stack

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
