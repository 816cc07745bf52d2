"""Queries on users."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from us_control.models import AppUser, SessionState


async def get_by_username(db: AsyncSession, username: str) -> AppUser | None:
    return (await db.execute(select(AppUser).where(AppUser.username == username))).scalar_one_or_none()


async def get_by_uuid(db: AsyncSession, user_uuid: UUID) -> AppUser | None:
    return await db.get(AppUser, user_uuid)


async def list_users(db: AsyncSession) -> list[AppUser]:
    return list((await db.execute(select(AppUser).order_by(AppUser.username))).scalars())


async def add_user(db: AsyncSession, username: str, password_hash: str) -> AppUser:
    user = AppUser(username=username, password_hash=password_hash)
    db.add(user)
    await db.flush()
    # Every user has exactly one session row from the start (DESIGN.md: one session per user).
    db.add(SessionState(user_uuid=user.user_uuid))
    await db.flush()
    return user
