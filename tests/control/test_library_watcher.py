"""The library watcher (``us_control.library.watcher``): which folders a change rescans, and two
watchers over the run's real database and music root — one leads, a copied album becomes
searchable with one scan, a removed file becomes unavailable, the other takes over.

The watchers run in this process (the test stack's workers have theirs turned off, so that the
other tests count their own scans); their scans are real ``usctl`` child processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from devtools.stack import Stack
from tests.control.catalog_support import all_tracks, db_rows, flac, new_folder, scan, user_of
from tests.support import UserClient
from us_control.db import create_db_engine, session_factory
from us_control.library import watcher
from us_control.settings import ControlSettings

ROOT = Path("/music")


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["/music/Lib/A/01.flac"], {"Lib": {"Lib/A"}}),
        (["/music/Lib/A/01.flac", "/music/Lib/A/CD2/01.flac"], {"Lib": {"Lib/A"}}),  # nested collapse
        (["/music/Lib/A/01.flac", "/music/Lib/B/cover.jpg"], {"Lib": {"Lib/A", "Lib/B"}}),
        (["/music/Lib/new.flac"], {"Lib": None}),  # the library's own folder: all of it
        (["/music/Lib"], {"Lib": None}),
        (["/music/Other/x.flac", "/elsewhere/x.flac", "/music/Lib/../x.flac"], {}),  # no library
        (["/music/Lib/Deep/Inner/x.flac"], {"Lib/Deep/Inner": None}),  # the innermost library
        (["/music/Lib/Deeper/x.flac"], {"Lib": {"Lib/Deeper"}}),
    ],
)
def test_changed_paths_map_to_the_folders_of_their_library(paths: list[str], expected: dict[str, Any]) -> None:
    assert watcher.scopes_for(ROOT, paths, ["Lib", "Lib/Deep/Inner", "Elsewhere"]) == expected


def test_a_library_at_the_music_root_and_too_many_folders() -> None:
    assert watcher.scopes_for(ROOT, ["/music/A/x.flac"], [""]) == {"": {"A"}}
    assert watcher.scopes_for(ROOT, ["/music/x.flac"], [""]) == {"": None}
    many = [f"/music/Lib/{n}/x.flac" for n in range(watcher.MAX_SCOPES + 1)]
    assert watcher.scopes_for(ROOT, many, ["Lib"]) == {"Lib": None}


# --- two watchers over the real stack ------------------------------------------------------


def _app() -> FastAPI:
    """What a control worker's lifespan gives the watcher (settings from the environment)."""
    settings = ControlSettings()
    app = FastAPI()
    app.state.settings = settings
    app.state.engine = create_db_engine(settings, application_name="test-watcher")
    app.state.sessions = session_factory(app.state.engine)
    return app


async def _leaders(app: FastAPI) -> int:
    key = watcher.WATCH_LOCK_KEY
    async with app.state.engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = :high AND objid = :low AND database = (SELECT oid FROM pg_database"
                " WHERE datname = current_database())"
            ),
            {"high": key >> 32, "low": key & 0xFFFFFFFF},
        )
        return int(found.scalar_one())


async def _one_leader(*apps: FastAPI) -> None:
    deadline = time.monotonic() + 30
    while await _leaders(apps[0]) != 1:
        assert time.monotonic() < deadline, "no watcher took the lead"
        await asyncio.sleep(0.2)


async def _eventually(
    check: Callable[[], Any], timeout_s: float = 45.0, nudge: Callable[[], None] | None = None
) -> Any:
    """Poll ``check`` (in a thread: it may block) until it is truthy; ``nudge`` re-touches the
    files now and then, in case the watch was set up after the first change."""
    deadline = time.monotonic() + timeout_s
    last_nudge = time.monotonic()
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("not within the time limit")
        if nudge is not None and time.monotonic() - last_nudge > 8:
            nudge()
            last_nudge = time.monotonic()
        await asyncio.sleep(0.3)


@contextlib.asynccontextmanager
async def _running(app: FastAPI) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(watcher.library_watcher(app))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_one_watcher_leads_a_copied_album_is_searchable_after_one_scan_and_the_other_takes_over(
    stack: Stack, make_user: Callable[..., UserClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)  # the watcher's usctl children read the same settings
    monkeypatch.setenv("US_LIBRARY_WATCH", "true")
    monkeypatch.setenv("US_LIBRARY_WATCH_SETTLE_S", "0.5")
    monkeypatch.setenv("US_LIBRARY_RESCAN_INTERVAL_S", "0")
    monkeypatch.setattr(watcher, "LEADER_RETRY_S", 0.5)
    folder, name = new_folder(stack)
    flac(folder / "Old" / "01.flac", "Already There")
    scan(stack, folder, name)
    owner = user_of(make_user, stack, name)
    first, second = _app(), _app()
    try:
        async with _running(first) as leading, _running(second):
            await _one_leader(first)

            # An album copied in: five files, one burst, one scan.
            album = [
                flac(folder / "New Album" / f"0{n}.flac", f"New Song {n}", album="New Album", track_number=n)
                for n in range(1, 6)
            ]

            def touch() -> None:
                for path in album:
                    path.touch()

            await _eventually(lambda: len(all_tracks(owner, "new song")) == 5, nudge=touch)
            scans = await asyncio.to_thread(
                db_rows,
                stack,
                "SELECT s.trigger FROM library_scan s JOIN library l USING (library_uuid) WHERE l.name = $1"
                " ORDER BY s.started_at",
                name,
            )
            assert [row["trigger"] for row in scans].count("watcher") == 1

            album[0].unlink()
            await _eventually(lambda: all_tracks(owner)["New Song 1"]["available"] is False)
            assert all_tracks(owner)["New Song 2"]["available"] is True
            assert await _leaders(first) == 1  # still one leader for both watchers

            # The leader stops (its worker exits): the other watcher leads and sees changes.
            leading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await leading
            later = flac(folder / "Later" / "01.flac", "Later Song", album="Later")
            await _eventually(lambda: "Later Song" in all_tracks(owner), nudge=later.touch)
            assert await _leaders(second) == 1
    finally:
        for app in (first, second):
            await app.state.engine.dispose()
