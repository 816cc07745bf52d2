"""``/artists``: album artists in sort-name order or searched, one artist with their albums."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from us_control.api.routers.catalog_params import NOT_FOUND, SearchQuery
from us_control.deps import CurrentUser, Limit, Offset, UowDep
from us_control.library import service
from us_control.library.schemas import ArtistDetail, ArtistPublic, Page

router = APIRouter(tags=["artists"])


@router.get("/artists", responses={401: {}, 422: {}})
async def list_artists(
    user: CurrentUser, uow: UowDep, q: SearchQuery = "", limit: Limit = 50, offset: Offset = 0
) -> Page[ArtistPublic]:
    return await service.browse_artists(uow.db, user.user_uuid, q, limit, offset)


@router.get("/artists/{artist_uuid}", responses={401: {}, **NOT_FOUND})
async def get_artist(artist_uuid: UUID, user: CurrentUser, uow: UowDep) -> ArtistDetail:
    return await service.artist_detail(uow.db, user.user_uuid, artist_uuid)
