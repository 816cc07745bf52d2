"""Catalog queries: libraries, grants, and what one user may see (browse pages, one item, status).

A user sees a track, album or artist only through a library granted to them; everything here
that takes a ``user_uuid`` applies that rule, so a caller cannot forget it. Functions flush,
never commit. Searching is ``library.search``; the scanner's statements are
``library.scan_repository``.

Pages read the album-order indexes and take their ``total`` from the counts each scan stores on
its library, so no page counts the whole table; a deep page of tracks starts from a worker's
marks (``library.page_marks``) instead of stepping over every track before it.

For other domains (queue, media tokens, metrics) the stable entry points are
:func:`accessible_tracks`, :func:`album_tracks_for_user`, :func:`track_public`,
:func:`to_public`, :func:`page_liked_tracks` and :func:`scan_status`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from us_common.timeline import TrackPublic
from us_control.library.covers import cover_url
from us_control.library.page_marks import TrackPageMarks
from us_control.library.search import granted_libraries
from us_control.models import Album, AppUser, Artist, Library, LibraryGrant, Track, TrackLike

AlbumSort = Literal["name", "artist", "year", "added"]


def _visible(library_column: Any, user_uuid: UUID) -> ColumnElement[bool]:
    return library_column.in_(granted_libraries(user_uuid))  # type: ignore[no-any-return]


# --- libraries and grants --------------------------------------------------------------------


async def get_library(db: AsyncSession, library_uuid: UUID) -> Library | None:
    return await db.get(Library, library_uuid)


async def get_library_by_name(db: AsyncSession, name: str) -> Library | None:
    return (await db.execute(select(Library).where(col(Library.name) == name))).scalar_one_or_none()


async def list_libraries(db: AsyncSession) -> list[Library]:
    return list((await db.execute(select(Library).order_by(col(Library.name)))).scalars())


async def add_library(db: AsyncSession, name: str, rel_root: str) -> Library:
    library = Library(name=name, rel_root=rel_root)
    db.add(library)
    await db.flush()
    return library


@dataclass(frozen=True, slots=True)
class LibraryStats:
    track_count: int
    unavailable_count: int
    album_count: int


async def library_stats(db: AsyncSession) -> dict[UUID, LibraryStats]:
    tracks = await db.execute(
        select(
            col(Track.library_uuid),
            func.count(),
            func.count().filter(col(Track.available).is_(False)),
        ).group_by(col(Track.library_uuid))
    )
    albums = dict(
        (await db.execute(select(col(Album.library_uuid), func.count()).group_by(col(Album.library_uuid))))
        .tuples()
        .all()
    )
    return {
        library_uuid: LibraryStats(int(total), int(unavailable), int(albums.get(library_uuid, 0)))
        for library_uuid, total, unavailable in tracks.tuples()
    }


async def library_usernames(db: AsyncSession) -> dict[UUID, list[str]]:
    rows = await db.execute(
        select(col(LibraryGrant.library_uuid), col(AppUser.username))
        .join(AppUser, col(AppUser.user_uuid) == col(LibraryGrant.user_uuid))
        .order_by(col(AppUser.username))
    )
    users: dict[UUID, list[str]] = {}
    for library_uuid, username in rows.tuples():
        users.setdefault(library_uuid, []).append(username)
    return users


async def grant(db: AsyncSession, user_uuid: UUID, library_uuid: UUID) -> bool:
    """Let the user see the library; False when they already could."""
    if await db.get(LibraryGrant, (user_uuid, library_uuid)) is not None:
        return False
    db.add(LibraryGrant(user_uuid=user_uuid, library_uuid=library_uuid))
    await db.flush()
    return True


async def revoke(db: AsyncSession, user_uuid: UUID, library_uuid: UUID) -> bool:
    """The user no longer sees the library (its tracks, albums, covers, likes); False when they
    could not anyway. Likes and listens stay: a grant given back shows them again."""
    found = await db.get(LibraryGrant, (user_uuid, library_uuid))
    if found is None:
        return False
    await db.delete(found)
    await db.flush()
    return True


async def _granted_album_count(db: AsyncSession, user_uuid: UUID) -> int:
    """Albums of the user's libraries, as the last scans counted them."""
    albums = (
        await db.execute(
            select(func.coalesce(func.sum(col(Library.album_count)), 0)).where(
                _visible(col(Library.library_uuid), user_uuid)
            )
        )
    ).scalar_one()
    return int(albums)


