"""Deep pages of the track list start from a worker's marks (``library.page_marks``): every page
equals the same slice of the whole list in album order, and a finished scan makes the marks new.

In process against the run's database, with a stride of 3 so that a library of a few tracks
has marks (the API's stride is 1,000; bench/catalog measures it at 200,000 tracks)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from devtools.stack import Stack
from tests.control.catalog_support import db_rows, flac, new_folder, scan, user_of
from tests.support import UserClient
from us_control.library import repository
from us_control.library.page_marks import TrackPageMarks
from us_control.library.scan_repository import SEARCH_INDEXES as SCAN_SEARCH_INDEXES

ALBUM_ORDER = """
    SELECT t.track_uuid FROM track t JOIN library l USING (library_uuid)
    WHERE l.name = ANY(:names) ORDER BY t.sort_key, t.track_uuid
"""


def tracks(count: int, artist: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            f"{artist}/{n:02}.flac",
            {"title": f"{artist} {n}", "artist": artist, "album": f"{artist} LP", "track_number": n},
        )
        for n in range(1, count + 1)
    ]


def write(folder: Any, files: list[tuple[str, dict[str, Any]]]) -> None:
    for rel_path, tags in files:
        flac(folder / rel_path, **tags)


async def pages(
    url: str, user_uuid: str, names: list[str], marks: TrackPageMarks, limit: int
) -> tuple[list[list[UUID]], list[UUID], int]:
    """Every page of ``limit`` from offset 0 to past the end, the whole list, and the total."""
    engine = create_async_engine(url)
    try:
        async with AsyncSession(engine) as db:
            whole = list((await db.execute(text(ALBUM_ORDER), {"names": names})).scalars())
            found, total = [], 0
            for offset in range(len(whole) + 2):
                page, total = await repository.page_tracks(db, UUID(user_uuid), marks, limit, offset)
                found.append([track.track_uuid for track in page])
            return found, whole, total
    finally:
        await engine.dispose()


def test_every_deep_page_is_the_slice_of_the_album_order_and_a_scan_renews_the_marks(
    stack: Stack, make_user: Callable[..., UserClient]
) -> None:
    url = stack.env["US_DATABASE_URL"]
    folder, name = new_folder(stack)
    write(folder, tracks(8, "Middle") + tracks(6, "Zed"))
    scan(stack, folder, name)
    user = user_of(make_user, stack, name)
    marks = TrackPageMarks(stride=3)

    for limit in (1, 4):
        found, whole, total = asyncio.run(pages(url, user.user_uuid, [name], marks, limit))
        assert total == len(whole) == 14
        assert found == [whole[offset : offset + limit] for offset in range(len(whole) + 2)]

    # Tracks that sort before every mark: without new marks each deep page would be shifted.
    write(folder, tracks(5, "Aardvark"))
    assert scan(stack, folder, name)["added"] == 5
    found, whole, total = asyncio.run(pages(url, user.user_uuid, [name], marks, 4))
    assert total == len(whole) == 19
    assert found == [whole[offset : offset + 4] for offset in range(len(whole) + 2)]

    # A second library granted: the marks of the pair are their own, in one album order.
    other_folder, other = new_folder(stack)
    write(other_folder, tracks(4, f"Other {uuid.uuid4().hex[:6]}"))
    scan(stack, other_folder, other)
    stack.usctl("library", "grant", user.username, other)
    found, whole, total = asyncio.run(pages(url, user.user_uuid, [name, other], marks, 3))
    assert total == len(whole) == 23
    assert found == [whole[offset : offset + 3] for offset in range(len(whole) + 2)]


def test_a_scan_that_changed_the_catalog_leaves_it_analyzed_and_its_search_indexes_merged(
    stack: Stack,
) -> None:
    """The planner has statistics and a search reads no pending list right after a scan, also
    where autovacuum is off or late."""
    db_rows(stack, "CREATE EXTENSION IF NOT EXISTS pgstattuple")  # pgstatginindex (Postgres' contrib)
    tables = ["album", "artist", "track"]
    analyzed = "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = ANY($1) ORDER BY relname"
    pending = "SELECT (pgstatginindex(CAST($1 AS regclass))).pending_tuples"
    folder, name = new_folder(stack)
    write(folder, tracks(2, f"Analyzed {uuid.uuid4().hex[:6]}"))
    started = db_rows(stack, "SELECT now()")[0][0]
    assert scan(stack, folder, name)["added"] == 2
    after = [row[0] for row in db_rows(stack, analyzed, tables)]
    assert len(after) == 3 and all(at is not None and at >= started for at in after), after
    for index in SCAN_SEARCH_INDEXES:
        assert db_rows(stack, pending, index)[0][0] == 0, index
