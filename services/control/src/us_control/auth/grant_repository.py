"""Queries on pairings in progress (``device_authorization``) and device credentials."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import delete, exists, text
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from us_control.models import DeviceAuthorization, DeviceCredential

# Expired pairings are kept this long (a late poll still gets expired_token), then deleted.
_KEEP_EXPIRED_MS = 3600 * 1000


async def insert_authorization(db: AsyncSession, row: DeviceAuthorization) -> bool:
    """Insert unless the user code is taken by a live pairing (then False: draw another)."""
    inserted = await db.execute(
        text(
            "INSERT INTO device_authorization (authorization_uuid, device_code_hash, user_code_hash,"
            " device_uuid, requested_name, client_id, status, interval_s, expires_at_ms)"
            " VALUES (:a, :dc, :uc, :d, :n, :c, 'pending', :i, :e)"
            " ON CONFLICT DO NOTHING RETURNING authorization_uuid"
        ),
        {
            "a": row.authorization_uuid,
            "dc": row.device_code_hash,
            "uc": row.user_code_hash,
            "d": row.device_uuid,
            "n": row.requested_name,
            "c": row.client_id,
            "i": row.interval_s,
            "e": row.expires_at_ms,
        },
    )
    return inserted.first() is not None


async def delete_expired_authorizations(db: AsyncSession, now_ms: int) -> None:
    await db.execute(
        delete(DeviceAuthorization).where(DeviceAuthorization.expires_at_ms < now_ms - _KEEP_EXPIRED_MS)  # type: ignore[arg-type]
    )


async def lock_by_user_code(db: AsyncSession, code_hash: str) -> DeviceAuthorization | None:
    query = select(DeviceAuthorization).where(DeviceAuthorization.user_code_hash == code_hash).with_for_update()
    return (await db.execute(query)).scalar_one_or_none()


async def lock_by_device_code(db: AsyncSession, code_hash: str) -> DeviceAuthorization | None:
    query = (
        select(DeviceAuthorization).where(DeviceAuthorization.device_code_hash == code_hash).with_for_update()
    )
    return (await db.execute(query)).scalar_one_or_none()


async def lock_credential_by_token(db: AsyncSession, token_hash: str) -> DeviceCredential | None:
    query = select(DeviceCredential).where(DeviceCredential.refresh_token_hash == token_hash).with_for_update()
    return (await db.execute(query)).scalar_one_or_none()


async def credential_by_previous_token(db: AsyncSession, token_hash: str) -> DeviceCredential | None:
    query = select(DeviceCredential).where(DeviceCredential.previous_token_hash == token_hash)
    return (await db.execute(query)).scalar_one_or_none()


async def credential_is_live(db: AsyncSession, credential_uuid: UUID, device_uuid: UUID, user_uuid: UUID) -> bool:
    query = sa_select(
        exists().where(
            DeviceCredential.credential_uuid == credential_uuid,  # type: ignore[arg-type]
            DeviceCredential.device_uuid == device_uuid,  # type: ignore[arg-type]
            DeviceCredential.user_uuid == user_uuid,  # type: ignore[arg-type]
        )
    )
    return bool((await db.execute(query)).scalar())
