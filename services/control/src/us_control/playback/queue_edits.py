"""Queue edits on the locked session: insert (end or next, shuffle-aware), enqueue (replace),
remove, move, clear. Each is an ``apply`` for :func:`us_control.playback.runner.run_command`.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Literal
from uuid import UUID

from us_common.errors import NotFound
from us_common.timeline import PlayState
from us_control.models import QueueItem
from us_control.playback import repository as repo
from us_control.playback import rules
from us_control.playback.editor import SessionEditor

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
