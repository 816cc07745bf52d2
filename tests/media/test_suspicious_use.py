"""Suspicious use: refused verifications of validly signed tokens are counted per user, and past
the threshold (3 on the second stack) within a minute every media token of the user is revoked
by bumping the speaker epoch — once per window. Also the mint rate limit (5/minute there)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from devtools.stack import Stack
from tests.media.conftest import (
    AUX_MEDIA_TOKEN_LIMIT,
    AUX_REFUSAL_THRESHOLD,
    craft_token,
    media_epoch,
    start_speaker,
)
from tests.support import UserClient


def wait_for_epoch(stack: Stack, user: UserClient, expected: int, timeout_s: float = 5.0) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        epoch = media_epoch(stack, user)
        if epoch == expected or time.monotonic() > deadline:
            return epoch
        time.sleep(0.05)


def test_a_burst_of_refusals_revokes_every_media_token_of_the_user(
    aux_stack: Stack, make_aux_user: Callable[[], UserClient]
) -> None:
    speaker = start_speaker(make_aux_user())
    user = speaker.user
    public = httpx.Client(base_url=aux_stack.public_url, timeout=15)
    try:
        good = speaker.url()
        track = speaker.track["track_uuid"]
        other = {t["title"]: t for t in user.tracks()}["Blip"]["track_uuid"]
        replayed = good.replace(track, other)  # a real token, bound to another track: 403
        epoch = media_epoch(aux_stack, user)
        for _ in range(AUX_REFUSAL_THRESHOLD):
            assert public.get(replayed).status_code == 403
        # Garbage and badly signed tokens are nobody's: they do not count against the user.
        for _ in range(5):
            assert public.get(f"/media/tracks/{track}?token=a.b.c").status_code == 401
        time.sleep(0.5)
        assert media_epoch(aux_stack, user) == epoch  # at the threshold, not past it
        assert public.get(good, headers={"Range": "bytes=0-3"}).status_code == 206

        assert public.get(replayed).status_code == 403  # one past the threshold
        assert wait_for_epoch(aux_stack, user, epoch + 1) == epoch + 1
        # Every token of the user is dead, the speaker's own included; it simply mints again.
        assert public.get(good, headers={"Range": "bytes=0-3"}).status_code == 403
        fresh = speaker.url()
        assert public.get(fresh, headers={"Range": "bytes=0-3"}).status_code == 206
        assert user.session["active_device_uuid"] == speaker.device_uuid

        # The replay goes on: no second revocation within the same window.
        for _ in range(AUX_REFUSAL_THRESHOLD + 1):
            assert public.get(replayed).status_code == 403
        time.sleep(0.5)
        assert media_epoch(aux_stack, user) == epoch + 1
        assert public.get(fresh, headers={"Range": "bytes=0-3"}).status_code == 206
    finally:
        public.close()

    lines = aux_stack.log_file("control").read_text().splitlines()
    assert any("media_tokens_revoked" in line and user.user_uuid in line for line in lines)


def test_expired_tokens_count_too(aux_stack: Stack, make_aux_user: Callable[[], UserClient]) -> None:
    speaker = start_speaker(make_aux_user())
    epoch = media_epoch(aux_stack, speaker.user)
    track = speaker.track["track_uuid"]
    with httpx.Client(base_url=aux_stack.public_url, timeout=15) as public:
        for _ in range(AUX_REFUSAL_THRESHOLD + 1):
            expired = craft_token(aux_stack, speaker, now=time.time() - 600)
            assert public.get(f"/media/tracks/{track}?token={expired}").status_code == 401
    assert wait_for_epoch(aux_stack, speaker.user, epoch + 1) == epoch + 1


def test_minting_is_rate_limited(aux_stack: Stack, make_aux_user: Callable[[], UserClient]) -> None:
    speaker = start_speaker(make_aux_user())
    statuses = [speaker.mint().status_code for _ in range(AUX_MEDIA_TOKEN_LIMIT + 1)]
    assert statuses[:AUX_MEDIA_TOKEN_LIMIT] == [200] * AUX_MEDIA_TOKEN_LIMIT
    assert statuses[-1] == 429
    limited = speaker.mint()
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_only_media_may_report_refusals(aux_stack: Stack, make_aux_user: Callable[[], UserClient]) -> None:
    from us_common.jwt import TokenCodec, TokenKind

    user = make_aux_user()
    control = aux_stack.service_url("control")
    body = {"user_uuid": user.user_uuid, "reason": "rotated"}
    assert httpx.post(f"{control}/internal/media-refusals", json=body).status_code == 401
    events = TokenCodec(TokenKind.SERVICE, aux_stack.env["US_ACCESS_TOKEN_KEY"], "universalscrobbler")
    token = events.encode({"sub": "events"}, ttl_s=60)
    response = httpx.post(
        f"{control}/internal/media-refusals", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    # And nginx never routes /internal.
    assert httpx.post(f"{aux_stack.public_url}/internal/media-refusals", json=body).status_code == 404
