"""Queries of the scrobble domain: targets, their outbox entries, the sender's lock, and the
listens that ``usctl listens export|import`` reads and writes.

``outbox_depth`` is read by control's metrics at scrape time (CONTRACTS C7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import bindparam, delete, func, text, update
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from us_control.models import (
    LibraryGrant,
    Listen,
    ScrobbleNowPlaying,
    ScrobbleOutbox,
    ScrobbleTarget,
    Track,
)

# Advisory-lock namespace of the sender: one sender per target at a time, across hosts.
_LOCK_NAMESPACE = 0x5C0B


@dataclass(frozen=True, slots=True)
class EntryCounts:
    pending: int = 0
    refused: int = 0


# --- targets (the API) -----------------------------------------------------------------------


async def count_targets(db: AsyncSession, user_uuid: UUID) -> int:
    query = select(func.count()).select_from(ScrobbleTarget).where(ScrobbleTarget.user_uuid == user_uuid)
    return int((await db.execute(query)).scalar_one())


async def find_by_base_url(db: AsyncSession, user_uuid: UUID, base_url: str) -> ScrobbleTarget | None:
    query = select(ScrobbleTarget).where(
        ScrobbleTarget.user_uuid == user_uuid, ScrobbleTarget.base_url == base_url
    )
    return (await db.execute(query)).scalar_one_or_none()


async def get_target(
    db: AsyncSession, user_uuid: UUID, target_uuid: UUID, *, for_update: bool = False
) -> ScrobbleTarget | None:
    """The user's target, or None (another user's target does not exist for this one)."""
    query = select(ScrobbleTarget).where(
        ScrobbleTarget.target_uuid == target_uuid, ScrobbleTarget.user_uuid == user_uuid
    )
    if for_update:
        query = query.with_for_update()
    return (await db.execute(query)).scalar_one_or_none()


async def page_targets(
    db: AsyncSession, user_uuid: UUID, limit: int, offset: int
) -> tuple[list[ScrobbleTarget], int]:
    base = select(ScrobbleTarget).where(ScrobbleTarget.user_uuid == user_uuid)
    total = (await db.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    rows = await db.execute(
        base.order_by(col(ScrobbleTarget.created_at), col(ScrobbleTarget.target_uuid)).limit(limit).offset(offset)
    )
    return list(rows.scalars()), int(total)


async def entry_counts(db: AsyncSession, target_uuids: Sequence[UUID]) -> dict[UUID, EntryCounts]:
    if not target_uuids:
        return {}
    rows = await db.execute(
        select(ScrobbleOutbox.target_uuid, ScrobbleOutbox.state, func.count())
        .where(col(ScrobbleOutbox.target_uuid).in_(list(target_uuids)))
        .group_by(col(ScrobbleOutbox.target_uuid), col(ScrobbleOutbox.state))
    )
    counts: dict[UUID, dict[str, int]] = {}
    for target_uuid, state, n in rows:
        counts.setdefault(target_uuid, {})[state] = int(n)
    return {t: EntryCounts(c.get("pending", 0), c.get("refused", 0)) for t, c in counts.items()}


async def delete_target(db: AsyncSession, target: ScrobbleTarget) -> None:
    await db.delete(target)
    await db.flush()


async def outbox_depth(db: AsyncSession) -> int:
    """Listens waiting for a target, over every target (the metrics gauge; C7)."""
    query = select(func.count()).select_from(ScrobbleOutbox).where(ScrobbleOutbox.state == "pending")
    return int((await db.execute(query)).scalar_one())


# --- the sender -----------------------------------------------------------------------------

_DUE = text(
    """
    SELECT t.target_uuid FROM scrobble_target t
    WHERE NOT t.paused AND t.next_attempt_at <= clock_timestamp()
      AND (EXISTS (SELECT 1 FROM scrobble_outbox o
                   WHERE o.target_uuid = t.target_uuid AND o.state = 'pending')
           OR EXISTS (SELECT 1 FROM scrobble_now_playing n WHERE n.target_uuid = t.target_uuid))
    ORDER BY t.next_attempt_at
    LIMIT :limit
    """
)


async def due_targets(db: AsyncSession, limit: int) -> list[UUID]:
    """Targets with something to send and nothing holding them back (not paused, not waiting)."""
    return [row.target_uuid for row in await db.execute(_DUE, {"limit": limit})]


async def try_lock_target(db: AsyncSession, target_uuid: UUID) -> bool:
    """Take the target's sender lock until this transaction ends (False: another sender has it).
    The lock dies with the connection, so a sender killed mid-send never keeps a target."""
    statement = text("SELECT pg_try_advisory_xact_lock(:ns, hashtext(CAST(:t AS text)))").bindparams(
        bindparam("t", type_=PG_UUID(as_uuid=True))
    )
    return bool((await db.execute(statement, {"ns": _LOCK_NAMESPACE, "t": target_uuid})).scalar_one())


async def load_due_target(db: AsyncSession, target_uuid: UUID) -> ScrobbleTarget | None:
    """Re-read a locked target: another sender may have served it just before we got the lock."""
    query = select(ScrobbleTarget).where(
        ScrobbleTarget.target_uuid == target_uuid,
        col(ScrobbleTarget.paused).is_(False),
        col(ScrobbleTarget.next_attempt_at) <= func.clock_timestamp(),
    )
    return (await db.execute(query)).scalar_one_or_none()


async def pending_head(db: AsyncSession, target_uuid: UUID, limit: int) -> list[ScrobbleOutbox]:
    """The oldest waiting entries of a target, in the order they were listened to."""
    query = (
        select(ScrobbleOutbox)
        .where(ScrobbleOutbox.target_uuid == target_uuid, ScrobbleOutbox.state == "pending")
        .order_by(col(ScrobbleOutbox.listened_at), col(ScrobbleOutbox.entry_uuid))
        .limit(limit)
    )
    return list((await db.execute(query)).scalars())


async def now_playing(db: AsyncSession, target_uuid: UUID) -> ScrobbleNowPlaying | None:
    return await db.get(ScrobbleNowPlaying, target_uuid)


async def drop_now_playing(db: AsyncSession, target_uuid: UUID, created_at: datetime) -> None:
    """Drop the announcement that was handled (a newer one, written meanwhile, stays)."""
    await db.execute(
        delete(ScrobbleNowPlaying).where(
            col(ScrobbleNowPlaying.target_uuid) == target_uuid,
            col(ScrobbleNowPlaying.created_at) == created_at,
        )
    )


def _entries(entry_uuids: Sequence[UUID]) -> object:
    return col(ScrobbleOutbox.entry_uuid).in_(list(entry_uuids))


async def mark_maybe_sent(db: AsyncSession, entry_uuids: Sequence[UUID]) -> None:
    """Recorded (and committed) before the request leaves: after a crash these may be there."""
    await db.execute(
        update(ScrobbleOutbox)
        .where(_entries(entry_uuids))  # type: ignore[arg-type]
        .values(maybe_sent=True, attempts=col(ScrobbleOutbox.attempts) + 1)
    )


async def mark_not_sent(db: AsyncSession, entry_uuids: Sequence[UUID]) -> None:
    await db.execute(
        update(ScrobbleOutbox).where(_entries(entry_uuids)).values(maybe_sent=False)  # type: ignore[arg-type]
    )


async def remove_delivered(db: AsyncSession, entry_uuids: Sequence[UUID]) -> None:
    await db.execute(delete(ScrobbleOutbox).where(_entries(entry_uuids)))  # type: ignore[arg-type]


async def mark_refused(db: AsyncSession, entry_uuids: Sequence[UUID], reason: str) -> None:
    await db.execute(
        update(ScrobbleOutbox)
        .where(_entries(entry_uuids))  # type: ignore[arg-type]
        .values(state="refused", maybe_sent=False, refused_reason=reason[:500])
    )


# --- usctl listens export / import ------------------------------------------------------------


async def listens_with_tracks(db: AsyncSession, user_uuid: UUID) -> list[tuple[Listen, Track]]:
    """Every listen of the user, oldest first, with its track."""
    rows = await db.execute(
        select(Listen, Track)
        .join(Track, col(Track.track_uuid) == col(Listen.track_uuid))
        .where(Listen.user_uuid == user_uuid)
        .order_by(col(Listen.listened_at), col(Listen.listen_uuid))
    )
    return [(listen, track) for listen, track in rows.tuples()]


async def granted_tracks(db: AsyncSession, user_uuid: UUID) -> list[Track]:
    rows = await db.execute(
        select(Track)
        .join(LibraryGrant, col(LibraryGrant.library_uuid) == col(Track.library_uuid))
        .where(LibraryGrant.user_uuid == user_uuid)
        .order_by(col(Track.rel_path))
    )
    return list(rows.scalars())


_LISTEN_STARTS = text(
    """
    SELECT track_uuid, ((extract(epoch FROM listened_at) * 1000)::bigint - played_ms) / 1000 AS started_s
    FROM listen WHERE user_uuid = :user_uuid
    """
).bindparams(bindparam("user_uuid", type_=PG_UUID(as_uuid=True)))


async def listen_starts(db: AsyncSession, user_uuid: UUID) -> set[tuple[UUID, int]]:
    """(track, start second) of every listen of the user: what makes an imported one a repeat."""
    rows = await db.execute(_LISTEN_STARTS, {"user_uuid": user_uuid})
    return {(row.track_uuid, int(row.started_s)) for row in rows}
