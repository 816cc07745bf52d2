"""``/library/status``: whether a scan of the user's libraries runs, how far, the last one."""

from __future__ import annotations

from fastapi import APIRouter

from us_control.deps import CurrentUser, UowDep
from us_control.library import service
from us_control.library.schemas import LibraryStatus

router = APIRouter(tags=["library"])


@router.get("/library/status", responses={401: {}})
async def library_status(user: CurrentUser, uow: UowDep) -> LibraryStatus:
    return await service.library_status(uow.db, user.user_uuid)
