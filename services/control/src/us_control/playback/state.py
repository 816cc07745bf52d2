"""The session row as a plain object: read under the row lock, changed by a command, written back
in one statement by the runner (no ORM unit of work on the hot path).

Field names are the columns of ``session_state`` (``models.SessionState``), so commands read and
set ``state.<column>`` exactly as they would on the table model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(slots=True)
class SessionRow:
    session_uuid: UUID
    user_uuid: UUID
    active_device_uuid: UUID | None
    current_item_uuid: UUID | None
    track_uuid: UUID | None
    position_ms: int
    play_state: str
    last_update_ms: int
    revision: int
    shuffle: bool
    repeat_mode: str
    volume_percent: int
    media_epoch: int
    listened_ms: int
    listen_recorded: bool
    last_failure: dict[str, Any] | None
    updated_at: datetime
    created_at: datetime

    @classmethod
    def from_record(cls, record: Mapping[Any, Any]) -> SessionRow:
        values = {name: record[name] for name in COLUMNS}
        failure = values["last_failure"]
        if isinstance(failure, str):  # json text when the driver has no jsonb codec
            values["last_failure"] = json.loads(failure)
        return cls(**values)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(SessionRow))
# What a command may change (the rest identifies the row or never changes).
MUTABLE: tuple[str, ...] = tuple(c for c in COLUMNS if c not in ("session_uuid", "user_uuid", "created_at"))
