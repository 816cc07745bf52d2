"""Device rules. A device's uuid is chosen by the client and kept; it belongs to one user.

Registering or forgetting a device changes the user's device list, which other screens show
and the gateway checks, so it runs as a session command (one revision, one "speaker" message).
Heartbeats only move ``last_seen`` (or, ``leaving``, mark when the device said it goes): presence
is computed, never published. A device that comes back from offline first has its absence
settled (a session it played on was paused, and stays paused: it does not resume by itself).
"""

from __future__ import annotations

from uuid import UUID, uuid4

from sqlalchemy import text

from us_common.errors import Conflict
from us_common.timeline import PlayState
from us_control.db import db_now_ms
from us_control.devices.ownership import owned_device
from us_control.models import Device
from us_control.playback import repository as repo
from us_control.playback import rules
from us_control.playback.commands import settle_only
from us_control.playback.editor import SessionEditor, presence_rule
from us_control.playback.runner import run_command
from us_control.playback.schemas import DevicePublic, DeviceRegisterIn
from us_control.settings import ControlSettings
from us_control.uow import UnitOfWork


def is_online(device: Device, now_ms: int, settings: ControlSettings) -> bool:
    return presence_rule(settings).online(repo.epoch_ms(device.last_seen), repo.epoch_ms(device.left_at), now_ms)


def device_public(
    device: Device, now_ms: int, active: UUID | None, settings: ControlSettings
) -> DevicePublic:
    return DevicePublic(
        device_uuid=device.device_uuid,
        device_name=device.device_name,
        device_platform=device.device_platform,
        last_seen=device.last_seen,
        online=is_online(device, now_ms, settings),
        is_active=device.device_uuid == active,
        created_at=device.created_at,
    )


async def register(editor: SessionEditor, body: DeviceRegisterIn) -> Device:
    db, user_uuid = editor.db, editor.state.user_uuid
    device_uuid = body.device_uuid or uuid4()
    inserted = await db.execute(
        text(
            "INSERT INTO device (device_uuid, user_uuid, device_name, device_platform) "
            "VALUES (:d, :u, :n, :p) ON CONFLICT (device_uuid) DO NOTHING RETURNING device_uuid"
        ),
        {"d": device_uuid, "u": user_uuid, "n": body.device_name, "p": body.device_platform},
    )
    created = inserted.first() is not None
    device = await db.get(Device, device_uuid, populate_existing=True)
    if device is None or device.user_uuid != user_uuid:
        raise Conflict("this device_uuid is taken")
    if created:
        editor.mark("speaker", parts_stale=True)
    elif (device.device_name, device.device_platform) != (body.device_name, body.device_platform):
        device.device_name = body.device_name
        device.device_platform = body.device_platform
        editor.mark("speaker")
    await repo.touch_device(db, device_uuid)
    await db.flush()
    await db.refresh(device)
    return device


async def forget(editor: SessionEditor, device_uuid: UUID) -> None:
    state = editor.state
    device = await owned_device(editor.db, state.user_uuid, device_uuid)
    if state.active_device_uuid == device_uuid:
        # The speaker is gone: pause where it was, and revoke its media tokens.
        state.active_device_uuid = None
        state.media_epoch += 1
        if state.play_state == PlayState.PLAYING:
            editor.set_timeline(rules.pause(editor.timeline, editor.now_ms))
    await editor.db.delete(device)
    await editor.db.flush()
    editor.mark("speaker", parts_stale=True)


async def heartbeat(
    uow: UnitOfWork, settings: ControlSettings, user_uuid: UUID, device_uuid: UUID, leaving: bool
) -> DevicePublic:
    db = uow.db
    device = await owned_device(db, user_uuid, device_uuid)
    # One clock read: the touch below stamps the transaction's start, never later than `now`.
    now = await db_now_ms(db)
    if not is_online(device, now, settings):
        await run_command(uow, settings, user_uuid, settle_only)
    if leaving:
        await repo.mark_leaving(db, device_uuid)
    else:
        await repo.touch_device(db, device_uuid)
    await db.refresh(device)
    session = await repo.read_session(db, user_uuid)
    active = session.active_device_uuid if session else None
    return device_public(device, now, active, settings)
