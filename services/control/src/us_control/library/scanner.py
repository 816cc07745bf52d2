"""A library scan: walk, read what changed on every core, write in batches, settle.

Incremental: a file whose (size, mtime_ns) match the catalog and that was available is not even
opened. New and changed files are read (in worker processes when there are many, see
``reader``); files that vanished or became unreadable are marked ``available=False`` and never
deleted (queue items and listens point at them). Unreadable files are skipped with a logged
reason (catalog path only).

A scan holds the scan lock (one scanner per database, across workers, hosts and ``usctl``) and
commits every ``BATCH`` files, so its progress is visible (``GET /library/status``) and its
memory stays bounded: per file it keeps a few numbers, never an ORM object. At the end it
settles the library: unavailable files, album years, genres, counts and covers, empty albums
and artists. A scan may be limited to some folders of the library (``scope``, the watcher's
case): only files under them are read or marked unavailable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from us_control.library import repository as repo
from us_control.library import scan_repository as scans
from us_control.library.covers import folder_picture_rank
from us_control.library.folding import index_words, match_key, sort_key, sort_name
from us_control.library.paths import (
    OutsideMusicRoot,
    is_safe_rel_path,
    is_utf8,
    library_rel_root,
    overlaps,
    track_file,
)
from us_control.library.progress import ScanProgress, ScanSummary
from us_control.library.reader import (
    READ_CHUNK,
    CoverJob,
    CoverResult,
    ReadJob,
    make_covers,
    open_executor,
    read_files,
)
from us_control.library.tags import FlacFacts, clean_text, is_disc_folder
from us_control.library.walk import Candidate, FolderPicture, Skip, printable, walk_library
from us_control.models import Library

log = structlog.get_logger(__name__)

BATCH = 1000
PROGRESS_EVERY_S = 1.0
# Tasks in flight per worker process: enough to keep them busy, few enough to bound memory.
IN_FLIGHT_PER_WORKER = 3

__all__ = ["ScanProgress", "ScanRefused", "ScanSummary", "scan_library"]

T = TypeVar("T")


class ScanRefused(Exception):
    """The scan cannot start; the message is for the operator."""


# --- which library ---------------------------------------------------------------------------


async def prepare_library(
    db: AsyncSession, music_root: Path, folder: Path, name: str | None
) -> tuple[Library, str | None]:
    """The library of ``folder`` (created on first scan), and its previous name if renamed."""
    if not music_root.is_dir():
        raise ScanRefused(f"the music root {music_root} is not a folder (set US_MUSIC_ROOT)")
    try:
        rel_root = library_rel_root(music_root, folder)
    except OutsideMusicRoot:
        raise ScanRefused(
            f"{folder} is outside the music root {music_root}; libraries must live under it"
        ) from None
    resolved = music_root / rel_root if rel_root else music_root
    if rel_root and not (is_utf8(rel_root) and is_safe_rel_path(rel_root)):
        raise ScanRefused(f"{folder}: the folder's path must be UTF-8 and must not contain '..'")
    wanted = clean_text(name) if name is not None else None
    if name is not None and not wanted:
        raise ScanRefused("--name must not be empty")
    if wanted and len(wanted) > 200:
        raise ScanRefused("--name is longer than 200 characters")

    existing: Library | None = None
    for library in await repo.list_libraries(db):
        if library.rel_root == rel_root:
            existing = library
        elif overlaps(library.rel_root, rel_root):
            where = library.rel_root or "the music root itself"
            raise ScanRefused(
                f"{folder} overlaps library {library.name!r} (folder {where!r}); a folder belongs "
                f"to one library: rescan that library instead"
            )
    # A library whose folder is gone is still rescannable: every track becomes unavailable.
    if not resolved.is_dir() and (existing is None or resolved.exists()):
        raise ScanRefused(f"{folder} is not a folder")
    final_name = wanted or (existing.name if existing else (clean_text(resolved.name) or "Music"))
    holder = await repo.get_library_by_name(db, final_name)
    if holder is not None and holder is not existing:
        raise ScanRefused(
            f"a library named {final_name!r} already exists for another folder; choose one with --name"
        )
    if existing is None:
        return await repo.add_library(db, final_name, rel_root), None
    if existing.name != final_name:
        previous, existing.name = existing.name, final_name
        return existing, previous
    return existing, None


# --- rows from facts -------------------------------------------------------------------------


class _CatalogRows:
    """The library's albums and every artist, in memory; turns file facts into rows to write."""

    def __init__(
        self,
        library_uuid: UUID,
        albums: dict[tuple[str, str], scans.AlbumRef],
        artists: dict[str, scans.ArtistRef],
    ) -> None:
        self.library_uuid = library_uuid
        self.albums = albums
        self.artists = artists
        self.new_artists: list[dict[str, Any]] = []
        self.new_albums: list[dict[str, Any]] = []
        self.tracks: list[dict[str, Any]] = []

    def _artist(self, facts: FlacFacts) -> scans.ArtistRef:
        identity = facts.album_artist.casefold()
        ref = self.artists.get(identity)
        if ref is None:
            name = facts.album_artist
            shown_sort = facts.album_artist_sort or sort_name(name)
            ref = scans.ArtistRef(uuid4(), shown_sort)
            self.artists[identity] = ref
            self.new_artists.append(
                {
                    "artist_uuid": ref.artist_uuid,
                    "name": name,
                    "sort_name": shown_sort,
                    "identity": identity,
                    "sort_key": sort_key(shown_sort, name),
                    "match_key": match_key(name),
                    "search_words": index_words(name),
                }
            )
        return ref

    def _album(self, facts: FlacFacts, artist: scans.ArtistRef) -> scans.AlbumRef:
        identity = (facts.album_artist.casefold(), facts.album_title.casefold())
        ref = self.albums.get(identity)
        if ref is None:
            ref = scans.AlbumRef(uuid4(), None)
            self.albums[identity] = ref
            self.new_albums.append(
                {
                    "album_uuid": ref.album_uuid,
                    "library_uuid": self.library_uuid,
                    "artist_uuid": artist.artist_uuid,
                    "title": facts.album_title,
                    "artist": facts.album_artist,
                    "year": facts.year,
                    "sort_key": sort_key(artist.sort_name, facts.album_title),
                    "name_key": sort_key(facts.album_title, artist.sort_name),
                    "match_key": match_key(facts.album_title),
                    "search_words": index_words(facts.album_title, facts.album_artist),
                }
            )
        return ref

    def add_track(self, rel_path: str, facts: FlacFacts, size: int, mtime_ns: int) -> None:
        artist = self._artist(facts)
        album = self._album(facts, artist)
        self.tracks.append(
            {
                "track_uuid": uuid4(),
                "library_uuid": self.library_uuid,
                "album_uuid": album.album_uuid,
                "rel_path": rel_path,
                "size_bytes": size,
                "mtime_ns": mtime_ns,
                "duration_ms": facts.duration_ms,
                "sample_rate": facts.sample_rate,
                "title": facts.title,
                "artist": facts.artist,
                "album_title": facts.album_title,
                "album_artist": facts.album_artist,
                "track_number": facts.track_number,
                "disc_number": facts.disc_number,
                "year": facts.year,
                "genre": facts.genre,
                "has_cover": facts.has_cover,
                "cover_key": album.cover_key,
                "available": True,
                # Album order: a missing disc is disc 1, a missing track number sorts last.
                "sort_key": sort_key(
                    artist.sort_name,
                    facts.album_title,
                    f"{facts.disc_number or 1:04d}",
                    f"{facts.track_number or 99999:05d}",
                    facts.title,
                    rel_path,
                ),
                "match_key": match_key(facts.title),
                "search_words": index_words(facts.title, facts.artist, facts.album_title, facts.album_artist),
            }
        )

    def __len__(self) -> int:
        return len(self.tracks)

    async def write(self, db: AsyncSession) -> None:
        await scans.insert_artists(db, self.new_artists)
        await scans.insert_albums(db, self.new_albums)
        await scans.upsert_tracks(db, self.tracks)
        self.new_artists, self.new_albums, self.tracks = [], [], []


