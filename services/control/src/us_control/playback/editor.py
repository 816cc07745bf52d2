"""The locked session of one command: its row, what a command needs around it, and the moves
every command shares — settle the row to ``now``, make an item current, advance through the queue.

A :class:`SessionEditor` only changes the row and flushes; :mod:`us_control.playback.runner`
opens it, bumps the revision once and hands the result to the unit of work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from us_common.bus import MessageType
from us_common.timeline import PlayState, RepeatMode, SessionSnapshot
from us_control.models import Listen, QueueItem, Track
from us_control.playback import repository as repo
from us_control.playback import rules
from us_control.playback.snapshot import build_snapshot
from us_control.playback.state import SessionRow
from us_control.scrobble import outbox as scrobble_outbox
from us_control.settings import ControlSettings

# One message per request: when a request changes several things, the most telling type wins
# (a client re-renders the whole session from any event, and refetches the queue on "queue").
_TYPE_PRIORITY: dict[MessageType, int] = {"queue": 5, "speaker": 4, "timeline": 3, "options": 2, "like": 1}


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent a command: its idempotence key and the sending device (both optional)."""

    client_event_uuid: UUID | None = None
    device_uuid: UUID | None = None


class SessionEditor:
    """A locked session row and what a command needs to change it."""

    def __init__(
        self,
        db: AsyncSession,
        state: SessionRow,
        parts: repo.SessionParts,
        track: Track | None,
        settings: ControlSettings,
        sender_device_uuid: UUID | None = None,
    ) -> None:
        self.db = db
        self.state = state
        self.parts = parts
        self.track = track
        self.settings = settings
        self.now_ms = parts.now_ms
        self.message_type: MessageType | None = None
        self.parts_stale = False
        self.presence = presence_rule(settings)
        # The sending device is here now, whatever its stored last_seen says (the runner writes
        # its heartbeat with the change).
        self.sender_device_uuid = sender_device_uuid
        self.touch_sender: UUID | None = None
        # (last_seen_ms, left_ms) of the active speaker; replaced when the speaker changes.
        self.speaker_seen: tuple[int | None, int | None] = (
            self.here_now()
            if sender_device_uuid is not None and sender_device_uuid == state.active_device_uuid
            else (parts.speaker_last_seen_ms, parts.speaker_left_ms)
        )

    # --- change tracking ------------------------------------------------------------------

    def mark(self, message_type: MessageType, parts_stale: bool = False) -> None:
        if self.message_type is None or _TYPE_PRIORITY[message_type] > _TYPE_PRIORITY[self.message_type]:
            self.message_type = message_type
        self.parts_stale = self.parts_stale or parts_stale

    # --- timeline -------------------------------------------------------------------------

    @property
    def duration_ms(self) -> int | None:
        return self.track.duration_ms if self.track else None

    @property
    def timeline(self) -> rules.Timeline:
        s = self.state
        return rules.Timeline(s.position_ms, PlayState(s.play_state), s.last_update_ms, self.duration_ms)

    def _write_timeline(self, tl: rules.Timeline) -> None:
        if tl.play_state == PlayState.PLAYING and self.state.listened_ms == 0 and self.track is not None:
            scrobble_outbox.announce_playing(self.db, self.state.user_uuid, self.track, self.now_ms)  # C6
        self.state.position_ms = tl.position_ms
        self.state.play_state = tl.play_state.value
        self.state.last_update_ms = tl.since_ms

    def set_timeline(self, tl: rules.Timeline) -> None:
        """Apply a new timeline; it is a change only if position or state differ observably."""
        before = self.timeline
        self._write_timeline(tl)
        if before.at(self.now_ms) != tl.at(self.now_ms) or before.play_state != tl.play_state:
            self.mark("timeline")

    def settled(self) -> tuple[rules.Timeline, int]:
        """The timeline and the really-played time as of ``now``, computed without writing:
        a session playing on an offline speaker paused where the speaker was last heard, a stale
        session reset."""
        tl = self.timeline
        listened = self.state.listened_ms
        heard = self.speaker_last_heard_ms if tl.play_state == PlayState.PLAYING else None
        if heard is not None:
            listened = rules.accrue_listened(listened, tl, min(self.now_ms, heard))
            now_tl = rules.vanished_speaker_pause(tl, heard, self.now_ms)
        else:
            listened = rules.accrue_listened(listened, tl, self.now_ms)
            now_tl = tl.settled(self.now_ms)
        if self.is_stale(tl):
            now_tl = rules.stale_reset(now_tl, self.now_ms)
        return now_tl, listened

    def settle(self) -> None:
        """Bring the row to ``now`` and count the time that really played towards a listen.
        Changes only what time already changed."""
        now_tl, listened = self.settled()
        self.state.listened_ms = listened
        self.set_timeline(now_tl)
        self.record_listen_if_due()

    def here_now(self) -> tuple[int | None, int | None]:
        """The presence of a device that has just shown a sign of life."""
        return (self.now_ms, None)

    @property
    def speaker_last_heard_ms(self) -> int | None:
        """``None`` while the active speaker is online; else when it was last known there."""
        if self.state.active_device_uuid is None:
            return self.now_ms
        return self.presence.last_heard_ms(*self.speaker_seen, self.now_ms)

    @property
    def speaker_online(self) -> bool:
        return self.state.active_device_uuid is not None and self.speaker_last_heard_ms is None

    def is_stale(self, tl: rules.Timeline) -> bool:
        old = self.now_ms - tl.since_ms > self.settings.stale_session_s * 1000
        return old and self.track is not None and (tl.position_ms > 0 or tl.play_state == PlayState.PLAYING)

    def snapshot(
        self,
        parts: repo.SessionParts | None = None,
        now_ms: int | None = None,
        timeline: rules.Timeline | None = None,
    ) -> SessionSnapshot:
        return build_snapshot(
            self.state,
            parts or self.parts,
            self.track,
            now_ms=now_ms,
            timeline=timeline,
            speaker_online=self.speaker_online,
        )

    # --- listens and failures -------------------------------------------------------------

    def record_listen_if_due(self) -> None:
        """The one place a ``Listen`` is counted (once per play of an item; docs/PLAYBACK.md)."""
        if self.track is None or self.state.listen_recorded:
            return
        if rules.counts_as_listen(self.state.listened_ms, self.track.duration_ms):
            listen = Listen(
                user_uuid=self.state.user_uuid,
                track_uuid=self.track.track_uuid,
                played_ms=self.state.listened_ms,
                listened_at=datetime.fromtimestamp(self.now_ms / 1000, UTC),
            )
            self.db.add(listen)
            scrobble_outbox.relay_listen(self.db, listen, self.track)  # same transaction (C6)
            self.state.listen_recorded = True

    def record_failure(self, item_uuid: UUID, track: Track | None, reason: str | None) -> None:
        """Remember the most recent failed item (the snapshot's ``last_failure``)."""
        self.state.last_failure = {
            "item_uuid": str(item_uuid),
            "track_uuid": str(track.track_uuid) if track else None,
            "title": track.title if track else None,
            "reason": reason,
            "at_ms": self.now_ms,
        }
        self.mark("queue", parts_stale=True)

    # --- queue position -------------------------------------------------------------------

    @property
    def order_position(self) -> int | None:
        return self.parts.item_shuffle_idx if self.state.shuffle else self.parts.item_idx

    async def go_to(self, item: QueueItem | None, play_state: PlayState, left_as: str = "played") -> None:
        """Make ``item`` current at position 0 (``None``: nothing current)."""
        if self.state.current_item_uuid is not None and (
            item is None or item.item_uuid != self.state.current_item_uuid
        ):
            await repo.set_item_status(self.db, self.state.current_item_uuid, left_as)
        previous_item = self.state.current_item_uuid
        self.state.current_item_uuid = item.item_uuid if item else None
        self.state.track_uuid = item.track_uuid if item else None
        self.track = await repo.get_track(self.db, self.state.track_uuid)
        if item is not None:
            item.status = "playing"
        self.state.listened_ms = 0
        self.state.listen_recorded = False
        if item is None:
            self._write_timeline(rules.stopped_at_start(None, self.now_ms))
        else:
            self._write_timeline(rules.start_track(self.duration_ms, self.now_ms, play_state))
        if previous_item != self.state.current_item_uuid:
            self.mark("timeline", parts_stale=True)

    async def item_at(self, position: int) -> QueueItem | None:
        return await repo.item_at(self.db, self.state.user_uuid, position, self.state.shuffle)

    async def advance(
        self,
        position: int | None,
        play_state: PlayState,
        left_as: str = "played",
        exclude: UUID | None = None,
    ) -> bool:
        """Move to the first playable item from ``position`` on in play order, leaving the
        current one as ``left_as``. Items that failed before (and ``exclude``) are skipped;
        items whose track became unavailable are marked failed and skipped. False when none
        is left."""
        length = self.parts.queue_length
        tried = 0
        while position is not None and tried < length:
            item = await self.item_at(position)
            if item is None:
                return False
            if item.status != "failed" and item.item_uuid != exclude:
                track = await repo.get_track(self.db, item.track_uuid)
                if track is not None and track.available:
                    await self.go_to(item, play_state, left_as)
                    return True
                item.status = "failed"
                self.record_failure(item.item_uuid, track, "the file is gone")
            tried += 1
            position = rules.next_position(length, position, RepeatMode(self.state.repeat_mode))
        return False


# A command: what it changes on the locked session (the runner does the rest).
Apply = Callable[[SessionEditor], Awaitable[None]]


def presence_rule(settings: ControlSettings) -> rules.Presence:
    return rules.Presence(
        window_ms=settings.presence_window_s * 1000, leave_grace_ms=int(settings.leave_grace_s * 1000)
    )
