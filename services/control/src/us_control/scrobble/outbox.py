"""The transactional outbox: the two calls playback makes (CONTRACTS C6), written in its transaction.

- :func:`relay_listen` — where a ``Listen`` is counted: one outbox entry per target the user has
  at that moment (paused ones included: they wait), with the exact listen that will be sent.
- :func:`announce_playing` — where a track starts playing: a ``playing_now`` for each target
  that is not paused (best effort: it expires with the track and is never retried).

Both are plain calls (the editor that counts listens is synchronous): they stage what to write
on the database session, and the rows are inserted by the flush that inserts the listen, in the
same transaction. A rollback (a failed command, or a GET that only looks at the state) drops
what was staged together with the listen, so an outbox entry exists exactly when its listen does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction

from us_control.models import Listen, Track
from us_control.scrobble.listen_payload import listen_started_at_s, track_metadata

_STAGED = "us_scrobble_staged"

_INSERT_ENTRIES = text(
    """
    INSERT INTO scrobble_outbox
        (entry_uuid, target_uuid, listen_uuid, listened_at, track_metadata, state, maybe_sent, attempts)
    SELECT gen_random_uuid(), t.target_uuid, :listen_uuid, :listened_at, CAST(:metadata AS jsonb),
           'pending', false, 0
    FROM scrobble_target t WHERE t.user_uuid = :user_uuid
    ON CONFLICT (target_uuid, listen_uuid) DO NOTHING
    """
)
_UPSERT_NOW_PLAYING = text(
    """
    INSERT INTO scrobble_now_playing (target_uuid, track_metadata, expires_at, created_at)
    SELECT t.target_uuid, CAST(:metadata AS jsonb), :expires_at, now()
    FROM scrobble_target t WHERE t.user_uuid = :user_uuid AND NOT t.paused
    ON CONFLICT (target_uuid) DO UPDATE
        SET track_metadata = EXCLUDED.track_metadata, expires_at = EXCLUDED.expires_at,
            created_at = EXCLUDED.created_at
    """
)


@dataclass(frozen=True, slots=True)
class _Staged:
    statement: Any
    params: dict[str, Any]


def _stage(db: AsyncSession | Session, staged: _Staged) -> None:
    session = db.sync_session if isinstance(db, AsyncSession) else db
    session.info.setdefault(_STAGED, []).append(staged)


def relay_listen(db: AsyncSession | Session, listen: Listen, track: Track) -> None:
    """Queue ``listen`` for every scrobble target of its user, in the listen's own transaction."""
    _stage(
        db,
        _Staged(
            _INSERT_ENTRIES,
            {
                "listen_uuid": listen.listen_uuid,
                "user_uuid": listen.user_uuid,
                "listened_at": listen_started_at_s(listen),
                "metadata": json.dumps(track_metadata(track)),
            },
        ),
    )


def announce_playing(db: AsyncSession | Session, user_uuid: UUID, track: Track, now_ms: int) -> None:
    """Tell the user's targets that ``track`` started playing (ListenBrainz ``playing_now``)."""
    expires = datetime.fromtimestamp(now_ms / 1000, UTC) + timedelta(milliseconds=max(track.duration_ms, 30_000))
    _stage(
        db,
        _Staged(
            _UPSERT_NOW_PLAYING,
            {"user_uuid": user_uuid, "metadata": json.dumps(track_metadata(track)), "expires_at": expires},
        ),
    )


async def write_staged(db: AsyncSession) -> None:
    """Write what is still staged after a flush that had no ORM work (the session row itself is
    written by playback's runner in plain SQL, so a flush may have had nothing to do)."""
    for staged in db.sync_session.info.pop(_STAGED, ()):
        await db.execute(staged.statement, staged.params)


@event.listens_for(Session, "after_flush")
def _write_staged(session: Session, _: UOWTransaction) -> None:
    # The listen rows of this flush are inserted by now; the entries referencing them follow.
    for staged in session.info.pop(_STAGED, ()):
        session.connection().execute(staged.statement, staged.params)


@event.listens_for(Session, "after_soft_rollback")
def _drop_staged(session: Session, _: Any) -> None:
    session.info.pop(_STAGED, None)
