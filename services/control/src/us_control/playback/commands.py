"""Transport commands on the locked session: play, pause, toggle, seek, next, prev, ended,
failed, options, volume, the speaker — and revoking media tokens. Each is an ``apply`` for
:func:`us_control.playback.runner.run_command`.

Speaker truth (docs/PLAYBACK.md): nothing plays on an offline speaker. A play (or a toggle that
would play) sent by a device while the speaker is offline makes that device the speaker in the
same change; without a sending device it is a 409.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from uuid import UUID

from us_common.errors import Conflict, NotFound
from us_common.timeline import PlayState, RepeatMode
from us_control.devices.ownership import owned_device
from us_control.models import QueueItem, Track
from us_control.playback import repository as repo
from us_control.playback import rules
from us_control.playback.editor import SessionEditor
from us_control.playback.queue_edits import insert_tracks


async def settle_only(editor: SessionEditor) -> None:
    """Nothing beyond what settling already does (pause for an offline speaker, reset if stale)."""


def require_track(editor: SessionEditor) -> None:
    if editor.track is None:
        raise Conflict("nothing is playing: choose a track first")


async def ensure_speaker(editor: SessionEditor, device_uuid: UUID | None) -> None:
    """Before playing: an online speaker, else the sending device takes over (it is online: it
    just sent a command, which counts as its heartbeat)."""
    if editor.speaker_online:
        return
    if device_uuid is None:
        if editor.state.active_device_uuid is None:
            raise Conflict("no active speaker: choose a speaker, or send device_uuid to play on this device")
        raise Conflict("the speaker is offline: choose a speaker, or send device_uuid to play on this device")
    await set_speaker(editor, device_uuid)


async def set_speaker(editor: SessionEditor, device_uuid: UUID) -> None:
    state = editor.state
    await owned_device(editor.db, state.user_uuid, device_uuid)
    if state.active_device_uuid == device_uuid:
        return
    # The timeline is already settled at now: the new speaker continues at the projected position.
    state.active_device_uuid = device_uuid
    state.media_epoch += 1
    editor.speaker_seen = (
        editor.here_now()
        if device_uuid == editor.sender_device_uuid
        else await repo.device_presence(editor.db, device_uuid)
    )
    editor.mark("speaker")
    if not editor.speaker_online:
        # Handing playback to a device that is not there: it waits, paused, for the device.
        editor.set_timeline(rules.pause(editor.timeline, editor.now_ms))


async def revoke_media_tokens(editor: SessionEditor) -> None:
    """Same speaker, new epoch: every media token of the user dies; the speaker mints again."""
    editor.state.media_epoch += 1
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
    if editor.state.play_state != PlayState.PLAYING:
        # What a play needs: something to play, and a speaker.
        require_track(editor)
        await ensure_speaker(editor, device_uuid)
    editor.set_timeline(rules.toggle(editor.timeline, editor.now_ms))


async def seek(editor: SessionEditor, position_ms: int) -> None:
    require_track(editor)
    editor.set_timeline(rules.seek(editor.timeline, editor.now_ms, position_ms))


def _keep_playing(editor: SessionEditor) -> PlayState:
    """The state after moving to another item: playing stays playing, anything else pauses."""
    return PlayState.PLAYING if editor.state.play_state == PlayState.PLAYING else PlayState.PAUSED


async def skip_next(editor: SessionEditor) -> None:
    require_track(editor)
    repeat = RepeatMode(editor.state.repeat_mode)
    target = rules.next_position(editor.parts.queue_length, editor.order_position, repeat)
    if target is None or not await editor.advance(target, _keep_playing(editor)):
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
    await editor.go_to(item, _keep_playing(editor), left_as="queued")


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


async def failed(editor: SessionEditor, track_uuid: UUID, device_uuid: UUID, reason: str | None) -> None:
    """The speaker cannot fetch or decode the current track: the item becomes ``failed`` and
    playback moves past it as ``next`` would — also under repeat ``one`` (an unplayable item is
    not replayed); when no playable item is left (repeat ``all`` over failed items included) the
    session stops on it."""
    state = editor.state
    if state.active_device_uuid != device_uuid:
        raise Conflict("only the active speaker reports a track it cannot play")
    failed_item = state.current_item_uuid
    if failed_item is None or editor.track is None or track_uuid != state.track_uuid:
        return  # stale: another track is current by now
    editor.record_failure(failed_item, editor.track, reason)
    repeat = RepeatMode(state.repeat_mode)
    target = rules.next_position(editor.parts.queue_length, editor.order_position, repeat)
    moving_on = _keep_playing(editor)
    if target is not None and await editor.advance(target, moving_on, left_as="failed", exclude=failed_item):
        return
    await repo.set_item_status(editor.db, failed_item, "failed")
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
