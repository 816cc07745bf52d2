"""Deep pages of the track list (album order) without stepping over every track before them.

``OFFSET n`` makes Postgres walk n index entries: at 200,000 tracks a page near the end took
~200 ms (bench/catalog), and the web player's windowed list asks for such pages when a person
drags its scroll bar. A worker instead keeps, per set of granted libraries, the album-order key
``(sort_key, track_uuid)`` of every ``stride``-th track. A page at offset n seeks to mark
``n // stride`` in the ``ix_track_sort_key`` index and skips only ``n % stride`` entries.

The marks are built with one pass over the index (~0.1 s at 200,000 tracks) the first time a
deep page of those libraries is asked for, and again once a scan of one of them has finished
(``Library.last_scan_at`` and ``track_count`` are the version). While a scan is still writing,
rows move under the marks: a page is then off by the rows added or removed since the marks were
built — as a plain OFFSET over rows that change under it would be — and the scan's end puts it
right. Each worker has its own marks (a few hundred keys); nothing is shared or stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from us_control.models import Track

STRIDE = 1000


@dataclass(frozen=True, slots=True)
class _Marks:
    version: Hashable
    keys: list[tuple[str, UUID]]  # keys[i]: the (sort_key, track_uuid) of track i * stride


class TrackPageMarks:
    """One worker's marks, by set of libraries."""

    def __init__(self, stride: int = STRIDE) -> None:
        if stride < 1:
            raise ValueError("stride must be at least 1")
        self.stride = stride
        self._marks: dict[frozenset[UUID], _Marks] = {}
        self._building = asyncio.Lock()

    async def page(
        self, db: AsyncSession, libraries: Sequence[UUID], version: Hashable, limit: int, offset: int
    ) -> list[UUID]:
        """The uuids of the tracks ``offset`` to ``offset + limit`` of ``libraries`` in album order."""
        if not libraries:
            return []
        start: tuple[str, UUID] | None = None
        skip = offset
        if offset >= self.stride:
            keys = await self._keys(db, libraries, version)
            if keys:
                index = min(offset // self.stride, len(keys) - 1)
                start, skip = keys[index], offset - index * self.stride
        order = (col(Track.sort_key), col(Track.track_uuid))
        query = select(col(Track.track_uuid)).where(col(Track.library_uuid).in_(list(libraries)))
        if start is not None:
            query = query.where(tuple_(*order) >= tuple_(*start))
        rows = await db.execute(query.order_by(*order).limit(limit).offset(skip))
        return list(rows.scalars())

    async def _keys(
        self, db: AsyncSession, libraries: Sequence[UUID], version: Hashable
    ) -> list[tuple[str, UUID]]:
        which = frozenset(libraries)
        found = self._marks.get(which)
        if found is not None and found.version == version:
            return found.keys
        async with self._building:  # one build per worker at a time, not one per request
            found = self._marks.get(which)
            if found is None or found.version != version:
                found = _Marks(version, await self._build(db, libraries))
                self._marks[which] = found
            return found.keys

    async def _build(self, db: AsyncSession, libraries: Sequence[UUID]) -> list[tuple[str, UUID]]:
        order = (col(Track.sort_key), col(Track.track_uuid))
        numbered = (
            select(*order, (func.row_number().over(order_by=order) - 1).label("n"))
            .where(col(Track.library_uuid).in_(list(libraries)))
            .subquery("numbered")
        )
        rows = await db.execute(
            select(numbered.c.sort_key, numbered.c.track_uuid)
            .where(numbered.c.n % self.stride == 0)
            .order_by(numbered.c.n)
        )
        return [(str(key), uuid) for key, uuid in rows]
