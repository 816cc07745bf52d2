"""``/tracks/{track_uuid}/like``, ``/likes`` and ``/listens``."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends

from us_common.errors import NotFound
from us_common.timeline import TrackPublic
from us_control.deps import CurrentUser, Limit, Offset, SettingsDep, UowDep, rate_limited
from us_control.library.repository import accessible_tracks, page_liked_tracks, track_public
from us_control.playback import repository as repo
from us_control.playback.likes import set_like
from us_control.playback.runner import run_command
from us_control.playback.schemas import ListenPage, ListenPublic, TrackPage

router = APIRouter(tags=["likes"])
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "not authenticated"},
    404: {"description": "no such track (for this user)"},
    429: {"description": "rate limited"},
}
Limited = Depends(rate_limited("commands"))


async def _like(
    track_uuid: UUID, liked: bool, user: CurrentUser, uow: UowDep, settings: SettingsDep
) -> TrackPublic:
    found = await accessible_tracks(uow.db, user.user_uuid, [track_uuid])
    if track_uuid not in found:
        raise NotFound("track not found")

    await run_command(uow, settings, user.user_uuid, lambda e: set_like(e, track_uuid, liked))
    return (await track_public(uow.db, user.user_uuid, [found[track_uuid]]))[0]


@router.post("/tracks/{track_uuid}/like", responses=_ERRORS, dependencies=[Limited])
async def like(track_uuid: UUID, user: CurrentUser, uow: UowDep, settings: SettingsDep) -> TrackPublic:
    return await _like(track_uuid, True, user, uow, settings)


@router.delete("/tracks/{track_uuid}/like", responses=_ERRORS, dependencies=[Limited])
async def unlike(track_uuid: UUID, user: CurrentUser, uow: UowDep, settings: SettingsDep) -> TrackPublic:
    return await _like(track_uuid, False, user, uow, settings)


@router.get("/likes", responses=_ERRORS)
async def likes(
    user: CurrentUser,
    uow: UowDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> TrackPage:
    tracks, total = await page_liked_tracks(uow.db, user.user_uuid, limit, offset)
    return TrackPage(
        items=await track_public(uow.db, user.user_uuid, tracks), total=total, limit=limit, offset=offset
    )


@router.get("/listens", responses=_ERRORS)
async def listens(
    user: CurrentUser,
    uow: UowDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ListenPage:
    rows, total = await repo.page_listens(uow.db, user.user_uuid, limit, offset)
    tracks = await repo.tracks_by_uuid(uow.db, [r.track_uuid for r in rows])
    public = {t.track_uuid: t for t in await track_public(uow.db, user.user_uuid, list(tracks.values()))}
    items = [
        ListenPublic(
            listen_uuid=r.listen_uuid,
            track_uuid=r.track_uuid,
            played_ms=r.played_ms,
            listened_at=r.listened_at,
            track=public[r.track_uuid],
        )
        for r in rows
    ]
    return ListenPage(items=items, total=total, limit=limit, offset=offset)
