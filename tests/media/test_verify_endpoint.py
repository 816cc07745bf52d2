"""media's ``/verify`` on its own (loopback, as nginx calls it): only 200, 401 or 403 ever, and
the catalog path as raw UTF-8 bytes in ``X-Media-Path``."""

from __future__ import annotations

import http.client
from collections.abc import Callable

import pytest

from devtools.stack import Stack
from tests.media.conftest import start_speaker, track_rel_path
from tests.support import UserClient


def verify(stack: Stack, original_uri: bytes | None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", stack.port("media"), timeout=10)
    conn.putrequest("GET", "/verify", skip_accept_encoding=True)
    if original_uri is not None:
        conn.putheader("X-Original-URI", original_uri)
    conn.endheaders()
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_the_path_header_is_raw_utf8(stack: Stack, make_user: Callable[..., UserClient]) -> None:
    speaker = start_speaker(make_user(), "Señal")
    response = verify(stack, speaker.url().encode())
    assert response.status == 200
    # http.client decodes header bytes as latin-1: undo that to see the bytes on the wire.
    raw = response.headers["X-Media-Path"].encode("latin-1")
    assert raw == track_rel_path(stack, speaker.track["track_uuid"]).encode("utf-8")
    assert raw.decode("utf-8") == "Library/Gamma/Ünïcode Ålbum/01 Señal.flac"


@pytest.mark.parametrize(
    "original_uri",
    [
        None,
        b"",
        b"garbage",
        b"/media/tracks/",
        b"/media/tracks/\xff\xfe?token=x",
        b"/media/tracks/" + b"a" * 6000,
        b"/media/tracks/0b7c6f1e-2d3a-4c5b-8e9f-a1b2c3d4e5f6?token=" + b"a." * 3000,
        b"/media/tracks/0b7c6f1e-2d3a-4c5b-8e9f-a1b2c3d4e5f6?token=\xc3\xa9.a.b",
        b"/media/tracks/0b7c6f1e-2d3a-4c5b-8e9f-a1b2c3d4e5f6?token=a.b.c",
    ],
)
def test_any_input_gets_401_or_403(stack: Stack, original_uri: bytes | None) -> None:
    assert verify(stack, original_uri).status in (401, 403)
