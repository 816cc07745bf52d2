"""``/internal``: what events and media ask control when Redis does not have it.

Loopback only (nginx never routes ``/internal``) and authenticated with a short service token
(``svc+jwt``) signed by the caller's own key: events signs with the access-token key, media with
the media-token key. Answers come from Postgres; the session cache is refilled by the request's
unit of work after it commits.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from us_common.bus import media_refusals_key
from us_common.errors import Forbidden, NotFound, Unauthorized
from us_common.jwt import TokenCodec, TokenError, TokenKind
from us_control.deps import SettingsDep, UowDep
from us_control.library.repository import accessible_tracks
from us_control.playback.commands import revoke_media_tokens
from us_control.playback.runner import read_snapshot, run_command
from us_control.ratelimit import count_in_window
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
async def session_cache(
    user_uuid: UUID, caller: Caller, uow: UowDep, settings: SettingsDep
) -> dict[str, str]:
    """The cache fields for a user (refilled in Redis after commit), or 404 for an unknown user."""
    _, cache = await read_snapshot(uow.db, settings, user_uuid)
    uow.refill_after_commit(user_uuid, cache)
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


# --- suspicious media use --------------------------------------------------------------------

# Refusals are counted per user in a fixed window that starts with the first one.
MEDIA_REFUSAL_WINDOW_S = 60


class MediaRefusalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_uuid: UUID
    reason: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]


class MediaRefusalOut(BaseModel):
    refusals_in_window: int | None
    revoked: bool


@router.post("/media-refusals", status_code=202)
async def media_refusal(
    body: MediaRefusalIn, caller: Caller, request: Request, uow: UowDep, settings: SettingsDep
) -> MediaRefusalOut:
    """Media reports a refused verification of a token whose signature was valid (expired,
    rotated, bound elsewhere). Past ``media_refusal_threshold`` such refusals of one user's tokens
    within a minute — a leaked URL replayed elsewhere — every media token of that user is revoked,
    once per window. Media may only read Redis, so control counts."""
    if caller != "media":
        raise Forbidden("only the media service reports refusals")
    # The count decides whether to revoke, so it is taken now, not after the commit.
    count = await count_in_window(
        request.app.state.redis, media_refusals_key(body.user_uuid), MEDIA_REFUSAL_WINDOW_S
    )
    if count != settings.media_refusal_threshold + 1:
        return MediaRefusalOut(refusals_in_window=count, revoked=False)
    await run_command(uow, settings, body.user_uuid, revoke_media_tokens)
    log.warning(
        "media_tokens_revoked",
        user_uuid=str(body.user_uuid),
        refusals=count,
        window_s=MEDIA_REFUSAL_WINDOW_S,
        last_reason=body.reason,
    )
    return MediaRefusalOut(refusals_in_window=count, revoked=True)
