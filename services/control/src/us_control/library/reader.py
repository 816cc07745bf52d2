"""The CPU-bound half of a scan, run in worker processes: reading tags, making covers.

Module-level functions of picklable arguments only (they run in a ``spawn``ed process, which
imports this module, mutagen and Pillow, nothing of the web app). A scan with little to read
calls them in a thread instead; the results are the same.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from us_control.library.covers import BadPicture, store_cover
from us_control.library.tags import FlacFacts, UnreadableFile, read_cover, read_flac

# Files per task: big enough that pickling is noise, small enough to keep every worker busy.
READ_CHUNK = 64
# Below this many files to read, a thread does it (no process start-up).
POOL_THRESHOLD = 256


@dataclass(frozen=True, slots=True)
class ReadJob:
    rel_path: str
    path: str


@dataclass(frozen=True, slots=True)
class CoverJob:
    """Make the cover of one album from an embedded picture (a track) or a picture file."""

    album_uuid: str
    kind: str  # "embedded" | "file"
    rel_path: str
    path: str


@dataclass(frozen=True, slots=True)
class CoverResult:
    album_uuid: str
    key: str | None
    reason: str | None  # why there is no cover, safe to log


def read_files(jobs: list[ReadJob]) -> list[tuple[str, FlacFacts | str]]:
    """Facts of each file, or the reason it is skipped."""
    results: list[tuple[str, FlacFacts | str]] = []
    for job in jobs:
        try:
            results.append((job.rel_path, read_flac(Path(job.path), job.rel_path)))
        except UnreadableFile as exc:
            results.append((job.rel_path, exc.reason))
    return results


def make_covers(cache_dir: str, jobs: list[CoverJob]) -> list[CoverResult]:
    results: list[CoverResult] = []
    for job in jobs:
        try:
            if job.kind == "embedded":
                cover = read_cover(Path(job.path), job.rel_path)
                data = cover.data if cover is not None else None
            else:
                data = Path(job.path).read_bytes()
            if data is None:
                results.append(CoverResult(job.album_uuid, None, "no embedded picture any more"))
                continue
            results.append(CoverResult(job.album_uuid, store_cover(Path(cache_dir), data), None))
        except (UnreadableFile, BadPicture) as exc:
            results.append(CoverResult(job.album_uuid, None, exc.reason))
        except OSError as exc:
            results.append(
                CoverResult(job.album_uuid, None, f"cannot read ({exc.strerror or type(exc).__name__})")
            )
    return results


def worker_count() -> int:
    """Every core this process may use."""
    with contextlib.suppress(AttributeError):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def open_executor(files_to_read: int) -> tuple[Executor, int]:
    """Processes on every core for a big scan, one thread for a small one; and how many."""
    workers = worker_count()
    if files_to_read < POOL_THRESHOLD or workers == 1:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="scan-reader"), 1
    # spawn: the scanner may run inside a web worker with threads, where fork is unsafe.
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context), workers
