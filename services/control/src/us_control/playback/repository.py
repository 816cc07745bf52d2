"""Queries of the playback domain: the session row, the queue, devices, likes, listens.

Queue positions are kept dense (``idx`` 0..n-1 in queue order; ``shuffle_idx`` 0..n-1 in the
shuffle permutation while shuffle is on), so "the next item" is one indexed lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, delete, func, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from us_control.models import AppliedEvent, Device, Listen, QueueItem, SessionState, Track, TrackLike


async def lock_session(
    db: AsyncSession, user_uuid: UUID, session_uuid: UUID | None = None
) -> tuple[SessionState, Track | None] | None:
    """The user's session row, locked until commit (``SELECT … FOR UPDATE``).

    Its current track comes along in the same query."""
    query = (
        select(SessionState, Track)
        .outerjoin(Track, col(Track.track_uuid) == col(SessionState.track_uuid))
        .where(SessionState.user_uuid == user_uuid)
        .with_for_update(of=SessionState)
    )
    if session_uuid is not None:
        query = query.where(SessionState.session_uuid == session_uuid)
    row = await _first_session(db, query)
    if row is None and session_uuid is None:
        # Users made before the session table existed, or by hand: create the row lazily.
        await db.execute(
            text(
                "INSERT INTO session_state (session_uuid, user_uuid, position_ms, play_state, last_update_ms, "
                "revision, shuffle, repeat_mode, volume_percent, media_epoch, listened_ms, listen_recorded) "
                "SELECT gen_random_uuid(), :u, 0, 'stopped', 0, 0, false, 'off', 100, 0, 0, false "
                "WHERE EXISTS (SELECT 1 FROM appuser WHERE user_uuid = :u) ON CONFLICT (user_uuid) DO NOTHING"
            ),
            {"u": user_uuid},
        )
        row = await _first_session(db, query)
    return row


async def _first_session(db: AsyncSession, query: Any) -> tuple[SessionState, Track | None] | None:
    result = (await db.execute(query.execution_options(populate_existing=True))).first()
    return None if result is None else (result[0], result[1])


async def read_session_and_track(
    db: AsyncSession, user_uuid: UUID
) -> tuple[SessionState, Track | None] | None:
    """The session row and its track without a lock."""
    query = (
        select(SessionState, Track)
        .outerjoin(Track, col(Track.track_uuid) == col(SessionState.track_uuid))
        .where(SessionState.user_uuid == user_uuid)
    )
    return await _first_session(db, query)


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
    db: AsyncSession, state: SessionState, client_event_uuid: UUID | None = None
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
        liked=bool(row.liked),
        applied_revision=row.applied_revision,
    )


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
    await db.execute(
        update(Device).where(col(Device.device_uuid) == device_uuid).values(last_seen=func.now())
    )


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


async def page_likes(db: AsyncSession, user_uuid: UUID, limit: int, offset: int) -> tuple[list[Track], int]:
    base = select(Track).join(TrackLike, col(TrackLike.track_uuid) == col(Track.track_uuid))
    base = base.where(TrackLike.user_uuid == user_uuid)
    total = (await db.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    rows = await db.execute(base.order_by(col(TrackLike.created_at).desc()).limit(limit).offset(offset))
    return list(rows.scalars()), int(total)


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
