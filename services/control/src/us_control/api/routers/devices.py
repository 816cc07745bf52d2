"""``/devices``: register, heartbeat, list, forget."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, Response

from us_control.db import db_now_ms
from us_control.deps import CurrentUser, Limit, Offset, SettingsDep, UowDep, rate_limited
from us_control.devices import service as devices
from us_control.models import Device
from us_control.playback import repository as repo
from us_control.playback.editor import SessionEditor
from us_control.playback.runner import run_command
from us_control.playback.schemas import DeviceList, DevicePublic, DeviceRegisterIn, HeartbeatIn

router = APIRouter(prefix="/devices", tags=["devices"])
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "not authenticated"},
    404: {"description": "no such device (of this user)"},
    409: {"description": "device uuid taken by someone else"},
    422: {"description": "invalid body"},
    429: {"description": "rate limited"},
}
Limited = Depends(rate_limited("commands"))


@router.post("/register", responses=_ERRORS, dependencies=[Limited])
async def register(
    body: DeviceRegisterIn, user: CurrentUser, uow: UowDep, settings: SettingsDep
) -> DevicePublic:
    registered: list[Device] = []

    async def apply(editor: SessionEditor) -> None:
        registered.append(await devices.register(editor, body))

    snapshot = await run_command(uow, settings, user.user_uuid, apply)
    return devices.device_public(
        registered[0], snapshot.server_time_ms, snapshot.active_device_uuid, settings
    )


@router.patch("/heartbeat", responses=_ERRORS)
async def heartbeat(body: HeartbeatIn, user: CurrentUser, uow: UowDep, settings: SettingsDep) -> DevicePublic:
    return await devices.heartbeat(uow, settings, user.user_uuid, body.device_uuid, body.leaving)


@router.get("", responses=_ERRORS)
async def list_devices(
    user: CurrentUser,
    uow: UowDep,
    settings: SettingsDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DeviceList:
    rows, total = await repo.list_devices(uow.db, user.user_uuid, limit, offset)
    session = await repo.read_session(uow.db, user.user_uuid)
    active = session.active_device_uuid if session else None
    now_ms = await db_now_ms(uow.db)
    items = [devices.device_public(d, now_ms, active, settings) for d in rows]
    return DeviceList(items=items, total=total, limit=limit, offset=offset)


@router.delete("/{device_uuid}", status_code=204, responses=_ERRORS, dependencies=[Limited])
async def forget(device_uuid: UUID, user: CurrentUser, uow: UowDep, settings: SettingsDep) -> Response:
    await run_command(uow, settings, user.user_uuid, lambda e: devices.forget(e, device_uuid))
    return Response(status_code=204)
