"""Browsing the catalog as one user: pages of tracks and albums, one album, one track, a cover.

Whatever the user was not granted does not exist here (``NotFound``, absent from pages).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import anyio.to_thread
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from us_common.errors import NotFound
from us_common.timeline import TrackPublic
from us_control.library import repository as repo
from us_control.library.paths import track_file
from us_control.library.schemas import AlbumDetail, AlbumPublic, Page
from us_control.library.tags import Cover, UnreadableFile, read_cover
from us_control.models import Album

log = structlog.get_logger(__name__)


def normalize_query(q: str) -> str:
    """Trimmed, inner whitespace collapsed, control characters (Postgres refuses NUL) dropped."""
    return " ".join("".join(ch for ch in q if ch.isprintable() or ch.isspace()).split())


def album_public(album: Album, track_count: int) -> AlbumPublic:
    return AlbumPublic(
        album_uuid=album.album_uuid,
        title=album.title,
        artist=album.artist,
        year=album.year,
        track_count=track_count,
    )


async def browse_tracks(
    db: AsyncSession, user_uuid: UUID, q: str, limit: int, offset: int
) -> Page[TrackPublic]:
    tracks, total = await repo.search_tracks(db, user_uuid, normalize_query(q), limit, offset)
    items = await repo.track_public(db, user_uuid, tracks)
    return Page[TrackPublic](items=items, total=total, limit=limit, offset=offset)


async def browse_albums(
    db: AsyncSession, user_uuid: UUID, q: str, limit: int, offset: int
) -> Page[AlbumPublic]:
    rows, total = await repo.search_albums(db, user_uuid, normalize_query(q), limit, offset)
    items = [album_public(album, count) for album, count in rows]
    return Page[AlbumPublic](items=items, total=total, limit=limit, offset=offset)


async def album_detail(db: AsyncSession, user_uuid: UUID, album_uuid: UUID) -> AlbumDetail:
    found = await repo.visible_album(db, user_uuid, album_uuid)
    tracks = await repo.album_tracks_for_user(db, user_uuid, album_uuid) if found else None
    if found is None or tracks is None:
        raise NotFound("album not found")
    album, track_count = found
    return AlbumDetail(
        **album_public(album, track_count).model_dump(),
        tracks=await repo.track_public(db, user_uuid, tracks),
    )


async def track_detail(db: AsyncSession, user_uuid: UUID, track_uuid: UUID) -> TrackPublic:
    track = await repo.visible_track(db, user_uuid, track_uuid)
    if track is None:
        raise NotFound("track not found")
    return (await repo.track_public(db, user_uuid, [track]))[0]


@dataclass(frozen=True, slots=True)
class CoverImage:
    data: bytes
    mime: str
    etag: str


def _load_cover(music_root: Path, rel_path: str) -> Cover | None:
    path = track_file(music_root, rel_path)
    if path is None:
        return None
    return read_cover(path, rel_path)


async def track_cover(db: AsyncSession, user_uuid: UUID, track_uuid: UUID, music_root: Path) -> CoverImage:
    """The embedded picture of a visible track; ``NotFound`` when there is none to send."""
    track = await repo.visible_track(db, user_uuid, track_uuid)
    if track is None:
        raise NotFound("track not found")
    if not (track.has_cover and track.available):
        raise NotFound("this track has no cover")
    try:
        cover = await anyio.to_thread.run_sync(_load_cover, music_root, track.rel_path)
    except UnreadableFile as exc:
        # The reason may name the file; service logs carry no paths, only the error's kind.
        log.warning("cover_unreadable", track_uuid=str(track_uuid), error_type=type(exc.__cause__).__name__)
        cover = None
    if cover is None:
        raise NotFound("this track has no cover")
    etag = '"' + hashlib.sha256(cover.data).hexdigest()[:32] + '"'
    return CoverImage(data=cover.data, mime=cover.mime, etag=etag)
