"""Minting: only the active speaker, only a visible and available track, the user's own session;
the answer's shape, the token's claims, and that a mint changes nothing in the session."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from devtools.stack import Stack
from tests.media.conftest import Speaker, media_codec, media_epoch, start_speaker
from tests.support import ChannelRecorder, UserClient, redis_for, sql
from us_common.bus import media_track_key


def test_answer_shape_and_claims(stack: Stack, speaker: Speaker) -> None:
    before = speaker.user.session["revision"]
    response = speaker.mint()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"url", "expires_at"}
    track = speaker.track["track_uuid"]
    parts = urlsplit(body["url"])
    assert parts.path == f"/media/tracks/{track}" and not parts.netloc
    token = parse_qs(parts.query)["token"][0]
    claims = media_codec(stack).decode(token)
    assert claims["sub"] == speaker.user.user_uuid
    assert claims["sid"] == speaker.session_uuid
    assert claims["dev"] == speaker.device_uuid
    assert claims["trk"] == track
    assert claims["epoch"] == media_epoch(stack, speaker.user)
    assert claims["jti"]
    assert body["expires_at"] == claims["exp"] * 1000
    ttl_ms = body["expires_at"] - time.time() * 1000
    assert 60_000 <= ttl_ms <= 121_000  # the default TTL (90 s) is within DESIGN.md's 60-120 s
    # The path is not in the token: whoever holds the URL can read its payload.
    assert "Library" not in token and "flac" not in str(claims)
    # A mint is not a session change: no revision, no publish.
    assert speaker.user.session["revision"] == before


def test_a_mint_publishes_nothing(stack: Stack, speaker: Speaker) -> None:
    recorder = ChannelRecorder(stack, speaker.user.user_uuid)
    try:
        recorder.drain(0.2)
        assert speaker.mint().status_code == 200
        assert recorder.drain(0.5) == []
    finally:
        recorder.close()


def test_a_mint_caches_the_catalog_path_for_the_verifier(stack: Stack, speaker: Speaker) -> None:
    assert speaker.mint().status_code == 200
    client = redis_for(stack)
    try:
        key = media_track_key(speaker.user.user_uuid, speaker.track["track_uuid"])
        rel_path = sql(
            stack, "SELECT rel_path FROM track WHERE track_uuid = $1", uuid.UUID(speaker.track["track_uuid"])
        )
        assert client.get(key) == str(rel_path[0][0]).encode()
        assert 0 < client.ttl(key) <= 90 + 30
    finally:
        client.close()


def test_a_device_that_is_not_the_speaker_gets_403(speaker: Speaker) -> None:
    phone = speaker.user.register_device("phone")
    response = speaker.mint(device_uuid=phone)
    assert response.status_code == 403
    assert "active speaker" in response.json()["detail"]


def test_no_speaker_at_all_gets_403(make_user: Callable[..., UserClient]) -> None:
    user = make_user()
    device = user.register_device("laptop")
    track = user.tracks()[0]["track_uuid"]
    response = user.post(
        f"/sessions/{user.session_uuid}/media-token", {"device_uuid": device, "track_uuid": track}
    )
    assert response.status_code == 403


def test_another_users_session_is_404(speaker: Speaker, make_user: Callable[..., UserClient]) -> None:
    other = start_speaker(make_user())
    response = speaker.user.post(
        f"/sessions/{other.session_uuid}/media-token",
        {"device_uuid": other.device_uuid, "track_uuid": other.track["track_uuid"]},
    )
    assert response.status_code == 404
    # Nor with the caller's own device and track: the session id is someone else's.
    response = speaker.user.post(
        f"/sessions/{other.session_uuid}/media-token",
        {"device_uuid": speaker.device_uuid, "track_uuid": speaker.track["track_uuid"]},
    )
    assert response.status_code == 404


def test_unknown_session_device_and_track_are_404(
    speaker: Speaker, make_user: Callable[..., UserClient]
) -> None:
    user = speaker.user
    body = {"device_uuid": speaker.device_uuid, "track_uuid": speaker.track["track_uuid"]}
    assert user.post(f"/sessions/{uuid.uuid4()}/media-token", body).status_code == 404
    assert speaker.mint(device_uuid=str(uuid.uuid4())).status_code == 404
    assert speaker.mint(track_uuid=str(uuid.uuid4())).status_code == 404
    # Another user's device: as if it did not exist.
    other = start_speaker(make_user())
    assert speaker.mint(device_uuid=other.device_uuid).status_code == 404


def test_a_track_of_a_library_not_granted_is_404(
    make_user: Callable[..., UserClient], speaker: Speaker
) -> None:
    outsider = make_user(grant=False)
    device = outsider.register_device("laptop")
    outsider.post_ok(f"/sessions/{outsider.user_uuid}/speaker", {"device_uuid": device})
    response = outsider.post(
        f"/sessions/{outsider.session_uuid}/media-token",
        {"device_uuid": device, "track_uuid": speaker.track["track_uuid"]},
    )
    assert response.status_code == 404


def test_an_unavailable_track_is_409(stack: Stack, speaker: Speaker) -> None:
    track = {t["title"]: t for t in speaker.user.tracks()}["Evening"]["track_uuid"]
    sql(stack, "UPDATE track SET available = false WHERE track_uuid = $1", uuid.UUID(track))
    try:
        response = speaker.mint(track_uuid=track)
        assert response.status_code == 409
        assert "unavailable" in response.json()["detail"]
    finally:
        sql(stack, "UPDATE track SET available = true WHERE track_uuid = $1", uuid.UUID(track))


def test_malformed_body_is_422(speaker: Speaker) -> None:
    path = f"/sessions/{speaker.session_uuid}/media-token"
    assert (
        speaker.user.post(
            path, {"device_uuid": "nope", "track_uuid": speaker.track["track_uuid"]}
        ).status_code
        == 422
    )
    assert speaker.user.post(path, {"device_uuid": speaker.device_uuid}).status_code == 422
    assert speaker.user.post("/sessions/not-a-uuid/media-token", {}).status_code == 422


def test_mint_needs_an_access_token(stack: Stack, speaker: Speaker) -> None:
    import httpx

    response = httpx.post(
        f"{stack.public_url}/sessions/{speaker.session_uuid}/media-token",
        json={"device_uuid": speaker.device_uuid, "track_uuid": speaker.track["track_uuid"]},
    )
    assert response.status_code == 401


def test_refusals_are_logged_without_secrets(stack: Stack, speaker: Speaker) -> None:
    phone = speaker.user.register_device("phone")
    assert speaker.mint(device_uuid=phone).status_code == 403
    lines = [
        line for line in stack.log_file("control").read_text().splitlines() if "media_token_refused" in line
    ]
    assert any(phone in line and "active speaker" in line for line in lines)
    assert not any(speaker.user.token in line for line in lines)
