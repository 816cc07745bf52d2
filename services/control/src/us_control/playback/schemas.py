"""Request and response bodies of the session, device, queue and like routes.

Requests are strict: unknown fields, wrong types, negative positions and malformed uuids are
422 with the field named; nothing is changed by a request that fails validation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from us_common.timeline import RepeatMode, TrackPublic

PositionMs = Annotated[int, Field(strict=True, ge=0, le=7 * 24 * 3600 * 1000)]


class CommandIn(BaseModel):
    """Fields every control body may carry (DESIGN.md: idempotence and sender)."""

    model_config = ConfigDict(extra="forbid")

    client_event_uuid: UUID | None = None
    device_uuid: UUID | None = None


class PlayIn(CommandIn):
    track_uuid: UUID | None = None
    # Beyond DESIGN.md: a queue item (the same track may be queued twice).
    item_uuid: UUID | None = None
    position_ms: PositionMs | None = None


class SeekIn(CommandIn):
    position_ms: PositionMs


class OptionsIn(CommandIn):
    shuffle: Annotated[bool, Field(strict=True)] | None = None
    repeat_mode: RepeatMode | None = None


class VolumeIn(CommandIn):
    volume_percent: Annotated[int, Field(strict=True, ge=0, le=100)]


class EndedIn(CommandIn):
    track_uuid: UUID
    device_uuid: UUID  # required here: only the active speaker reports an end


class FailedIn(CommandIn):
    track_uuid: UUID
    device_uuid: UUID  # required here: only the active speaker reports a failure
    # Free text for people ("http 404", "decode error"); never parsed.
    reason: Annotated[str, Field(max_length=200)] | None = None


class SpeakerIn(CommandIn):
    device_uuid: UUID


# --- devices -------------------------------------------------------------------------------


class DeviceRegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_uuid: UUID | None = None
    device_name: Annotated[str, Field(min_length=1, max_length=100)]
    device_platform: Annotated[str, Field(max_length=100)] | None = None


class HeartbeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_uuid: UUID
    # Sent on `pagehide` (a tab closing or reloading): offline after US_LEAVE_GRACE_S unless the
    # device shows a sign of life again within it.
    leaving: Annotated[bool, Field(strict=True)] = False


class DevicePublic(BaseModel):
    device_uuid: UUID
    device_name: str
    device_platform: str | None
    last_seen: datetime
    online: bool
    is_active: bool
    created_at: datetime


class DeviceList(BaseModel):
    items: list[DevicePublic]
    total: int
    limit: int
    offset: int


# --- queue ---------------------------------------------------------------------------------


class EnqueueIn(CommandIn):
    track_uuids: Annotated[list[UUID], Field(min_length=1, max_length=1000)] | None = None
    album_uuid: UUID | None = None
    position: Literal["end", "next"] = "end"
    replace: Annotated[bool, Field(strict=True)] = False

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.track_uuids is None) == (self.album_uuid is None):
            raise ValueError("give exactly one of track_uuids or album_uuid")
        return self


class MoveIn(CommandIn):
    item_uuid: UUID
    to_idx: Annotated[int, Field(strict=True, ge=0)]


class QueueItemPublic(BaseModel):
    item_uuid: UUID
    idx: int
    # Position in play order (the shuffle permutation while shuffle is on).
    play_order: int
    track_uuid: UUID
    status: Literal["queued", "playing", "played", "failed"]
    track: TrackPublic


class QueuePage(BaseModel):
    items: list[QueueItemPublic]
    total: int
    limit: int
    offset: int
    revision: int


class TrackPage(BaseModel):
    items: list[TrackPublic]
    total: int
    limit: int
    offset: int


class ListenPublic(BaseModel):
    listen_uuid: UUID
    track_uuid: UUID
    played_ms: int
    listened_at: datetime
    track: TrackPublic


class ListenPage(BaseModel):
    items: list[ListenPublic]
    total: int
    limit: int
    offset: int
