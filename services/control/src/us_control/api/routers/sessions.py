"""``/sessions``: the snapshot, the speaker, and every playback command.

Each POST runs one command through ``playback.service.run_command`` in the request's unit of
work and returns the snapshot after the change (one revision, one message).
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends

from us_common.errors import NotFound
from us_common.timeline import SessionSnapshot
from us_control.deps import CurrentUser, SettingsDep, UowDep, rate_limited
from us_control.library.repository import accessible_tracks
from us_control.models import Track
from us_control.playback import service
from us_control.playback.schemas import CommandIn, EndedIn, OptionsIn, PlayIn, SeekIn, SpeakerIn, VolumeIn
from us_control.playback.service import Sender, SessionEditor

router = APIRouter(prefix="/sessions", tags=["sessions"])
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "not authenticated"},
    404: {"description": "no such session or device (of this user)"},
    409: {"description": "not possible in the current state"},
    422: {"description": "invalid body"},
    429: {"description": "rate limited"},
}
Limited = Depends(rate_limited("commands"))


def _sender(body: CommandIn) -> Sender:
    return Sender(client_event_uuid=body.client_event_uuid, device_uuid=body.device_uuid)


@router.get("/{user_uuid}", responses=_ERRORS)
async def get_session(
    user_uuid: UUID, user: CurrentUser, uow: UowDep, settings: SettingsDep
) -> SessionSnapshot:
    if user_uuid != user.user_uuid:
        raise NotFound("session not found")
    snapshot, _ = await service.read_snapshot(uow.db, settings, user.user_uuid)
    return snapshot


@router.post("/{user_uuid}/speaker", responses=_ERRORS, dependencies=[Limited])
async def choose_speaker(
    user_uuid: UUID, body: SpeakerIn, user: CurrentUser, uow: UowDep, settings: SettingsDep
) -> SessionSnapshot:
    if user_uuid != user.user_uuid:
        raise NotFound("session not found")

    async def apply(editor: SessionEditor) -> None:
        await service.set_speaker(editor, body.device_uuid)

    sender = Sender(client_event_uuid=body.client_event_uuid)
    return await service.run_command(uow, settings, user.user_uuid, apply, sender=sender)


@router.post("/{session_uuid}/play", responses=_ERRORS, dependencies=[Limited])
async def play(
    session_uuid: UUID, body: PlayIn, user: CurrentUser, uow: UowDep, settings: SettingsDep
) -> SessionSnapshot:
    async def resolve_track(track_uuid: UUID) -> Track:
        found = await accessible_tracks(uow.db, user.user_uuid, [track_uuid])
        if track_uuid not in found:
            raise NotFound("track not found")
        return found[track_uuid]

    async def apply(editor: SessionEditor) -> None:
        await service.play(
            editor,
            track_uuid=body.track_uuid,
            item_uuid=body.item_uuid,
            position_ms=body.position_ms,
            device_uuid=body.device_uuid,
            resolve_track=resolve_track,
        )

    return await service.run_command(
        uow, settings, user.user_uuid, apply, session_uuid=session_uuid, sender=_sender(body)
    )


async def _simple(
    session_uuid: UUID,
    body: CommandIn,
    user: CurrentUser,
    uow: UowDep,
    settings: SettingsDep,
    apply: service.Apply,
) -> SessionSnapshot:
    return await service.run_command(
        uow, settings, user.user_uuid, apply, session_uuid=session_uuid, sender=_sender(body)
    )


@router.post("/{session_uuid}/pause", responses=_ERRORS, dependencies=[Limited])
async def pause(
    session_uuid: UUID, user: CurrentUser, uow: UowDep, settings: SettingsDep, body: CommandIn | None = None
) -> SessionSnapshot:
    return await _simple(session_uuid, body or CommandIn(), user, uow, settings, service.pause)


@router.post("/{session_uuid}/toggle", responses=_ERRORS, dependencies=[Limited])
async def toggle(
    session_uuid: UUID, user: CurrentUser, uow: UowDep, settings: SettingsDep, body: CommandIn | None = None
) -> SessionSnapshot:
    body = body or CommandIn()
    device = body.device_uuid

    async def apply(editor: SessionEditor) -> None:
        await service.toggle(editor, device)

    return await _simple(session_uuid, body, user, uow, settings, apply)


@router.post("/{session_uuid}/seek", responses=_ERRORS, dependencies=[Limited])
async def seek(
    session_uuid: UUID, body: SeekIn, user: CurrentUser, uow: UowDep, settings: SettingsDep
) -> SessionSnapshot:
    async def apply(editor: SessionEditor) -> None:
        await service.seek(editor, body.position_ms)

    return await _simple(session_uuid, body, user, uow, settings, apply)


@router.post("/{session_uuid}/next", responses=_ERRORS, dependencies=[Limited])
async def next_track(
    session_uuid: UUID, user: CurrentUser, uow: UowDep, settings: SettingsDep, body: CommandIn | None = None
) -> SessionSnapshot:
    return await _simple(session_uuid, body or CommandIn(), user, uow, settings, service.skip_next)


@router.post("/{session_uuid}/prev", responses=_ERRORS, dependencies=[Limited])
async def prev_track(
    session_uuid: UUID, user: CurrentUser, uow: UowDep, settings: SettingsDep, body: CommandIn | None = None
) -> SessionSnapshot:
    return await _simple(session_uuid, body or CommandIn(), user, uow, settings, service.skip_prev)


@router.post("/{session_uuid}/options", responses=_ERRORS, dependencies=[Limited])
async def options(
    session_uuid: UUID, body: OptionsIn, user: CurrentUser, uow: UowDep, settings: SettingsDep
) -> SessionSnapshot:
    async def apply(editor: SessionEditor) -> None:
        await service.set_options(editor, body.shuffle, body.repeat_mode)

    return await _simple(session_uuid, body, user, uow, settings, apply)


@router.post("/{session_uuid}/volume", responses=_ERRORS, dependencies=[Limited])
async def volume(
    session_uuid: UUID, body: VolumeIn, user: CurrentUser, uow: UowDep, settings: SettingsDep
) -> SessionSnapshot:
    async def apply(editor: SessionEditor) -> None:
        await service.set_volume(editor, body.volume_percent)

    return await _simple(session_uuid, body, user, uow, settings, apply)


@router.post("/{session_uuid}/ended", responses=_ERRORS, dependencies=[Limited])
async def ended(
    session_uuid: UUID, body: EndedIn, user: CurrentUser, uow: UowDep, settings: SettingsDep
) -> SessionSnapshot:
    async def apply(editor: SessionEditor) -> None:
        await service.ended(editor, body.track_uuid, body.device_uuid)

    return await _simple(session_uuid, body, user, uow, settings, apply)
