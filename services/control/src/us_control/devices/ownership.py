"""Whose device is it: the one check every route that names a ``device_uuid`` goes through.

Another user's device answers exactly like a device that does not exist (404, same detail).
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from us_common.errors import NotFound
from us_control.models import Device
from us_control.playback import repository as repo


async def owned_device(db: AsyncSession, user_uuid: UUID, device_uuid: UUID) -> Device:
    device = await repo.get_device(db, device_uuid)
    if device is None or device.user_uuid != user_uuid:
        raise NotFound("device not found")
    return device
