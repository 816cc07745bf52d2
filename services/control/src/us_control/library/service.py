"""Browsing and searching the catalog as one user: pages of tracks, albums, artists and genres,
one item, grouped search results, the scan status, the cover check.

Whatever the user was not granted does not exist here (``NotFound``, absent from pages).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from us_common.errors import NotFound
from us_common.timeline import TrackPublic
from us_control.library import repository as repo
from us_control.library import search
from us_control.library.covers import cover_url
from us_control.library.folding import fold
from us_control.library.page_marks import TrackPageMarks
from us_control.library.schemas import (
    AlbumDetail,
    AlbumPublic,
    ArtistDetail,
    ArtistPublic,
    GenrePublic,
    LibraryStatus,
    Page,
    SearchGroup,
    SearchResults,
)
from us_control.models import Album, Artist


def normalize_query(q: str) -> str:
    """Trimmed, inner whitespace collapsed, control characters (Postgres refuses NUL) dropped."""
    return " ".join("".join(ch for ch in q if ch.isprintable() or ch.isspace()).split())


def is_browse(q: str) -> bool:
    """Only a blank ``q`` browses: one of nothing but control characters or punctuation is a
    search, which matches nothing (never everything)."""
    return not q.strip()


def album_public(album: Album) -> AlbumPublic:
    return AlbumPublic(
        album_uuid=album.album_uuid,
        title=album.title,
        artist=album.artist,
        artist_uuid=album.artist_uuid,
        year=album.year,
        genre=album.genre,
        track_count=album.track_count,
        added_at=album.created_at,
        cover_url=cover_url(album.cover_key),
    )


def artist_public(artist: Artist, album_count: int) -> ArtistPublic:
    return ArtistPublic(
        artist_uuid=artist.artist_uuid, name=artist.name, sort_name=artist.sort_name, album_count=album_count
    )


async def _hits(
    db: AsyncSession,
    target: search.Searchable,
    user_uuid: UUID,
    text: str,
    limit: int,
    offset: int,
    where: Sequence[ColumnElement[bool]] = (),
) -> search.Hits:
    query = search.Query.parse(text)
    if query is None:  # only punctuation: no word to match, and never a wildcard
        return search.Hits([], 0, capped=False)
    return await search.search(db, target, user_uuid, query, limit, offset, where)


# --- tracks ----------------------------------------------------------------------------------


async def browse_tracks(
    db: AsyncSession, user_uuid: UUID, q: str, limit: int, offset: int, marks: TrackPageMarks
) -> Page[TrackPublic]:
    if is_browse(q):
        tracks, total = await repo.page_tracks(db, user_uuid, marks, limit, offset)
        capped = False
    else:
        hits = await _hits(db, search.TRACKS, user_uuid, normalize_query(q), limit, offset)
        tracks, total, capped = await repo.tracks_in_order(db, hits.uuids), hits.total, hits.capped
    items = await repo.track_public(db, user_uuid, tracks)
    return Page[TrackPublic](items=items, total=total, limit=limit, offset=offset, total_capped=capped)


async def track_detail(db: AsyncSession, user_uuid: UUID, track_uuid: UUID) -> TrackPublic:
    track = await repo.visible_track(db, user_uuid, track_uuid)
    if track is None:
        raise NotFound("track not found")
    return (await repo.track_public(db, user_uuid, [track]))[0]


async def track_cover_url(db: AsyncSession, user_uuid: UUID, track_uuid: UUID) -> str:
    """Where the cover of a visible track's album is served; ``NotFound`` when it has none."""
    track = await repo.visible_track(db, user_uuid, track_uuid)
    if track is None:
        raise NotFound("track not found")
    url = cover_url(track.cover_key)
    if url is None:
        raise NotFound("this track has no cover")
    return url


# --- albums ----------------------------------------------------------------------------------