# --- tracks ----------------------------------------------------------------------------------


async def page_tracks(
    db: AsyncSession, user_uuid: UUID, marks: TrackPageMarks, limit: int, offset: int
) -> tuple[list[Track], int]:
    """One page of the user's tracks in album order, and how many they have."""
    rows = await db.execute(
        select(col(Library.library_uuid), col(Library.track_count), col(Library.last_scan_at))
        .where(_visible(col(Library.library_uuid), user_uuid))
        .order_by(col(Library.library_uuid))
    )
    granted = [(library_uuid, int(count), scanned_at) for library_uuid, count, scanned_at in rows]
    # The version of the marks: a finished scan of any of these libraries moves it.
    uuids = await marks.page(db, [row[0] for row in granted], tuple(granted), limit, offset)
    return await tracks_in_order(db, uuids), sum(count for _, count, _ in granted)


async def tracks_in_order(db: AsyncSession, track_uuids: Sequence[UUID]) -> list[Track]:
    """The tracks of ``track_uuids`` in that order (uuids already checked for visibility)."""
    if not track_uuids:
        return []
    rows = await db.execute(select(Track).where(col(Track.track_uuid).in_(list(track_uuids))))
    found = {track.track_uuid: track for track in rows.scalars()}
    return [found[u] for u in track_uuids if u in found]


async def visible_track(db: AsyncSession, user_uuid: UUID, track_uuid: UUID) -> Track | None:
    return (await accessible_tracks(db, user_uuid, [track_uuid])).get(track_uuid)


async def accessible_tracks(
    db: AsyncSession, user_uuid: UUID, track_uuids: Sequence[UUID]
) -> dict[UUID, Track]:
    """The tracks among ``track_uuids`` that the user may see (any availability), by uuid.

    A uuid that is missing from the answer does not exist for this user.
    """
    if not track_uuids:
        return {}
    rows = await db.execute(
        select(Track).where(
            col(Track.track_uuid).in_(set(track_uuids)), _visible(col(Track.library_uuid), user_uuid)
        )
    )
    return {track.track_uuid: track for track in rows.scalars()}


async def album_tracks_for_user(db: AsyncSession, user_uuid: UUID, album_uuid: UUID) -> list[Track] | None:
    """The album's tracks in disc, track order; None when the album is not visible to the user."""
    album = (
        await db.execute(
            select(col(Album.album_uuid)).where(
                col(Album.album_uuid) == album_uuid, _visible(col(Album.library_uuid), user_uuid)
            )
        )
    ).scalar_one_or_none()
    if album is None:
        return None
    rows = await db.execute(
        select(Track)
        .where(col(Track.album_uuid) == album_uuid)
        .order_by(col(Track.sort_key), col(Track.track_uuid))
    )
    return list(rows.scalars())


async def liked_track_uuids(db: AsyncSession, user_uuid: UUID, track_uuids: Sequence[UUID]) -> set[UUID]:
    if not track_uuids:
        return set()
    rows = await db.execute(
        select(col(TrackLike.track_uuid)).where(
            col(TrackLike.user_uuid) == user_uuid, col(TrackLike.track_uuid).in_(set(track_uuids))
        )
    )
    return set(rows.scalars())


async def page_liked_tracks(
    db: AsyncSession, user_uuid: UUID, limit: int, offset: int
) -> tuple[list[Track], int]:
    """The user's liked tracks that they can still see, newest like first, and how many.

    A like of a track in a library the user lost stays stored (a grant given back shows it
    again) but is neither listed nor counted."""
    liked = (
        select(col(Track.track_uuid), col(TrackLike.created_at).label("liked_at"))
        .join(TrackLike, col(TrackLike.track_uuid) == col(Track.track_uuid))
        .where(col(TrackLike.user_uuid) == user_uuid, _visible(col(Track.library_uuid), user_uuid))
        .subquery("liked")
    )
    total = (await db.execute(select(func.count()).select_from(liked))).scalar_one()
    uuids = list(
        (
            await db.execute(
                select(liked.c.track_uuid)
                .order_by(liked.c.liked_at.desc(), liked.c.track_uuid)
                .limit(limit)
                .offset(offset)
            )
        ).scalars()
    )
    return await tracks_in_order(db, uuids), int(total)


