"""``/queue``: enqueue (tracks or an album, all-or-nothing), list, remove, move, clear.

Every change is one revision and one "queue" message; each answers with the queue's first page.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession

from us_common.errors import NotFound, Unprocessable
from us_control.deps import CurrentUser, Limit, Offset, SettingsDep, UowDep, rate_limited
from us_control.library.repository import accessible_tracks, album_tracks_for_user, track_public
from us_control.playback import queue_edits
from us_control.playback import repository as repo
from us_control.playback.editor import Apply, Sender
from us_control.playback.runner import run_command
from us_control.playback.schemas import CommandIn, EnqueueIn, MoveIn, QueueItemPublic, QueuePage

router = APIRouter(prefix="/queue", tags=["queue"])
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "not authenticated"},
    404: {"description": "no such track, album or queue item (of this user)"},
    422: {"description": "invalid body, or a track that cannot be played"},
    429: {"description": "rate limited"},
}
Limited = Depends(rate_limited("queue"))
FIRST_PAGE = 50


async def queue_page(db: AsyncSession, user_uuid: UUID, limit: int, offset: int, revision: int) -> QueuePage:
    items, total = await repo.page_queue(db, user_uuid, limit, offset)
    session = await repo.read_session(db, user_uuid)
    shuffle = bool(session and session.shuffle)
    tracks = await repo.tracks_by_uuid(db, [i.track_uuid for i in items])
    public = {t.track_uuid: t for t in await track_public(db, user_uuid, list(tracks.values()))}
    return QueuePage(
        items=[
            QueueItemPublic(
                item_uuid=i.item_uuid,
                idx=i.idx,
                play_order=i.shuffle_idx if shuffle and i.shuffle_idx is not None else i.idx,
                track_uuid=i.track_uuid,
                status=i.status,
                track=public[i.track_uuid],
            )
            for i in items
        ],
        total=total,
        limit=limit,
        offset=offset,
        revision=revision,
    )


async def _run(
    uow: UowDep, settings: SettingsDep, user: CurrentUser, body: CommandIn, apply: Apply
) -> QueuePage:
    sender = Sender(client_event_uuid=body.client_event_uuid, device_uuid=body.device_uuid)
    snapshot = await run_command(uow, settings, user.user_uuid, apply, sender=sender)
    return await queue_page(uow.db, user.user_uuid, FIRST_PAGE, 0, snapshot.revision)


@router.post("/enqueue", responses=_ERRORS, dependencies=[Limited])
async def enqueue(body: EnqueueIn, user: CurrentUser, uow: UowDep, settings: SettingsDep) -> QueuePage:
    if body.album_uuid is not None:
        album = await album_tracks_for_user(uow.db, user.user_uuid, body.album_uuid)
        if album is None:
            raise NotFound("album not found")
        tracks = album
    else:
        wanted = body.track_uuids or []
        found = await accessible_tracks(uow.db, user.user_uuid, wanted)
        missing = [str(t) for t in wanted if t not in found]
        if missing:
            raise NotFound({"message": "tracks not found", "track_uuids": missing})
        tracks = [found[t] for t in wanted]
    unavailable = [str(t.track_uuid) for t in tracks if not t.available]
    if unavailable:
        raise Unprocessable({"message": "tracks are unavailable (file gone)", "track_uuids": unavailable})
    if not tracks:
        raise Unprocessable("the album has no tracks")

    track_uuids = [t.track_uuid for t in tracks]
    return await _run(
        uow, settings, user, body, lambda e: queue_edits.enqueue(e, track_uuids, body.position, body.replace)
    )


@router.get("", responses=_ERRORS)
async def get_queue(
    user: CurrentUser,
    uow: UowDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> QueuePage:
    session = await repo.read_session(uow.db, user.user_uuid)
    return await queue_page(uow.db, user.user_uuid, limit, offset, session.revision if session else 0)


@router.delete("/items/{item_uuid}", responses=_ERRORS, dependencies=[Limited])
async def remove_item(item_uuid: UUID, user: CurrentUser, uow: UowDep, settings: SettingsDep) -> QueuePage:
    return await _run(uow, settings, user, CommandIn(), lambda e: queue_edits.remove_item(e, item_uuid))


@router.post("/move", responses=_ERRORS, dependencies=[Limited])
async def move_item(body: MoveIn, user: CurrentUser, uow: UowDep, settings: SettingsDep) -> QueuePage:
    return await _run(
        uow, settings, user, body, lambda e: queue_edits.move_item(e, body.item_uuid, body.to_idx)
    )


@router.delete("", responses=_ERRORS, dependencies=[Limited])
async def clear(user: CurrentUser, uow: UowDep, settings: SettingsDep) -> QueuePage:
    return await _run(uow, settings, user, CommandIn(), queue_edits.clear_queue)
