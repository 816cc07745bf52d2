"""Playback rules as pure functions: no database, no clock of their own, no I/O.

Every function takes the shared-clock time ``now_ms`` from its caller, so the same inputs give
the same answer in a unit test, in any worker and on any host.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from uuid import UUID

from us_common.timeline import Actions, PlayState, RepeatMode, project_position_ms

# `prev` restarts the current track when more than this far in; otherwise it goes back one.
PREV_RESTART_THRESHOLD_MS = 3000
# A listen needs half the track or this much, whichever is less ...
LISTEN_CAP_MS = 4 * 60 * 1000
# ... and a track shorter than this never counts.
LISTEN_MIN_TRACK_MS = 30 * 1000


@dataclass(frozen=True, slots=True)
class Timeline:
    """Where playback is: ``position_ms`` as of ``since_ms`` on the shared clock."""

    position_ms: int
    play_state: PlayState
    since_ms: int
    duration_ms: int | None

    def at(self, now_ms: int) -> int:
        return project_position_ms(self.position_ms, self.play_state, self.since_ms, now_ms, self.duration_ms)

    def settled(self, now_ms: int) -> Timeline:
        """The same playback, re-expressed at ``now_ms`` (changes nothing observable)."""
        return replace(self, position_ms=self.at(now_ms), since_ms=now_ms)


def _clamp(position_ms: int, duration_ms: int | None) -> int:
    upper = duration_ms if duration_ms is not None else position_ms
    return max(0, min(position_ms, upper))


def play(tl: Timeline, now_ms: int, position_ms: int | None = None) -> Timeline:
    base = tl.settled(now_ms)
    position = base.position_ms if position_ms is None else _clamp(position_ms, tl.duration_ms)
    # Playing from the very end of a stopped/finished track starts it again.
    if position_ms is None and tl.duration_ms is not None and position >= tl.duration_ms:
        position = 0
    return replace(base, position_ms=position, play_state=PlayState.PLAYING)


def pause(tl: Timeline, now_ms: int) -> Timeline:
    base = tl.settled(now_ms)
    if base.play_state == PlayState.STOPPED:
        return base
    return replace(base, play_state=PlayState.PAUSED)


def toggle(tl: Timeline, now_ms: int) -> Timeline:
    return pause(tl, now_ms) if tl.play_state == PlayState.PLAYING else play(tl, now_ms)


def seek(tl: Timeline, now_ms: int, position_ms: int) -> Timeline:
    base = tl.settled(now_ms)
    state = PlayState.PAUSED if base.play_state == PlayState.STOPPED else base.play_state
    return replace(base, position_ms=_clamp(position_ms, tl.duration_ms), play_state=state)


def start_track(duration_ms: int | None, now_ms: int, play_state: PlayState) -> Timeline:
    """A new current track at 0, keeping whether we were playing."""
    state = PlayState.PLAYING if play_state == PlayState.PLAYING else PlayState.PAUSED
    return Timeline(0, state, now_ms, duration_ms)


def stopped_at_start(duration_ms: int | None, now_ms: int) -> Timeline:
    return Timeline(0, PlayState.STOPPED, now_ms, duration_ms)


# --- queue navigation (positions in play order: queue order, or the shuffle permutation) -----


def next_position(length: int, current: int | None, repeat: RepeatMode) -> int | None:
    """Where `next` goes; None at the end of the queue (repeat `one` behaves as `off` here)."""
    if length == 0:
        return None
    if current is None:
        return 0
    if current + 1 < length:
        return current + 1
    return 0 if repeat == RepeatMode.ALL else None


def prev_position(length: int, current: int | None, repeat: RepeatMode) -> int | None:
    """Where `prev` goes back to; None when there is nothing before (then it restarts)."""
    if length == 0 or current is None:
        return None
    if current > 0:
        return current - 1
    return length - 1 if repeat == RepeatMode.ALL and length > 1 else None


def ended_position(length: int, current: int | None, repeat: RepeatMode) -> int | None:
    """Where playback goes when the current track finishes; None = stop on the last item."""
    if repeat == RepeatMode.ONE and current is not None:
        return current
    return next_position(length, current, repeat)


def prev_restarts(position_ms: int) -> bool:
    return position_ms > PREV_RESTART_THRESHOLD_MS


def allowed_actions(
    *, has_track: bool, playing: bool, length: int, current: int | None, repeat: RepeatMode
) -> Actions:
    can_play = has_track or length > 0
    return Actions(
        play=can_play and not playing,
        pause=playing,
        next=has_track and next_position(length, current, repeat) is not None,
        prev=has_track,
        seek=has_track,
    )


# --- shuffle -------------------------------------------------------------------------------


def shuffle_order(item_ids: list[UUID], current: UUID | None, rng: random.Random) -> list[UUID]:
    """A permutation with the current item first and every other item in random order."""
    rest = [item for item in item_ids if item != current]
    rng.shuffle(rest)
    return ([current] if current is not None and current in item_ids else []) + rest


def insert_shuffled(
    order: list[UUID], new_items: list[UUID], after: int | None, rng: random.Random, play_next: bool
) -> list[UUID]:
    """Place new items into a permutation: right after the current one (``play_next``), or at
    random places among the items still to come, keeping the new items' own order."""
    start = 0 if after is None else after + 1
    if play_next:
        return order[:start] + new_items + order[start:]
    upcoming = order[start:]
    slots = sorted(rng.randint(0, len(upcoming)) for _ in new_items)
    merged: list[UUID] = []
    cursor = 0
    for item, slot in zip(new_items, slots, strict=True):
        merged.extend(upcoming[cursor:slot])
        cursor = max(cursor, slot)
        merged.append(item)
    merged.extend(upcoming[cursor:])
    return order[:start] + merged