def to_public(track: Track, liked: bool) -> TrackPublic:
    return TrackPublic(
        track_uuid=track.track_uuid,
        title=track.title,
        artist=track.artist,
        album=track.album_title,
        album_uuid=track.album_uuid,
        album_artist=track.album_artist,
        track_number=track.track_number,
        disc_number=track.disc_number,
        duration_ms=track.duration_ms,
        available=track.available,
        liked=liked,
        cover_url=cover_url(track.cover_key),
    )


async def track_public(db: AsyncSession, user_uuid: UUID, tracks: Sequence[Track]) -> list[TrackPublic]:
    """The public shape of ``tracks`` (same order) with ``liked`` filled in one query."""
    liked = await liked_track_uuids(db, user_uuid, [t.track_uuid for t in tracks])
    return [to_public(track, track.track_uuid in liked) for track in tracks]


# --- albums ----------------------------------------------------------------------------------

_ALBUM_ORDER: dict[AlbumSort, tuple[Any, ...]] = {
    "name": (col(Album.name_key), col(Album.album_uuid)),
    "artist": (col(Album.sort_key), col(Album.album_uuid)),
    # Oldest first, albums without a year last.
    "year": (col(Album.year).asc().nulls_last(), col(Album.sort_key), col(Album.album_uuid)),
    # Newest first; albums of one scan batch share a time, then album order.
    "added": (col(Album.created_at).desc(), col(Album.sort_key), col(Album.album_uuid)),
}


def album_filters(genre: str | None, year: int | None) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if genre is not None:
        filters.append(col(Album.genre) == genre)
    if year is not None:
        filters.append(col(Album.year) == year)
    return filters


async def page_albums(
    db: AsyncSession,
    user_uuid: UUID,
    sort: AlbumSort,
    genre: str | None,
    year: int | None,
    limit: int,
    offset: int,
) -> tuple[list[Album], int]:
    filters = [_visible(col(Album.library_uuid), user_uuid), *album_filters(genre, year)]
    # The page's uuids first, then its rows: ordering whole album rows (~400 bytes each) for a
    # deep offset spilled the sort to disk (47 ms at 17,000 albums).
    page = await db.execute(
        select(col(Album.album_uuid))
        .where(*filters)
        .order_by(*_ALBUM_ORDER[sort])
        .limit(limit)
        .offset(offset)
    )
    albums = await albums_in_order(db, list(page.scalars()))
    if genre is None and year is None:
        total = await _granted_album_count(db, user_uuid)
    else:
        # A genre or a year is a small part of the albums: counting them is cheap.
        total = int((await db.execute(select(func.count()).select_from(Album).where(*filters))).scalar_one())
    return albums, total


async def albums_in_order(db: AsyncSession, album_uuids: Sequence[UUID]) -> list[Album]:
    if not album_uuids:
        return []
    rows = await db.execute(select(Album).where(col(Album.album_uuid).in_(list(album_uuids))))
    found = {album.album_uuid: album for album in rows.scalars()}
    return [found[u] for u in album_uuids if u in found]


async def visible_album(db: AsyncSession, user_uuid: UUID, album_uuid: UUID) -> Album | None:
    return (
        await db.execute(
            select(Album).where(
                col(Album.album_uuid) == album_uuid, _visible(col(Album.library_uuid), user_uuid)
            )
        )
    ).scalar_one_or_none()


async def cover_visible(db: AsyncSession, user_uuid: UUID, cover_key: str) -> bool:
    """Whether some album the user can see has this cover (the same picture is the same key)."""
    found = await db.execute(
        select(col(Album.album_uuid))
        .where(col(Album.cover_key) == cover_key, _visible(col(Album.library_uuid), user_uuid))
        .limit(1)
    )
    return found.first() is not None


# --- artists ---------------------------------------------------------------------------------


def _visible_album_counts(user_uuid: UUID, artist_uuids: Sequence[UUID] | None = None) -> Any:
    """Visible albums per artist (of ``artist_uuids`` only, when given: Postgres does not carry
    an ``IN`` list from the outer query into the grouped one, and counting every artist's albums
    for a page of five cost ~15 ms at 17,000 albums)."""
    which = (
        col(Album.artist_uuid).is_not(None)
        if artist_uuids is None
        else col(Album.artist_uuid).in_(list(artist_uuids))
    )
    return (
        select(col(Album.artist_uuid).label("artist_uuid"), func.count().label("album_count"))
        .where(_visible(col(Album.library_uuid), user_uuid), which)
        .group_by(col(Album.artist_uuid))
        .subquery("visible_albums")
    )


