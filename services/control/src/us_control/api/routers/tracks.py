"""``/tracks``: browse and search tracks, one track, and where its cover is."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from us_common.timeline import TrackPublic
from us_control.api.routers.catalog_params import NOT_FOUND, SearchQuery
from us_control.deps import CurrentUser, Limit, Offset, TrackMarksDep, UowDep
from us_control.library import service
from us_control.library.schemas import Page

router = APIRouter(tags=["tracks"])


@router.get("/tracks", responses={401: {}, 422: {}})
async def list_tracks(
    user: CurrentUser,
    uow: UowDep,
    marks: TrackMarksDep,
    q: SearchQuery = "",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[TrackPublic]:
    return await service.browse_tracks(uow.db, user.user_uuid, q, limit, offset, marks)


@router.get("/tracks/{track_uuid}", responses={401: {}, **NOT_FOUND})
async def get_track(track_uuid: UUID, user: CurrentUser, uow: UowDep) -> TrackPublic:
    return await service.track_detail(uow.db, user.user_uuid, track_uuid)


@router.get(
    "/tracks/{track_uuid}/cover",
    response_class=RedirectResponse,
    status_code=302,
    responses={302: {"description": "to the album's cover_url"}, 401: {}, **NOT_FOUND},
)
async def get_track_cover(track_uuid: UUID, user: CurrentUser, uow: UowDep) -> RedirectResponse:
    """Kept for clients of the first round: covers are served by nginx at the album's cover_url."""
    url = await service.track_cover_url(uow.db, user.user_uuid, track_uuid)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "private, max-age=60"})
