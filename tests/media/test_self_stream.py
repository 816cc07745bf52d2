"""``US_SELF_STREAM=true``: the media service serves the bytes itself (no nginx in front), with
the same verdicts, headers and Range semantics as nginx."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devtools.stack import Stack
from tests.media.conftest import Speaker, start_speaker
from tests.support import UserClient, sql


@pytest.fixture
def direct(aux_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=aux_stack.service_url("media"), timeout=15) as client:
        yield client


@pytest.fixture
def aux_speaker(make_aux_user: Callable[[], UserClient]) -> Speaker:
    return start_speaker(make_aux_user())


def file_bytes(stack: Stack, root: Path, track_uuid: str) -> bytes:
    rel = str(sql(stack, "SELECT rel_path FROM track WHERE track_uuid = $1", uuid.UUID(track_uuid))[0][0])
    return (root / rel).read_bytes()


def assert_media_headers(response: httpx.Response) -> None:
    assert response.headers.get_list("accept-ranges") == ["bytes"]
    assert response.headers.get_list("cache-control") == ["no-store"]


def test_full_get(aux_stack: Stack, aux_music_root: Path, aux_speaker: Speaker, direct: httpx.Client) -> None:
    expected = file_bytes(aux_stack, aux_music_root, aux_speaker.track["track_uuid"])
    response = direct.get(aux_speaker.url())
    assert response.status_code == 200
    assert response.content == expected
    assert response.headers["content-length"] == str(len(expected))
    assert response.headers["content-type"] == "audio/flac"
    assert_media_headers(response)


def test_ranges_like_nginx(
    aux_stack: Stack, aux_music_root: Path, aux_speaker: Speaker, direct: httpx.Client
) -> None:
    expected = file_bytes(aux_stack, aux_music_root, aux_speaker.track["track_uuid"])
    size = len(expected)
    url = aux_speaker.url()
    cases = {
        "bytes=0-99": (0, 100),
        "bytes=100-": (100, size),
        "bytes=-100": (size - 100, size),
    }
    for range_header, (start, stop) in cases.items():
        response = direct.get(url, headers={"Range": range_header})
        assert response.status_code == 206, range_header
        assert response.content == expected[start:stop]
        assert response.headers["content-range"] == f"bytes {start}-{stop - 1}/{size}"
        assert response.headers["content-length"] == str(stop - start)
        assert response.headers["content-type"] == "audio/flac"
        assert_media_headers(response)
    for range_header in ("bytes=999999999-", "bytes=abc"):
        response = direct.get(url, headers={"Range": range_header})
        assert response.status_code == 416, range_header
        assert response.headers["content-range"] == f"bytes */{size}"
        assert_media_headers(response)
    response = direct.get(url, headers={"Range": "items=0-1"})
    assert response.status_code == 200 and response.content == expected
    assert_media_headers(response)


def test_the_unicode_path(
    aux_stack: Stack, make_aux_user: Callable[[], UserClient], direct: httpx.Client
) -> None:
    speaker = start_speaker(make_aux_user(), "Señal")
    response = direct.get(speaker.url(), headers={"Range": "bytes=0-3"})
    assert (response.status_code, response.content) == (206, b"fLaC")


def test_refusals(aux_stack: Stack, aux_speaker: Speaker, direct: httpx.Client) -> None:
    url = aux_speaker.url()
    track = aux_speaker.track["track_uuid"]
    assert direct.get(f"/media/tracks/{track}").status_code == 401
    assert direct.get(url[:-3]).status_code == 401
    other = {t["title"]: t for t in aux_speaker.user.tracks()}["Blip"]["track_uuid"]
    assert direct.get(url.replace(track, other)).status_code == 403
    assert direct.get(url.replace(f"/media/tracks/{track}", f"/media/tracks/{track}/")).status_code in (
        403,
        404,
    )
    phone = aux_speaker.user.register_device("phone")
    aux_speaker.user.post_ok(f"/sessions/{aux_speaker.user.user_uuid}/speaker", {"device_uuid": phone})
    response = direct.get(url, headers={"Range": "bytes=0-9"})
    assert response.status_code == 403
    assert b"fLaC" not in response.content


def test_nginx_still_serves_with_self_stream_on(aux_speaker: Speaker, aux_stack: Stack) -> None:
    response = httpx.get(
        f"{aux_stack.public_url}{aux_speaker.url()}", headers={"Range": "bytes=0-3"}, timeout=15
    )
    assert (response.status_code, response.content) == (206, b"fLaC")


def test_self_stream_is_off_by_default(stack: Stack, speaker: Speaker) -> None:
    response = httpx.get(stack.service_url("media") + speaker.url(), timeout=15)
    assert response.status_code == 404
