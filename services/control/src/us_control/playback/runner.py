"""Running a command and reading a snapshot, inside the request's unit of work.

Every state-changing route calls :func:`run_command` with a small ``apply`` function (a command
of :mod:`~us_control.playback.commands`, :mod:`~us_control.playback.queue_edits`, …): lock the
row, skip a repeated ``client_event_uuid``, settle, apply, bump the revision once, queue one
publish on the unit of work. Nothing here commits, rolls back or talks to Redis.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from us_common.bus import SessionCache
from us_common.errors import NotFound
from us_common.timeline import SessionSnapshot
from us_control.playback import repository as repo
from us_control.playback.editor import Apply, Sender, SessionEditor
from us_control.playback.state import SessionRow
from us_control.scrobble import outbox as scrobble_outbox
from us_control.settings import ControlSettings
from us_control.uow import UnitOfWork


async def open_editor(
    db: AsyncSession,
    settings: ControlSettings,
    user_uuid: UUID,
    session_uuid: UUID | None,
    sender: Sender,
) -> tuple[SessionEditor, bool]:
    """Lock and load the session (one statement); the flag says the command was already applied."""
    read = await _read(db, user_uuid, session_uuid, sender, lock=True)
    if sender.device_uuid is not None and read.sender_user_uuid != user_uuid:
        raise NotFound("device not found")  # unknown, or another user's: the same answer
    track, parts = read.track, read.parts
    if not read.consistent:
        # Another command committed while this one waited for the lock: read what it changed.
        parts = await repo.session_parts(db, read.state, sender.client_event_uuid)
        track = await repo.get_track(db, read.state.track_uuid)
    editor = SessionEditor(db, read.state, parts, track, settings, sender_device_uuid=sender.device_uuid)
    # A device that sends commands is alive (its heartbeat is written with the change, or alone).
    editor.touch_sender = sender.device_uuid if read.sender_needs_touch else None
    return editor, parts.applied_revision is not None


async def _read(
    db: AsyncSession, user_uuid: UUID, session_uuid: UUID | None, sender: Sender, *, lock: bool
) -> repo.SessionRead:
    def attempt() -> Awaitable[repo.SessionRead | None]:
        return repo.read_session_for_command(
            db,
            user_uuid,
            session_uuid,
            lock=lock,
            client_event_uuid=sender.client_event_uuid,
            sender_device_uuid=sender.device_uuid,
        )

    read = await attempt()
    if read is None and session_uuid is None:
        await repo.create_session_if_missing(db, user_uuid)
        read = await attempt()
    if read is None:
        raise NotFound("session not found")
    return read


async def run_command(
    uow: UnitOfWork,
    settings: ControlSettings,
    user_uuid: UUID,
    apply: Apply,
    *,
    session_uuid: UUID | None = None,
    sender: Sender = Sender(),
) -> SessionSnapshot:
    snapshot, _ = await run_command_json(
        uow, settings, user_uuid, apply, session_uuid=session_uuid, sender=sender
    )
    return snapshot


async def run_command_json(
    uow: UnitOfWork,
    settings: ControlSettings,
    user_uuid: UUID,
    apply: Apply,
    *,
    session_uuid: UUID | None = None,
    sender: Sender = Sender(),
) -> tuple[SessionSnapshot, str]:
    """The command, and the snapshot after it as JSON (serialised once: the response and the
    cache share it)."""
    db = uow.db
    editor, already_applied = await open_editor(db, settings, user_uuid, session_uuid, sender)
    if not already_applied:
        editor.settle()
        await apply(editor)
    if already_applied or editor.message_type is None:
        if editor.touch_sender is not None:
            await repo.touch_sender(db, editor.touch_sender)
        snapshot = editor.snapshot()
        return snapshot, snapshot.model_dump_json()
    state = editor.state
    state.revision += 1
    state.updated_at = datetime.fromtimestamp(editor.now_ms / 1000, UTC)
    # ORM work of the command (queue items, a listen) and what scrobble staged with it, first.
    await db.flush()
    await scrobble_outbox.write_staged(db)
    await repo.write_session(db, state, sender.client_event_uuid, editor.touch_sender)
    parts = editor.parts
    if editor.parts_stale:
        parts = await repo.session_parts(db, state)
    snapshot = editor.snapshot(parts, now_ms=editor.now_ms)
    snapshot_json = snapshot.model_dump_json()
    cache = session_cache(state, parts, snapshot, snapshot_json)
    uow.publish_after_commit(user_uuid, cache, editor.message_type)
    return snapshot, snapshot_json


def session_cache(
    state: SessionRow, parts: repo.SessionParts, snapshot: SessionSnapshot, snapshot_json: str | None = None
) -> SessionCache:
    return SessionCache(
        rev=state.revision,
        snapshot=snapshot,
        media_epoch=state.media_epoch,
        active_device_uuid=str(state.active_device_uuid) if state.active_device_uuid else None,
        session_uuid=str(state.session_uuid),
        device_uuids=parts.device_uuids,
        snapshot_json=snapshot_json,
    )


async def read_snapshot(
    db: AsyncSession, settings: ControlSettings, user_uuid: UUID
) -> tuple[SessionSnapshot, SessionCache]:
    """The snapshot a GET shows and the cache of the stored state.

    The view is the stored state seen at ``now`` (a vanished speaker or a stale session already
    shown paused, as the sweeper will persist it), computed without touching the row. A user
    without a session row gets one here, committed by the request's unit of work."""
    read = await _read(db, user_uuid, None, Sender(), lock=False)
    state, parts, track = read.state, read.parts, read.track
    editor = SessionEditor(db, state, parts, track, settings)
    seen_now, _ = editor.settled()
    return editor.snapshot(timeline=seen_now), session_cache(state, parts, editor.snapshot())
