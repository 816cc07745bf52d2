"""Liking and unliking a track: a session change (one revision, one ``like`` message) so that
every device's heart follows. An ``apply`` for :func:`us_control.playback.runner.run_command`.
"""

from __future__ import annotations

from uuid import UUID

from us_control.playback import repository as repo
from us_control.playback.editor import SessionEditor


async def set_like(editor: SessionEditor, track_uuid: UUID, liked: bool) -> None:
    user_uuid = editor.state.user_uuid
    if liked:
        changed = await repo.add_like(editor.db, user_uuid, track_uuid)
    else:
        changed = await repo.remove_like(editor.db, user_uuid, track_uuid)
    if changed:
        editor.mark("like", parts_stale=True)
