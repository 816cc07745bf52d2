"""``/sessions``: the snapshot, the speaker, and every playback command.

Each POST runs one command of ``playback.commands`` through ``playback.runner.run_command`` in
the request's unit of work and returns the snapshot after the change (one revision, one message).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response

from us_common.errors import NotFound
from us_common.timeline import SessionSnapshot
from us_control.deps import CurrentUser, SettingsDep, UowDep, rate_limited
from us_control.library.repository import accessible_tracks
from us_control.models import Track
from us_control.playback import commands
from us_control.playback.editor import Apply, Sender
from us_control.playback.runner import read_snapshot, run_command, run_command_json
from us_control.playback.schemas import (
    CommandIn,
    EndedIn,
    FailedIn,
    OptionsIn,
    PlayIn,
    SeekIn,
    SpeakerIn,
    VolumeIn,
)

router = APIRouter(prefix="/sessions", tags=["sessions"])
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "not authenticated"},
    404: {"description": "no such session or device (of this user)"},
    409: {"description": "not possible in the current state"},
    422: {"description": "invalid body"},
    429: {"description": "rate limited"},
}
Limited = Depends(rate_limited("commands"))


class CommandRunner:
    """What every command route needs: the user, the unit of work, the settings."""

    def __init__(self, user: CurrentUser, uow: UowDep, settings: SettingsDep) -> None:
        self.user, self.uow, self.settings = user, uow, settings

    async def __call__(self, session_uuid: UUID, body: CommandIn | None, apply: Apply) -> Response:
        body = body or CommandIn()
        sender = Sender(client_event_uuid=body.client_event_uuid, device_uuid=body.device_uuid)
        _, snapshot_json = await run_command_json(
            self.uow, self.settings, self.user.user_uuid, apply, session_uuid=session_uuid, sender=sender
        )
        # Already a SessionSnapshot's JSON: no second validation and serialisation by FastAPI.
        return Response(snapshot_json, media_type="application/json")


async def command_runner(user: CurrentUser, uow: UowDep, settings: SettingsDep) -> CommandRunner:
    # An async dependency: a class used as one directly would be built in the threadpool.
    return CommandRunner(user, uow, settings)


Run = Annotated[CommandRunner, Depends(command_runner)]


@router.get("/{user_uuid}", responses=_ERRORS)
async def get_session(
    user_uuid: UUID, user: CurrentUser, uow: UowDep, settings: SettingsDep
) -> SessionSnapshot:
    if user_uuid != user.user_uuid:
        raise NotFound("session not found")
    snapshot, _ = await read_snapshot(uow.db, settings, user.user_uuid)
    return snapshot


@router.post("/{user_uuid}/speaker", responses=_ERRORS, dependencies=[Limited])
async def choose_speaker(
    user_uuid: UUID, body: SpeakerIn, user: CurrentUser, uow: UowDep, settings: SettingsDep
) -> SessionSnapshot:
    if user_uuid != user.user_uuid:
        raise NotFound("session not found")
    # Addressed by user, not session; the device named is the new speaker, not the sender.
    sender = Sender(client_event_uuid=body.client_event_uuid)
    return await run_command(
        uow, settings, user.user_uuid, lambda e: commands.set_speaker(e, body.device_uuid), sender=sender
    )


@router.post(
    "/{session_uuid}/play", response_model=SessionSnapshot, responses=_ERRORS, dependencies=[Limited]
)
async def play(session_uuid: UUID, body: PlayIn, run: Run) -> Response:
    async def resolve_track(track_uuid: UUID) -> Track:
        found = await accessible_tracks(run.uow.db, run.user.user_uuid, [track_uuid])
        if track_uuid not in found:
            raise NotFound("track not found")
        return found[track_uuid]

    return await run(
        session_uuid,
        body,
        lambda e: commands.play(
            e,
            track_uuid=body.track_uuid,
            item_uuid=body.item_uuid,
            position_ms=body.position_ms,
            device_uuid=body.device_uuid,
            resolve_track=resolve_track,
        ),
    )


@router.post(
    "/{session_uuid}/pause", response_model=SessionSnapshot, responses=_ERRORS, dependencies=[Limited]
)
async def pause(session_uuid: UUID, run: Run, body: CommandIn | None = None) -> Response:
    return await run(session_uuid, body, commands.pause)


@router.post(
    "/{session_uuid}/toggle", response_model=SessionSnapshot, responses=_ERRORS, dependencies=[Limited]
)
async def toggle(session_uuid: UUID, run: Run, body: CommandIn | None = None) -> Response:
    device = body.device_uuid if body else None
    return await run(session_uuid, body, lambda e: commands.toggle(e, device))


@router.post(
    "/{session_uuid}/seek", response_model=SessionSnapshot, responses=_ERRORS, dependencies=[Limited]
)
async def seek(session_uuid: UUID, body: SeekIn, run: Run) -> Response:
    return await run(session_uuid, body, lambda e: commands.seek(e, body.position_ms))


@router.post(
    "/{session_uuid}/next", response_model=SessionSnapshot, responses=_ERRORS, dependencies=[Limited]
)
async def next_track(session_uuid: UUID, run: Run, body: CommandIn | None = None) -> Response:
    return await run(session_uuid, body, commands.skip_next)


@router.post(
    "/{session_uuid}/prev", response_model=SessionSnapshot, responses=_ERRORS, dependencies=[Limited]
)
async def prev_track(session_uuid: UUID, run: Run, body: CommandIn | None = None) -> Response:
    return await run(session_uuid, body, commands.skip_prev)


@router.post(
    "/{session_uuid}/options", response_model=SessionSnapshot, responses=_ERRORS, dependencies=[Limited]
)
async def options(session_uuid: UUID, body: OptionsIn, run: Run) -> Response:
    return await run(session_uuid, body, lambda e: commands.set_options(e, body.shuffle, body.repeat_mode))


@router.post(
    "/{session_uuid}/volume", response_model=SessionSnapshot, responses=_ERRORS, dependencies=[Limited]
)
async def volume(session_uuid: UUID, body: VolumeIn, run: Run) -> Response:
    return await run(session_uuid, body, lambda e: commands.set_volume(e, body.volume_percent))


@router.post(
    "/{session_uuid}/ended", response_model=SessionSnapshot, responses=_ERRORS, dependencies=[Limited]
)
async def ended(session_uuid: UUID, body: EndedIn, run: Run) -> Response:
    return await run(session_uuid, body, lambda e: commands.ended(e, body.track_uuid, body.device_uuid))


@router.post(
    "/{session_uuid}/failed", response_model=SessionSnapshot, responses=_ERRORS, dependencies=[Limited]
)
async def failed(session_uuid: UUID, body: FailedIn, run: Run) -> Response:
    """The active speaker cannot play the current track: mark it failed and move on."""
    return await run(
        session_uuid, body, lambda e: commands.failed(e, body.track_uuid, body.device_uuid, body.reason)
    )
