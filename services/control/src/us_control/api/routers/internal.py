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
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError

from us_common.errors import Forbidden, NotFound, Unauthorized
from us_common.jwt import TokenCodec, TokenError, TokenKind
from us_control.background import load_cache
from us_control.deps import SettingsDep, UowDep
from us_control.library.repository import accessible_tracks
from us_control.playback.service import SessionEditor, run_command
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


# --- suspicious media use --------------------------------------------------------------------

# Refusals are counted per user in a fixed window that starts with the first one.
MEDIA_REFUSAL_WINDOW_S = 60
_COUNT_IN_WINDOW_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
return n
"""


def media_refusals_key(user_uuid: UUID) -> str:
    return f"us:media:refusals:{user_uuid}"


class MediaRefusalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_uuid: UUID
    reason: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]


class MediaRefusalOut(BaseModel):
    refusals_in_window: int | None
    revoked: bool


async def _revoke_media_tokens(editor: SessionEditor) -> None:
    # Same speaker, new epoch: every media token of the user dies; the speaker simply mints again.
    editor.state.media_epoch += 1
    editor.mark("speaker")


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
    try:
        count = int(
            await request.app.state.redis.eval(
                _COUNT_IN_WINDOW_LUA, 1, media_refusals_key(body.user_uuid), MEDIA_REFUSAL_WINDOW_S
            )
        )
    except (RedisError, OSError) as exc:
        log.warning("media_refusal_not_counted", error_type=type(exc).__name__)
        return MediaRefusalOut(refusals_in_window=None, revoked=False)
    if count != settings.media_refusal_threshold + 1:
        return MediaRefusalOut(refusals_in_window=count, revoked=False)
    await run_command(uow, settings, body.user_uuid, _revoke_media_tokens)
    log.warning(
        "media_tokens_revoked",
        user_uuid=str(body.user_uuid),
        refusals=count,
        window_s=MEDIA_REFUSAL_WINDOW_S,
        last_reason=body.reason,
    )
    return MediaRefusalOut(refusals_in_window=count, revoked=True)
