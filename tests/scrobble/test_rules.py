"""The sender's rules as plain functions: what an answer means, batches, backoff, URLs, times."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from us_control.models import ScrobbleOutbox
from us_control.scrobble.listen_payload import started_at_s
from us_control.scrobble.listenbrainz import Outcome, classify, rate_limit_wait_s
from us_control.scrobble.receiver_url import ReceiverUrlRefused, normalize_base_url
from us_control.scrobble.sender import backoff_s, choose_batch
from us_control.settings import ControlSettings


def answer(status: int, headers: dict[str, str] | None = None, body: Any = None) -> httpx.Response:
    return httpx.Response(status, headers=headers or {}, json=body if body is not None else {})


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.TAKEN),
        (401, Outcome.TOKEN_REFUSED),
        (429, Outcome.RATE_LIMITED),
        (404, Outcome.NOT_SENT),
        (400, Outcome.REJECTED),
        (409, Outcome.REJECTED),
        (413, Outcome.REJECTED),
        (500, Outcome.UNKNOWN),
        (502, Outcome.UNKNOWN),
        (503, Outcome.UNKNOWN),
    ],
)
def test_what_an_answer_means(status: int, outcome: Outcome) -> None:
    assert classify(answer(status)).outcome == outcome


def test_the_receivers_message_is_kept_short_and_alone() -> None:
    got = classify(answer(400, body={"code": 400, "error": "Invalid JSON document submitted.\n" + "x" * 500}))
    assert got.error is not None and got.error.startswith("HTTP 400: Invalid JSON document submitted. x")
    assert len(got.error) <= 220


def test_rate_limit_headers() -> None:
    assert rate_limit_wait_s({"x-ratelimit-remaining": "0", "x-ratelimit-reset-in": "7"}, 200) == 7
    assert rate_limit_wait_s({"x-ratelimit-remaining": "3", "x-ratelimit-reset-in": "7"}, 200) is None
    assert rate_limit_wait_s({"x-ratelimit-reset-in": "12"}, 429) == 12
    assert rate_limit_wait_s({"retry-after": "30"}, 429) == 30
    reset_at = str(int(time.time()) + 20)
    assert 18 <= (rate_limit_wait_s({"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset_at}, 200) or 0) <= 20
    assert rate_limit_wait_s({}, 429) is None  # the caller falls back to a backoff
    assert classify(answer(429, {"X-RateLimit-Reset-In": "5"})).wait_s == 5


def entry(maybe_sent: bool = False, title: str = "t") -> ScrobbleOutbox:
    return ScrobbleOutbox(
        target_uuid=uuid.uuid4(),
        listen_uuid=uuid.uuid4(),
        listened_at=1_700_000_000,
        track_metadata={"artist_name": "a", "track_name": title},
        maybe_sent=maybe_sent,
    )


def test_a_listen_that_may_be_there_goes_alone_and_fresh_ones_go_together() -> None:
    fresh = [entry() for _ in range(5)]
    assert choose_batch(fresh) == fresh
    resend = entry(maybe_sent=True)
    assert choose_batch([resend, *fresh]) == [resend]
    assert choose_batch([*fresh[:2], resend, *fresh[2:]]) == fresh[:2]  # up to the first maybe-sent
    big = [entry(title="x" * 400) for _ in range(10)]
    assert len(choose_batch(big, max_bytes=2_000)) == 4  # the byte budget cuts a batch
    assert choose_batch([]) == []


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    settings = ControlSettings(
        access_token_key="a" * 16 + "bcdefghijklmnopq",
        media_token_key="z" * 16 + "yxwvutsrqponmlkj",
        scrobble_backoff_base_s=2,
        scrobble_backoff_max_s=60,
    )
    for failures, ceiling in ((1, 2), (2, 4), (3, 8), (6, 60), (30, 60)):
        waits = [backoff_s(settings, failures) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 1  # jittered


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("https://API.ListenBrainz.org/", "https://api.listenbrainz.org"),
        ("http://127.0.0.1:42010/apis/listenbrainz/", "http://127.0.0.1:42010/apis/listenbrainz"),
        ("  http://[::1]:42010/x  ", "http://[::1]:42010/x"),
    ],
)
def test_base_urls_are_normalized(raw: str, normal: str) -> None:
    assert normalize_base_url(raw) == normal


@pytest.mark.parametrize("raw", ["", "ftp://h/x", "http://", "http://u:p@h/", "http://h/?a=1", "http://h/#f",
                                 "http://h:99999/", "http://h/a b", "h" * 3000])  # fmt: skip
def test_bad_base_urls_are_refused(raw: str) -> None:
    with pytest.raises(ReceiverUrlRefused):
        normalize_base_url(raw)


def test_listened_at_is_when_the_play_started() -> None:
    counted = datetime.fromtimestamp(1_700_000_100.250, UTC)
    assert started_at_s(counted, 100_250) == 1_700_000_000
    assert started_at_s(counted, 100_251) == 1_699_999_999  # rounds down to the second it began
