"""Traversal attempts through the public host serve nothing outside the music root.

httpx normalises ``..`` and percent-encoding, so these requests go out byte for byte through
``http.client``, exactly as an attacker would type them.
"""

from __future__ import annotations

import http.client
from urllib.parse import parse_qs, urlsplit

import pytest

from devtools.stack import Stack
from tests.media.conftest import Speaker

PASSWD_MARK = b"root:"


def raw_get(stack: Stack, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", int(stack.env["US_NGINX_PORT"]), timeout=15)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.fixture
def token(speaker: Speaker) -> str:
    return parse_qs(urlsplit(speaker.url()).query)["token"][0]


@pytest.mark.parametrize(
    "target",
    [
        "/media/tracks/../../../../../../etc/passwd?token={token}",
        "/media/tracks/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd?token={token}",
        "/media/tracks/%2E%2E%2F%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd?token={token}",
        "/media/tracks/{track}/../../../../../../etc/passwd?token={token}",
        "/media/tracks/{track}%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd?token={token}",
        "/media/tracks/{track}/..%2f..%2f..%2f..%2fetc%2fpasswd?token={token}",
        "/media/tracks/..%5c..%5c..%5cetc%5cpasswd?token={token}",
        "/media/tracks/{track}?token={token}&path=../../../../etc/passwd",
    ],
)
def test_traversal_in_the_uri_serves_nothing_outside_the_root(
    stack: Stack, speaker: Speaker, token: str, target: str
) -> None:
    status, body = raw_get(stack, target.format(track=speaker.track["track_uuid"], token=token))
    assert status in (400, 401, 403, 404), status
    assert PASSWD_MARK not in body and b"fLaC" not in body


@pytest.mark.parametrize(
    "target",
    [
        "/media/tracks/{track}/x?token={token}",
        "/media/tracks/{track}%2fx?token={token}",
        "/media/tracks/{track}/?token={token}",
        "/media//tracks/{track}?token={token}",
        "/media/tracks//{track}?token={token}",
        "/media/tracks/./{track}?token={token}",
        "/media/tracks/x/../{track}?token={token}",
        "/media/tracks/%2e/{track}?token={token}",
        "/media/tracks/{upper}?token={token}",
        "/media/tracks/{encoded}?token={token}",
    ],
)
def test_a_non_canonical_uri_of_the_right_track_is_refused(
    stack: Stack, speaker: Speaker, token: str, target: str
) -> None:
    """nginx normalises these onto the media location; the verifier reads the raw URI and refuses."""
    track = speaker.track["track_uuid"]
    encoded = "".join(f"%{byte:02x}" for byte in track.encode())
    status, body = raw_get(
        stack, target.format(track=track, token=token, upper=track.upper(), encoded=encoded)
    )
    assert status in (400, 403, 404), status
    assert b"fLaC" not in body


def test_the_canonical_uri_with_the_same_token_is_served(stack: Stack, speaker: Speaker, token: str) -> None:
    status, body = raw_get(
        stack, f"/media/tracks/{speaker.track['track_uuid']}?token={token}", {"Range": "bytes=0-3"}
    )
    assert (status, body) == (206, b"fLaC")


def test_the_verifier_is_not_reachable_from_outside(stack: Stack, speaker: Speaker, token: str) -> None:
    for target in ("/_media_auth", "/verify", f"/_media_auth?token={token}"):
        status, body = raw_get(
            stack, target, {"X-Original-URI": f"/media/tracks/{speaker.track['track_uuid']}?token={token}"}
        )
        assert status == 404, target