# --- the pipeline ----------------------------------------------------------------------------


async def _bounded_map(
    executor: Executor, function: Callable[..., T], chunks: Iterable[Any], in_flight: int
) -> AsyncIterator[T]:
    """``function(chunk)`` for each chunk in the executor, results in order, at most
    ``in_flight`` chunks submitted but not yet consumed."""
    loop = asyncio.get_running_loop()
    pending: list[asyncio.Future[T]] = []
    for chunk in chunks:
        pending.append(asyncio.wrap_future(executor.submit(function, chunk), loop=loop))
        if len(pending) >= in_flight:
            yield await pending.pop(0)
    for future in pending:
        yield await future


def _chunks(items: Sequence[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _in_scope(rel_path: str, scope: Sequence[str] | None) -> bool:
    return scope is None or any(rel_path == s or rel_path.startswith(s + "/") for s in scope)


@dataclass(frozen=True)
class ScanRequest:
    """What to scan: a folder under the music root, optionally only some folders inside it."""

    folder: Path
    name: str | None = None
    trigger: str = "command"
    # Catalog paths of folders inside the library; None scans all of it.
    scope: tuple[str, ...] | None = None


class _Scan:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        music_root: Path,
        cover_cache: Path,
        library: Library,
        scan_uuid: UUID,
        summary: ScanSummary,
        progress: ScanProgress,
        scope: tuple[str, ...] | None,
    ) -> None:
        self.sessions = sessions
        self.music_root = music_root
        self.cover_cache = cover_cache
        self.library = library
        self.scan_uuid = scan_uuid
        self.summary = summary
        self.progress = progress
        self.scope = scope
        self.log = log.bind(library=library.name)
        self._reported = 0.0

    def skip(self, rel_path: str, reason: str) -> None:
        self.summary.skipped += 1
        self.progress.clear()
        self.log.warning("scan_skipped", rel_path=printable(rel_path), reason=reason)

    async def report(self, db: AsyncSession | None = None, force: bool = False) -> None:
        self.progress.update(self.summary)
        now = time.monotonic()
        if not force and now - self._reported < PROGRESS_EVERY_S:
            return
        self._reported = now
        s = self.summary
        if db is not None:
            await scans.record_progress(db, self.scan_uuid, s.done, s.total, s.skipped)
            return
        async with self.sessions.begin() as own:
            await scans.record_progress(own, self.scan_uuid, s.done, s.total, s.skipped)

    def _walk(self) -> list[Candidate | FolderPicture | Skip]:
        rel_root = self.library.rel_root
        start = self.music_root / rel_root if rel_root else self.music_root
        if not start.is_dir():
            return []
        if self.scope is None:
            return list(walk_library(self.music_root, start, rel_root))
        found: list[Candidate | FolderPicture | Skip] = []
        for rel_dir in self.scope:
            folder = self.music_root / rel_dir
            if folder.is_dir():
                found.extend(walk_library(self.music_root, folder, rel_dir))
        return found

    async def run(self) -> None:
        summary = self.summary
        async with self.sessions() as db:
            known = await scans.known_files(db, self.library.library_uuid)
            rows = _CatalogRows(
                self.library.library_uuid,
                await scans.library_albums(db, self.library.library_uuid),
                await scans.all_artists(db),
            )
        items = await asyncio.to_thread(self._walk)
        summary.total = summary.scanned = sum(1 for item in items if not isinstance(item, FolderPicture))
        pictures = [item for item in items if isinstance(item, FolderPicture)]
        present: set[str] = set()
        to_read: list[tuple[ReadJob, Candidate]] = []
        for item in items:
            if isinstance(item, Skip):
                self.skip(item.rel_path, item.reason)
            elif isinstance(item, Candidate):
                seen = known.get(item.rel_path)
                if (
                    seen is not None
                    and seen.available
                    and (seen.size, seen.mtime_ns) == (item.size, item.mtime_ns)
                ):
                    summary.unchanged += 1
                    present.add(item.rel_path)
                else:
                    to_read.append((ReadJob(item.rel_path, item.path), item))
        del items
        await self.report(force=True)

        stats = {job.rel_path: (c.size, c.mtime_ns) for job, c in to_read}
        jobs = [job for job, _ in to_read]
        del to_read
        executor, workers = open_executor(len(jobs))
        self.log.info("scan_reading", files=len(jobs), processes=workers if workers > 1 else 0)
        with executor:
            results = _bounded_map(
                executor, read_files, _chunks(jobs, READ_CHUNK), IN_FLIGHT_PER_WORKER * workers
            )
            async for chunk in results:
                for rel_path, outcome in chunk:
                    if isinstance(outcome, str):
                        self.skip(rel_path, outcome)
                        continue
                    size, mtime_ns = stats.pop(rel_path)
                    rows.add_track(rel_path, outcome, size, mtime_ns)
                    present.add(rel_path)
                    if rel_path in known:
                        summary.updated += 1
                    else:
                        summary.added += 1
                if len(rows) >= BATCH:
                    async with self.sessions.begin() as db:
                        await rows.write(db)
                        await self.report(db, force=True)
                else:
                    await self.report()
            async with self.sessions.begin() as db:
                await scans.allow_long_statements(db)
                await rows.write(db)
                missing = [
                    rel_path
                    for rel_path, seen in known.items()
                    if seen.available and rel_path not in present and _in_scope(rel_path, self.scope)
                ]
                for rel_path in missing:
                    self.log.info("scan_unavailable", rel_path=printable(rel_path))
                await scans.mark_unavailable(db, self.library.library_uuid, missing)
                await scans.settle_albums(db, self.library.library_uuid)
                await scans.delete_empty_albums(db, self.library.library_uuid)
            await self._settle_covers(executor, workers, pictures)
        async with self.sessions.begin() as db:
            await scans.allow_long_statements(db)
            await scans.delete_orphan_artists(db)
            summary.unavailable = await scans.count_library(db, self.library)
            await scans.record_progress(
                db, self.scan_uuid, summary.done, summary.total, summary.skipped, True
            )
            await scans.prune_scans(db, self.library.library_uuid)
        if summary.added or summary.updated or missing:
            async with self.sessions.begin() as db:
                await scans.allow_long_statements(db)
                await scans.refresh_statistics(db)
        self.progress.done(summary)

    async def _settle_covers(self, executor: Executor, workers: int, pictures: list[FolderPicture]) -> None:
        """Remake the covers whose source changed (a picture embedded or beside the tracks)."""
        by_dir: dict[str, FolderPicture] = {}
        for picture in sorted(pictures, key=lambda p: folder_picture_rank(p.rel_path)):
            by_dir.setdefault(picture.rel_dir, picture)
        async with self.sessions.begin() as db:
            await scans.allow_long_statements(db)
            sources = await scans.cover_sources(db, self.library.library_uuid)
        jobs: list[CoverJob] = []
        changes: list[tuple[UUID, str | None, str | None]] = []
        wanted: dict[str, str] = {}
        for row in sources:
            source, job = self._cover_source(row, by_dir)
            if source == row.cover_source:
                continue
            if job is None:
                changes.append((row.album_uuid, None, None))
            else:
                jobs.append(job)
                wanted[job.album_uuid] = source or ""
        made: list[CoverResult] = []
        async for chunk in _bounded_map(
            executor, _make_covers_in, ((str(self.cover_cache), c) for c in _chunks(jobs, 8)), 2 * workers
        ):
            made.extend(chunk)
        for result in made:
            if result.key is None:
                self.log.info("cover_skipped", album_uuid=result.album_uuid, reason=result.reason)
            # A picture that cannot be decoded is remembered too: it is not retried until it changes.
            changes.append((UUID(result.album_uuid), result.key, wanted[result.album_uuid]))
        async with self.sessions.begin() as db:
            await scans.allow_long_statements(db)
            await scans.set_album_covers(db, changes)
            await scans.copy_cover_keys(db, self.library.library_uuid)

    def _cover_source(
        self, row: scans.CoverSourceRow, by_dir: dict[str, FolderPicture]
    ) -> tuple[str | None, CoverJob | None]:
        album = str(row.album_uuid)
        if row.picture_path is not None:
            source = f"embedded:{row.picture_path}:{row.picture_size}:{row.picture_mtime}"
            path = track_file(self.music_root, row.picture_path)  # still inside the root
            if path is not None:
                return source, CoverJob(album, "embedded", row.picture_path, str(path))
        if row.first_path is None:
            return None, None
        folder = row.first_path.rsplit("/", 1)[0] if "/" in row.first_path else ""
        picture = by_dir.get(folder)
        if picture is None and _is_disc_folder(folder):
            picture = by_dir.get(folder.rsplit("/", 1)[0] if "/" in folder else "")
        if picture is None:
            if self.scope is not None and not _in_scope(folder, self.scope):
                return row.cover_source, None  # outside this scan's folders: unchanged
            return None, None
        source = f"file:{picture.rel_path}:{picture.size}:{picture.mtime_ns}"
        return source, CoverJob(album, "file", picture.rel_path, str(self.music_root / picture.rel_path))


def _check_scope(library: Library, scope: Sequence[str] | None) -> None:
    for rel_dir in scope or ():
        root = library.rel_root
        inside = root == "" or rel_dir == root or rel_dir.startswith(root + "/")
        if not (inside and is_utf8(rel_dir) and (rel_dir == "" or is_safe_rel_path(rel_dir))):
            raise ScanRefused(f"--only {rel_dir!r} is not a folder of library {library.name!r}")


def _make_covers_in(arguments: tuple[str, list[CoverJob]]) -> list[CoverResult]:
    cache_dir, jobs = arguments
    return make_covers(cache_dir, jobs)


def _is_disc_folder(rel_dir: str) -> bool:
    return is_disc_folder(rel_dir.rsplit("/", 1)[-1])


async def scan_library(
    engine: AsyncEngine,
    music_root: Path,
    cover_cache: Path,
    request: ScanRequest,
    progress: ScanProgress | None = None,
) -> ScanSummary:
    """Scan one library (see the module docstring); commits as it goes."""
    progress = progress or ScanProgress(None)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with scans.scan_lock(engine):
            async with sessions.begin() as db:
                library, renamed_from = await prepare_library(db, music_root, request.folder, request.name)
                _check_scope(library, request.scope)
                scan_uuid = await scans.start_scan(db, library.library_uuid, request.trigger)
            summary = ScanSummary(
                library.library_uuid, library.name, library.rel_root, renamed_from=renamed_from
            )
            scan = _Scan(
                sessions, music_root, cover_cache, library, scan_uuid, summary, progress, request.scope
            )
            try:
                await scan.run()
            except BaseException:
                # Record that it ended (its figures so far), then let the failure through.
                try:
                    async with sessions.begin() as db:
                        await scans.record_progress(
                            db, scan_uuid, summary.done, summary.total, summary.skipped, True
                        )
                except Exception:  # noqa: BLE001 - the original failure matters more
                    log.warning("scan_record_failed")
                raise
            return summary
    except scans.ScanLockTaken:
        raise ScanRefused("another library scan is running; try again when it has finished") from None
