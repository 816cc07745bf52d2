"""Rotation: a speaker change (or forgetting the speaker) makes every token of the old speaker fail
on its very next request — Range re-requests of a file already playing included."""

from __future__ import annotations

import httpx

from devtools.stack import Stack
from tests.media.conftest import Speaker, media_epoch
from tests.support import redis_for
from us_common.bus import session_cache_key


def test_speaker_change_refuses_the_old_speakers_next_range_request(
    stack: Stack, speaker: Speaker, player: httpx.Client
) -> None:
    url = speaker.url()
    assert player.get(url, headers={"Range": "bytes=0-1023"}).status_code == 206
    phone = speaker.user.register_device("phone")
    epoch = media_epoch(stack, speaker.user)
    speaker.user.post_ok(f"/sessions/{speaker.user.user_uuid}/speaker", {"device_uuid": phone})
    assert media_epoch(stack, speaker.user) == epoch + 1
    # Immediately: no grace, no cached verdict.
    response = player.get(url, headers={"Range": "bytes=1024-2047"})
    assert response.status_code == 403
    assert player.get(url).status_code == 403
    # The old speaker may not mint any more; the new one may, and plays.
    assert speaker.mint().status_code == 403
    new = speaker.mint(device_uuid=phone)
    assert new.status_code == 200
    assert player.get(new.json()["url"], headers={"Range": "bytes=1024-2047"}).status_code == 206


def test_switching_back_does_not_revive_old_tokens(
    stack: Stack, speaker: Speaker, player: httpx.Client
) -> None:
    url = speaker.url()
    phone = speaker.user.register_device("phone")
    sessions = f"/sessions/{speaker.user.user_uuid}/speaker"
    speaker.user.post_ok(sessions, {"device_uuid": phone})
    speaker.user.post_ok(sessions, {"device_uuid": speaker.device_uuid})
    # Same device as the token names, but two epochs later.
    assert player.get(url, headers={"Range": "bytes=0-9"}).status_code == 403
    assert player.get(speaker.url(), headers={"Range": "bytes=0-9"}).status_code == 206


def test_forgetting_the_speaker_revokes_its_tokens(speaker: Speaker, player: httpx.Client) -> None:
    url = speaker.url()
    assert speaker.user.http.delete(f"/devices/{speaker.device_uuid}").status_code in (200, 204)
    assert player.get(url, headers={"Range": "bytes=0-9"}).status_code == 403


def test_a_lost_session_cache_is_rebuilt_from_postgres(
    stack: Stack, speaker: Speaker, player: httpx.Client
) -> None:
    url = speaker.url()
    client = redis_for(stack)
    try:
        client.delete(session_cache_key(speaker.user.user_uuid))
        # Redis misses: media asks control, which answers from Postgres and refills the cache.
        assert player.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
        assert client.hget(session_cache_key(speaker.user.user_uuid), "media_epoch") is not None
        # And a rotation still bites after a miss.
        client.delete(session_cache_key(speaker.user.user_uuid))
        phone = speaker.user.register_device("phone")
        speaker.user.post_ok(f"/sessions/{speaker.user.user_uuid}/speaker", {"device_uuid": phone})
        client.delete(session_cache_key(speaker.user.user_uuid))
        assert player.get(url, headers={"Range": "bytes=0-9"}).status_code == 403
    finally:
        client.close()


def test_a_stale_cache_behind_a_newer_token_is_checked_against_postgres(
    stack: Stack, speaker: Speaker, player: httpx.Client
) -> None:
    """A publish that has not reached Redis yet must not refuse the new speaker's token."""
    phone = speaker.user.register_device("phone")
    speaker.user.post_ok(f"/sessions/{speaker.user.user_uuid}/speaker", {"device_uuid": phone})
    url = speaker.mint(device_uuid=phone).json()["url"]
    client = redis_for(stack)
    try:
        key = session_cache_key(speaker.user.user_uuid)
        epoch = int(client.hget(key, "media_epoch") or 0)
        client.hset(key, mapping={"media_epoch": str(epoch - 1), "active_device_uuid": speaker.device_uuid})
        assert player.get(url, headers={"Range": "bytes=0-9"}).status_code == 206
    finally:
        client.close()


def test_a_lost_path_cache_is_asked_from_control(
    stack: Stack, speaker: Speaker, player: httpx.Client
) -> None:
    from us_common.bus import media_track_key

    url = speaker.url()
    client = redis_for(stack)
    try:
        client.delete(media_track_key(speaker.user.user_uuid, speaker.track["track_uuid"]))
        response = player.get(url, headers={"Range": "bytes=0-3"})
        assert response.status_code == 206 and response.content == b"fLaC"
    finally:
        client.close()
