"""Which media requests are refused, and with what: 401 for a token that is missing, malformed,
badly signed or expired; 403 for a good token bound elsewhere or revoked (DESIGN.md, Media)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from devtools.stack import Stack
from tests.media.conftest import Speaker, craft_token, media_epoch, start_speaker
from tests.support import UserClient
from us_common.jwt import EXPIRY_LEEWAY_S, TokenCodec, TokenKind


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def media_url(track_uuid: str, token: str) -> str:
    return f"/media/tracks/{track_uuid}?token={token}"


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def assert_refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert b"fLaC" not in response.content
    assert response.headers.get("cache-control") == "no-store"


# --- 401: not a usable media token ------------------------------------------------------------


def test_missing_token_is_401(speaker: Speaker, player: httpx.Client) -> None:
    track = speaker.track["track_uuid"]
    for url in (f"/media/tracks/{track}", f"/media/tracks/{track}?token=", f"/media/tracks/{track}?t=x"):
        assert_refused(player.get(url), 401)


def test_tampered_token_is_401(speaker: Speaker, player: httpx.Client) -> None:
    token = token_of(speaker.url())
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["epoch"] += 1
    tampered_payload = ".".join((header, b64(claims), signature))
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    tampered_signature = ".".join((header, payload, flipped))
    for bad in (tampered_payload, tampered_signature, token[:-5], "garbage"):
        assert_refused(player.get(media_url(speaker.track["track_uuid"], bad)), 401)


def test_expired_token_is_401(stack: Stack, speaker: Speaker, player: httpx.Client) -> None:
    expired = craft_token(stack, speaker, now=time.time() - 300, ttl_s=60)
    assert_refused(player.get(media_url(speaker.track["track_uuid"], expired)), 401)
    # The very same claims, still valid: only the expiry refused it.
    fresh = craft_token(stack, speaker)
    assert (
        player.get(media_url(speaker.track["track_uuid"], fresh), headers={"Range": "bytes=0-3"}).status_code
        == 206
    )


def test_a_token_that_worked_stops_working_when_it_expires(
    stack: Stack, speaker: Speaker, player: httpx.Client
) -> None:
    """The verifier remembers decoded tokens, never past their expiry (2 s of leeway included).
    The memo's rule itself is unit-tested on a clock of its own (tests/common/test_jwt.py); here
    the real verifier sees a token it decoded expire: it is refused within a second of the end of
    its leeway (no fixed sleep: the next request after that moment)."""
    issued = int(time.time()) - 59
    short = craft_token(stack, speaker, now=issued, ttl_s=60)  # valid until issued + 60 + 2 s
    url = media_url(speaker.track["track_uuid"], short)
    assert player.get(url, headers={"Range": "bytes=0-3"}).status_code == 206
    refused_after = issued + 60 + EXPIRY_LEEWAY_S
    while time.time() <= refused_after:
        time.sleep(max(0.0, refused_after - time.time()) + 0.05)
    assert_refused(player.get(url, headers={"Range": "bytes=0-3"}), 401)


def test_token_signed_with_the_access_key_is_401(
    stack: Stack, speaker: Speaker, player: httpx.Client
) -> None:
    track = speaker.track["track_uuid"]
    claims = {
        "sub": speaker.user.user_uuid,
        "sid": speaker.session_uuid,
        "dev": speaker.device_uuid,
        "trk": track,
        "epoch": media_epoch(stack, speaker.user),
    }
    access_key = stack.env["US_ACCESS_TOKEN_KEY"]
    as_media = TokenCodec(TokenKind.MEDIA, access_key, "universalscrobbler").encode(claims, ttl_s=60)
    as_access = TokenCodec(TokenKind.ACCESS, access_key, "universalscrobbler").encode(claims, ttl_s=60)
    for token in (as_media, as_access, speaker.user.token):
        assert_refused(player.get(media_url(track, token)), 401)


def test_alg_none_is_401(stack: Stack, speaker: Speaker, player: httpx.Client) -> None:
    now = int(time.time())
    claims = {
        "sub": speaker.user.user_uuid,
        "sid": speaker.session_uuid,
        "dev": speaker.device_uuid,
        "trk": speaker.track["track_uuid"],
        "epoch": media_epoch(stack, speaker.user),
        "typ": "media+jwt",
        "iss": "universalscrobbler",
        "aud": "us-media",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
    }
    for alg in ("none", "None", "HS512"):
        token = f"{b64({'alg': alg, 'typ': 'media+jwt'})}.{b64(claims)}."
        assert_refused(player.get(media_url(speaker.track["track_uuid"], token)), 401)


# --- 403: a real token, bound elsewhere --------------------------------------------------------


def test_token_for_another_track_is_403(speaker: Speaker, player: httpx.Client) -> None:
    token = token_of(speaker.url())
    other = {t["title"]: t for t in speaker.user.tracks()}["Noon"]["track_uuid"]
    assert_refused(player.get(media_url(other, token)), 403)


def test_token_of_another_device_is_403(stack: Stack, speaker: Speaker, player: httpx.Client) -> None:
    phone = speaker.user.register_device("phone")
    token = craft_token(stack, speaker, dev=phone)
    assert_refused(player.get(media_url(speaker.track["track_uuid"], token)), 403)


def test_token_of_another_user_is_403(
    stack: Stack, speaker: Speaker, make_user: Callable[..., UserClient], player: httpx.Client
) -> None:
    intruder = start_speaker(make_user())
    # The intruder's identity with the victim's session, device and track: bound elsewhere.
    token = craft_token(stack, speaker, sub=intruder.user.user_uuid)
    assert_refused(player.get(media_url(speaker.track["track_uuid"], token)), 403)
    # And the victim's claims under the intruder's session.
    token = craft_token(stack, speaker, sid=intruder.session_uuid)
    assert_refused(player.get(media_url(speaker.track["track_uuid"], token)), 403)


def test_token_of_an_unknown_user_is_403(stack: Stack, speaker: Speaker, player: httpx.Client) -> None:
    token = craft_token(stack, speaker, sub=str(uuid.uuid4()))
    assert_refused(player.get(media_url(speaker.track["track_uuid"], token)), 403)


def test_token_with_an_older_or_newer_epoch_is_403(
    stack: Stack, speaker: Speaker, player: httpx.Client
) -> None:
    epoch = media_epoch(stack, speaker.user)
    for other in (epoch - 1, epoch + 1):
        token = craft_token(stack, speaker, epoch=other)
        assert_refused(player.get(media_url(speaker.track["track_uuid"], token)), 403)


@pytest.mark.parametrize("query_suffix", ["&token=x", "&extra=1"])
def test_extra_query_parameters_are_refused(
    speaker: Speaker, player: httpx.Client, query_suffix: str
) -> None:
    assert_refused(player.get(speaker.url() + query_suffix), 401)


def test_refusals_never_log_the_token(stack: Stack, speaker: Speaker, player: httpx.Client) -> None:
    url = speaker.url()
    token = token_of(url)
    other = {t["title"]: t for t in speaker.user.tracks()}["Noon"]["track_uuid"]
    assert player.get(media_url(other, token)).status_code == 403
    assert player.get(url, headers={"Range": "bytes=0-0"}).status_code == 206
    signature = token.rsplit(".", 1)[1]
    for log in ("media", "control", "nginx-access", "nginx-error"):
        text = stack.log_file(log).read_text(errors="replace")
        assert signature not in text, log
