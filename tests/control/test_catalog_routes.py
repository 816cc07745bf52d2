"""``/tracks`` and ``/albums`` through nginx: shapes, paging, access, the old cover route."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from devtools.stack import Stack
from tests.control.catalog_support import all_tracks, db_rows
from tests.support import TEST_LIBRARY, UserClient

TRACK_KEYS = {
    "track_uuid",
    "title",
    "artist",
    "album",
    "album_uuid",
    "album_artist",
    "track_number",
    "disc_number",
    "duration_ms",
    "available",
    "liked",
    "cover_url",
}
ALBUM_KEYS = {
    "album_uuid",
    "title",
    "artist",
    "artist_uuid",
    "year",
    "genre",
    "track_count",
    "added_at",
    "cover_url",
}
PAGE_KEYS = {"items", "total", "limit", "offset", "total_capped"}


def titles(page: dict[str, Any]) -> list[str]:
    return [item["title"] for item in page["items"]]


def test_track_list_has_the_list_shape_and_default_paging(user: UserClient) -> None:
    page = user.get_ok("/tracks")
    assert set(page) == PAGE_KEYS
    assert (page["total"], page["limit"], page["offset"], page["total_capped"]) == (
        len(TEST_LIBRARY),
        50,
        0,
        False,
    )
    assert all(set(item) == TRACK_KEYS for item in page["items"])
    # Album artist, album, then disc/track order.
    assert titles(page) == ["Dawn", "Noon", "Evening", "Dusk", "Blip", "Long Walk", "Señal"]


def test_album_list_shape(user: UserClient) -> None:
    page = user.get_ok("/albums")
    assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)
    assert all(set(item) == ALBUM_KEYS for item in page["items"])
    assert [(a["artist"], a["title"], a["year"], a["track_count"]) for a in page["items"]] == [
        ("Alpha", "First Light", 2020, 4),
        ("Beta", "Short Forms", 2020, 2),
        ("Gamma", "Ünïcode Ålbum", 2020, 1),
    ]


def test_paging_with_limit_and_offset_covers_everything_once(user: UserClient) -> None:
    everything = titles(user.get_ok("/tracks", params={"limit": 200}))
    pages = [user.get_ok("/tracks", params={"limit": 3, "offset": offset}) for offset in (0, 3, 6)]
    assert [len(p["items"]) for p in pages] == [3, 3, 1]
    assert all(p["total"] == len(TEST_LIBRARY) and p["limit"] == 3 for p in pages)
    assert [p["offset"] for p in pages] == [0, 3, 6]
    assert [t for p in pages for t in titles(p)] == everything
    beyond = user.get_ok("/tracks", params={"limit": 3, "offset": 100})
    assert (beyond["items"], beyond["total"]) == ([], len(TEST_LIBRARY))
    albums = user.get_ok("/albums", params={"limit": 1, "offset": 2})
    assert (titles(albums), albums["total"]) == (["Ünïcode Ålbum"], 3)


@pytest.mark.parametrize("path", ["/tracks", "/albums"])
@pytest.mark.parametrize(
    "params",
    [{"limit": 201}, {"limit": 0}, {"limit": -1}, {"offset": -1}, {"limit": "ten"}, {"q": "x" * 201}],
)
def test_out_of_range_paging_and_overlong_q_are_422(
    user: UserClient, path: str, params: dict[str, Any]
) -> None:
    response = user.get(path, params=params)
    assert response.status_code == 422
    assert "detail" in response.json()


def test_limit_200_is_allowed(user: UserClient) -> None:
    assert user.get_ok("/tracks", params={"limit": 200})["limit"] == 200


def test_album_detail_adds_tracks_in_disc_and_track_order(user: UserClient) -> None:
    album = next(a for a in user.get_ok("/albums")["items"] if a["title"] == "First Light")
    detail = user.get_ok(f"/albums/{album['album_uuid']}")
    assert set(detail) == ALBUM_KEYS | {"tracks"}
    assert {k: detail[k] for k in ALBUM_KEYS} == album
    assert [(t["disc_number"], t["track_number"], t["title"]) for t in detail["tracks"]] == [
        (1, 1, "Dawn"),
        (1, 2, "Noon"),
        (1, 3, "Evening"),
        (2, 1, "Dusk"),
    ]
    assert all(set(t) == TRACK_KEYS and t["album_uuid"] == album["album_uuid"] for t in detail["tracks"])


def test_track_detail_and_liked_follow_this_users_likes(
    stack: Stack, user: UserClient, make_user: Callable[..., UserClient]
) -> None:
    dawn = all_tracks(user)["Dawn"]
    assert user.get_ok(f"/tracks/{dawn['track_uuid']}") == dawn
    assert dawn["liked"] is False
    # The like routes belong to another module; a row in track_like is what `liked` reads.
    db_rows(
        stack,
        "INSERT INTO track_like (user_uuid, track_uuid) VALUES ($1, $2)",
        uuid.UUID(user.user_uuid),
        uuid.UUID(dawn["track_uuid"]),
    )
    assert user.get_ok(f"/tracks/{dawn['track_uuid']}")["liked"] is True
    assert all_tracks(user)["Dawn"]["liked"] is True
    album = user.get_ok(f"/albums/{dawn['album_uuid']}")
    assert [t["liked"] for t in album["tracks"]] == [True, False, False, False]
    other = make_user()
    assert other.get_ok(f"/tracks/{dawn['track_uuid']}")["liked"] is False


def test_a_user_without_the_grant_sees_nothing(
    user: UserClient, make_user: Callable[..., UserClient]
) -> None:
    dawn = all_tracks(user)["Dawn"]
    album = user.get_ok(f"/albums/{dawn['album_uuid']}")
    stranger = make_user(grant=False)
    for listing in ("/tracks", "/albums", "/artists", "/genres"):
        assert stranger.get_ok(listing)["total"] == 0, listing
    assert stranger.get_ok("/tracks", params={"q": "Dawn"})["items"] == []
    found = stranger.get_ok("/search", params={"q": "Dawn"})
    assert all(
        found[group]["items"] == [] and found[group]["total"] == 0
        for group in ("artists", "albums", "tracks")
    )
    assert stranger.get_ok("/library/status") == {
        "scanning": False,
        "done": 0,
        "total": None,
        "last_scan_at": None,
        "errors": 0,
    }
    for path in (
        f"/tracks/{dawn['track_uuid']}",
        f"/tracks/{dawn['track_uuid']}/cover",
        f"/albums/{dawn['album_uuid']}",
        f"/artists/{album['artist_uuid']}",
        dawn["cover_url"],
        dawn["cover_url"] + "?size=large",
    ):
        response = stranger.get(path)
        assert response.status_code == 404, path
        assert set(response.json()) == {"detail"}
    never_existed = user.get(f"/tracks/{uuid.uuid4()}")
    assert never_existed.status_code == 404
    assert stranger.get(f"/tracks/{dawn['track_uuid']}").json() == never_existed.json()


def test_the_old_cover_route_redirects_to_the_albums_cover_url(user: UserClient) -> None:
    dawn = all_tracks(user)["Dawn"]
    assert dawn["cover_url"] is not None
    response = user.get(f"/tracks/{dawn['track_uuid']}/cover")
    assert response.status_code == 302
    assert response.headers["location"] == dawn["cover_url"]
    cover = user.get(response.headers["location"])
    assert cover.status_code == 200 and cover.headers["content-type"] == "image/jpeg"


def test_the_old_cover_route_is_404_for_a_track_without_a_picture(user: UserClient) -> None:
    blip = all_tracks(user)["Blip"]
    assert blip["cover_url"] is None
    response = user.get(f"/tracks/{blip['track_uuid']}/cover")
    assert response.status_code == 404
    assert response.json() == {"detail": "this track has no cover"}


@pytest.mark.parametrize("path", ["/tracks/not-a-uuid", "/albums/123", "/tracks/not-a-uuid/cover"])
def test_malformed_uuid_is_422(user: UserClient, path: str) -> None:
    response = user.get(path)
    assert response.status_code == 422
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "path",
    [
        "/tracks",
        "/albums",
        "/artists",
        "/genres",
        "/search",
        "/library/status",
        f"/tracks/{uuid.uuid4()}",
        f"/albums/{uuid.uuid4()}",
        f"/artists/{uuid.uuid4()}",
    ],
)
def test_catalog_needs_a_bearer_token(public: httpx.Client, path: str) -> None:
    response = public.get(path)
    assert response.status_code == 401
    assert response.json() == {"detail": "not authenticated"}
