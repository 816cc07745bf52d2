"""nginx serves catalog files behind auth_request: full and ranged answers, exact bytes, headers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from devtools.stack import Stack
from tests.media.conftest import Speaker, start_speaker, track_rel_path
from tests.support import UserClient


def file_of(music_root: Path, stack: Stack, speaker: Speaker) -> bytes:
    return (music_root / track_rel_path(stack, speaker.track["track_uuid"])).read_bytes()


def header_values(response: httpx.Response, name: str) -> list[str]:
    return response.headers.get_list(name)


def assert_media_headers(response: httpx.Response) -> None:
    assert header_values(response, "accept-ranges") == ["bytes"]
    assert header_values(response, "cache-control") == ["no-store"]


def test_full_get_is_200_with_every_header_and_the_exact_bytes(
    stack: Stack, music_root: Path, speaker: Speaker, player: httpx.Client
) -> None:
    expected = file_of(music_root, stack, speaker)
    response = player.get(speaker.url())
    assert response.status_code == 200
    assert response.content == expected
    assert response.headers["content-length"] == str(len(expected))
    assert response.headers["content-type"] == "audio/flac"
    assert "content-range" not in response.headers
    assert_media_headers(response)


def test_head_answers_the_headers_of_a_get(
    stack: Stack, music_root: Path, speaker: Speaker, player: httpx.Client
) -> None:
    response = player.head(speaker.url())
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(file_of(music_root, stack, speaker)))
    assert_media_headers(response)


def test_range_0_99_is_206_with_100_exact_bytes(
    stack: Stack, music_root: Path, speaker: Speaker, player: httpx.Client
) -> None:
    expected = file_of(music_root, stack, speaker)
    response = player.get(speaker.url(), headers={"Range": "bytes=0-99"})
    assert response.status_code == 206
    assert response.content == expected[:100]
    assert response.headers["content-range"] == f"bytes 0-99/{len(expected)}"
    assert response.headers["content-length"] == "100"
    assert response.headers["content-type"] == "audio/flac"
    assert_media_headers(response)


@pytest.mark.parametrize(
    ("range_header", "start", "stop"),
    [("bytes=100-", 100, None), ("bytes=-100", -100, None), ("bytes=1000-1999", 1000, 2000)],
)
def test_open_ended_suffix_and_middle_ranges(
    stack: Stack,
    music_root: Path,
    speaker: Speaker,
    player: httpx.Client,
    range_header: str,
    start: int,
    stop: int | None,
) -> None:
    expected = file_of(music_root, stack, speaker)
    size = len(expected)
    response = player.get(speaker.url(), headers={"Range": range_header})
    assert response.status_code == 206
    part = expected[start:stop]
    assert response.content == part
    first = start if start >= 0 else size + start
    assert response.headers["content-range"] == f"bytes {first}-{first + len(part) - 1}/{size}"
    assert_media_headers(response)


@pytest.mark.parametrize("range_header", ["bytes=999999999-", "bytes=999999999-1000000000", "bytes=abc"])
def test_unsatisfiable_range_is_416_with_accept_ranges_once(
    stack: Stack, music_root: Path, speaker: Speaker, player: httpx.Client, range_header: str
) -> None:
    size = len(file_of(music_root, stack, speaker))
    response = player.get(speaker.url(), headers={"Range": range_header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert_media_headers(response)


def test_a_range_of_another_unit_is_ignored_and_the_whole_file_sent(
    stack: Stack, music_root: Path, speaker: Speaker, player: httpx.Client
) -> None:
    response = player.get(speaker.url(), headers={"Range": "items=0-1"})
    assert response.status_code == 200
    assert response.content == file_of(music_root, stack, speaker)
    assert_media_headers(response)


def test_the_same_url_serves_many_range_requests(
    stack: Stack, music_root: Path, speaker: Speaker, player: httpx.Client
) -> None:
    expected = file_of(music_root, stack, speaker)
    url = speaker.url()
    for offset in (0, 4096, 50_000, len(expected) - 10):
        response = player.get(url, headers={"Range": f"bytes={offset}-{offset + 9}"})
        assert response.status_code == 206
        assert response.content == expected[offset : offset + 10]


def test_a_unicode_path_is_served(
    stack: Stack, music_root: Path, make_user: Callable[..., UserClient], player: httpx.Client
) -> None:
    speaker = start_speaker(make_user(), "Señal")
    rel_path = track_rel_path(stack, speaker.track["track_uuid"])
    assert rel_path == "Library/Gamma/Ünïcode Ålbum/01 Señal.flac"
    response = player.get(speaker.url(), headers={"Range": "bytes=0-3"})
    assert response.status_code == 206
    assert response.content == b"fLaC"
    full = player.get(speaker.url())
    assert full.status_code == 200 and full.content == (music_root / rel_path).read_bytes()


def test_a_track_that_is_not_the_current_one_can_be_minted(
    stack: Stack, music_root: Path, speaker: Speaker, player: httpx.Client
) -> None:
    # A speaker prefetches the next track: any accessible, available track of the user.
    other = {t["title"]: t for t in speaker.user.tracks()}["Noon"]
    response = player.get(speaker.url(other["track_uuid"]), headers={"Range": "bytes=0-3"})
    assert response.status_code == 206 and response.content == b"fLaC"


def test_the_answer_does_not_leak_the_file_path(speaker: Speaker, player: httpx.Client) -> None:
    response = player.get(speaker.url(), headers={"Range": "bytes=0-0"})
    assert response.status_code == 206
    assert "x-media-path" not in response.headers
    assert not any("Library" in value for value in response.headers.values())
