"""Session commands: lock the row, apply the rules, bump the revision once, queue one publish.

Every state-changing route calls :func:`run_command` with a small ``apply`` function. The
command runs inside the request's unit of work; this module flushes, never commits or publishes.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from us_common.bus import MessageType, SessionCache
from us_common.errors import Conflict, NotFound
from us_common.timeline import PlayState, RepeatMode, SessionSnapshot
from us_control.models import Listen, QueueItem, SessionState, Track
from us_control.playback import repository as repo
from us_control.playback import rules
from us_control.playback.snapshot import build_snapshot
from us_control.settings import ControlSettings
from us_control.uow import UnitOfWork

# One message per request: when a request changes several things, the most telling type wins
# (a client re-renders the whole session from any event, and refetches the queue on "queue").
_TYPE_PRIORITY: dict[MessageType, int] = {"queue": 5, "speaker": 4, "timeline": 3, "options": 2, "like": 1}


@dataclass(frozen=True, slots=True)
class Sender:
    client_event_uuid: UUID | None = None
    device_uuid: UUID | None = None


class SessionEditor:
    """A locked session row and what a command needs to change it."""

    def __init__(
        self,
        db: AsyncSession,
        state: SessionState,
        parts: repo.SessionParts,
        track: Track | None,
        settings: ControlSettings,
    ) -> None:
        self.db = db
        self.state = state
        self.parts = parts
        self.track = track
        self.settings = settings
        self.now_ms = parts.now_ms
        self.message_type: MessageType | None = None
        self.parts_stale = False

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
        self.state.position_ms = tl.position_ms
        self.state.play_state = tl.play_state.value
        self.state.last_update_ms = tl.since_ms

    def set_timeline(self, tl: rules.Timeline) -> None:
        """Apply a new timeline; it is a change only if position or state differ observably."""
        before = self.timeline
        self._write_timeline(tl)
        if before.at(self.now_ms) != tl.at(self.now_ms) or before.play_state != tl.play_state:
            self.mark("timeline")

    def settle(self) -> None:
        """Bring the row to ``now``: pause a vanished speaker, reset a stale session, and count
        the time that really played towards a listen. Changes only what time already changed."""
        tl = self.timeline
        if self.speaker_vanished():
            self.state.listened_ms = rules.accrue_listened(
                self.state.listened_ms, tl, min(self.now_ms, self.parts.speaker_last_seen_ms or self.now_ms)
            )
            self.set_timeline(rules.vanished_speaker_pause(tl, self.parts.speaker_last_seen_ms, self.now_ms))
        else:
            self.state.listened_ms = rules.accrue_listened(self.state.listened_ms, tl, self.now_ms)
            self._write_timeline(tl.settled(self.now_ms))
        if self.is_stale(tl):
            self.set_timeline(rules.stale_reset(self.timeline, self.now_ms))
        self._record_listen_if_due()

    def speaker_vanished(self) -> bool:
        if self.state.play_state != PlayState.PLAYING:
            return False
        gone_before = self.now_ms - (self.settings.presence_window_s + self.settings.speaker_grace_s) * 1000
        last_seen = self.parts.speaker_last_seen_ms
        return self.state.active_device_uuid is None or last_seen is None or last_seen < gone_before

    def is_stale(self, tl: rules.Timeline) -> bool:
        old = self.now_ms - tl.since_ms > self.settings.stale_session_s * 1000
        return old and self.track is not None and (tl.position_ms > 0 or tl.play_state == PlayState.PLAYING)

    def _record_listen_if_due(self) -> None:
        if self.track is None or self.state.listen_recorded:
            return
        if rules.counts_as_listen(self.state.listened_ms, self.track.duration_ms):
            self.db.add(
                Listen(
                    user_uuid=self.state.user_uuid,
                    track_uuid=self.track.track_uuid,
                    played_ms=self.state.listened_ms,
                    listened_at=datetime.fromtimestamp(self.now_ms / 1000, UTC),
                )
            )
            self.state.listen_recorded = True

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

    async def advance(self, position: int | None, play_state: PlayState) -> bool:
        """Move to the first available item from ``position`` on in play order; items whose
        track became unavailable are marked failed and skipped. False when none is left."""
        length = self.parts.queue_length
        tried = 0
        while position is not None and tried < length:
            item = await self.item_at(position)
            if item is None:
                return False
            track = await repo.get_track(self.db, item.track_uuid)
            if track is not None and track.available:
                await self.go_to(item, play_state)
                return True
            item.status = "failed"
            tried += 1
            position = rules.next_position(length, position, RepeatMode(self.state.repeat_mode))
        return False


# --- running a command ---------------------------------------------------------------------

Apply = Callable[[SessionEditor], Awaitable[None]]


async def open_editor(
    db: AsyncSession,
    settings: ControlSettings,
    user_uuid: UUID,
    session_uuid: UUID | None,
    sender: Sender,
) -> tuple[SessionEditor, bool]:
    """Lock and load the session; the flag says the command was already applied."""
    locked = await repo.lock_session(db, user_uuid, session_uuid)
    if locked is None:
        raise NotFound("session not found")
    state, track = locked
    if sender.device_uuid is not None:
        device = await repo.get_device(db, sender.device_uuid)
        if device is None or device.user_uuid != user_uuid:
            raise NotFound("device not found")
        # A device that sends commands is alive: count it as a heartbeat.
        await repo.touch_device(db, sender.device_uuid)
    parts = await repo.session_parts(db, state, sender.client_event_uuid)
    editor = SessionEditor(db, state, parts, track, settings)
    return editor, parts.applied_revision is not None


async def run_command(
    uow: UnitOfWork,
    settings: ControlSettings,
    user_uuid: UUID,
    apply: Apply,
    *,
    session_uuid: UUID | None = None,
    sender: Sender = Sender(),
) -> SessionSnapshot:
    db = uow.db
    editor, already_applied = await open_editor(db, settings, user_uuid, session_uuid, sender)
    if already_applied:
        return build_snapshot(editor.state, editor.parts, editor.track)
    editor.settle()
    await apply(editor)
    if editor.message_type is None:
        return build_snapshot(editor.state, editor.parts, editor.track)
    state = editor.state
    state.revision += 1
    state.updated_at = datetime.fromtimestamp(editor.now_ms / 1000, UTC)
    if sender.client_event_uuid is not None:
        await repo.record_applied_event(db, user_uuid, sender.client_event_uuid, state.revision)
    await db.flush()
    parts = editor.parts
    if editor.parts_stale:
        parts = await repo.session_parts(db, state)
    snapshot = build_snapshot(state, parts, editor.track, now_ms=editor.now_ms)
    uow.publish_after_commit(user_uuid, session_cache(state, parts, snapshot), editor.message_type)
    return snapshot


def session_cache(state: SessionState, parts: repo.SessionParts, snapshot: SessionSnapshot) -> SessionCache:
    return SessionCache(
        rev=state.revision,
        snapshot=snapshot,
        media_epoch=state.media_epoch,
        active_device_uuid=str(state.active_device_uuid) if state.active_device_uuid else None,
        session_uuid=str(state.session_uuid),
        device_uuids=parts.device_uuids,
    )


async def read_snapshot(
    db: AsyncSession, settings: ControlSettings, user_uuid: UUID
) -> tuple[SessionSnapshot, SessionCache]:
    """The snapshot a GET shows: the stored state seen at ``now`` (a vanished speaker or a stale
    session already shown paused, as the sweeper will persist it). Nothing is written."""
    found = await repo.read_session_and_track(db, user_uuid) or await repo.lock_session(db, user_uuid)
    if found is None:
        raise NotFound("session not found")
    state, track = found
    parts = await repo.session_parts(db, state)
    editor = SessionEditor(db, state, parts, track, settings)
    stored = build_snapshot(state, parts, editor.track)
    cache = session_cache(state, parts, stored)
    with db.no_autoflush:
        editor.settle()
        view = build_snapshot(state, parts, editor.track)
    await db.rollback()  # the view's adjustments are not persisted here (the sweeper does that)
    return view, cache


# --- the commands --------------------------------------------------------------------------


def require_track(editor: SessionEditor) -> None:
    if editor.track is None:
        raise Conflict("nothing is playing: choose a track first")


async def ensure_speaker(editor: SessionEditor, device_uuid: UUID | None) -> None:
    """`play` with no active speaker makes the sending device the speaker."""
    if editor.state.active_device_uuid is not None:
        return
    if device_uuid is None:
        raise Conflict("no active speaker: choose a speaker, or send device_uuid to play on this device")
    await set_speaker(editor, device_uuid)


async def set_speaker(editor: SessionEditor, device_uuid: UUID) -> None:
    state = editor.state
    device = await repo.get_device(editor.db, device_uuid)
    if device is None or device.user_uuid != state.user_uuid:
        raise NotFound("device not found")
    if state.active_device_uuid == device_uuid:
        return
    # The timeline is already settled at now: the new speaker continues at the projected position.
    state.active_device_uuid = device_uuid
    state.media_epoch += 1
    editor.mark("speaker")


async def play(
    editor: SessionEditor,
    *,
    track_uuid: UUID | None,
    item_uuid: UUID | None,
    position_ms: int | None,
    device_uuid: UUID | None,
    resolve_track: Callable[[UUID], Awaitable[Track]],
) -> None:
    await ensure_speaker(editor, device_uuid)
    state = editor.state
    target: QueueItem | None = None
    if item_uuid is not None:
        target = await repo.get_item(editor.db, state.user_uuid, item_uuid)
        if target is None:
            raise NotFound("queue item not found")
    elif track_uuid is not None and track_uuid != state.track_uuid:
        track = await resolve_track(track_uuid)
        if not track.available:
            raise Conflict("track is unavailable (its file is gone)")
        target = await repo.find_item_for_track(
            editor.db, state.user_uuid, track_uuid, state.shuffle, editor.order_position
        )
        if target is None:
            target = (await insert_tracks(editor, [track_uuid], "next"))[0]
    elif editor.track is None:
        if editor.parts.queue_length == 0:
            raise Conflict("nothing to play: the queue is empty")
        if not await editor.advance(0, PlayState.PLAYING):
            raise Conflict("nothing to play: no track in the queue is available")
    if target is not None and target.item_uuid != state.current_item_uuid:
        await editor.go_to(target, PlayState.PLAYING, left_as="played")
    if editor.track is not None and not editor.track.available:
        raise Conflict("track is unavailable (its file is gone)")
    editor.set_timeline(rules.play(editor.timeline, editor.now_ms, position_ms))


async def pause(editor: SessionEditor) -> None:
    editor.set_timeline(rules.pause(editor.timeline, editor.now_ms))


async def toggle(editor: SessionEditor, device_uuid: UUID | None) -> None:
    if editor.state.play_state == PlayState.PLAYING:
        await pause(editor)
        return
    require_track(editor)
    await ensure_speaker(editor, device_uuid)
    editor.set_timeline(rules.play(editor.timeline, editor.now_ms))


async def seek(editor: SessionEditor, position_ms: int) -> None:
    require_track(editor)
    editor.set_timeline(rules.seek(editor.timeline, editor.now_ms, position_ms))


async def skip_next(editor: SessionEditor) -> None:
    require_track(editor)
    repeat = RepeatMode(editor.state.repeat_mode)
    target = rules.next_position(editor.parts.queue_length, editor.order_position, repeat)
    state_after = PlayState.PLAYING if editor.state.play_state == PlayState.PLAYING else PlayState.PAUSED
    if target is None or not await editor.advance(target, state_after):
        raise Conflict("end of queue: there is no next track")


async def skip_prev(editor: SessionEditor) -> None:
    require_track(editor)
    tl = editor.timeline
    repeat = RepeatMode(editor.state.repeat_mode)
    target = rules.prev_position(editor.parts.queue_length, editor.order_position, repeat)
    if rules.prev_restarts(tl.position_ms) or target is None:
        editor.set_timeline(rules.seek(tl, editor.now_ms, 0))
        return
    item = await editor.item_at(target)
    state_after = PlayState.PLAYING if tl.play_state == PlayState.PLAYING else PlayState.PAUSED
    await editor.go_to(item, state_after, left_as="queued")


async def ended(editor: SessionEditor, track_uuid: UUID, device_uuid: UUID) -> None:
    state = editor.state
    if state.active_device_uuid != device_uuid:
        raise Conflict("only the active speaker reports the end of a track")
    tl = editor.timeline
    # Stale or duplicate reports change nothing: another track is current, or this one has
    # already restarted (repeat one) or was never played past its middle.
    if editor.track is None or track_uuid != state.track_uuid or tl.play_state != PlayState.PLAYING:
        return
    if tl.position_ms < (editor.track.duration_ms // 2):
        return
    repeat = RepeatMode(state.repeat_mode)
    target = rules.ended_position(editor.parts.queue_length, editor.order_position, repeat)
    if target is not None and target == editor.order_position:
        await repo.set_item_status(editor.db, state.current_item_uuid, "playing")
        state.listened_ms, state.listen_recorded = 0, False
        editor.set_timeline(rules.start_track(editor.duration_ms, editor.now_ms, PlayState.PLAYING))
        editor.mark("timeline")
        return
    if target is not None and await editor.advance(target, PlayState.PLAYING):
        return
    # End of the queue with repeat off: stay on the last item, stopped at 0.
    await repo.set_item_status(editor.db, state.current_item_uuid, "played")
    editor.set_timeline(rules.stopped_at_start(editor.duration_ms, editor.now_ms))


async def set_options(editor: SessionEditor, shuffle: bool | None, repeat_mode: RepeatMode | None) -> None:
    state = editor.state
    if repeat_mode is not None and repeat_mode.value != state.repeat_mode:
        state.repeat_mode = repeat_mode.value
        editor.mark("options")
    if shuffle is not None and shuffle != state.shuffle:
        state.shuffle = shuffle
        if shuffle:
            items = await repo.items_in_order(editor.db, state.user_uuid, shuffle=False)
            order = rules.shuffle_order(
                [i.item_uuid for i in items], state.current_item_uuid, random.Random()
            )
            await repo.set_shuffle_order(editor.db, state.user_uuid, order)
        else:
            await repo.clear_shuffle_order(editor.db, state.user_uuid)
        editor.mark("options", parts_stale=True)


async def set_volume(editor: SessionEditor, volume_percent: int) -> None:
    if editor.state.volume_percent != volume_percent:
        editor.state.volume_percent = volume_percent
        editor.mark("options")


# --- queue edits ---------------------------------------------------------------------------

EnqueuePosition = Literal["end", "next"]


async def insert_tracks(
    editor: SessionEditor, track_uuids: Sequence[UUID], position: EnqueuePosition
) -> list[QueueItem]:
    """Insert into the queue order (and the shuffle permutation when shuffled)."""
    state = editor.state
    length = editor.parts.queue_length
    at_idx = length if position == "end" or editor.parts.item_idx is None else editor.parts.item_idx + 1
    items = await repo.insert_items(editor.db, state.user_uuid, track_uuids, at_idx)
    if state.shuffle:
        ordered = await repo.items_in_order(editor.db, state.user_uuid, shuffle=True)
        existing = [i.item_uuid for i in ordered if i.shuffle_idx is not None]
        order = rules.insert_shuffled(
            existing,
            [i.item_uuid for i in items],
            editor.parts.item_shuffle_idx,
            random.Random(),
            position == "next",
        )
        await repo.set_shuffle_order(editor.db, state.user_uuid, order)
    editor.parts = dataclasses.replace(editor.parts, queue_length=length + len(items))
    editor.mark("queue", parts_stale=True)
    return items


async def enqueue(
    editor: SessionEditor, track_uuids: Sequence[UUID], position: EnqueuePosition, replace: bool
) -> None:
    if replace:
        await repo.delete_items(editor.db, editor.state.user_uuid)
        editor.state.current_item_uuid = None
        editor.parts = dataclasses.replace(editor.parts, queue_length=0, item_idx=None, item_shuffle_idx=None)
        was = PlayState(editor.state.play_state)
        items = await insert_tracks(editor, track_uuids, "end")
        first = (await editor.item_at(0)) if editor.state.shuffle else items[0]
        await editor.go_to(first, PlayState.PLAYING if was == PlayState.PLAYING else PlayState.PAUSED)
        editor.mark("queue")
        return
    await insert_tracks(editor, track_uuids, position)


async def remove_item(editor: SessionEditor, item_uuid: UUID) -> None:
    state = editor.state
    item = await repo.get_item(editor.db, state.user_uuid, item_uuid)
    if item is None:
        raise NotFound("queue item not found")
    if item_uuid == state.current_item_uuid:
        # The current item goes: continue with the one after it in play order, else before it.
        pos = editor.order_position or 0
        was = PlayState(state.play_state)
        neighbour = await editor.item_at(pos + 1) or (await editor.item_at(pos - 1) if pos > 0 else None)
        await editor.go_to(neighbour, was if was != PlayState.STOPPED else PlayState.PAUSED)
    await repo.delete_items(editor.db, state.user_uuid, only=item_uuid)
    await editor.db.flush()
    await repo.renumber(editor.db, state.user_uuid)
    editor.mark("queue", parts_stale=True)


async def move_item(editor: SessionEditor, item_uuid: UUID, to_idx: int) -> None:
    state = editor.state
    item = await repo.get_item(editor.db, state.user_uuid, item_uuid)
    if item is None:
        raise NotFound("queue item not found")
    target = min(to_idx, editor.parts.queue_length - 1)
    if target == item.idx:
        return
    await repo.move_item(editor.db, state.user_uuid, item, target)
    editor.mark("queue", parts_stale=True)


async def clear_queue(editor: SessionEditor) -> None:
    """Clear everything but the current item (the song playing keeps playing)."""
    removed = await repo.delete_items(editor.db, editor.state.user_uuid, keep=editor.state.current_item_uuid)
    if removed:
        await editor.db.flush()
        await repo.renumber(editor.db, editor.state.user_uuid)
        editor.mark("queue", parts_stale=True)


# --- likes ---------------------------------------------------------------------------------


async def set_like(editor: SessionEditor, track_uuid: UUID, liked: bool) -> None:
    user_uuid = editor.state.user_uuid
    if liked:
        changed = await repo.add_like(editor.db, user_uuid, track_uuid)
    else:
        changed = await repo.remove_like(editor.db, user_uuid, track_uuid)
    if changed:
        editor.mark("like", parts_stale=True)
