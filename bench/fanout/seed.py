"""The cached session a benchmark user has: the same shape control writes (``SessionCache``)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from us_common.bus import SessionCache
from us_common.timeline import Actions, PlayState, RepeatMode, SessionSnapshot, TrackPublic

_TRACK = TrackPublic(
    track_uuid=uuid.UUID(int=7),
    title="Long Walk",
    artist="Beta",
    album="Short Forms",
    album_uuid=uuid.UUID(int=8),
    album_artist="Beta",
    track_number=2,
    disc_number=1,
    duration_ms=300_000,
    available=True,
)


def cache_fields(
    user_uuid: str, session_uuid: str, rev: int, device_uuids: tuple[str, ...]
) -> dict[str, str]:
    snapshot = SessionSnapshot(
        session_uuid=uuid.UUID(session_uuid),
        user_uuid=uuid.UUID(user_uuid),
        revision=rev,
        active_device_uuid=uuid.UUID(device_uuids[0]),
        track_uuid=_TRACK.track_uuid,
        position_ms=1234,
        play_state=PlayState.PLAYING,
        shuffle=False,
        repeat_mode=RepeatMode.OFF,
        volume_percent=70,
        actions=Actions(play=False, pause=True, next=True, prev=True, seek=True),
        queue_position=3,
        queue_length=12,
        updated_at=datetime.now(UTC),
        server_time_ms=int(time.time() * 1000),
        track=_TRACK,
    )
    return SessionCache(
        rev=rev,
        snapshot=snapshot,
        media_epoch=1,
        active_device_uuid=device_uuids[0],
        session_uuid=session_uuid,
        device_uuids=frozenset(device_uuids),
    ).to_fields()
