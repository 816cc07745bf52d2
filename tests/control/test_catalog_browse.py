"""Browsing through nginx: album artists and their sort names, one artist, albums by each sort and
filter, genres, liked tracks, the library status — each only over the user's own libraries."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devtools.stack import Stack
from tests.conftest import UserPool
from tests.control.catalog_support import (
    db_rows,
    flac,
    new_folder,
    scan,
    scanned_library,
    user_of,
    user_of_new_library,
)
from tests.support import UserClient


def track(
    title: str, artist: str, album: str, year: int | None, genre: str | None, **more: Any
) -> dict[str, Any]:
    extra = {"genre": genre} if genre else {}
    extra.update(more.pop("extra", {}))
    return {"title": title, "artist": artist, "album": album, "year": year, "extra_tags": extra, **more}


FILES: list[tuple[str, dict[str, Any]]] = [
    (
        "Beatles/Abbey/01.flac",
        track("Come Together", "The Beatles", "Abbey Road", 1969, "Rock", track_number=1),
    ),
    ("Beatles/Abbey/02.flac", track("Something", "The Beatles", "Abbey Road", 1969, "Rock", track_number=2)),
    ("Beatles/Help/01.flac", track("Help!", "The Beatles", "Help!", 1965, "Rock")),
    ("ABBA/Gold/01.flac", track("Dancing Queen", "ABBA", "Gold", None, "Pop")),
    ("Tribe/01.flac", track("Award Tour", "A Tribe Called Quest", "Midnight Marauders", 1993, "Hip-Hop")),
    ("Bjork/01.flac", track("Human Behaviour", "Björk", "Debut", 1994, "Electronic", track_number=1)),
    ("Bjork/02.flac", track("Venus as a Boy", "Björk", "Debut", 1993, "Electronic", track_number=2)),
    ("Bjork/03.flac", track("Big Time Sensuality", "Björk", "Debut", 1993, "Pop", track_number=3)),
    ("Now/01.flac", track("Song A", "Somebody", "Now 99", 2001, "Pop", album_artist="Various Artists")),
    ("Now/02.flac", track("Song B", "Someone Else", "Now 99", 2001, "Pop", album_artist="Various Artists")),
    # ALBUMARTISTSORT wins over the "leading The" rule.
    (
        "The/01.flac",
        track("Uncertain Smile", "The The", "Soul Mining", 1983, None, extra={"albumartistsort": "The, The"}),
    ),
]


@pytest.fixture(scope="module")
def browser(stack: Stack, user_pool: UserPool) -> Iterator[UserClient]:
    with user_of_new_library(stack, user_pool, FILES) as (user, name):
        user.library = name  # type: ignore[attr-defined]
        yield user


def names(page: dict[str, Any], field: str = "title") -> list[str]:
    return [item[field] for item in page["items"]]


def test_artists_are_album_artists_in_sort_name_order(browser: UserClient) -> None:
    page = browser.get_ok("/artists")
    assert names(page, "name") == [
        "ABBA",
        "The Beatles",
        "Björk",
        "The The",
        "A Tribe Called Quest",
        "Various Artists",
    ]
    assert names(page, "sort_name") == [
        "ABBA",
        "Beatles",
        "Björk",
        "The, The",
        "Tribe Called Quest",
        "Various Artists",
    ]
    assert [a["album_count"] for a in page["items"]] == [1, 2, 1, 1, 1, 1]
    assert (page["total"], page["total_capped"]) == (6, False)
    assert all(set(a) == {"artist_uuid", "name", "sort_name", "album_count"} for a in page["items"])
    deep = browser.get_ok("/artists", params={"limit": 2, "offset": 4})
    assert (names(deep, "name"), deep["total"]) == (["A Tribe Called Quest", "Various Artists"], 6)


def test_an_artist_lists_their_albums_by_year_then_title(browser: UserClient) -> None:
    beatles = next(a for a in browser.get_ok("/artists")["items"] if a["name"] == "The Beatles")
    detail = browser.get_ok(f"/artists/{beatles['artist_uuid']}")
    assert {k: detail[k] for k in beatles} == beatles
    assert [(a["title"], a["year"]) for a in detail["albums"]] == [("Help!", 1965), ("Abbey Road", 1969)]
    assert all(a["artist_uuid"] == beatles["artist_uuid"] for a in detail["albums"])


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["Abbey Road", "Debut", "Gold", "Help!", "Midnight Marauders", "Now 99", "Soul Mining"]),
        ("artist", ["Gold", "Abbey Road", "Help!", "Debut", "Soul Mining", "Midnight Marauders", "Now 99"]),
        # Oldest first, ties in artist order, no year last.
        ("year", ["Help!", "Abbey Road", "Soul Mining", "Debut", "Midnight Marauders", "Now 99", "Gold"]),
    ],
)
def test_albums_sort_by_name_artist_and_year(browser: UserClient, sort: str, expected: list[str]) -> None:
    page = browser.get_ok("/albums", params={"sort": sort})
    assert (names(page), page["total"]) == (expected, 7)


def test_album_year_is_the_earliest_and_genre_the_most_common_of_its_tracks(browser: UserClient) -> None:
    albums = {a["title"]: a for a in browser.get_ok("/albums")["items"]}
    assert (albums["Debut"]["year"], albums["Debut"]["genre"], albums["Debut"]["track_count"]) == (
        1993,
        "Electronic",
        3,
    )
    assert (albums["Gold"]["year"], albums["Soul Mining"]["genre"]) == (None, None)
    assert albums["Now 99"]["artist"] == "Various Artists"
    assert all(a["added_at"].endswith("Z") or "+00:00" in a["added_at"] for a in albums.values())


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"genre": "Rock"}, ["Abbey Road", "Help!"]),
        ({"year": 1993}, ["Debut", "Midnight Marauders"]),
        ({"genre": "Rock", "year": 1965}, ["Help!"]),
        ({"genre": "Rock", "sort": "year"}, ["Help!", "Abbey Road"]),
        ({"genre": "Polka"}, []),
        ({"genre": "Rock", "q": "abbey"}, ["Abbey Road"]),
        ({"genre": "Pop", "q": "abbey"}, []),
    ],
)
def test_albums_filter_by_genre_and_year(
    browser: UserClient, params: dict[str, Any], expected: list[str]
) -> None:
    page = browser.get_ok("/albums", params=params)
    assert (names(page), page["total"]) == (expected, len(expected))


@pytest.mark.parametrize(
    "params", [{"sort": "popular"}, {"year": "recent"}, {"year": -1}, {"genre": ""}, {"genre": "x" * 201}]
)
def test_bad_album_filters_are_422(browser: UserClient, params: dict[str, Any]) -> None:
    response = browser.get("/albums", params=params)
    assert response.status_code == 422 and "detail" in response.json()


def test_genres_count_albums_and_tracks(browser: UserClient) -> None:
    page = browser.get_ok("/genres")
    assert page["items"] == [
        {"name": "Electronic", "album_count": 1, "track_count": 3},
        {"name": "Hip-Hop", "album_count": 1, "track_count": 1},
        {"name": "Pop", "album_count": 2, "track_count": 3},
        {"name": "Rock", "album_count": 2, "track_count": 3},
    ]
    assert page["total"] == 4
    assert names(browser.get_ok("/genres", params={"limit": 1, "offset": 3}), "name") == ["Rock"]


def test_recently_added_albums_come_first(stack: Stack, make_user: Callable[..., UserClient]) -> None:
    folder, name = new_folder(stack)
    flac(folder / "Old" / "01.flac", "Old Song", album="Old Album")
    scan(stack, folder, name)
    flac(folder / "New" / "01.flac", "New Song", album="New Album")
    scan(stack, folder, name)
    owner = user_of(make_user, stack, name)
    assert names(owner.get_ok("/albums", params={"sort": "added"})) == ["New Album", "Old Album"]


def test_an_artist_in_two_libraries_counts_only_the_albums_a_user_can_see(
    stack: Stack, browser: UserClient, make_user: Callable[..., UserClient]
) -> None:
    other = scanned_library(
        stack, [("ABBA/01.flac", {"title": "Money", "artist": "ABBA", "album": "Arrival"})]
    )
    abba = next(a for a in browser.get_ok("/artists")["items"] if a["name"] == "ABBA")
    assert abba["album_count"] == 1
    both = user_of(make_user, stack, other)
    stack.usctl("library", "grant", both.username, browser.library)  # type: ignore[attr-defined]
    seen = next(a for a in both.get_ok("/artists")["items"] if a["name"] == "ABBA")
    assert (seen["artist_uuid"], seen["album_count"]) == (abba["artist_uuid"], 2)
    assert [a["title"] for a in both.get_ok(f"/artists/{abba['artist_uuid']}")["albums"]] == [
        "Arrival",  # neither has a year: by title
        "Gold",
    ]
    only_other = user_of(make_user, stack, other)
    assert [a["title"] for a in only_other.get_ok(f"/artists/{abba['artist_uuid']}")["albums"]] == ["Arrival"]
    stranger = make_user(grant=False)
    assert stranger.get(f"/artists/{abba['artist_uuid']}").status_code == 404


def test_liked_tracks_are_a_page_with_covers(browser: UserClient) -> None:
    song = next(t for t in browser.tracks() if t["title"] == "Something")
    browser.post_ok(f"/tracks/{song['track_uuid']}/like")
    page = browser.get_ok("/likes")
    assert set(page) >= {"items", "total", "limit", "offset"}
    assert [t["title"] for t in page["items"]] == ["Something"] and page["total"] == 1
    assert "cover_url" in page["items"][0]


def test_likes_show_only_tracks_of_libraries_still_granted(
    stack: Stack, browser: UserClient, make_user: Callable[..., UserClient]
) -> None:
    other = scanned_library(stack, [("Far/01.flac", {"title": "Far Away Liked", "album": "Far"})])
    both = user_of(make_user, stack, other)
    stack.usctl("library", "grant", both.username, browser.library)  # type: ignore[attr-defined]
    titles = {t["title"]: t["track_uuid"] for t in both.tracks()}
    for title in ("Far Away Liked", "Something"):
        both.post_ok(f"/tracks/{titles[title]}/like")
    assert (names(both.get_ok("/likes")), both.get_ok("/likes")["total"]) == (["Something", "Far Away Liked"], 2)
    revoked = stack.usctl("library", "revoke", both.username, other)
    assert "revoked" in revoked.stdout
    # The like row stays (a grant given back shows it again), but the track is not this user's now.
    page = both.get_ok("/likes")
    assert (names(page), page["total"]) == (["Something"], 1)
    assert both.get(f"/tracks/{titles['Far Away Liked']}").status_code == 404
    assert both.post(f"/tracks/{titles['Far Away Liked']}/like").status_code == 404


def test_library_status_reports_the_last_scan_and_a_running_one(stack: Stack, browser: UserClient) -> None:
    status = browser.get_ok("/library/status")
    assert (status["scanning"], status["done"], status["total"], status["errors"]) == (
        False,
        len(FILES),
        len(FILES),
        0,
    )
    assert status["last_scan_at"] is not None
    library_uuid = db_rows(stack, "SELECT library_uuid FROM library WHERE name = $1", browser.library)[0][0]  # type: ignore[attr-defined]
    running = uuid.uuid4()
    # A scan in progress, as a scanner's heartbeat leaves it (the scanner itself is tested elsewhere).
    db_rows(
        stack,
        "INSERT INTO library_scan (scan_uuid, library_uuid, trigger, started_at, heartbeat_at, done, total, errors)"
        " VALUES ($1, $2, 'command', now(), now(), 40, 100, 2)",
        running,
        library_uuid,
    )
    try:
        assert {k: v for k, v in browser.get_ok("/library/status").items() if k != "last_scan_at"} == {
            "scanning": True,
            "done": 40,
            "total": 100,
            "errors": 2,
        }
        # A scanner that stopped beating died: not "scanning" any more.
        db_rows(
            stack,
            "UPDATE library_scan SET heartbeat_at = now() - interval '1 hour' WHERE scan_uuid = $1",
            running,
        )
        assert browser.get_ok("/library/status")["scanning"] is False
    finally:
        db_rows(stack, "DELETE FROM library_scan WHERE scan_uuid = $1", running)
