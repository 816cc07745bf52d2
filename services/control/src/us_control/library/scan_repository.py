"""The scanner's statements: what it knows of a library, batched writes, the end-of-scan settling.

Writes are Core statements run as one ``executemany`` per batch (no ORM objects: a 200,000-track
scan would hold them all). Only one scanner runs at a time (:func:`scan_lock`), so the
scanner's in-memory maps of albums and artists are the truth while it runs. Functions flush,
never commit; the scanner commits each batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy import ARRAY, Table, Text, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from us_control.models import Album, Artist, Library, LibraryScan, Track

log = structlog.get_logger(__name__)

# One scan at a time per database, across workers and hosts (a session advisory lock).
SCAN_LOCK_KEY = 0x5553_4C49_4253  # "USLIBS"
# Scan rows kept per library (the latest ones: status and history).
SCANS_KEPT = 5


class ScanLockTaken(Exception):
    """Another scan holds the lock."""


@asynccontextmanager
async def scan_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hold the scan lock on a connection of its own for as long as the block runs."""
    async with engine.connect() as conn:
        taken = (
            await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": SCAN_LOCK_KEY})
        ).scalar()
        await conn.commit()
        if not taken:
            raise ScanLockTaken
        try:
            yield
        finally:
            try:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCAN_LOCK_KEY})
                await conn.commit()
            except BaseException:
                # A connection that may still hold the lock must not go back to the pool.
                await conn.invalidate()
                raise


@dataclass(slots=True)
class KnownFile:
    size: int
    mtime_ns: int
    available: bool


@dataclass(slots=True)
class AlbumRef:
    album_uuid: UUID
    cover_key: str | None


@dataclass(slots=True)
class ArtistRef:
    artist_uuid: UUID
    sort_name: str


async def known_files(db: AsyncSession, library_uuid: UUID) -> dict[str, KnownFile]:
    rows = await db.execute(
        select(col(Track.rel_path), col(Track.size_bytes), col(Track.mtime_ns), col(Track.available)).where(
            col(Track.library_uuid) == library_uuid
        )
    )
    return {rel_path: KnownFile(size, mtime_ns, available) for rel_path, size, mtime_ns, available in rows}


async def library_albums(db: AsyncSession, library_uuid: UUID) -> dict[tuple[str, str], AlbumRef]:
    """The library's albums by identity (album artist and title, case-folded)."""
    rows = await db.execute(
        select(col(Album.album_uuid), col(Album.artist), col(Album.title), col(Album.cover_key)).where(
            col(Album.library_uuid) == library_uuid
        )
    )
    return {
        (artist.casefold(), title.casefold()): AlbumRef(album_uuid, cover_key)
        for album_uuid, artist, title, cover_key in rows
    }


async def all_artists(db: AsyncSession) -> dict[str, ArtistRef]:
    rows = await db.execute(select(col(Artist.identity), col(Artist.artist_uuid), col(Artist.sort_name)))
    return {identity: ArtistRef(artist_uuid, sort_name) for identity, artist_uuid, sort_name in rows}


_WORDS = bindparam("search_words", type_=ARRAY(Text))
_ARTIST: Table = Artist.__table__  # type: ignore[attr-defined]
_ALBUM: Table = Album.__table__  # type: ignore[attr-defined]
_TRACK: Table = Track.__table__  # type: ignore[attr-defined]


