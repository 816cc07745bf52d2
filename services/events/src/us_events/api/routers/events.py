"""``GET /events?device_uuid=…``: the session's event stream for one of the user's devices."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query
from starlette.responses import Response

from us_events.deps import CurrentUser, HubDep, SettingsDep
from us_events.stream import ClientStream

router = APIRouter(tags=["events"])


@router.get(
    "/events",
    response_class=Response,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "the event stream"},
        401: {"description": "missing, invalid or expired access token"},
        404: {"description": "not one of this user's devices"},
        422: {"description": "malformed device uuid"},
        503: {"description": "Redis and control are both unavailable, or the gateway is restarting"},
    },
)
async def events(
    device_uuid: Annotated[UUID, Query()],
    user_uuid: CurrentUser,
    hub: HubDep,
    settings: SettingsDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    client = await hub.open(user_uuid, str(device_uuid), last_event_id)
    return ClientStream(hub, client, settings)
