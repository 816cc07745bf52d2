"""``POST /sessions/{session_uuid}/media-token``: a short-lived URL for the active speaker.

A mint is not a session change: it reads the session row without locking it, bumps no revision
and publishes nothing. It writes what the media verifier reads on its hot path to Redis — the
track's catalog path (``us:media:track:{track}``) and, when the cached session is missing or
behind Postgres, a refill of ``us:session:{user}`` — so a verification costs one Redis round trip.
The token itself never carries the path: it is readable by whoever holds the URL.
"""

from __future__ import annotations

import time
import uuid
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from redis.exceptions import RedisError

from us_common.bus import media_track_key, session_cache_key
from us_common.errors import AppError, Conflict, Forbidden, NotFound
from us_common.jwt import TokenCodec, TokenKind
from us_control.background import load_cache
from us_control.deps import CurrentUser, SettingsDep, UowDep, rate_limited
from us_control.library.repository import accessible_tracks
from us_control.models import SessionState
from us_control.playback import repository as playback_repo
from us_control.playback.schemas import CommandIn
from us_control.settings import ControlSettings

router = APIRouter(tags=["media"])
log = structlog.get_logger(__name__)

# The path key outlives the token a little: a verification at the token's last second still hits.
_TRACK_KEY_SLACK_S = 30

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "not authenticated"},
    403: {"description": "the device is not the active speaker"},
    404: {"description": "no such session, device or track (of this user)"},
    409: {"description": "the track is unavailable (its file is gone)"},
    422: {"description": "invalid body"},
    429: {"description": "rate limited"},
}


class MediaTokenIn(CommandIn):
    """``client_event_uuid`` is accepted like on every control body; a mint changes no state,
    so a repeat simply mints again."""

    device_uuid: UUID
    track_uuid: UUID


class MediaTokenOut(BaseModel):
    url: str
    expires_at: int  # epoch ms


def media_codec(settings: ControlSettings) -> TokenCodec:
    return TokenCodec(TokenKind.MEDIA, settings.media_token_key.get_secret_value(), settings.issuer)


@router.post(
    "/sessions/{session_uuid}/media-token",
    responses=_ERRORS,
    dependencies=[Depends(rate_limited("media_token"))],
)
async def mint_media_token(
    session_uuid: UUID,
    body: MediaTokenIn,
    user: CurrentUser,
    uow: UowDep,
    settings: SettingsDep,
    request: Request,
) -> MediaTokenOut:
    try:
        state, rel_path = await _check_mint(uow, user.user_uuid, session_uuid, body)
    except AppError as exc:
        # Never the token (there is none yet) nor the path: ids and the reason only.
        log.info(
            "media_token_refused",
            status=exc.status_code,
            reason=str(exc.detail),
            device_uuid=str(body.device_uuid),
            track_uuid=str(body.track_uuid),
        )
        raise
    issued = time.time()
    ttl_s = settings.media_token_ttl_s
    token = media_codec(settings).encode(
        {
            "sub": str(user.user_uuid),
            "sid": str(state.session_uuid),
            "dev": str(body.device_uuid),
            "trk": str(body.track_uuid),
            "epoch": state.media_epoch,
            "jti": uuid.uuid4().hex,
        },
        ttl_s=ttl_s,
        now=issued,
    )
    await _prepare_verifier_cache(request, user.user_uuid, state, body.track_uuid, rel_path, ttl_s)
    return MediaTokenOut(
        url=f"/media/tracks/{body.track_uuid}?token={token}",
        expires_at=(int(issued) + ttl_s) * 1000,
    )


async def _check_mint(
    uow: UowDep, user_uuid: UUID, session_uuid: UUID, body: MediaTokenIn
) -> tuple[SessionState, str]:
    """The session (read without the row lock) and the track's catalog path, or the refusal."""
    db = uow.db
    state = await playback_repo.read_session(db, user_uuid)
    if state is None or state.session_uuid != session_uuid:
        raise NotFound("session not found")
    device = await playback_repo.get_device(db, body.device_uuid)
    if device is None or device.user_uuid != user_uuid:
        raise NotFound("device not found")
    if state.active_device_uuid != body.device_uuid:
        raise Forbidden("only the active speaker gets media tokens")
    track = (await accessible_tracks(db, user_uuid, [body.track_uuid])).get(body.track_uuid)
    if track is None:
        raise NotFound("track not found")
    if not track.available:
        raise Conflict("track is unavailable (its file is gone)")
    return state, track.rel_path


async def _prepare_verifier_cache(
    request: Request, user_uuid: UUID, state: SessionState, track_uuid: UUID, rel_path: str, ttl_s: int
) -> None:
    """One round trip: store the path, read the cached binding; refill the session if it lags.

    Best effort: when Redis is down the verifier asks control instead.
    """
    redis = request.app.state.redis
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.set(media_track_key(track_uuid), rel_path.encode("utf-8"), ex=ttl_s + _TRACK_KEY_SLACK_S)
        pipe.hmget(session_cache_key(user_uuid), ["media_epoch", "active_device_uuid", "session_uuid"])
        _, cached = await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("media_cache_write_failed", error_type=type(exc).__name__)
        return
    expected = [str(state.media_epoch), str(state.active_device_uuid or ""), str(state.session_uuid)]
    if [(v.decode() if isinstance(v, bytes) else v) for v in cached] == expected:
        return
    # Missing (expired) or behind (a publish that did not reach Redis yet): refill from Postgres.
    # The store script keeps whichever revision is newer, so a racing command is never undone.
    try:
        cache = await load_cache(request.app, user_uuid)
    except Exception as exc:  # noqa: BLE001 - the token is good either way; media falls back to control
        log.warning("media_session_refill_failed", error_type=type(exc).__name__)
        return
    await request.app.state.publisher.store(user_uuid, cache, None)
