"""SSE frames the gateway sends (DESIGN.md, Shapes → SSE), encoded once per user, not per client.

Every data payload is ``{"rev", "type", "ts", "session"}``. State events (the message's own
event, ``snapshot``) carry ``id: <rev>``; beacons carry no id. sse-starlette's
``ServerSentEvent`` does the framing.
"""

from __future__ import annotations

import random
from typing import Final

from sse_starlette.event import ServerSentEvent

from us_common.bus import BusMessage, MessageType
from us_common.timeline import SessionSnapshot

SEP: Final = "\n"

EVENT_NAMES: Final[dict[MessageType, str]] = {
    "timeline": "timeline_update",
    "speaker": "speaker_change",
    "queue": "queue_change",
    "options": "options_change",
    "like": "like",
}

HEARTBEAT: Final = ServerSentEvent(comment="", sep=SEP).encode()


def _payload(rev: int, type_: str, ts: int, session_json: str) -> str:
    # The session is already JSON (pydantic); splicing it avoids a parse + re-dump per event.
    # ``type_`` comes from a closed set of names, so it needs no escaping.
    return f'{{"rev":{rev},"type":"{type_}","ts":{ts},"session":{session_json}}}'


def state_event(message: BusMessage, session_json: str) -> bytes:
    """The message's own event; ``ts`` is the message's, passed through unchanged."""
    data = _payload(message.rev, message.type, message.ts, session_json)
    return ServerSentEvent(data, event=EVENT_NAMES[message.type], id=str(message.rev), sep=SEP).encode()


def snapshot_event(rev: int, snapshot: SessionSnapshot, now_ms: int) -> bytes:
    """The whole state, position projected to ``now_ms`` (the sending time)."""
    data = _payload(rev, "snapshot", now_ms, snapshot.projected_to(now_ms).model_dump_json())
    return ServerSentEvent(data, event="snapshot", id=str(rev), sep=SEP).encode()


def beacon_event(rev: int, snapshot: SessionSnapshot, now_ms: int) -> bytes:
    """``rev`` is the cache's current revision: a client that is behind knows it missed one."""
    data = _payload(rev, "beacon", now_ms, snapshot.projected_to(now_ms).model_dump_json())
    return ServerSentEvent(data, event="timeline_beacon", sep=SEP).encode()


def goodbye_event() -> bytes:
    """Sent before the server ends a stream: reconnect after a short, spread-out delay."""
    return ServerSentEvent(comment="reconnect", retry=random.randint(500, 3000), sep=SEP).encode()