async def browse_albums(
    db: AsyncSession,
    user_uuid: UUID,
    q: str,
    sort: repo.AlbumSort,
    genre: str | None,
    year: int | None,
    limit: int,
    offset: int,
) -> Page[AlbumPublic]:
    if is_browse(q):
        albums, total = await repo.page_albums(db, user_uuid, sort, genre, year, limit, offset)
        capped = False
    else:
        # Ranked: `sort` does not apply, the genre and year filters do.
        hits = await _hits(
            db, search.ALBUMS, user_uuid, normalize_query(q), limit, offset, repo.album_filters(genre, year)
        )
        albums, total, capped = await repo.albums_in_order(db, hits.uuids), hits.total, hits.capped
    items = [album_public(album) for album in albums]
    return Page[AlbumPublic](items=items, total=total, limit=limit, offset=offset, total_capped=capped)


async def album_detail(db: AsyncSession, user_uuid: UUID, album_uuid: UUID) -> AlbumDetail:
    album = await repo.visible_album(db, user_uuid, album_uuid)
    tracks = await repo.album_tracks_for_user(db, user_uuid, album_uuid) if album else None
    if album is None or tracks is None:
        raise NotFound("album not found")
    return AlbumDetail(
        **album_public(album).model_dump(), tracks=await repo.track_public(db, user_uuid, tracks)
    )


# --- artists ---------------------------------------------------------------------------------


async def browse_artists(
    db: AsyncSession, user_uuid: UUID, q: str, limit: int, offset: int
) -> Page[ArtistPublic]:
    if is_browse(q):
        rows, total = await repo.page_artists(db, user_uuid, limit, offset)
        capped = False
    else:
        hits = await _hits(db, search.ARTISTS, user_uuid, normalize_query(q), limit, offset)
        rows, total, capped = (
            await repo.artists_with_counts(db, user_uuid, hits.uuids),
            hits.total,
            hits.capped,
        )
    items = [artist_public(artist, count) for artist, count in rows]
    return Page[ArtistPublic](items=items, total=total, limit=limit, offset=offset, total_capped=capped)


async def artist_detail(db: AsyncSession, user_uuid: UUID, artist_uuid: UUID) -> ArtistDetail:
    albums = await repo.artist_albums(db, user_uuid, artist_uuid)
    found = await repo.artists_with_counts(db, user_uuid, [artist_uuid]) if albums else []
    if not found:
        raise NotFound("artist not found")
    artist, count = found[0]
    return ArtistDetail(**artist_public(artist, count).model_dump(), albums=[album_public(a) for a in albums])


# --- genres, grouped search, status ----------------------------------------------------------


async def browse_genres(db: AsyncSession, user_uuid: UUID, limit: int, offset: int) -> Page[GenrePublic]:
    # A few hundred genres at most: sorted here, by the same folding as everything else.
    rows = sorted(await repo.genres(db, user_uuid), key=lambda row: (fold(row[0]), row[0]))
    items = [GenrePublic(name=n, album_count=a, track_count=t) for n, a, t in rows[offset : offset + limit]]
    return Page[GenrePublic](items=items, total=len(rows), limit=limit, offset=offset)


async def search_all(
    db: AsyncSession, user_uuid: UUID, q: str, limit: int, marks: TrackPageMarks
) -> SearchResults:
    """Top artists, albums and tracks for ``q`` (an empty q browses: the first of each list)."""
    artists = await browse_artists(db, user_uuid, q, limit, 0)
    albums = await browse_albums(db, user_uuid, q, "name", None, None, limit, 0)
    tracks = await browse_tracks(db, user_uuid, q, limit, 0, marks)
    return SearchResults(
        artists=SearchGroup[ArtistPublic](
            items=artists.items, total=artists.total, total_capped=artists.total_capped
        ),
        albums=SearchGroup[AlbumPublic](
            items=albums.items, total=albums.total, total_capped=albums.total_capped
        ),
        tracks=SearchGroup[TrackPublic](
            items=tracks.items, total=tracks.total, total_capped=tracks.total_capped
        ),
    )


async def library_status(db: AsyncSession, user_uuid: UUID) -> LibraryStatus:
    status = await repo.scan_status(db, user_uuid)
    return LibraryStatus(
        scanning=status.scanning,
        done=status.done,
        total=status.total,
        last_scan_at=status.last_scan_at,
        errors=status.errors,
    )


async def cover_allowed(db: AsyncSession, user_uuid: UUID, key: str) -> bool:
    return await repo.cover_visible(db, user_uuid, key)