async def page_artists(
    db: AsyncSession, user_uuid: UUID, limit: int, offset: int
) -> tuple[list[tuple[Artist, int]], int]:
    """Album artists with at least one visible album, in sort-name order, with their counts."""
    counts = _visible_album_counts(user_uuid)
    rows = await db.execute(
        select(Artist, counts.c.album_count, func.count().over())
        .join(counts, counts.c.artist_uuid == col(Artist.artist_uuid))
        .order_by(col(Artist.sort_key), col(Artist.artist_uuid))
        .limit(limit)
        .offset(offset)
    )
    found = rows.tuples().all()
    if found:
        return [(artist, int(n)) for artist, n, _ in found], int(found[0][2])
    total = (await db.execute(select(func.count()).select_from(counts))).scalar_one()
    return [], int(total)


async def artists_with_counts(
    db: AsyncSession, user_uuid: UUID, artist_uuids: Sequence[UUID]
) -> list[tuple[Artist, int]]:
    """Visible artists of ``artist_uuids`` in that order, with their visible album counts."""
    if not artist_uuids:
        return []
    counts = _visible_album_counts(user_uuid, artist_uuids)
    rows = await db.execute(
        select(Artist, counts.c.album_count)
        .join(counts, counts.c.artist_uuid == col(Artist.artist_uuid))
        .where(col(Artist.artist_uuid).in_(list(artist_uuids)))
    )
    found = {artist.artist_uuid: (artist, int(n)) for artist, n in rows.tuples()}
    return [found[u] for u in artist_uuids if u in found]


async def artist_albums(db: AsyncSession, user_uuid: UUID, artist_uuid: UUID) -> list[Album]:
    """The artist's visible albums by year (no year last), then title."""
    rows = await db.execute(
        select(Album)
        .where(col(Album.artist_uuid) == artist_uuid, _visible(col(Album.library_uuid), user_uuid))
        .order_by(col(Album.year).asc().nulls_last(), col(Album.name_key), col(Album.album_uuid))
    )
    return list(rows.scalars())


# --- genres ----------------------------------------------------------------------------------


async def genres(db: AsyncSession, user_uuid: UUID) -> list[tuple[str, int, int]]:
    """``(genre, albums, tracks)`` of the user's albums (an album's genre is its tracks' most common)."""
    rows = await db.execute(
        select(col(Album.genre), func.count(), func.sum(col(Album.track_count)))
        .where(_visible(col(Album.library_uuid), user_uuid), col(Album.genre).is_not(None))
        .group_by(col(Album.genre))
    )
    return [(str(name), int(albums), int(tracks or 0)) for name, albums, tracks in rows.tuples()]


# --- scan status (GET /library/status, metrics) ----------------------------------------------

# A running scan touches its row every second or so; one silent for this long has died.
SCAN_STALE_AFTER_S = 30


@dataclass(frozen=True)  # no slots: metrics read its fields through __dict__
class ScanStatus:
    scanning: bool
    done: int
    total: int | None
    last_scan_at: datetime | None
    errors: int


_LATEST_SCAN = text(
    f"""
    SELECT s.done, s.total, s.errors,
           s.finished_at IS NULL AND s.heartbeat_at > now() - interval '{SCAN_STALE_AFTER_S} seconds'
             AS running
    FROM library_scan s
    WHERE (CAST(:user_uuid AS uuid) IS NULL
           OR s.library_uuid IN (SELECT library_uuid FROM library_grant WHERE user_uuid = :user_uuid))
    ORDER BY running DESC, s.started_at DESC
    LIMIT 1
    """
)


async def scan_status(db: AsyncSession, user_uuid: UUID | None = None) -> ScanStatus:
    """The running scan (else the latest) of the user's libraries, or of every library when
    ``user_uuid`` is None (what metrics read at scrape time, CONTRACTS C7)."""
    row = (await db.execute(_LATEST_SCAN, {"user_uuid": user_uuid})).first()
    libraries = select(func.max(col(Library.last_scan_at)))
    if user_uuid is not None:
        libraries = libraries.where(_visible(col(Library.library_uuid), user_uuid))
    last_scan_at = (await db.execute(libraries)).scalar_one()
    if row is None:
        return ScanStatus(False, 0, None, last_scan_at, 0)
    return ScanStatus(bool(row.running), int(row.done), row.total, last_scan_at, int(row.errors))
