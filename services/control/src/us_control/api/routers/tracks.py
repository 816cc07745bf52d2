"""Routes of the catalog: ``/tracks``, ``/albums`` (browse, search, one item, a cover)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from us_common.timeline import TrackPublic
from us_control.deps import CurrentUser, Limit, Offset, SettingsDep, UowDep
from us_control.library import service
from us_control.library.schemas import AlbumDetail, AlbumPublic, Page

router = APIRouter(tags=["tracks"])

SearchQuery = Annotated[
    str, Query(max_length=200, description="case-insensitive substring of title, artist or album")
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "not found, or not in a library granted to this user"}
}
COVER_CACHE_CONTROL = "private, max-age=86400"


@router.get("/tracks", responses={401: {}})
async def list_tracks(
    user: CurrentUser, uow: UowDep, q: SearchQuery = "", limit: Limit = 50, offset: Offset = 0
) -> Page[TrackPublic]:
    return await service.browse_tracks(uow.db, user.user_uuid, q, limit, offset)


@router.get("/tracks/{track_uuid}", responses={401: {}, **NOT_FOUND})
async def get_track(track_uuid: UUID, user: CurrentUser, uow: UowDep) -> TrackPublic:
    return await service.track_detail(uow.db, user.user_uuid, track_uuid)


def _etag_matches(if_none_match: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.get(
    "/tracks/{track_uuid}/cover",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}, 304: {}, 401: {}, **NOT_FOUND},
)
async def get_track_cover(
    track_uuid: UUID, request: Request, user: CurrentUser, uow: UowDep, settings: SettingsDep
) -> Response:
    cover = await service.track_cover(uow.db, user.user_uuid, track_uuid, settings.music_root)
    headers = {"Cache-Control": COVER_CACHE_CONTROL, "ETag": cover.etag}
    if _etag_matches(request.headers.get("if-none-match", ""), cover.etag):
        return Response(status_code=304, headers=headers)
    headers["X-Content-Type-Options"] = "nosniff"
    return Response(content=cover.data, media_type=cover.mime, headers=headers)


@router.get("/albums", responses={401: {}})
async def list_albums(
    user: CurrentUser, uow: UowDep, q: SearchQuery = "", limit: Limit = 50, offset: Offset = 0
) -> Page[AlbumPublic]:
    return await service.browse_albums(uow.db, user.user_uuid, q, limit, offset)


@router.get("/albums/{album_uuid}", responses={401: {}, **NOT_FOUND})
async def get_album(album_uuid: UUID, user: CurrentUser, uow: UowDep) -> AlbumDetail:
    return await service.album_detail(uow.db, user.user_uuid, album_uuid)
