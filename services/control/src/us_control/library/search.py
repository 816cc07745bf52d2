"""Ranked search over tracks, albums and artists (the queries; ``service`` shapes the answers).

A row matches when every word of the query is a word, or the start of a word, of its
``search_words`` (``library.folding``): a ``tsquery`` of ``word:*`` terms on a GIN index.
Order: rows whose title (name) starts with the query's words — the exact title first, then by
title — and then every other match in album order (``sort_key``).

What a page costs is bounded, however many rows match:

- At most ``COUNT_CAP + 1`` matches are fetched to rank them; when that is all of them, the
  page and an exact ``total`` come from that set.
- Beyond it (a broad query) ``total`` is ``COUNT_CAP`` and ``capped`` is true. The title tier
  is then a range scan of the ``(match_key, sort_key)`` index and the rest walks the
  album-order index (it carries the words, so the walk reads index entries, not rows) until the
  page is full. Matches too sparse for that walk (fewer than a page in its first
  ``PROBE_ROWS`` entries) are ranked from the full set of matches instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, case, func, literal, not_, select
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import cast
from sqlmodel import col

from us_control.library.folding import match_key, query_words, tsquery
from us_control.models import Album, Artist, LibraryGrant, Track

COUNT_CAP = 1000
PROBE_ROWS = 20_000
# Above every code point: key <= k < key + TOP is "k starts with key" (byte order, COLLATE "C").
_TOP = "\U0010ffff"


@dataclass(frozen=True, slots=True)
class Query:
    """A search as the database sees it: the tsquery, and the words joined (for the title tier)."""

    tsquery: str
    key: str

    @classmethod
    def parse(cls, q: str) -> Query | None:
        """None when ``q`` has no word at all (only punctuation): nothing can match it."""
        words = query_words(q)
        return cls(tsquery(words), match_key(q)) if words else None


@dataclass(frozen=True, slots=True)
class Hits:
    """The uuids of one page in rank order, and how many match (at most ``COUNT_CAP``)."""

    uuids: list[UUID]
    total: int
    capped: bool


def granted_libraries(user_uuid: UUID) -> Any:
    return select(col(LibraryGrant.library_uuid)).where(col(LibraryGrant.user_uuid) == user_uuid)


@dataclass(frozen=True)
class Searchable:
    key: Any  # the uuid column
    words: Any
    match: Any
    order: Any
    visible: Callable[[UUID], ColumnElement[bool]]
    # The album-order index carries what the walk filters on (words, match key, library).
    walkable: bool


def _in_granted_library(library_column: Any) -> Callable[[UUID], ColumnElement[bool]]:
    def visible(user_uuid: UUID) -> ColumnElement[bool]:
        return library_column.in_(granted_libraries(user_uuid))  # type: ignore[no-any-return]

    return visible


def _artist_visible(user_uuid: UUID) -> ColumnElement[bool]:
    return (
        select(col(Album.album_uuid))
        .where(
            col(Album.artist_uuid) == col(Artist.artist_uuid),
            col(Album.library_uuid).in_(granted_libraries(user_uuid)),
        )
        .exists()
    )


TRACKS = Searchable(
    col(Track.track_uuid), col(Track.search_words), col(Track.match_key), col(Track.sort_key),
    _in_granted_library(col(Track.library_uuid)), walkable=True,
)  # fmt: skip
ALBUMS = Searchable(
    col(Album.album_uuid), col(Album.search_words), col(Album.match_key), col(Album.sort_key),
    _in_granted_library(col(Album.library_uuid)), walkable=True,
)  # fmt: skip
# Artists are a few thousand rows: ranking all matches of a broad query costs little.
ARTISTS = Searchable(
    col(Artist.artist_uuid), col(Artist.search_words), col(Artist.match_key), col(Artist.sort_key),
    _artist_visible, walkable=False,
)  # fmt: skip


def _matches(target: Searchable, query: Query) -> ColumnElement[bool]:
    return target.words.op("@@")(cast(literal(query.tsquery), TSQUERY))  # type: ignore[no-any-return]


def _starts_with_query(match: Any, query: Query) -> ColumnElement[bool]:
    # A range, not starts_with(): the btree on (match_key, sort_key) answers it in order.
    return and_(match >= query.key, match < query.key + _TOP)


async def search(
    db: AsyncSession,
    target: Searchable,
    user_uuid: UUID,
    query: Query,
    limit: int,
    offset: int,
    where: Sequence[ColumnElement[bool]] = (),
) -> Hits:
    """One ranked page of ``target`` rows matching ``query`` (and ``where``) that the user sees."""
    visible = and_(target.visible(user_uuid), *where)
    candidates = (
        select(target.key.label("uuid"), target.match.label("match"), target.order.label("sort"))
        .where(_matches(target, query), visible)
        .limit(COUNT_CAP + 1)
        .cte("candidates")
        .prefix_with("MATERIALIZED")
    )
    titled = _starts_with_query(candidates.c.match, query)
    page = (
        select(candidates.c.uuid)
        .order_by(not_(titled), case((titled, candidates.c.match)), candidates.c.sort, candidates.c.uuid)
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    total, uuids = (
        await db.execute(
            select(
                select(func.count()).select_from(candidates).scalar_subquery(),
                select(func.array_agg(page.c.uuid)).scalar_subquery(),
            )
        )
    ).one()
    if total <= COUNT_CAP:
        return Hits(list(uuids or []), int(total), capped=False)
    return Hits(await _broad_page(db, target, query, visible, limit, offset), COUNT_CAP, capped=True)


async def _broad_page(
    db: AsyncSession, target: Searchable, query: Query, visible: ColumnElement[bool], limit: int, offset: int
) -> list[UUID]:
    wanted = offset + limit
    in_title = _starts_with_query(target.match, query)
    titled = list(
        (
            await db.execute(
                select(target.key)
                .where(in_title, visible)
                .order_by(target.match, target.order, target.key)
                .limit(wanted)
            )
        ).scalars()
    )
    if len(titled) >= wanted:
        return titled[offset:]
    needed = wanted - len(titled)
    elsewhere = and_(_matches(target, query), not_(in_title))
    rest = await _walk_album_order(db, target, query, visible, needed) if target.walkable else []
    if len(rest) < needed:
        rest = list(
            (
                await db.execute(
                    select(target.key)
                    .where(elsewhere, visible)
                    .order_by(target.order, target.key)
                    .limit(needed)
                )
            ).scalars()
        )
    return (titled + rest)[offset:]


async def _walk_album_order(
    db: AsyncSession, target: Searchable, query: Query, visible: ColumnElement[bool], needed: int
) -> list[UUID]:
    """The first ``needed`` matches outside the title tier among the first ``PROBE_ROWS``
    entries of the album-order index (fewer when they are sparser than that)."""
    # The walk's LIMIT counts index entries (this user's), the outer one matches: the ordered
    # subquery keeps Postgres on the album-order index, reading no table rows.
    entries = (
        select(
            target.key.label("uuid"),
            target.words.label("words"),
            target.match.label("match"),
            target.order.label("sort"),
        )
        .where(visible)
        .order_by(target.order, target.key)
        .limit(PROBE_ROWS)
        .subquery("entries")
    )
    found = (
        select(entries.c.uuid)
        .where(
            entries.c.words.op("@@")(cast(literal(query.tsquery), TSQUERY)),
            not_(_starts_with_query(entries.c.match, query)),
        )
        .order_by(entries.c.sort, entries.c.uuid)
        .limit(needed)
    )
    return list((await db.execute(found)).scalars())
