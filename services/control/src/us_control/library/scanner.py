"""``usctl library scan``: index the FLAC files of one folder under the music root.

Incremental: a file whose (size, mtime_ns) match the catalog and that was available is not even
opened. New and changed files are read; files that vanished or became unreadable are marked
``available=False`` and never deleted (queue items and listens point at them). Unreadable files
are skipped with a logged reason (catalog path only), symlinks that leave the music root are
skipped, hidden entries (``.name``, e.g. macOS ``._`` files) are ignored.

One scan runs at a time per database (advisory lock); the caller owns the transaction, so a
scan is all-or-nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from us_control.library import repository as repo
from us_control.library.paths import (
    OutsideMusicRoot,
    inside,
    is_safe_rel_path,
    is_utf8,
    join_rel,
    library_rel_root,
    overlaps,
)
from us_control.library.tags import FlacFacts, UnreadableFile, clean_text, read_flac
from us_control.models import Album, Library, Track
from us_control.models.sqlmodels import now_utc

log = structlog.get_logger(__name__)

FLUSH_EVERY = 500


class ScanRefused(Exception):
    """The scan cannot start; the message is for the operator."""


# --- the walk (no database) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A ``.flac`` file to index: its catalog path and where to open it."""

    rel_path: str
    path: Path


@dataclass(frozen=True, slots=True)
class Skip:
    rel_path: str
    reason: str


def printable(rel_path: str) -> str:
    """A catalog-style path safe to print or log, even when the name is not valid UTF-8."""
    return rel_path.encode("utf-8", "backslashreplace").decode("utf-8")


def _is_flac_name(name: str) -> bool:
    return name.lower().endswith(".flac")


def walk_library(music_root: Path, folder: Path, rel_root: str) -> Iterator[Candidate | Skip]:
    """Every ``.flac`` under ``folder`` in name order, depth first, or why one was skipped.

    Directory symlinks are followed only while they stay inside the music root, and each real
    directory is visited once (no symlink loops).
    """
    visited: set[tuple[int, int]] = set()
    root_stat = os.stat(folder)
    visited.add((root_stat.st_dev, root_stat.st_ino))
    pending: list[tuple[Path, str]] = [(folder, rel_root)]
    while pending:
        directory, dir_rel = pending.pop()
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Skip(dir_rel or ".", f"cannot list the folder ({exc.strerror or type(exc).__name__})")
            continue
        subdirs: list[tuple[Path, str]] = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            rel = join_rel(dir_rel, name)
            path = Path(entry.path)
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir()  # follows symlinks
                is_file = entry.is_file()
            except OSError:
                is_link, is_dir, is_file = False, False, False
            if not (is_dir or _is_flac_name(name)):
                continue
            if not is_utf8(name):
                yield Skip(rel, "the name is not valid UTF-8")
                continue
            if not is_safe_rel_path(rel):
                yield Skip(rel, "the path contains '..', which the media server refuses")
                continue
            if is_link:
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    yield Skip(rel, "broken symlink")
                    continue
                if not inside(music_root, target):
                    yield Skip(rel, "symlink leads outside the music root")
                    continue
            if is_dir:
                try:
                    st = os.stat(path)
                except OSError as exc:
                    yield Skip(rel, f"cannot read the folder ({exc.strerror or type(exc).__name__})")
                    continue
                key = (st.st_dev, st.st_ino)
                if key in visited:
                    if is_link:
                        yield Skip(rel, "symlink to a folder already scanned (loop)")
                    continue
                visited.add(key)
                subdirs.append((path, rel))
            elif is_file:
                yield Candidate(rel, path)
            else:
                yield Skip(rel, "not a regular file")
        # Reversed so the stack pops them in name order.
        pending.extend(reversed(subdirs))


# --- progress and summary --------------------------------------------------------------------


@dataclass
class ScanSummary:
    library_uuid: UUID
    name: str
    rel_root: str
    # Each entry the walk found is exactly one of added/updated/unchanged/skipped.
    scanned: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    # Tracks of this library that are unavailable after the scan (gone or unreadable).
    unavailable: int = 0
    skipped: int = 0
    renamed_from: str | None = None

    def counts(self) -> str:
        return (
            f"scanned={self.scanned} added={self.added} updated={self.updated} "
            f"unchanged={self.unchanged} unavailable={self.unavailable} skipped={self.skipped}"
        )

    def line(self) -> str:
        return f"library {self.name!r} ({self.library_uuid}): {self.counts()}"

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["library_uuid"] = str(self.library_uuid)
        return data