# --- listens -------------------------------------------------------------------------------


def listen_threshold_ms(duration_ms: int) -> int | None:
    """How long a track must really play to count; None for tracks that never count."""
    if duration_ms < LISTEN_MIN_TRACK_MS:
        return None
    return min(duration_ms // 2, LISTEN_CAP_MS)


def accrue_listened(listened_ms: int, tl: Timeline, now_ms: int) -> int:
    """Add the time that really played since ``tl.since_ms`` (seeks move position, not time)."""
    if tl.play_state != PlayState.PLAYING:
        return listened_ms
    elapsed = max(0, now_ms - tl.since_ms)
    remaining = max(0, (tl.duration_ms or 0) - tl.position_ms) if tl.duration_ms is not None else elapsed
    return listened_ms + min(elapsed, remaining)


def counts_as_listen(listened_ms: int, duration_ms: int) -> bool:
    threshold = listen_threshold_ms(duration_ms)
    return threshold is not None and listened_ms >= threshold


# --- presence and staleness ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Presence:
    """When a device counts as online: a heartbeat within the window, and no "leaving" older
    than the leave grace (a reload comes back within it; a closed tab does not)."""

    window_ms: int
    leave_grace_ms: int

    def last_heard_ms(self, last_seen_ms: int | None, left_ms: int | None, now_ms: int) -> int | None:
        """``None`` while the device is online; else the last moment it is known to have been
        there (its last heartbeat, or when it said it was leaving). Unknown devices: ``now``."""
        if last_seen_ms is None:
            return now_ms
        if left_ms is not None and now_ms - left_ms >= self.leave_grace_ms:
            return left_ms
        if now_ms - last_seen_ms > self.window_ms:
            return last_seen_ms
        return None

    def online(self, last_seen_ms: int | None, left_ms: int | None, now_ms: int) -> bool:
        return self.last_heard_ms(last_seen_ms, left_ms, now_ms) is None


def vanished_speaker_pause(tl: Timeline, speaker_last_seen_ms: int | None, now_ms: int) -> Timeline:
    """Pause where the vanished speaker was last known to play (its last heartbeat)."""
    until = now_ms if speaker_last_seen_ms is None else max(tl.since_ms, min(now_ms, speaker_last_seen_ms))
    return replace(tl.settled(until), play_state=PlayState.PAUSED, since_ms=now_ms)


def stale_reset(tl: Timeline, now_ms: int) -> Timeline:
    """A session untouched for long resumes paused at 0 on the same track."""
    state = PlayState.STOPPED if tl.play_state == PlayState.STOPPED else PlayState.PAUSED
    return Timeline(0, state, now_ms, tl.duration_ms)
