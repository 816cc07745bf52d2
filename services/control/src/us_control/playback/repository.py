"""Queries of the playback domain: the session row, the queue, devices, likes, listens.

Queue positions are kept dense (``idx`` 0..n-1 in queue order; ``shuffle_idx`` 0..n-1 in the
shuffle permutation while shuffle is on), so "the next item" is one indexed lookup.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import bindparam, delete, func, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from us_control.models import AppliedEvent, Device, Listen, QueueItem, SessionState, Track, TrackLike
from us_control.playback.state import COLUMNS, MUTABLE, SessionRow


async def read_session(db: AsyncSession, user_uuid: UUID) -> SessionState | None:
    """The session row without a lock."""
    query = select(SessionState).where(SessionState.user_uuid == user_uuid)
    return (await db.execute(query)).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class SessionParts:
    """Everything a snapshot needs besides the row and the track, read in one round trip."""

    now_ms: int
    queue_length: int
    item_idx: int | None
    item_shuffle_idx: int | None
    device_uuids: frozenset[str]
    speaker_last_seen_ms: int | None
    speaker_left_ms: int | None
    liked: bool
    applied_revision: int | None


_PARTS = text(
    """
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms,
           (SELECT count(*) FROM queue_item q WHERE q.user_uuid = :u) AS queue_length,
           (SELECT q.idx FROM queue_item q WHERE q.item_uuid = :item) AS item_idx,
           (SELECT q.shuffle_idx FROM queue_item q WHERE q.item_uuid = :item) AS item_shuffle_idx,
           (SELECT coalesce(array_agg(d.device_uuid::text), '{}') FROM device d WHERE d.user_uuid = :u)
               AS device_uuids,
           (SELECT (extract(epoch FROM d.last_seen) * 1000)::bigint FROM device d
             WHERE d.device_uuid = :speaker) AS speaker_last_seen_ms,
           (SELECT (extract(epoch FROM d.left_at) * 1000)::bigint FROM device d
             WHERE d.device_uuid = :speaker) AS speaker_left_ms,
           EXISTS (SELECT 1 FROM track_like l WHERE l.user_uuid = :u AND l.track_uuid = :track) AS liked,
           (SELECT a.revision FROM applied_event a
             WHERE a.user_uuid = :u AND a.client_event_uuid = :event) AS applied_revision
    """
).bindparams(
    bindparam("u", type_=PG_UUID(as_uuid=True)),
    bindparam("item", type_=PG_UUID(as_uuid=True)),
    bindparam("speaker", type_=PG_UUID(as_uuid=True)),
    bindparam("track", type_=PG_UUID(as_uuid=True)),
    bindparam("event", type_=PG_UUID(as_uuid=True)),
)


async def session_parts(
    db: AsyncSession, state: SessionRow, client_event_uuid: UUID | None = None
) -> SessionParts:
    row = (
        await db.execute(
            _PARTS,
            {
                "u": state.user_uuid,
                "item": state.current_item_uuid,
                "speaker": state.active_device_uuid,
                "track": state.track_uuid,
                "event": client_event_uuid,
            },
        )
    ).one()
    return SessionParts(
        now_ms=int(row.now_ms),
        queue_length=int(row.queue_length),
        item_idx=row.item_idx,
        item_shuffle_idx=row.item_shuffle_idx,
        device_uuids=frozenset(row.device_uuids),
        speaker_last_seen_ms=row.speaker_last_seen_ms,
        speaker_left_ms=row.speaker_left_ms,
        liked=bool(row.liked),
        applied_revision=row.applied_revision,
    )


# --- the command path: one locking read, one write ------------------------------------------

_TRACK_COLUMNS = (
    "track_uuid", "library_uuid", "album_uuid", "rel_path", "size_bytes", "mtime_ns", "duration_ms",
    "sample_rate", "title", "artist", "album_title", "album_artist", "track_number", "disc_number",
    "has_cover", "available", "created_at", "updated_at",
)  # fmt: skip
_SESSION_SELECT = ", ".join(f"s.{c}" for c in COLUMNS)
_TRACK_SELECT = ", ".join(f"t.{c} AS t_{c}" for c in _TRACK_COLUMNS)
# The row, its track, and what the snapshot and the command need, in one statement. Subqueries
# follow the row's own columns. Under the row lock, ``seen_revision`` (read with the statement's
# snapshot) differs from ``revision`` (the locked, newest version) exactly when another command
# committed while this one waited: then the parts are read again (``session_parts``).
_READ_SESSION = f"""
SELECT {_SESSION_SELECT}, {_TRACK_SELECT},
       (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms,
       (SELECT count(*) FROM queue_item q WHERE q.user_uuid = s.user_uuid) AS queue_length,
       (SELECT q.idx FROM queue_item q WHERE q.item_uuid = s.current_item_uuid) AS item_idx,
       (SELECT q.shuffle_idx FROM queue_item q WHERE q.item_uuid = s.current_item_uuid) AS item_shuffle_idx,
       (SELECT coalesce(array_agg(d.device_uuid::text), '{{}}') FROM device d WHERE d.user_uuid = s.user_uuid)
           AS device_uuids,
       (SELECT (extract(epoch FROM d.last_seen) * 1000)::bigint FROM device d
         WHERE d.device_uuid = s.active_device_uuid) AS speaker_last_seen_ms,
       (SELECT (extract(epoch FROM d.left_at) * 1000)::bigint FROM device d
         WHERE d.device_uuid = s.active_device_uuid) AS speaker_left_ms,
       EXISTS (SELECT 1 FROM track_like l WHERE l.user_uuid = s.user_uuid AND l.track_uuid = s.track_uuid)
           AS liked,
       (SELECT a.revision FROM applied_event a
         WHERE a.user_uuid = s.user_uuid AND a.client_event_uuid = $3::uuid) AS applied_revision,
       (SELECT d.user_uuid FROM device d WHERE d.device_uuid = $4::uuid) AS sender_user_uuid,
       (SELECT d.last_seen < clock_timestamp() - make_interval(secs => $5) OR d.left_at IS NOT NULL
          FROM device d WHERE d.device_uuid = $4::uuid) AS sender_needs_touch,
       (SELECT x.revision FROM session_state x WHERE x.session_uuid = s.session_uuid) AS seen_revision
FROM session_state s LEFT JOIN track t ON t.track_uuid = s.track_uuid
WHERE s.user_uuid = $1::uuid AND ($2::uuid IS NULL OR s.session_uuid = $2::uuid)
"""
_READ_SESSION_LOCKED = _READ_SESSION + "FOR UPDATE OF s"

# A device that sends commands is alive; its last_seen is moved only when it is this old, so a
# burst of commands does not write the device row each time.
SENDER_TOUCH_AFTER_S = 5.0


@dataclass(frozen=True, slots=True)
class SessionRead:
    state: SessionRow
    track: Track | None
    parts: SessionParts
    sender_user_uuid: UUID | None
    sender_needs_touch: bool
    consistent: bool  # False: another command committed while this one waited for the lock


async def read_session_for_command(
    db: AsyncSession,
    user_uuid: UUID,
    session_uuid: UUID | None,
    *,
    lock: bool,
    client_event_uuid: UUID | None = None,
    sender_device_uuid: UUID | None = None,
) -> SessionRead | None:
    conn = await db.connection()
    result = await conn.exec_driver_sql(
        _READ_SESSION_LOCKED if lock else _READ_SESSION,
        (user_uuid, session_uuid, client_event_uuid, sender_device_uuid, SENDER_TOUCH_AFTER_S),
    )
    row = result.mappings().first()
    if row is None:
        return None
    track = (
        Track.model_construct(**{c: row[f"t_{c}"] for c in _TRACK_COLUMNS})
        if row["t_track_uuid"] is not None
        else None
    )
    parts = SessionParts(
        now_ms=int(row["now_ms"]),
        queue_length=int(row["queue_length"]),
        item_idx=row["item_idx"],
        item_shuffle_idx=row["item_shuffle_idx"],
        device_uuids=frozenset(row["device_uuids"]),
        speaker_last_seen_ms=row["speaker_last_seen_ms"],
        speaker_left_ms=row["speaker_left_ms"],
        liked=bool(row["liked"]),
        applied_revision=row["applied_revision"],
    )
    return SessionRead(
        state=SessionRow.from_record(row),
        track=track,
        parts=parts,
        sender_user_uuid=row["sender_user_uuid"],
        sender_needs_touch=bool(row["sender_needs_touch"]),
        consistent=row["seen_revision"] == row["revision"],
    )


async def create_session_if_missing(db: AsyncSession, user_uuid: UUID) -> None:
    """Users made before the session table existed, or by hand: create the row lazily."""
    await db.execute(
        text(
            "INSERT INTO session_state (session_uuid, user_uuid, position_ms, play_state, last_update_ms, "
            "revision, shuffle, repeat_mode, volume_percent, media_epoch, listened_ms, listen_recorded) "
            "SELECT gen_random_uuid(), :u, 0, 'stopped', 0, 0, false, 'off', 100, 0, 0, false "
            "WHERE EXISTS (SELECT 1 FROM appuser WHERE user_uuid = :u) ON CONFLICT (user_uuid) DO NOTHING"
        ),
        {"u": user_uuid},
    )


_WRITE_ASSIGNMENTS = ", ".join(f"{c} = ${i}" for i, c in enumerate(MUTABLE, start=2))
_N = len(MUTABLE) + 1
# The new state, the applied client_event_uuid and the sender's heartbeat: one statement.
_WRITE_SESSION = f"""
WITH written AS (UPDATE session_state SET {_WRITE_ASSIGNMENTS} WHERE session_uuid = $1::uuid RETURNING user_uuid),
     applied AS (INSERT INTO applied_event (user_uuid, client_event_uuid, revision, created_at)
                 SELECT user_uuid, ${_N + 1}::uuid, ${_N + 2}::bigint, now() FROM written
                 WHERE ${_N + 1}::uuid IS NOT NULL),
     touched AS (UPDATE device SET last_seen = now(), left_at = NULL WHERE device_uuid = ${_N + 3}::uuid)
SELECT count(*) FROM written
"""
_TOUCH = "UPDATE device SET last_seen = now(), left_at = NULL WHERE device_uuid = $1::uuid"


async def write_session(
    db: AsyncSession, state: SessionRow, client_event_uuid: UUID | None, touch_device: UUID | None
) -> None:
    conn = await db.connection()
    values = tuple(getattr(state, c) for c in MUTABLE)
    last_failure = json.dumps(state.last_failure) if state.last_failure is not None else None
    values = tuple(last_failure if c == "last_failure" else v for c, v in zip(MUTABLE, values, strict=True))
    await conn.exec_driver_sql(
        _WRITE_SESSION, (state.session_uuid, *values, client_event_uuid, state.revision, touch_device)
    )


async def touch_sender(db: AsyncSession, device_uuid: UUID) -> None:
    conn = await db.connection()
    await conn.exec_driver_sql(_TOUCH, (device_uuid,))


async def get_track(db: AsyncSession, track_uuid: UUID | None) -> Track | None:
    return None if track_uuid is None else await db.get(Track, track_uuid)


async def record_applied_event(
    db: AsyncSession, user_uuid: UUID, client_event_uuid: UUID, revision: int
) -> None:
    db.add(AppliedEvent(user_uuid=user_uuid, client_event_uuid=client_event_uuid, revision=revision))


async def prune_applied_events(db: AsyncSession, older_than: datetime) -> int:
    result = await db.execute(delete(AppliedEvent).where(col(AppliedEvent.created_at) < older_than))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- devices -------------------------------------------------------------------------------


async def get_device(db: AsyncSession, device_uuid: UUID) -> Device | None:
    return await db.get(Device, device_uuid)


async def touch_device(db: AsyncSession, device_uuid: UUID) -> None:
    """A sign of life: seen now, and no longer leaving."""
    await db.execute(
        update(Device)
        .where(col(Device.device_uuid) == device_uuid)
        .values(last_seen=func.now(), left_at=None)
    )


async def mark_leaving(db: AsyncSession, device_uuid: UUID) -> None:
    await db.execute(
        update(Device)
        .where(col(Device.device_uuid) == device_uuid)
        .values(last_seen=func.now(), left_at=func.now())
    )


def epoch_ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


async def device_presence(db: AsyncSession, device_uuid: UUID) -> tuple[int | None, int | None]:
    """``(last_seen_ms, left_ms)`` as stored now (not as an earlier read of the row had them)."""
    row = (
        await db.execute(
            select(col(Device.last_seen), col(Device.left_at)).where(col(Device.device_uuid) == device_uuid)
        )
    ).first()
    return (None, None) if row is None else (epoch_ms(row[0]), epoch_ms(row[1]))


async def list_devices(
    db: AsyncSession, user_uuid: UUID, limit: int, offset: int
) -> tuple[list[Device], int]:
    base = select(Device).where(Device.user_uuid == user_uuid)
    total = (await db.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    rows = await db.execute(
        base.order_by(col(Device.created_at), col(Device.device_uuid)).limit(limit).offset(offset)
    )
    return list(rows.scalars()), int(total)


# --- queue ---------------------------------------------------------------------------------


def _order_column(shuffle: bool) -> str:
    return "shuffle_idx" if shuffle else "idx"


async def item_at(db: AsyncSession, user_uuid: UUID, position: int, shuffle: bool) -> QueueItem | None:
    column = col(QueueItem.shuffle_idx) if shuffle else col(QueueItem.idx)
    query = select(QueueItem).where(QueueItem.user_uuid == user_uuid, column == position)
    return (await db.execute(query)).scalars().first()


async def get_item(db: AsyncSession, user_uuid: UUID, item_uuid: UUID) -> QueueItem | None:
    item = await db.get(QueueItem, item_uuid)
    return item if item is not None and item.user_uuid == user_uuid else None


async def items_in_order(db: AsyncSession, user_uuid: UUID, shuffle: bool) -> list[QueueItem]:
    column = col(QueueItem.shuffle_idx) if shuffle else col(QueueItem.idx)
    query = select(QueueItem).where(QueueItem.user_uuid == user_uuid).order_by(column, col(QueueItem.idx))
    return list((await db.execute(query)).scalars())


async def find_item_for_track(
    db: AsyncSession, user_uuid: UUID, track_uuid: UUID, shuffle: bool, after: int | None
) -> QueueItem | None:
    """The first queued occurrence of a track after ``after`` in play order, else the first one."""
    column = col(QueueItem.shuffle_idx) if shuffle else col(QueueItem.idx)
    query = select(QueueItem).where(QueueItem.user_uuid == user_uuid, QueueItem.track_uuid == track_uuid)
    rows = list((await db.execute(query.order_by(column))).scalars())
    later = [r for r in rows if after is not None and (getattr(r, _order_column(shuffle)) or 0) > after]
    candidates = later or rows
    return candidates[0] if candidates else None


async def page_queue(
    db: AsyncSession, user_uuid: UUID, limit: int, offset: int
) -> tuple[list[QueueItem], int]:
    base = select(QueueItem).where(QueueItem.user_uuid == user_uuid)
    total = (await db.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    rows = await db.execute(base.order_by(col(QueueItem.idx)).limit(limit).offset(offset))
    return list(rows.scalars()), int(total)


async def insert_items(
    db: AsyncSession, user_uuid: UUID, track_uuids: Sequence[UUID], at_idx: int
) -> list[QueueItem]:
    """Insert tracks at queue position ``at_idx`` (shifting later items); shuffle_idx unset."""
    await db.execute(
        update(QueueItem)
        .where(col(QueueItem.user_uuid) == user_uuid, col(QueueItem.idx) >= at_idx)
        .values(idx=QueueItem.idx + len(track_uuids))
    )
    items = [
        QueueItem(user_uuid=user_uuid, idx=at_idx + offset, track_uuid=track_uuid, status="queued")
        for offset, track_uuid in enumerate(track_uuids)
    ]
    db.add_all(items)
    await db.flush()
    return items


async def set_shuffle_order(db: AsyncSession, user_uuid: UUID, ordered: Sequence[UUID]) -> None:
    """Write a permutation as dense ``shuffle_idx`` values in one statement."""
    await db.execute(
        text(
            "UPDATE queue_item q SET shuffle_idx = v.ord - 1 "
            "FROM unnest(:ids) WITH ORDINALITY AS v(id, ord) "
            "WHERE q.item_uuid = v.id AND q.user_uuid = :u"
        ).bindparams(
            bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True))),
            bindparam("u", type_=PG_UUID(as_uuid=True)),
        ),
        {"ids": list(ordered), "u": user_uuid},
    )


async def clear_shuffle_order(db: AsyncSession, user_uuid: UUID) -> None:
    await db.execute(update(QueueItem).where(col(QueueItem.user_uuid) == user_uuid).values(shuffle_idx=None))


async def renumber(db: AsyncSession, user_uuid: UUID) -> None:
    """Make ``idx`` and ``shuffle_idx`` dense again after deletions (keeps relative order)."""
    for column in ("idx", "shuffle_idx"):
        await db.execute(
            text(
                f"UPDATE queue_item q SET {column} = r.pos FROM ("
                f"  SELECT item_uuid, (row_number() OVER (ORDER BY {column}, idx) - 1)::int AS pos"
                f"  FROM queue_item WHERE user_uuid = :u AND {column} IS NOT NULL) r "
                f"WHERE q.item_uuid = r.item_uuid AND q.{column} IS DISTINCT FROM r.pos"
            ).bindparams(bindparam("u", type_=PG_UUID(as_uuid=True))),
            {"u": user_uuid},
        )


async def move_item(db: AsyncSession, user_uuid: UUID, item: QueueItem, to_idx: int) -> None:
    from_idx = item.idx
    if to_idx == from_idx:
        return
    shift = -1 if to_idx > from_idx else 1
    low, high = (from_idx + 1, to_idx) if to_idx > from_idx else (to_idx, from_idx - 1)
    await db.execute(
        update(QueueItem)
        .where(col(QueueItem.user_uuid) == user_uuid, col(QueueItem.idx).between(low, high))
        .values(idx=QueueItem.idx + shift)
    )
    item.idx = to_idx


async def delete_items(
    db: AsyncSession, user_uuid: UUID, keep: UUID | None = None, only: UUID | None = None
) -> int:
    query = delete(QueueItem).where(col(QueueItem.user_uuid) == user_uuid)
    if only is not None:
        query = query.where(col(QueueItem.item_uuid) == only)
    if keep is not None:
        query = query.where(col(QueueItem.item_uuid) != keep)
    result = await db.execute(query)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def set_item_status(db: AsyncSession, item_uuid: UUID | None, status: str) -> None:
    if item_uuid is not None:
        await db.execute(update(QueueItem).where(col(QueueItem.item_uuid) == item_uuid).values(status=status))


# --- likes and listens ---------------------------------------------------------------------


async def add_like(db: AsyncSession, user_uuid: UUID, track_uuid: UUID) -> bool:
    result = await db.execute(
        text(
            "INSERT INTO track_like (user_uuid, track_uuid) VALUES (:u, :t) ON CONFLICT DO NOTHING"
        ).bindparams(
            bindparam("u", type_=PG_UUID(as_uuid=True)), bindparam("t", type_=PG_UUID(as_uuid=True))
        ),
        {"u": user_uuid, "t": track_uuid},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def remove_like(db: AsyncSession, user_uuid: UUID, track_uuid: UUID) -> bool:
    result = await db.execute(
        delete(TrackLike).where(
            col(TrackLike.user_uuid) == user_uuid, col(TrackLike.track_uuid) == track_uuid
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def page_listens(
    db: AsyncSession, user_uuid: UUID, limit: int, offset: int
) -> tuple[list[Listen], int]:
    base = select(Listen).where(Listen.user_uuid == user_uuid)
    total = (await db.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    rows = await db.execute(base.order_by(col(Listen.listened_at).desc()).limit(limit).offset(offset))
    return list(rows.scalars()), int(total)


async def tracks_by_uuid(db: AsyncSession, track_uuids: Sequence[UUID]) -> dict[UUID, Track]:
    if not track_uuids:
        return {}
    rows = await db.execute(select(Track).where(col(Track.track_uuid).in_(list(set(track_uuids)))))
    return {t.track_uuid: t for t in rows.scalars()}