async def insert_artists(db: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        statement = insert(_ARTIST).values(search_words=func.array_to_tsvector(_WORDS))
        await db.execute(statement, list(rows))


async def insert_albums(db: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        statement = insert(_ALBUM).values(search_words=func.array_to_tsvector(_WORDS))
        await db.execute(statement, list(rows))


# Every column a (re)read file sets; the track's uuid and created_at survive a re-read.
TRACK_FIELDS = (
    "library_uuid", "album_uuid", "size_bytes", "mtime_ns", "duration_ms", "sample_rate", "title",
    "artist", "album_title", "album_artist", "track_number", "disc_number", "year", "genre",
    "has_cover", "cover_key", "available", "sort_key", "match_key",
)  # fmt: skip


async def upsert_tracks(db: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """New files are inserted, re-read ones updated in place (keyed by their catalog path)."""
    if not rows:
        return
    statement = insert(_TRACK).values(search_words=func.array_to_tsvector(_WORDS))
    statement = statement.on_conflict_do_update(
        constraint="uq_track_rel_path",
        set_={
            **{name: statement.excluded[name] for name in TRACK_FIELDS},
            "search_words": statement.excluded.search_words,
            "updated_at": func.now(),
        },
    )
    await db.execute(statement, list(rows))


async def mark_unavailable(db: AsyncSession, library_uuid: UUID, rel_paths: Sequence[str]) -> None:
    for start in range(0, len(rel_paths), 5000):
        await db.execute(
            update(Track)
            .where(
                col(Track.library_uuid) == library_uuid,
                col(Track.rel_path).in_(rel_paths[start : start + 5000]),
            )
            .values(available=False, updated_at=func.now())
        )


# --- settling at the end of a scan -----------------------------------------------------------


LONG_STATEMENT_S = 600
# The client's wait must outlast the server's limit (asyncpg raised TimeoutError after 6 s while
# Postgres still settled a 200,000-track library): the scan's engine waits a minute longer.
SCAN_COMMAND_TIMEOUT_S = LONG_STATEMENT_S + 60


async def allow_long_statements(db: AsyncSession) -> None:
    """Settling a 200,000-track library takes seconds: more than a request may (this transaction only)."""
    await db.execute(text(f"SET LOCAL statement_timeout = '{LONG_STATEMENT_S}s'"))


# Year (earliest), genre (most common, ties by name) and track count of every album of the
# library, written only where they changed.
_SETTLE_ALBUMS = text(
    """
    UPDATE album a SET year = s.year, genre = s.genre, track_count = s.track_count, updated_at = now()
    FROM (
        SELECT album_uuid, min(year) AS year, mode() WITHIN GROUP (ORDER BY genre) AS genre,
               count(*) AS track_count
        FROM track WHERE library_uuid = :library_uuid AND album_uuid IS NOT NULL GROUP BY album_uuid
    ) s
    WHERE a.album_uuid = s.album_uuid
      AND (a.year, a.genre, a.track_count) IS DISTINCT FROM (s.year, s.genre, s.track_count)
    """
)

# Per album: where its cover would come from now (first track with a picture, first track).
_COVER_SOURCES = text(
    """
    SELECT a.album_uuid, a.cover_source, f.rel_path AS first_path, c.rel_path AS picture_path,
           c.size_bytes AS picture_size, c.mtime_ns AS picture_mtime
    FROM album a
    LEFT JOIN LATERAL (
        SELECT rel_path FROM track t WHERE t.album_uuid = a.album_uuid ORDER BY t.sort_key LIMIT 1
    ) f ON true
    LEFT JOIN LATERAL (
        SELECT rel_path, size_bytes, mtime_ns FROM track t
        WHERE t.album_uuid = a.album_uuid AND t.has_cover AND t.available ORDER BY t.sort_key LIMIT 1
    ) c ON true
    WHERE a.library_uuid = :library_uuid
    """
)

_COPY_COVER_KEYS = text(
    """
    UPDATE track t SET cover_key = a.cover_key
    FROM album a
    WHERE t.album_uuid = a.album_uuid AND t.library_uuid = :library_uuid
      AND t.cover_key IS DISTINCT FROM a.cover_key
    """
)


@dataclass(frozen=True, slots=True)
class CoverSourceRow:
    album_uuid: UUID
    cover_source: str | None
    first_path: str | None
    picture_path: str | None
    picture_size: int | None
    picture_mtime: int | None


async def settle_albums(db: AsyncSession, library_uuid: UUID) -> None:
    await db.execute(_SETTLE_ALBUMS, {"library_uuid": library_uuid})


async def cover_sources(db: AsyncSession, library_uuid: UUID) -> list[CoverSourceRow]:
    rows = await db.execute(_COVER_SOURCES, {"library_uuid": library_uuid})
    return [CoverSourceRow(*row) for row in rows.tuples()]


async def set_album_covers(db: AsyncSession, changes: Sequence[tuple[UUID, str | None, str | None]]) -> None:
    """``(album_uuid, cover_key, cover_source)`` for each album whose cover changed."""
    if changes:
        await db.execute(
            update(_ALBUM)
            .where(_ALBUM.c.album_uuid == bindparam("b_album_uuid"))
            .values(cover_key=bindparam("b_cover_key"), cover_source=bindparam("b_cover_source")),
            [{"b_album_uuid": a, "b_cover_key": k, "b_cover_source": s} for a, k, s in changes],
        )


async def copy_cover_keys(db: AsyncSession, library_uuid: UUID) -> None:
    await db.execute(_COPY_COVER_KEYS, {"library_uuid": library_uuid})


async def delete_empty_albums(db: AsyncSession, library_uuid: UUID) -> None:
    """Albums left with no track at all (every track retagged elsewhere) disappear."""
    has_tracks = select(col(Track.track_uuid)).where(col(Track.album_uuid) == col(Album.album_uuid)).exists()
    await db.execute(delete(Album).where(col(Album.library_uuid) == library_uuid, ~has_tracks))


async def delete_orphan_artists(db: AsyncSession) -> None:
    has_albums = (
        select(col(Album.album_uuid)).where(col(Album.artist_uuid) == col(Artist.artist_uuid)).exists()
    )
    await db.execute(delete(Artist).where(~has_albums))


async def count_library(db: AsyncSession, library: Library) -> int:
    """Store the library's track and album counts; returns how many tracks are unavailable."""
    tracks, unavailable = (
        await db.execute(
            select(func.count(), func.count().filter(col(Track.available).is_(False))).where(
                col(Track.library_uuid) == library.library_uuid
            )
        )
    ).one()
    albums = (
        await db.execute(select(func.count()).where(col(Album.library_uuid) == library.library_uuid))
    ).scalar_one()
    await db.execute(
        update(Library)
        .where(col(Library.library_uuid) == library.library_uuid)
        .values(track_count=tracks, album_count=albums, last_scan_at=func.now())
    )
    return int(unavailable)


SEARCH_INDEXES = ("ix_track_search_words", "ix_album_search_words", "ix_artist_search_words")


async def refresh_statistics(db: AsyncSession) -> None:
    """After a scan changed the catalog: ``ANALYZE`` its tables and move the search indexes'
    pending entries into the indexes proper.

    Postgres' advice after a bulk load. Autovacuum would do both, but later, and not at all where
    it is off (this machine's Postgres): with no statistics the first pages after a first scan of
    200,000 tracks were planned as a whole-table scan and an on-disk sort (240 ms), and a GIN
    index keeps new entries in a pending list that every search reads from end to end until a
    vacuum merges it (the album index was 476 pending pages: 12–18 ms per album search, 3–4 ms
    after). A role that does not own the tables gets a warning from ``ANALYZE``; the merge needs
    the owner too, so a refusal is logged and the scan's result stands."""
    await db.execute(text("ANALYZE track, album, artist"))
    try:
        async with db.begin_nested():
            for index in SEARCH_INDEXES:
                await db.execute(
                    text("SELECT gin_clean_pending_list(CAST(:index AS regclass))"), {"index": index}
                )
    except DBAPIError as exc:
        log.warning("search_index_merge_refused", error=type(exc.orig).__name__)


# --- the scan's own row ------------------------------------------------------------------------


async def start_scan(db: AsyncSession, library_uuid: UUID, trigger: str) -> UUID:
    scan = LibraryScan(library_uuid=library_uuid, trigger=trigger)
    db.add(scan)
    await db.flush()
    return scan.scan_uuid


async def record_progress(
    db: AsyncSession, scan_uuid: UUID, done: int, total: int | None, errors: int, finished: bool = False
) -> None:
    values: dict[str, Any] = {"done": done, "total": total, "errors": errors, "heartbeat_at": func.now()}
    if finished:
        values["finished_at"] = func.now()
    await db.execute(update(LibraryScan).where(col(LibraryScan.scan_uuid) == scan_uuid).values(**values))


async def prune_scans(db: AsyncSession, library_uuid: UUID) -> None:
    keep = (
        select(col(LibraryScan.scan_uuid))
        .where(col(LibraryScan.library_uuid) == library_uuid)
        .order_by(col(LibraryScan.started_at).desc())
        .limit(SCANS_KEPT)
    )
    await db.execute(
        delete(LibraryScan).where(
            col(LibraryScan.library_uuid) == library_uuid, col(LibraryScan.scan_uuid).not_in(keep)
        )
    )
