"""``/albums``: browse (sorted, by genre or year) and search albums, one album with its tracks."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from us_control.api.routers.catalog_params import NOT_FOUND, SearchQuery
from us_control.deps import CurrentUser, Limit, Offset, UowDep
from us_control.library import service
from us_control.library.repository import AlbumSort
from us_control.library.schemas import AlbumDetail, AlbumPublic, Page

router = APIRouter(tags=["albums"])

Genre = Annotated[str | None, Query(min_length=1, max_length=200, description="exactly as /genres names it")]
Year = Annotated[int | None, Query(ge=0, le=9999)]


@router.get("/albums", responses={401: {}, 422: {}})
async def list_albums(
    user: CurrentUser,
    uow: UowDep,
    q: SearchQuery = "",
    sort: AlbumSort = "name",
    genre: Genre = None,
    year: Year = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[AlbumPublic]:
    """Without ``q``: in ``sort`` order (name; artist's sort name; year, oldest first; added,
    newest first). With ``q``: best matches first (``sort`` does not apply)."""
    return await service.browse_albums(uow.db, user.user_uuid, q, sort, genre, year, limit, offset)


@router.get("/albums/{album_uuid}", responses={401: {}, **NOT_FOUND})
async def get_album(album_uuid: UUID, user: CurrentUser, uow: UowDep) -> AlbumDetail:
    return await service.album_detail(uow.db, user.user_uuid, album_uuid)
