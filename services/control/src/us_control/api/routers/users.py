"""``GET /users/me``."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from us_common.errors import Unauthorized
from us_control.auth import repository as users
from us_control.deps import CurrentUser, UowDep

router = APIRouter(prefix="/users", tags=["users"])


class UserPublic(BaseModel):
    user_uuid: UUID
    username: str


@router.get("/me", responses={401: {}})
async def me(user: CurrentUser, uow: UowDep) -> UserPublic:
    row = await users.get_by_uuid(uow.db, user.user_uuid)
    if row is None:
        raise Unauthorized("user no longer exists")
    return UserPublic(user_uuid=row.user_uuid, username=row.username)
