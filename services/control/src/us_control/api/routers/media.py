"""``POST /sessions/{session_uuid}/media-token``: a short-lived URL for the active speaker.

A mint is not a session change: it reads the session row without locking it, bumps no revision
and publishes nothing. After the request's unit of work commits, Redis gets what the media
verifier reads on its hot path — the track's catalog path (``us_common.bus.media_track_key``) and the
session cache ``us:session:{user}`` (the store script keeps whichever revision is newer, so a
refill never undoes a racing command) — so a verification costs one Redis round trip.
The token itself never carries the path: it is readable by whoever holds the URL.
"""

from __future__ import annotations

import time
import uuid
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends
from pydantic import BaseModel

from us_common.bus import SessionCache
from us_common.errors import AppError, Conflict, Forbidden, NotFound
from us_common.jwt import TokenCodec, TokenKind
from us_control.deps import CurrentUser, SettingsDep, UowDep, rate_limited
from us_control.devices.ownership import owned_device
from us_control.library.repository import accessible_tracks
from us_control.playback.runner import read_snapshot
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
) -> MediaTokenOut:
    try:
        cache, rel_path = await _check_mint(uow, settings, user.user_uuid, session_uuid, body)
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
            "sid": cache.session_uuid,
            "dev": str(body.device_uuid),
            "trk": str(body.track_uuid),
            "epoch": cache.media_epoch,
            "jti": uuid.uuid4().hex,
        },
        ttl_s=ttl_s,
        now=issued,
    )
    # What the verifier reads, written once the (read-only) transaction is over.
    uow.refill_after_commit(user.user_uuid, cache)
    publisher = uow.publisher
    user_uuid, track_uuid = user.user_uuid, body.track_uuid
    uow.after_commit(
        lambda: publisher.store_media_path(user_uuid, track_uuid, rel_path, ttl_s + _TRACK_KEY_SLACK_S)
    )
    return MediaTokenOut(
        url=f"/media/tracks/{body.track_uuid}?token={token}",
        expires_at=(int(issued) + ttl_s) * 1000,
    )


async def _check_mint(
    uow: UowDep, settings: ControlSettings, user_uuid: UUID, session_uuid: UUID, body: MediaTokenIn
) -> tuple[SessionCache, str]:
    """The session's cache (read without the row lock) and the track's catalog path, or the
    refusal."""
    db = uow.db
    _, cache = await read_snapshot(db, settings, user_uuid)
    if cache.session_uuid != str(session_uuid):
        raise NotFound("session not found")
    await owned_device(db, user_uuid, body.device_uuid)
    if cache.active_device_uuid != str(body.device_uuid):
        raise Forbidden("only the active speaker gets media tokens")
    track = (await accessible_tracks(db, user_uuid, [body.track_uuid])).get(body.track_uuid)
    if track is None:
        raise NotFound("track not found")
    if not track.available:
        raise Conflict("track is unavailable (its file is gone)")
    return cache, track.rel_path
