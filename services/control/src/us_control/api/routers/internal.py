"""``/internal``: what events and media ask control when Redis does not have it.

Loopback only (nginx never routes ``/internal``) and authenticated with a short service token
(``svc+jwt``) signed by the caller's own key: events signs with the access-token key, media with
the media-token key. Answers come from Postgres and refill the Redis cache.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from us_common.errors import NotFound, Unauthorized
from us_common.jwt import TokenCodec, TokenError, TokenKind
from us_control.background import load_cache
from us_control.deps import SettingsDep, UowDep
from us_control.library.repository import accessible_tracks
from us_control.settings import ControlSettings

router = APIRouter(prefix="/internal", tags=["internal"], include_in_schema=False)
log = structlog.get_logger(__name__)
_bearer = HTTPBearer(auto_error=False)

ServiceName = Literal["events", "media"]


def _service_codecs(settings: ControlSettings) -> dict[ServiceName, TokenCodec]:
    return {
        "events": TokenCodec(
            TokenKind.SERVICE, settings.access_token_key.get_secret_value(), settings.issuer
        ),
        "media": TokenCodec(TokenKind.SERVICE, settings.media_token_key.get_secret_value(), settings.issuer),
    }


async def service_caller(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> ServiceName:
    if credentials is None:
        raise Unauthorized("service token required")
    for name, codec in _service_codecs(settings).items():
        try:
            claims = codec.decode(credentials.credentials)
        except TokenError:
            continue
        if claims.get("sub") == name:
            return name
    log.warning("service_token_refused")
    raise Unauthorized("invalid service token")


Caller = Annotated[ServiceName, Depends(service_caller)]


@router.get("/sessions/{user_uuid}/cache")
async def session_cache(user_uuid: UUID, caller: Caller, request: Request) -> dict[str, str]:
    """The cache fields for a user (and the cache refilled), or 404 for an unknown user."""
    try:
        cache = await load_cache(request.app, user_uuid)
    except NotFound:
        raise
    await request.app.state.publisher.store(user_uuid, cache, None)
    return cache.to_fields()


class TrackGrant(BaseModel):
    model_config = ConfigDict(frozen=True)

    track_uuid: UUID
    rel_path: str
    available: bool


@router.get("/tracks/{track_uuid}")
async def track_for_user(track_uuid: UUID, user_uuid: UUID, caller: Caller, uow: UowDep) -> TrackGrant:
    """The catalog path of a track the user may access (media's fallback)."""
    found = await accessible_tracks(uow.db, user_uuid, [track_uuid])
    track = found.get(track_uuid)
    if track is None:
        raise NotFound("track not found")
    return TrackGrant(track_uuid=track.track_uuid, rel_path=track.rel_path, available=track.available)
