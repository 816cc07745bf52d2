"""The Redis contract between control (writer) and events/media (readers).

- ``us:user:{user_uuid}``: pub/sub channel, message exactly ``{"rev", "type", "ts"}``.
- ``us:session:{user_uuid}``: hash cache of the latest committed state, written with the publish
  in one script so a slower, older writer can never overwrite a newer revision. Fields:
  ``rev``, ``snapshot`` (JSON), ``media_epoch``, ``active_device_uuid``, ``session_uuid``,
  ``device_uuids`` (JSON list). Everything here is rebuilt from Postgres on a miss.
- ``us:media:track:{track_uuid}``: the track's catalog path (relative to the music root), written
  by control when it mints a media token, expiring shortly after the token; the media verifier
  reads it on its hot path and asks control (Postgres) on a miss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from us_common.timeline import SessionSnapshot

MessageType = Literal["timeline", "speaker", "queue", "like", "options"]

CACHE_TTL_S = 86400


def user_channel(user_uuid: UUID | str) -> str:
    return f"us:user:{user_uuid}"


def session_cache_key(user_uuid: UUID | str) -> str:
    return f"us:session:{user_uuid}"


def media_track_key(track_uuid: UUID | str) -> str:
    return f"us:media:track:{track_uuid}"


class BusMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rev: int
    type: MessageType
    ts: int

    def dumps(self) -> str:
        return self.model_dump_json()


@dataclass(frozen=True, slots=True)
class SessionCache:
    """What readers need without Postgres: renderable state, speaker binding, device list."""

    rev: int
    snapshot: SessionSnapshot
    media_epoch: int
    active_device_uuid: str | None
    session_uuid: str
    device_uuids: frozenset[str]

    def to_fields(self) -> dict[str, str]:
        return {
            "rev": str(self.rev),
            "snapshot": self.snapshot.model_dump_json(),
            "media_epoch": str(self.media_epoch),
            "active_device_uuid": self.active_device_uuid or "",
            "session_uuid": self.session_uuid,
            "device_uuids": json.dumps(sorted(self.device_uuids)),
        }

    @classmethod
    def from_fields(cls, fields: dict[Any, Any]) -> SessionCache | None:
        decoded = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in fields.items()
        }
        if not decoded.get("snapshot") or not decoded.get("rev"):
            return None
        return cls(
            rev=int(decoded["rev"]),
            snapshot=SessionSnapshot.model_validate_json(decoded["snapshot"]),
            media_epoch=int(decoded.get("media_epoch") or 0),
            active_device_uuid=decoded.get("active_device_uuid") or None,
            session_uuid=decoded["session_uuid"],
            device_uuids=frozenset(json.loads(decoded.get("device_uuids") or "[]")),
        )


# KEYS[1] cache hash; ARGV: rev, ttl, channel, message ('' = refill only), then field/value pairs.
# Writes the cache only when rev is newer, then publishes: one round trip, never a regression.
STORE_AND_PUBLISH_LUA = """
local current = tonumber(redis.call('HGET', KEYS[1], 'rev') or '-1')
local rev = tonumber(ARGV[1])
if rev > current then
  redis.call('HSET', KEYS[1], unpack(ARGV, 5))
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
end
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return current
"""
