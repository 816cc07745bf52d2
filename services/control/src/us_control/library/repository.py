"""Every catalog query: libraries, grants, albums, tracks, and what one user may see of them.

A user sees a track or album only through a library granted to them; everything here that takes
a ``user_uuid`` applies that rule, so a caller cannot forget it. Functions flush, never commit.

For other domains (queue, media tokens) the stable entry points are :func:`accessible_tracks`,
:func:`album_tracks_for_user` and :func:`track_public`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import ColumnElement, Select, delete, exists, func, or_, text
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from us_common.timeline import TrackPublic
from us_control.models import Album, AppUser, Library, LibraryGrant, Track, TrackLike

# One scan at a time per database (a transaction-scoped advisory lock; any constant works).
SCAN_LOCK_KEY = 0x5553_4C49_4253  # "USLIBS"


def escape_like(term: str) -> str:
    """``term`` as a literal inside a LIKE pattern (escape character ``\\``)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(column: str, term: str) -> ColumnElement[bool]:
    return col(column).ilike(f"%{escape_like(term)}%", escape="\\")


def _granted_libraries(user_uuid: UUID) -> SelectOfScalar[UUID]:
    return select(col(LibraryGrant.library_uuid)).where(col(LibraryGrant.user_uuid) == user_uuid)


# --- libraries and grants --------------------------------------------------------------------


async def try_scan_lock(db: AsyncSession) -> bool:
    """Take the catalog's scan lock for this transaction; False when another scan holds it."""
    result = await db.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SCAN_LOCK_KEY})
    return bool(result.scalar_one())


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


# --- scanner's view of one library ----------------------------------------------------------


async def library_tracks(db: AsyncSession, library_uuid: UUID) -> list[Track]:
    return list((await db.execute(select(Track).where(col(Track.library_uuid) == library_uuid))).scalars())


async def library_albums(db: AsyncSession, library_uuid: UUID) -> list[Album]:
    return list((await db.execute(select(Album).where(col(Album.library_uuid) == library_uuid))).scalars())


async def delete_empty_albums(db: AsyncSession, library_uuid: UUID) -> int:
    """Albums left with no track at all (every track retagged elsewhere) disappear."""
    has_tracks = exists().where(col(Track.album_uuid) == col(Album.album_uuid))
    result = await db.execute(
        delete(Album)
        .where(col(Album.library_uuid) == library_uuid, ~has_tracks)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def count_unavailable(db: AsyncSession, library_uuid: UUID) -> int:
    result = await db.execute(
        select(func.count())
        .select_from(Track)
        .where(col(Track.library_uuid) == library_uuid, col(Track.available).is_(False))
    )
    return int(result.scalar_one())


# --- what a user sees -----------------------------------------------------------------------

# Disc then track order; a missing disc counts as disc 1, a missing track number sorts last.
_TRACK_IN_ALBUM_ORDER = (
    func.coalesce(col(Track.disc_number), 1),
    col(Track.track_number).asc().nulls_last(),
    func.lower(col(Track.title)),
    col(Track.rel_path),
    col(Track.track_uuid),
)


def _track_filters(user_uuid: UUID, q: str) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = [col(Track.library_uuid).in_(_granted_libraries(user_uuid))]
    if q:
        filters.append(
            or_(
                _contains(Track.title, q),
                _contains(Track.artist, q),
                _contains(Track.album_title, q),
                _contains(Track.album_artist, q),
            )
        )
    return filters


async def search_tracks(
    db: AsyncSession, user_uuid: UUID, q: str, limit: int, offset: int
) -> tuple[list[Track], int]:
    """One page of the user's tracks matching ``q`` (all when empty), and the total."""
    filters = _track_filters(user_uuid, q)
    total = (await db.execute(select(func.count()).select_from(Track).where(*filters))).scalar_one()
    page = await db.execute(
        select(Track)
        .where(*filters)
        .order_by(
            func.lower(col(Track.album_artist)), func.lower(col(Track.album_title)), *_TRACK_IN_ALBUM_ORDER
        )
        .limit(limit)
        .offset(offset)
    )
    return list(page.scalars()), int(total)


def _album_track_counts() -> Select[UUID | None, int]:
    return sa_select(col(Track.album_uuid), func.count().label("track_count")).group_by(col(Track.album_uuid))


async def search_albums(
    db: AsyncSession, user_uuid: UUID, q: str, limit: int, offset: int
) -> tuple[list[tuple[Album, int]], int]:
    """One page of the user's albums (with their track counts) matching ``q``, and the total."""
    counts = _album_track_counts().subquery()
    filters: list[ColumnElement[bool]] = [col(Album.library_uuid).in_(_granted_libraries(user_uuid))]
    if q:
        filters.append(or_(_contains(Album.title, q), _contains(Album.artist, q)))
    base = select(Album, counts.c.track_count).join(counts, counts.c.album_uuid == col(Album.album_uuid))
    total = (await db.execute(select(func.count()).select_from(base.where(*filters).subquery()))).scalar_one()
    page = await db.execute(
        base.where(*filters)
        .order_by(func.lower(col(Album.artist)), func.lower(col(Album.title)), col(Album.album_uuid))
        .limit(limit)
        .offset(offset)
    )
    return [(album, int(count)) for album, count in page.tuples()], int(total)


async def visible_album(db: AsyncSession, user_uuid: UUID, album_uuid: UUID) -> tuple[Album, int] | None:
    counts = _album_track_counts().where(col(Track.album_uuid) == album_uuid).subquery()
    row = (
        await db.execute(
            select(Album, counts.c.track_count)
            .join(counts, counts.c.album_uuid == col(Album.album_uuid))
            .where(
                col(Album.album_uuid) == album_uuid,
                col(Album.library_uuid).in_(_granted_libraries(user_uuid)),
            )
        )
    ).first()
    return (row[0], int(row[1])) if row is not None else None


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
            col(Track.track_uuid).in_(set(track_uuids)),
            col(Track.library_uuid).in_(_granted_libraries(user_uuid)),
        )
    )
    return {track.track_uuid: track for track in rows.scalars()}


async def album_tracks_for_user(db: AsyncSession, user_uuid: UUID, album_uuid: UUID) -> list[Track] | None:
    """The album's tracks in disc, track order; None when the album is not visible to the user."""
    album = (
        await db.execute(
            select(col(Album.album_uuid)).where(
                col(Album.album_uuid) == album_uuid,
                col(Album.library_uuid).in_(_granted_libraries(user_uuid)),
            )
        )
    ).scalar_one_or_none()
    if album is None:
        return None
    rows = await db.execute(
        select(Track).where(col(Track.album_uuid) == album_uuid).order_by(*_TRACK_IN_ALBUM_ORDER)
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
    )


async def track_public(db: AsyncSession, user_uuid: UUID, tracks: Sequence[Track]) -> list[TrackPublic]:
    """The public shape of ``tracks`` (same order) with ``liked`` filled in one query."""
    liked = await liked_track_uuids(db, user_uuid, [t.track_uuid for t in tracks])
    return [to_public(track, track.track_uuid in liked) for track in tracks]
