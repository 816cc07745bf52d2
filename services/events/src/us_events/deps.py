"""Typed dependencies the routers use: settings, the hub, the current user.

All ``async`` on purpose: FastAPI runs sync dependencies in its thread pool, a thread hop per
dependency per connection, and under a reconnect storm that pool becomes the bottleneck.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from us_common.jwt import TokenCodec
from us_events.auth import presented_token, user_from_token
from us_events.hub import Hub
from us_events.settings import EventsSettings


async def get_settings(request: Request) -> EventsSettings:
    settings: EventsSettings = request.app.state.settings
    return settings


async def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def get_current_user(request: Request) -> str:
    codec: TokenCodec = request.app.state.access_codec
    return user_from_token(codec, presented_token(request), request.query_params.get("device_uuid"))


SettingsDep = Annotated[EventsSettings, Depends(get_settings)]
HubDep = Annotated[Hub, Depends(get_hub)]
# The user's uuid as a canonical string (the form channels and caches use).
CurrentUser = Annotated[str, Depends(get_current_user)]
