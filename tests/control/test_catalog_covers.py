"""Album covers through nginx: made once at scan time (embedded picture, else a folder picture),
two sizes, long-lived caching with an ETag, and the same authentication as the API."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from devtools.stack import Stack
from tests.conftest import UserPool, logged_in_users
from tests.control.catalog_support import flac, new_folder, scan, user_of
from tests.support import UserClient

CACHE_CONTROL = "private, max-age=31536000, immutable"


def picture(colour: tuple[int, int, int], size: int = 800, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, fmt)
    return out.getvalue()


def dimensions(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


class Covers:
    """A library of albums with every kind of cover, and a user granted it."""

    def __init__(self, stack: Stack, factory: Callable[..., UserClient]) -> None:
        self.folder, self.name = new_folder(stack)
        f = self.folder
        flac(f / "Embedded" / "01.flac", "E1", album="Embedded", cover=picture((200, 10, 10)), track_number=1)
        flac(f / "Embedded" / "02.flac", "E2", album="Embedded", track_number=2)
        flac(f / "Folder" / "01.flac", "F1", album="Folder")
        (f / "Folder" / "cover.jpg").write_bytes(picture((10, 200, 10), 500, "JPEG"))
        (f / "Folder" / "front.png").write_bytes(picture((0, 0, 0), 100))  # cover.* wins
        flac(f / "Discs" / "CD1" / "01.flac", "D1", album="Discs", disc_number=1)
        flac(f / "Discs" / "CD2" / "01.flac", "D2", album="Discs", disc_number=2)
        (f / "Discs" / "Front.PNG").write_bytes(picture((10, 10, 200), 200))
        flac(f / "Bare" / "01.flac", "B1", album="Bare")
        flac(f / "Broken" / "01.flac", "X1", album="Broken")
        (f / "Broken" / "cover.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg" * 10)
        self.summary = scan(stack, f, self.name)
        self.user = factory(grant=False)
        stack.usctl("library", "grant", self.user.username, self.name)

    def albums(self) -> dict[str, dict[str, Any]]:
        return {a["title"]: a for a in self.user.get_ok("/albums")["items"]}


@pytest.fixture(scope="module")
def covers(stack: Stack, user_pool: UserPool) -> Iterator[Covers]:
    with logged_in_users(stack, user_pool) as factory:
        yield Covers(stack, factory)


def test_each_album_gets_its_cover_from_the_right_source(covers: Covers) -> None:
    assert covers.summary["skipped"] == 0  # a broken picture is no cover, not a skipped track
    albums = covers.albums()
    assert albums["Bare"]["cover_url"] is None and albums["Broken"]["cover_url"] is None
    colours: dict[str, tuple[int, ...]] = {}
    for title in ("Embedded", "Folder", "Discs"):
        response = covers.user.get(albums[title]["cover_url"], params={"size": "large"})
        assert response.status_code == 200, (title, response.text)
        with Image.open(io.BytesIO(response.content)) as image:
            pixel = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
            assert isinstance(pixel, tuple)
            colours[title] = pixel
    assert colours["Embedded"][0] > 150 and colours["Folder"][1] > 150 and colours["Discs"][2] > 150
    # Every track carries its album's cover, the second track of "Embedded" (no picture) too.
    tracks = {t["title"]: t for t in covers.user.tracks()}
    assert tracks["E2"]["cover_url"] == tracks["E1"]["cover_url"] == albums["Embedded"]["cover_url"]
    assert tracks["D2"]["cover_url"] == albums["Discs"]["cover_url"]
    assert tracks["B1"]["cover_url"] is None


def test_a_cover_comes_in_two_sizes_with_long_lived_caching_and_an_etag(covers: Covers) -> None:
    url = covers.albums()["Embedded"]["cover_url"]
    thumb = covers.user.get(url)
    large = covers.user.get(url, params={"size": "large"})
    for response in (thumb, large):
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/jpeg"
        assert response.headers["cache-control"] == CACHE_CONTROL
        assert response.headers["x-content-type-options"] == "nosniff"
        assert int(response.headers["content-length"]) == len(response.content)
    assert dimensions(thumb.content) == (300, 300)
    assert dimensions(large.content) == (800, 800)  # never enlarged past the original
    assert dimensions(covers.user.get(covers.albums()["Discs"]["cover_url"]).content) == (200, 200)
    etag = thumb.headers["etag"]
    again = covers.user.get(url, headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    assert covers.user.http.head(url).status_code == 200


def test_covers_need_credentials_and_the_browser_cookie_is_enough(stack: Stack, covers: Covers) -> None:
    url = covers.albums()["Folder"]["cover_url"]
    with httpx.Client(base_url=stack.public_url, timeout=15) as anonymous:
        response = anonymous.get(url)
        assert response.status_code == 401 and response.json() == {"detail": "not authenticated"}
        assert anonymous.get(url, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
        anonymous.cookies.set("us_access", covers.user.token)
        with_cookie = anonymous.get(url)
        assert with_cookie.status_code == 200 and with_cookie.headers["content-type"] == "image/jpeg"


def test_a_user_who_cannot_see_the_album_gets_404_even_with_the_right_url(
    covers: Covers, make_user: Callable[..., UserClient]
) -> None:
    url = covers.albums()["Embedded"]["cover_url"]
    stranger = make_user(grant=False)
    missing = covers.user.get("/covers/" + "0" * 32)
    for response in (stranger.get(url), stranger.get(url, params={"size": "large"}), missing):
        assert response.status_code == 404
        assert response.json() == {"detail": "no such cover"}
    assert stranger.get(url).json() == missing.json()


@pytest.mark.parametrize(
    "path",
    [
        "/covers/",
        "/covers/abc",
        "/covers/" + "g" * 32,
        "/covers/" + "0" * 31,
        "/covers/" + "0" * 33,
        "/covers/../../etc/passwd",
        "/covers/%2e%2e/%2e%2e/etc/passwd",
        "/covers/00/" + "0" * 32 + "-thumb.jpg",
    ],
)
def test_anything_but_a_cover_key_is_a_404(covers: Covers, path: str) -> None:
    response = covers.user.get(path)
    assert response.status_code in (400, 404), path
    assert b"root:" not in response.content


def test_a_changed_folder_picture_makes_a_new_cover_and_retires_the_old_url(
    stack: Stack, make_user: Callable[..., UserClient]
) -> None:
    # Its own library: the module's albums stay as they are for the other tests.
    folder, name = new_folder(stack)
    flac(folder / "A" / "01.flac", "A1", album="Changing")
    (folder / "A" / "folder.jpg").write_bytes(picture((1, 2, 3), 64, "JPEG"))
    scan(stack, folder, name)
    owner = user_of(make_user, stack, name)
    before = owner.get_ok("/albums")["items"][0]["cover_url"]
    assert owner.get(before).status_code == 200
    (folder / "A" / "folder.jpg").write_bytes(picture((250, 250, 250), 64, "JPEG"))
    assert scan(stack, folder, name)["unchanged"] == 1  # the track was not read again
    after = owner.get_ok("/albums")["items"][0]["cover_url"]
    assert after is not None and after != before
    assert owner.get(after).status_code == 200
    assert owner.get(before).status_code == 404
    (folder / "A" / "folder.jpg").unlink()
    scan(stack, folder, name)
    assert owner.get_ok("/albums")["items"][0]["cover_url"] is None
