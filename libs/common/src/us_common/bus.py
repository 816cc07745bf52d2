"""The Redis contract between control (writer) and events/media (readers): every key and
channel name, the message, the cached session and the script that stores and announces it.

Every name of one user carries the user's uuid in braces, ``{<user_uuid>}``: Redis Cluster reads
it as a hash tag, so a user's channel, cache hash and media keys share one slot — the script
touches its hash and publishes in one place, and a user's messages stay on one shard. On a single
Redis the braces are just characters. Nothing else may format these names (CONTRACTS C5).

- ``us:user:{<user>}``: pub/sub channel (``PUBLISH`` on one Redis, sharded ``SPUBLISH`` in a
  cluster), message exactly ``{"rev", "type", "ts"}``.
- ``us:session:{<user>}``: hash cache of the latest committed state, written with the publish
  in one script so a slower, older writer can never overwrite a newer revision. Fields:
  ``rev``, ``snapshot`` (JSON), ``media_epoch``, ``active_device_uuid``, ``session_uuid``,
  ``device_uuids`` (JSON list). Everything here is rebuilt from Postgres on a miss.
- ``us:media:track:{<user>}:<track>``: the track's catalog path (relative to the music root),
  written by control when it mints that user a media token, expiring shortly after the token;
  the media verifier reads it with the session hash in one round trip (one slot), and asks
  control (Postgres) on a miss.
- ``us:media:refusals:{<user>}``: refused media requests in the current minute (control counts).
- ``us:ratelimit:…``: rate-limit windows (``limits``; it puts each window's two keys in one
  slot with its own braces).
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


RATE_LIMIT_PREFIX = "us:ratelimit"


def user_tag(user_uuid: UUID | str) -> str:
    """The user's hash tag: every key and channel of one user lands in this slot."""
    return f"{{{user_uuid}}}"


def user_channel(user_uuid: UUID | str) -> str:
    return f"us:user:{user_tag(user_uuid)}"


def session_cache_key(user_uuid: UUID | str) -> str:
    return f"us:session:{user_tag(user_uuid)}"


def media_track_key(user_uuid: UUID | str, track_uuid: UUID | str) -> str:
    return f"us:media:track:{user_tag(user_uuid)}:{track_uuid}"


def media_refusals_key(user_uuid: UUID | str) -> str:
    return f"us:media:refusals:{user_tag(user_uuid)}"


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
    # The snapshot already serialised (the writer's response used the same bytes), if at hand.
    snapshot_json: str | None = None

    def to_fields(self) -> dict[str, str]:
        return {
            "rev": str(self.rev),
            "snapshot": self.snapshot_json or self.snapshot.model_dump_json(),
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
# The channel has the hash's slot (one user tag), as SPUBLISH from a script in a cluster requires.
_STORE_AND_PUBLISH_LUA = """
local current = tonumber(redis.call('HGET', KEYS[1], 'rev') or '-1')
local rev = tonumber(ARGV[1])
if rev > current then
  redis.call('HSET', KEYS[1], unpack(ARGV, 5))
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
end
if ARGV[4] ~= '' then
  redis.call('{publish}', ARGV[3], ARGV[4])
end
return current
"""

# Classic pub/sub on one Redis (what outside subscribers of DESIGN.md's channel use); sharded
# pub/sub in a cluster, where a classic PUBLISH would be broadcast to every node.
STORE_AND_PUBLISH_LUA = _STORE_AND_PUBLISH_LUA.replace("{publish}", "PUBLISH")
STORE_AND_SPUBLISH_LUA = _STORE_AND_PUBLISH_LUA.replace("{publish}", "SPUBLISH")


def store_and_publish_script(sharded: bool) -> str:
    return STORE_AND_SPUBLISH_LUA if sharded else STORE_AND_PUBLISH_LUA


def store_and_publish_call(
    user_uuid: UUID | str, cache: SessionCache, message: str
) -> tuple[list[str], list[str | int]]:
    """``(keys, args)`` of the script for one user: write ``cache``, publish ``message``
    (``''``: write only)."""
    fields = [item for pair in cache.to_fields().items() for item in pair]
    return [session_cache_key(user_uuid)], [cache.rev, CACHE_TTL_S, user_channel(user_uuid), message, *fields]
