"""``/search``: the top artists, albums and tracks for ``q``, each group with its own total."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from us_control.api.routers.catalog_params import SearchQuery
from us_control.deps import CurrentUser, TrackMarksDep, UowDep
from us_control.library import service
from us_control.library.schemas import SearchResults

router = APIRouter(tags=["search"])

GroupLimit = Annotated[int, Query(ge=1, le=50, description="items per group (at most 50)")]


@router.get("/search", responses={401: {}, 422: {}})
async def search_catalog(
    user: CurrentUser, uow: UowDep, marks: TrackMarksDep, q: SearchQuery = "", limit: GroupLimit = 5
) -> SearchResults:
    return await service.search_all(uow.db, user.user_uuid, q, limit, marks)
