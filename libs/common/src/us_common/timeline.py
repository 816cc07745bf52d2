"""The session snapshot every client renders, and the one projection rule (DESIGN.md, Clock).

Control builds snapshots; events forwards them and projects beacons; both use the same code.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class PlayState(StrEnum):
    PLAYING = "playing"
    PAUSED = "paused"
    STOPPED = "stopped"


class RepeatMode(StrEnum):
    OFF = "off"
    ONE = "one"
    ALL = "all"


def project_position_ms(
    position_ms: int, play_state: str, since_ms: int, now_ms: int, duration_ms: int | None
) -> int:
    """``position + (now - since)`` while playing, clamped to ``[0, duration]``."""
    projected = position_ms + (now_ms - since_ms) if play_state == PlayState.PLAYING else position_ms
    upper = duration_ms if duration_ms is not None else max(projected, 0)
    return max(0, min(projected, upper))


class TrackPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    track_uuid: UUID
    title: str
    artist: str
    album: str
    album_uuid: UUID | None
    album_artist: str
    track_number: int | None
    disc_number: int | None
    duration_ms: int
    available: bool
    liked: bool = False
    # The album's cover thumbnail (relative URL; ``?size=large`` for the big one), or null.
    cover_url: str | None = None


class Actions(BaseModel):
    play: bool
    pause: bool
    next: bool
    prev: bool
    seek: bool


class LastFailure(BaseModel):
    """The most recent item of a session that could not be played (a client shows a notice
    when it sees a new ``at_ms``)."""

    item_uuid: UUID
    track_uuid: UUID | None
    title: str | None
    reason: str | None
    at_ms: int


class SessionSnapshot(BaseModel):
    session_uuid: UUID
    user_uuid: UUID
    revision: int
    active_device_uuid: UUID | None
    track_uuid: UUID | None
    position_ms: int
    play_state: PlayState
    shuffle: bool
    repeat_mode: RepeatMode
    volume_percent: int
    actions: Actions
    queue_position: int | None
    queue_length: int
    updated_at: datetime
    server_time_ms: int
    track: TrackPublic | None
    # The active speaker heartbeated within the presence window (false when there is none).
    # Defaults: a cache written before these fields existed still parses.
    speaker_online: bool = False
    last_failure: LastFailure | None = None

    def projected_to(self, now_ms: int) -> SessionSnapshot:
        """The same snapshot with ``position_ms`` moved to ``now_ms``."""
        duration = self.track.duration_ms if self.track else None
        position = project_position_ms(
            self.position_ms, self.play_state, self.server_time_ms, now_ms, duration
        )
        return self.model_copy(update={"position_ms": position, "server_time_ms": now_ms})
