"""``/genres``: the genres of the user's albums with their album and track counts."""

from __future__ import annotations

from fastapi import APIRouter

from us_control.deps import CurrentUser, Limit, Offset, UowDep
from us_control.library import service
from us_control.library.schemas import GenrePublic, Page

router = APIRouter(tags=["genres"])


@router.get("/genres", responses={401: {}, 422: {}})
async def list_genres(
    user: CurrentUser, uow: UowDep, limit: Limit = 50, offset: Offset = 0
) -> Page[GenrePublic]:
    return await service.browse_genres(uow.db, user.user_uuid, limit, offset)
