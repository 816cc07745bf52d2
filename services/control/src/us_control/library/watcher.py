"""The library watcher: files copied in, changed or removed are picked up without a command.

Every control worker runs :func:`library_watcher`; one of them, across workers and hosts, leads
(it holds a session advisory lock on a connection of its own, checked every few seconds; when
that connection dies another worker takes over). The leader

- watches the music root with ``watchfiles`` (inotify) and, once changes have been quiet for
  ``US_LIBRARY_WATCH_SETTLE_S`` (copying an album in is one scan, not one per file), rescans
  only the folders that changed, of the libraries they belong to;
- rescans every library incrementally every ``US_LIBRARY_RESCAN_INTERVAL_S`` (and once soon
  after it starts leading: changes made while nobody watched), which also covers filesystems
  without inotify (NFS, SMB).

A scan runs as ``usctl library scan`` in a child process (at a lower CPU priority), so it reads
on every core and its memory never grows a web worker; the scan lock keeps it from overlapping
an operator's scan (then the folders wait for the next round).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import structlog
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from watchfiles import Change, awatch

from us_control.library import repository as repo
from us_control.library.paths import is_safe_rel_path, is_utf8
from us_control.settings import ControlSettings

log = structlog.get_logger(__name__)

WATCH_LOCK_KEY = 0x5553_5741_5443  # "USWATC"
LEADER_RETRY_S = 10.0
LEADER_CHECK_S = 5.0
# A change arriving later than this after the first one of a burst starts the next burst.
MAX_SETTLE_S = 30.0
# More folders than this changed at once: rescan the whole library instead.
MAX_SCOPES = 200
RETRY_BUSY_S = 10.0


@contextlib.asynccontextmanager
async def _leadership(engine: AsyncEngine) -> AsyncIterator[asyncio.Task[None] | None]:
    """The watcher lock on a connection of its own; yields a task that ends if the connection
    dies (the lock is gone with it), or None when another worker leads."""
    async with engine.connect() as conn:
        led = (await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": WATCH_LOCK_KEY})).scalar()
        await conn.commit()
        if not led:
            yield None
            return

        async def hold() -> None:
            while True:
                await asyncio.sleep(LEADER_CHECK_S)
                await conn.execute(text("SELECT 1"))
                await conn.commit()

        holder = asyncio.create_task(hold())
        try:
            yield holder
        finally:
            holder.cancel()
            with contextlib.suppress(BaseException):
                await holder
            try:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": WATCH_LOCK_KEY})
                await conn.commit()
            except Exception:  # noqa: BLE001 - a dead connection released the lock already
                await conn.invalidate()


def _relevant(change: Change, path: str) -> bool:
    name = os.path.basename(path)
    return not name.startswith(".") and not name.endswith((".tmp", ".part", "~"))


def scopes_for(
    music_root: Path, paths: Iterable[str], library_roots: Iterable[str]
) -> dict[str, set[str] | None]:
    """Which folders to rescan, by library (its rel_root); None means the whole library.

    A changed path's folder is rescanned (for a removed folder, its parent: what is left);
    paths under no library are ignored; folders inside another one collapse into it.
    """
    roots = sorted(library_roots, key=len, reverse=True)  # the innermost library first
    wanted: dict[str, set[str] | None] = {}
    for path in paths:
        try:
            rel = Path(path).relative_to(music_root).as_posix()
        except ValueError:
            continue
        if rel == "." or not (is_utf8(rel) and is_safe_rel_path(rel)):
            continue
        root = next((r for r in roots if r == "" or rel == r or rel.startswith(r + "/")), None)
        if root is None:
            continue
        folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
        folders = wanted.setdefault(root, set())
        if folders is None:
            continue
        if rel == root or folder == root:
            wanted[root] = None
        else:
            folders.add(folder)
            if len(folders) > MAX_SCOPES:
                wanted[root] = None
    return {
        root: None if folders is None else {f for f in folders if not any(f.startswith(o + "/") for o in folders)}
        for root, folders in wanted.items()
    }


async def run_scan(settings: ControlSettings, rel_root: str, trigger: str, only: Iterable[str] = ()) -> bool:
    """One ``usctl library scan`` of a library; False when it must be retried (another scan held
    the lock, or it failed)."""
    folder = settings.music_root / rel_root if rel_root else settings.music_root
    command = [sys.executable, "-m", "us_control.cli", "library", "scan", str(folder), "--json", "--trigger", trigger]
    command += [f"--only={rel}" for rel in sorted(only)]
    started = time.monotonic()
    child = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
    )
    stdout, stderr = await child.communicate()
    # The scan's own JSON log lines (skipped files and why) belong in this service's log.
    for line in stderr.decode(errors="replace").splitlines():
        if line.startswith("{"):
            sys.stderr.write(line + "\n")
    if child.returncode != 0:
        busy = b"another library scan is running" in stderr
        log.info("library_rescan_postponed" if busy else "library_rescan_failed", trigger=trigger, code=child.returncode)
        return False
    summary = json.loads(stdout or b"{}")
    counts = {k: summary.get(k) for k in ("added", "updated", "unchanged", "unavailable", "skipped")}
    log.info("library_rescanned", trigger=trigger, folders=len(list(only)) or None, took_s=round(time.monotonic() - started, 2), **counts)
    return True


class _Pending:
    """Folders waiting for a scan, by library."""

    def __init__(self) -> None:
        self.by_root: dict[str, set[str] | None] = {}

    def add(self, found: dict[str, set[str] | None]) -> None:
        for root, folders in found.items():
            current = self.by_root.get(root, set())
            self.by_root[root] = None if current is None or folders is None else current | folders

    async def scan(self, settings: ControlSettings, trigger: str) -> None:
        for root, folders in list(self.by_root.items()):
            if await run_scan(settings, root, trigger, folders or ()):
                del self.by_root[root]


async def _watch(app: FastAPI, changes: asyncio.Queue[set[tuple[Change, str]]], stop: asyncio.Event) -> None:
    settings: ControlSettings = app.state.settings
    async for batch in awatch(
        settings.music_root, watch_filter=_relevant, debounce=1600, step=100, stop_event=stop, recursive=True
    ):
        await changes.put(batch)


async def _until(stop: asyncio.Event) -> None:
    await stop.wait()


async def _libraries(app: FastAPI) -> list[str]:
    async with app.state.sessions() as db:
        return [library.rel_root for library in await repo.list_libraries(db)]


async def lead(app: FastAPI) -> None:
    """What the leader does until it is cancelled (or its lock connection dies)."""
    settings: ControlSettings = app.state.settings
    changes: asyncio.Queue[set[tuple[Change, str]]] = asyncio.Queue()
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch(app, changes, stop))
    pending = _Pending()
    interval = settings.library_rescan_interval_s
    # The first full rescan soon after taking the lead: what changed while nobody watched.
    next_full = time.monotonic() + min(interval, 30.0) if interval > 0 else float("inf")
    log.info("library_watcher_leading", root_is_dir=settings.music_root.is_dir())
    try:
        while True:
            timeout = max(0.0, min(next_full - time.monotonic(), RETRY_BUSY_S if pending.by_root else 3600.0))
            try:
                batch = await asyncio.wait_for(changes.get(), timeout)
            except TimeoutError:
                batch = None
            if watcher.done() and not watcher.cancelled() and (failure := watcher.exception()) is not None:
                # No inotify here (or no music root yet): the periodic scans go on alone.
                log.warning("library_watch_failed", error_type=type(failure).__name__)
                watcher = asyncio.create_task(_until(stop))
            if batch is not None:
                paths = {path for _, path in batch}
                burst_ends = time.monotonic() + MAX_SETTLE_S
                while time.monotonic() < burst_ends:
                    try:
                        more = await asyncio.wait_for(changes.get(), settings.library_watch_settle_s)
                    except TimeoutError:
                        break
                    paths |= {path for _, path in more}
                pending.add(scopes_for(settings.music_root, paths, await _libraries(app)))
                await pending.scan(settings, "watcher")
            elif pending.by_root:
                await pending.scan(settings, "watcher")
            if time.monotonic() >= next_full:
                next_full = time.monotonic() + interval
                for root in await _libraries(app):
                    await run_scan(settings, root, "periodic")
    finally:
        stop.set()
        watcher.cancel()
        with contextlib.suppress(BaseException):
            await watcher


async def library_watcher(app: FastAPI) -> None:
    """A background loop of every control worker: lead when no one else does."""
    settings: ControlSettings = app.state.settings
    if not settings.library_watch:
        return
    while True:
        try:
            async with _leadership(app.state.engine) as holder:
                if holder is not None:
                    leader = asyncio.create_task(lead(app))
                    try:
                        await asyncio.wait({leader, holder}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        leader.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await leader  # raises what made the leader stop, if anything did
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - Postgres down, lock connection lost: lead again later
            log.info("library_watcher_waiting", error_type=type(exc).__name__)
        await asyncio.sleep(LEADER_RETRY_S)
