"""Public shapes of the catalog (DESIGN.md, "Shapes"). Tracks use ``us_common.timeline.TrackPublic``."""

from __future__ import annotations

from typing import Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel

from us_common.timeline import TrackPublic

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """Every list: one page of items, the total matching, and the page's window."""

    items: list[ItemT]
    total: int
    limit: int
    offset: int


class AlbumPublic(BaseModel):
    album_uuid: UUID
    title: str
    artist: str  # the album artist
    year: int | None
    track_count: int


class AlbumDetail(AlbumPublic):
    tracks: list[TrackPublic]
