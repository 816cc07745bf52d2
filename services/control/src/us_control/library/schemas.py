"""Public shapes of the catalog (DESIGN.md, "Shapes" and "Search and browse").

Tracks use ``us_common.timeline.TrackPublic`` (the snapshot carries one too).
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel

from us_common.timeline import TrackPublic

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """Every list: one page of items, the total matching, and the page's window.

    With ``q``, ``total`` counts matches up to 1,000; ``total_capped`` says there are more
    (any offset still answers)."""

    items: list[ItemT]
    total: int
    limit: int
    offset: int
    total_capped: bool = False


class AlbumPublic(BaseModel):
    album_uuid: UUID
    title: str
    artist: str  # the album artist
    artist_uuid: UUID | None
    year: int | None
    genre: str | None
    track_count: int
    added_at: datetime
    # Relative URL of the thumbnail (``?size=large``: the big one); null when there is none.
    cover_url: str | None


class AlbumDetail(AlbumPublic):
    tracks: list[TrackPublic]


class ArtistPublic(BaseModel):
    artist_uuid: UUID
    name: str
    sort_name: str
    # Albums of this artist the user can see.
    album_count: int


class ArtistDetail(ArtistPublic):
    albums: list[AlbumPublic]


class GenrePublic(BaseModel):
    name: str
    album_count: int
    track_count: int


class SearchGroup(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    total: int
    total_capped: bool = False


class SearchResults(BaseModel):
    artists: SearchGroup[ArtistPublic]
    albums: SearchGroup[AlbumPublic]
    tracks: SearchGroup[TrackPublic]


class LibraryStatus(BaseModel):
    """The scans of the libraries a user can see (``GET /library/status``)."""

    scanning: bool
    # Files dealt with / found by the running scan (else by the latest one); total is null
    # while the scan is still walking the folders.
    done: int
    total: int | None
    last_scan_at: datetime | None
    # Files skipped by that scan (unreadable, not UTF-8, symlink out of the root, …).
    errors: int
