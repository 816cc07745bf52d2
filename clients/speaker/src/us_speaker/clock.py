"""The server's clock as seen from the box, and the session's projection.

Every snapshot carries ``server_time_ms`` (the server's shared clock). It was stamped before we
received it, so ``offset >= server_time_ms - received`` (a lower bound, from events and answers
alike); when it answers our request it was stamped after we sent it, so ``offset <=
server_time_ms - sent`` (an upper bound). The estimate is the tightest interval over the recent
samples (the middle of it once answers gave upper bounds). Local time is the monotonic clock
anchored once to the wall clock, so a wall-clock step on the box does not move the projection.
Samples that contradict each other by more than a second (the box slept, a clock was stepped)
restart the estimate. Same idea as the web player's ``clock.js``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

_ANCHOR_WALL_MS = time.time() * 1000
_ANCHOR_MONO = time.monotonic()


def local_now_ms(mono: float | None = None) -> float:
    return _ANCHOR_WALL_MS + ((time.monotonic() if mono is None else mono) - _ANCHOR_MONO) * 1000


@dataclass(frozen=True, slots=True)
class _Sample:
    lo: float
    hi: float
    at: float


class ServerClock:
    def __init__(self, window_s: float = 300, max_samples: int = 200) -> None:
        self.window_ms = window_s * 1000
        self.samples: deque[_Sample] = deque(maxlen=max_samples)
        self.offset_ms = 0.0

    def observe(self, server_time_ms: float, received_mono: float, sent_mono: float | None = None) -> None:
        received = local_now_ms(received_mono)
        hi = math.inf if sent_mono is None else server_time_ms - local_now_ms(sent_mono)
        self.samples.append(_Sample(server_time_ms - received, hi, received))
        while len(self.samples) > 1 and self.samples[0].at < received - self.window_ms:
            self.samples.popleft()
        lo = max(s.lo for s in self.samples)
        hi = min(s.hi for s in self.samples)
        if lo - hi > 1000:
            newest = self.samples[-1]
            self.samples.clear()
            self.samples.append(newest)
            lo, hi = newest.lo, newest.hi
        self.offset_ms = lo if hi == math.inf else (lo + hi) / 2

    def now_ms(self, mono: float | None = None) -> float:
        return local_now_ms(mono) + self.offset_ms


def projected_position_ms(snapshot: dict[str, Any], server_now_ms: float) -> float:
    """DESIGN.md's projection: position + elapsed while playing, clamped to [0, duration]."""
    track = snapshot.get("track")
    if not track:
        return 0.0
    position = float(snapshot["position_ms"])
    if snapshot.get("play_state") == "playing":
        position += server_now_ms - float(snapshot["server_time_ms"])
    return max(0.0, min(position, float(track["duration_ms"])))


def timeline_moved(prev: dict[str, Any] | None, new: dict[str, Any], tolerance_ms: float = 80) -> bool:
    """True when ``new`` is not the continuation of ``prev``'s timeline (seek, pause, new track…)."""
    if prev is None:
        return True
    for key in ("track_uuid", "play_state", "queue_position"):
        if prev.get(key) != new.get(key):
            return True
    at = float(new["server_time_ms"])
    return abs(projected_position_ms(prev, at) - projected_position_ms(new, at)) > tolerance_ms
