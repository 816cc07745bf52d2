"""Search as a person expects it, through nginx: accents and case ignored, words in any order,
the last one a prefix, ranked; ``/search`` grouped; bad input never a 500 or a wildcard.

The semantics are also checked against a database created with the ``C`` locale, migrated by a
role that is not a superuser (the folding happens in Python, so neither matters).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from devtools.stack import Stack
from tests.conftest import UserPool
from tests.control.catalog_support import flac, new_folder, user_of_new_library
from tests.support import UserClient

FILES: list[tuple[str, dict[str, Any]]] = [
    ("Zed/Z/01.flac", {"title": "Orbit", "artist": "Zed", "album": "Zed Album", "track_number": 1}),
    ("Zed/Z/02.flac", {"title": "Orbital Decay", "artist": "Zed", "album": "Zed Album", "track_number": 2}),
    ("Lumen/Rings/01.flac", {"title": "Into Orbit", "artist": "Lumen", "album": "Rings", "track_number": 1}),
    ("Orbiters/01.flac", {"title": "Signal", "artist": "The Orbiters", "album": "Waves", "track_number": 1}),
    (
        "Slow/01.flac",
        {
            "title": "Launch Window",
            "artist": "The Slow Orbits",
            "album": "Paper Satellites",
            "track_number": 1,
        },
    ),
    (
        "Slow/02.flac",
        {"title": "Low Earth", "artist": "The Slow Orbits", "album": "Paper Satellites", "track_number": 2},
    ),
    ("Senor/01.flac", {"title": "Café del Mar", "artist": "Señor Coconut", "album": "Ünïcødé Dreams"}),
    ("Shiina/01.flac", {"title": "東京", "artist": "椎名林檎", "album": "勝訴ストリップ", "track_number": 1}),
    (
        "Shiina/02.flac",
        {"title": "東京タワー", "artist": "椎名林檎", "album": "勝訴ストリップ", "track_number": 2},
    ),
    ("Fleet/01.flac", {"title": "Don't Stop", "artist": "Fleetwood", "album": "Rumours"}),
    ("Misc/01.flac", {"title": "100% Cotton", "artist": "Misc", "album": "Odds", "track_number": 1}),
    ("Misc/02.flac", {"title": "snake_case", "artist": "Misc", "album": "Odds", "track_number": 2}),
    ("Misc/03.flac", {"title": "שלום עולם", "artist": "Misc", "album": "Odds", "track_number": 3}),
    ("Misc/04.flac", {"title": "AC/DC Tribute", "artist": "Misc", "album": "Odds", "track_number": 4}),
]


@pytest.fixture(scope="module")
def searcher(stack: Stack, user_pool: UserPool) -> Iterator[UserClient]:
    """A user granted only a library holding ``FILES``."""
    with user_of_new_library(stack, user_pool, FILES) as (user, _):
        yield user


def titles(user: UserClient, q: str, path: str = "/tracks", **params: Any) -> list[str]:
    page = user.get_ok(path, params={"q": q, "limit": 200, **params})
    return [item.get("title") or item["name"] for item in page["items"]]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("cafe", {"Café del Mar"}),  # accent folding
        ("CAFÉ DEL", {"Café del Mar"}),
        ("unicode", {"Café del Mar"}),  # the album "Ünïcødé Dreams" (ø does not decompose)
        ("senor", {"Café del Mar"}),  # the artist
        ("orbits slow", {"Launch Window", "Low Earth"}),  # any order, artist words
        ("slow orb", {"Launch Window", "Low Earth"}),  # the last word as a prefix
        ("paper launch", {"Launch Window"}),  # album and title words together
        ("東京", {"東京", "東京タワー"}),  # whole word, and a word prefix
        ("椎名林檎", {"東京", "東京タワー"}),
        ("dont", {"Don't Stop"}),
        ("don't", {"Don't Stop"}),
        ("acdc", {"AC/DC Tribute"}),
        ("ac/dc", {"AC/DC Tribute"}),
        ("שלום", {"שלום עולם"}),  # right-to-left text
        ("orbit zed", {"Orbit", "Orbital Decay"}),
        ("launch earth", set()),  # every word must match the same track
        ("nothing like this", set()),
    ],
)
def test_words_match_in_any_order_ignoring_case_and_accents(
    searcher: UserClient, q: str, expected: set[str]
) -> None:
    found = titles(searcher, q)
    assert set(found) == expected
    assert len(found) == len(expected)


def test_results_rank_exact_title_then_title_prefix_then_album_order(searcher: UserClient) -> None:
    # Album order alone would put Zed's tracks last; the title tier puts them first.
    assert titles(searcher, "orbit") == [
        "Orbit",
        "Orbital Decay",
        "Into Orbit",
        "Signal",
        "Launch Window",
        "Low Earth",
    ]
    page = searcher.get_ok("/tracks", params={"q": "orbit", "limit": 2, "offset": 2})
    assert ([t["title"] for t in page["items"]], page["total"], page["total_capped"]) == (
        ["Into Orbit", "Signal"],
        6,
        False,
    )


def test_search_groups_artists_albums_and_tracks_each_with_a_total(searcher: UserClient) -> None:
    found = searcher.get_ok("/search", params={"q": "orbit", "limit": 2})
    assert set(found) == {"artists", "albums", "tracks"}
    # "The Orbiters" and "The Slow Orbits" match; sort names ignore "The".
    assert [a["name"] for a in found["artists"]["items"]] == ["The Orbiters", "The Slow Orbits"]
    assert [a["sort_name"] for a in found["artists"]["items"]] == ["Orbiters", "Slow Orbits"]
    assert found["artists"]["total"] == 2
    assert found["albums"]["total"] == 2  # by their album artists: Waves, Paper Satellites
    assert {a["title"] for a in found["albums"]["items"]} == {"Waves", "Paper Satellites"}
    assert [t["title"] for t in found["tracks"]["items"]] == ["Orbit", "Orbital Decay"]
    assert found["tracks"]["total"] == 6
    assert all(set(group) == {"items", "total", "total_capped"} for group in found.values())


def test_albums_and_artists_pages_search_too(searcher: UserClient) -> None:
    assert titles(searcher, "dreams", "/albums") == ["Ünïcødé Dreams"]
    assert titles(searcher, "UNICODE", "/albums") == ["Ünïcødé Dreams"]
    assert titles(searcher, "coconut", "/albums") == ["Ünïcødé Dreams"]  # album artist
    assert titles(searcher, "cafe", "/albums") == []  # a track title is not an album's
    assert titles(searcher, "slow", "/artists") == ["The Slow Orbits"]
    assert titles(searcher, "senor", "/artists") == ["Señor Coconut"]


def test_an_empty_q_is_a_browse(searcher: UserClient) -> None:
    everything = titles(searcher, "")
    assert len(everything) == len(FILES)
    assert titles(searcher, "   ") == everything
    grouped = searcher.get_ok("/search", params={"q": ""})
    assert grouped["tracks"]["total"] == len(FILES) and len(grouped["tracks"]["items"]) == 5


@pytest.mark.parametrize(
    "q",
    [
        "%",
        "_",
        "\\",
        "%%%",
        "'",
        '"',
        "''; DROP TABLE track; --",
        "*",
        ":*",
        "!",
        "&|",
        "\x00",
        "\x01\x02\x7f",
        "\u202e",
        "\u0301",
        "🎵",
    ],
)
def test_punctuation_and_control_characters_match_nothing_never_everything(
    searcher: UserClient, q: str
) -> None:
    for path in ("/tracks", "/albums", "/artists"):
        page = searcher.get_ok(path, params={"q": q})
        assert (page["items"], page["total"]) == ([], 0), (path, q)
    assert searcher.get_ok("/search", params={"q": q})["tracks"]["total"] == 0


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("100%", {"100% Cotton"}),
        ("snake_case", {"snake_case"}),
        ("c\x00afe", {"Café del Mar"}),  # a NUL is dropped, not a 500
        ("cafe\u202e", {"Café del Mar"}),
        ("  cafe  ", {"Café del Mar"}),
        ("'cafe'", {"Café del Mar"}),
        ("cafe:* | orbit", set()),  # operators are punctuation: "cafe" AND "orbit"
    ],
)
def test_words_among_punctuation_still_match_literally(
    searcher: UserClient, q: str, expected: set[str]
) -> None:
    assert set(titles(searcher, q)) == expected


def test_overlong_queries_and_invalid_utf8_are_clear_422s(searcher: UserClient) -> None:
    assert searcher.get_ok("/tracks", params={"q": "x" * 200})["total"] == 0
    assert searcher.get_ok("/tracks", params={"q": " ".join(["orbit"] * 30)})["total"] == 6
    for path in ("/tracks", "/albums", "/artists", "/search"):
        response = searcher.get(path, params={"q": "x" * 201})
        assert response.status_code == 422 and "detail" in response.json(), path
    # A lone surrogate cannot be sent as UTF-8; its CESU bytes are not UTF-8 either.
    raw = searcher.get("/tracks?q=%ED%A0%80")
    assert raw.status_code in (200, 422), raw.text
    if raw.status_code == 200:
        assert raw.json()["total"] == 0
    for params in ({"limit": 51}, {"limit": 0}):
        assert searcher.get("/search", params=params).status_code == 422


# --- a C-locale database, migrated and searched by an unprivileged role --------------------


def _admin_dsn(stack: Stack) -> str:
    return (
        make_url(stack.env["US_DATABASE_URL"])
        .set(drivername="postgresql", database="postgres")
        .render_as_string(False)
    )


def test_search_semantics_hold_in_a_c_locale_database_owned_by_an_unprivileged_role(
    stack: Stack, tmp_path: Path
) -> None:
    role, password = f"us_role_{uuid.uuid4().hex[:8]}", secrets.token_hex(12)
    database = f"us_clocale_{uuid.uuid4().hex[:8]}"

    async def admin(*statements: str) -> None:
        conn = await asyncpg.connect(_admin_dsn(stack))
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(
        admin(
            f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'",
            f"CREATE DATABASE {database} OWNER {role} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'",
        )
    )
    try:
        url = make_url(stack.env["US_DATABASE_URL"]).set(username=role, password=password, database=database)
        other = Stack(run_dir=tmp_path, env={**stack.env, "US_DATABASE_URL": url.render_as_string(False)})
        assert other.usctl("db", "upgrade", check=False).returncode == 0
        folder, name = new_folder(stack)
        for rel_path, tags in FILES:
            flac(folder / rel_path, **tags)
        scanned = other.usctl("library", "scan", str(folder), "--name", name, "--json", check=False)
        assert scanned.returncode == 0, scanned.stderr
        assert json.loads(scanned.stdout)["added"] == len(FILES)

        assert asyncio.run(_search_in(url.render_as_string(False), name)) == {
            "CAFÉ": ["Café del Mar"],
            "unicode": ["Café del Mar"],
            "orbits slow": ["Launch Window", "Low Earth"],
            "orbit": ["Orbit", "Orbital Decay", "Into Orbit", "Signal", "Launch Window", "Low Earth"],
            "東京": ["東京", "東京タワー"],
        }
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)", f"DROP ROLE IF EXISTS {role}"))


async def _search_in(url: str, library: str) -> dict[str, list[str]]:
    """The API's own search code, in process, against another database (as its unprivileged owner)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from us_control.library import repository, service
    from us_control.library.page_marks import TrackPageMarks
    from us_control.models import AppUser

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SHOW lc_ctype"))).scalar() == "C"
            assert (
                await conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
            ).scalar() is False
        from sqlalchemy.ext.asyncio import AsyncSession

        async with AsyncSession(engine, expire_on_commit=False) as db:
            user = AppUser(username=f"c{uuid.uuid4().hex[:8]}", password_hash="-")
            db.add(user)
            found = await repository.get_library_by_name(db, library)
            assert found is not None
            await db.flush()
            await repository.grant(db, user.user_uuid, found.library_uuid)
            await db.commit()
            results = {}
            for q in ("CAFÉ", "unicode", "orbits slow", "orbit", "東京"):
                page = await service.browse_tracks(db, user.user_uuid, q, 50, 0, TrackPageMarks())
                results[q] = [t.title for t in page.items]
            return results
    finally:
        await engine.dispose()