@dataclass
class ScanProgress:
    """A one-line counter redrawn on a terminal; silent when the stream is not a TTY."""

    stream: TextIO | None
    interval_s: float = 0.1
    _last: float = field(default=0.0, init=False)
    _shown: bool = field(default=False, init=False)

    @property
    def enabled(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def update(self, summary: ScanSummary, force: bool = False) -> None:
        if not self.enabled or self.stream is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        self.stream.write(f"\r\x1b[Kscanning {summary.name}: {summary.counts()}")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the line before something else is written to the terminal."""
        if self._shown and self.stream is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def done(self, summary: ScanSummary) -> None:
        self.update(summary, force=True)
        if self._shown and self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False


# --- the scan --------------------------------------------------------------------------------


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


class _AlbumIndex:
    """Albums of one library keyed by (album artist, title), case-insensitively."""

    def __init__(self, db: AsyncSession, library_uuid: UUID, albums: list[Album]) -> None:
        self.db = db
        self.library_uuid = library_uuid
        self.by_key = {self.key(a.artist, a.title): a for a in albums}
        self.years_read: dict[UUID, list[int]] = {}

    @staticmethod
    def key(artist: str, title: str) -> tuple[str, str]:
        return artist.casefold(), title.casefold()

    async def album_for(self, facts: FlacFacts) -> Album:
        key = self.key(facts.album_artist, facts.album_title)
        album = self.by_key.get(key)
        if album is None:
            album = Album(
                library_uuid=self.library_uuid,
                title=facts.album_title,
                artist=facts.album_artist,
                year=facts.year,
            )
            self.db.add(album)
            await self.db.flush()
            self.by_key[key] = album
        if facts.year is not None:
            self.years_read.setdefault(album.album_uuid, []).append(facts.year)
        return album

    def settle_years(self) -> None:
        # An album's year is the earliest DATE among the files read this scan (a re-tag wins).
        for album in self.by_key.values():
            years = self.years_read.get(album.album_uuid)
            if years:
                album.year = min(years)


def _apply(track: Track, facts: FlacFacts, album: Album, size: int, mtime_ns: int) -> None:
    track.album_uuid = album.album_uuid
    track.size_bytes = size
    track.mtime_ns = mtime_ns
    track.duration_ms = facts.duration_ms
    track.sample_rate = facts.sample_rate
    track.title = facts.title
    track.artist = facts.artist
    track.album_title = facts.album_title
    track.album_artist = facts.album_artist
    track.track_number = facts.track_number
    track.disc_number = facts.disc_number
    track.has_cover = facts.has_cover
    track.available = True
    track.updated_at = now_utc()


async def scan_library(
    db: AsyncSession,
    music_root: Path,
    folder: Path,
    name: str | None = None,
    progress: ScanProgress | None = None,
) -> ScanSummary:
    """Scan ``folder`` into its library; flushes, the caller commits."""
    progress = progress or ScanProgress(None)
    if not await repo.try_scan_lock(db):
        raise ScanRefused("another library scan is running; try again when it has finished")
    library, renamed_from = await prepare_library(db, music_root, folder, name)
    summary = ScanSummary(library.library_uuid, library.name, library.rel_root, renamed_from=renamed_from)
    known = {t.rel_path: t for t in await repo.library_tracks(db, library.library_uuid)}
    albums = _AlbumIndex(db, library.library_uuid, await repo.library_albums(db, library.library_uuid))
    present: set[str] = set()
    bound = log.bind(library=library.name)
    start_dir = music_root / library.rel_root if library.rel_root else music_root

    def skip(rel_path: str, reason: str) -> None:
        summary.skipped += 1
        progress.clear()
        bound.warning("scan_skipped", rel_path=printable(rel_path), reason=reason)

    walk = walk_library(music_root, start_dir, library.rel_root) if start_dir.is_dir() else iter(())
    for item in walk:
        summary.scanned += 1
        progress.update(summary)
        if isinstance(item, Skip):
            skip(item.rel_path, item.reason)
            continue
        try:
            st = os.stat(item.path)
        except OSError as exc:
            skip(item.rel_path, f"cannot stat the file ({exc.strerror or type(exc).__name__})")
            continue
        track = known.get(item.rel_path)
        if (
            track is not None
            and track.available
            and track.size_bytes == st.st_size
            and track.mtime_ns == st.st_mtime_ns
        ):
            summary.unchanged += 1
            present.add(item.rel_path)
            continue
        try:
            facts = read_flac(item.path, item.rel_path)
        except UnreadableFile as exc:
            skip(item.rel_path, exc.reason)
            continue
        album = await albums.album_for(facts)
        if track is None:
            track = Track(
                library_uuid=library.library_uuid,
                rel_path=item.rel_path,
                size_bytes=st.st_size,
                mtime_ns=st.st_mtime_ns,
                duration_ms=facts.duration_ms,
                sample_rate=facts.sample_rate,
                title=facts.title,
                artist=facts.artist,
                album_title=facts.album_title,
                album_artist=facts.album_artist,
            )
            _apply(track, facts, album, st.st_size, st.st_mtime_ns)
            db.add(track)
            known[item.rel_path] = track
            summary.added += 1
            bound.debug("scan_added", rel_path=item.rel_path)
        else:
            _apply(track, facts, album, st.st_size, st.st_mtime_ns)
            summary.updated += 1
            bound.debug("scan_reread", rel_path=item.rel_path)
        present.add(item.rel_path)
        if (summary.added + summary.updated) % FLUSH_EVERY == 0:
            await db.flush()

    for rel_path, track in known.items():
        if rel_path not in present and track.available:
            track.available = False
            track.updated_at = now_utc()
            bound.info("scan_unavailable", rel_path=printable(rel_path))
    albums.settle_years()
    library.last_scan_at = now_utc()
    await db.flush()
    await repo.delete_empty_albums(db, library.library_uuid)
    summary.unavailable = await repo.count_unavailable(db, library.library_uuid)
    progress.done(summary)
    return summary
