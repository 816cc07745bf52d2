"""``/scrobble/targets``: where a user's listens are delivered (DESIGN.md "Scrobble targets")."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response

from us_control.deps import CurrentUser, Limit, Offset, UowDep, rate_limited
from us_control.scrobble import repository as repo
from us_control.scrobble import service as scrobble
from us_control.scrobble.repository import EntryCounts
from us_control.scrobble.runtime import ScrobbleRuntime
from us_control.scrobble.schemas import TargetIn, TargetPage, TargetPatch, TargetPublic

router = APIRouter(prefix="/scrobble/targets", tags=["scrobble"])
_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "not authenticated"},
    404: {"description": "no such target (of this user)"},
    409: {"description": "already a target, or too many targets"},
    422: {"description": "invalid body or base_url, or the receiver refused the token"},
    429: {"description": "rate limited"},
    503: {"description": "scrobbling is not configured on this server"},
}
# Adding a target or replacing its token makes the server call the receiver: limited per user.
CallsReceiver = Depends(rate_limited("scrobble_targets"))
Limited = Depends(rate_limited("commands"))


async def _runtime(request: Request) -> ScrobbleRuntime:
    runtime: ScrobbleRuntime = request.app.state.scrobble
    return runtime


RuntimeDep = Annotated[ScrobbleRuntime, Depends(_runtime)]


@router.get("", responses=_ERRORS)
async def list_targets(user: CurrentUser, uow: UowDep, limit: Limit = 50, offset: Offset = 0) -> TargetPage:
    rows, total = await repo.page_targets(uow.db, user.user_uuid, limit, offset)
    counts = await repo.entry_counts(uow.db, [t.target_uuid for t in rows])
    items = [scrobble.target_public(t, counts.get(t.target_uuid, EntryCounts())) for t in rows]
    return TargetPage(items=items, total=total, limit=limit, offset=offset)


@router.post("", status_code=201, responses=_ERRORS, dependencies=[CallsReceiver])
async def add_target(body: TargetIn, user: CurrentUser, uow: UowDep, runtime: RuntimeDep) -> TargetPublic:
    target = await scrobble.add_target(uow.db, runtime, user.user_uuid, body)
    return await scrobble.public_one(uow.db, target)


@router.get("/{target_uuid}", responses=_ERRORS)
async def get_target(target_uuid: UUID, user: CurrentUser, uow: UowDep) -> TargetPublic:
    return await scrobble.public_one(uow.db, await scrobble.owned_target(uow.db, user.user_uuid, target_uuid))


@router.patch("/{target_uuid}", responses=_ERRORS, dependencies=[Limited])
async def change_target(
    target_uuid: UUID,
    body: TargetPatch,
    user: CurrentUser,
    uow: UowDep,
    runtime: RuntimeDep,
    request: Request,
) -> TargetPublic:
    if body.token is not None:
        await rate_limited("scrobble_targets")(user, request.app.state.rate_limits)
    target = await scrobble.change_target(uow.db, runtime, user.user_uuid, target_uuid, body)
    return await scrobble.public_one(uow.db, target)


@router.delete("/{target_uuid}", status_code=204, responses=_ERRORS, dependencies=[Limited])
async def remove_target(target_uuid: UUID, user: CurrentUser, uow: UowDep) -> Response:
    await scrobble.remove_target(uow.db, user.user_uuid, target_uuid)
    return Response(status_code=204)
