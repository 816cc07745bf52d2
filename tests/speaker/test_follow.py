"""The box as a speaker against the real stack (nginx, gunicorn, Postgres, Redis, mpv).

A second IPC client on the box's mpv stamps what mpv does (``MpvWatcher``); the test shares the
server's clock (same machine), so mpv's ``time-pos`` can be compared with the session's projection
at the same instant. "The browser" here is an API client standing for the web player: a device
that registers, is chosen as speaker and mints its media token like the page does (the page's own
start position is covered by tests/e2e).
"""

from __future__ import annotations

import random
import statistics
import time
from functools import partial
from typing import Any

import httpx

from tests.speaker.conftest import BoxFactory
from tests.speaker.support import MpvWatcher, wait_until
from tests.support import UserClient


def by_title(user: UserClient) -> dict[str, dict[str, Any]]:
    return {t["title"]: t for t in user.tracks()}


def speaker(user: UserClient, device_uuid: str) -> dict[str, Any]:
    return dict(user.post_ok(f"/sessions/{user.user_uuid}/speaker", {"device_uuid": device_uuid}))


def wait_playing(mpv: MpvWatcher, track_uuid: str, timeout_s: float = 15) -> float:
    return mpv.wait_for(
        lambda: mpv.get("pause") is False
        and track_uuid in str(mpv.get("path") or "")
        and (mpv.position_ms() or 0) > 0,
        timeout_s,
        f"mpv playing {track_uuid}",
    )


def test_transfer_browser_to_box_to_browser_mid_track(user: UserClient, make_box: BoxFactory) -> None:
    box, mpv = make_box(user)
    browser = user.register_device("browser tab")
    noon = by_title(user)["Noon"]["track_uuid"]
    user.command_ok("play", {"track_uuid": noon, "position_ms": 12_000, "device_uuid": browser})
    # Not the speaker, the box is a silent remote: it sees every revision and plays nothing.
    rev = user.command_ok("seek", {"position_ms": 12_500})["revision"]
    wait_until(lambda: f"session rev {rev} " in box.log_text(), 10, "the box saw the last revision")
    assert mpv.get("idle-active") is True and mpv.events("start-file") == []
    assert any(d["device_uuid"] == box.device_uuid and d["online"] for d in user.get_ok("/devices")["items"])

    sent = time.monotonic()
    speaker(user, box.device_uuid)
    started = wait_playing(mpv, noon)
    # Once mpv has settled on its start, its position against the session's projection.
    time.sleep(0.3)
    offsets = [mpv.offset_from(user.session) for _ in range(5)]
    print(f"transfer to box: audible after {(started - sent) * 1000:.0f} ms, offsets {[round(o) for o in offsets]} ms")  # noqa: T201
    assert max(abs(o) for o in offsets) <= 300

    box_url = str(mpv.get("path"))
    sent = time.monotonic()
    speaker(user, browser)
    silent = mpv.wait_for(lambda: mpv.get("idle-active") is True, 5, "the box silent")
    minted = user.post_ok(f"/sessions/{user.session_uuid}/media-token", {"device_uuid": browser, "track_uuid": noon})
    range_done = time.monotonic()
    first_bytes = httpx.get(user.stack.public_url + minted["url"], headers={"Range": "bytes=0-65535"})
    assert first_bytes.status_code == 206
    print(f"transfer to browser: box silent after {(silent - sent) * 1000:.0f} ms")  # noqa: T201
    assert silent - sent < 2.0
    # The box's token died with the change: it could not fetch another byte.
    assert httpx.get(box_url, headers={"Range": "bytes=0-1"}).status_code == 403
    assert range_done > silent - 1.0  # (sanity: the timings come from one clock)
    assert user.session["active_device_uuid"] == browser


def test_pause_play_and_seek_reach_mpv_quickly(user: UserClient, make_box: BoxFactory) -> None:
    box, mpv = make_box(user)
    walk = by_title(user)["Long Walk"]["track_uuid"]
    speaker(user, box.device_uuid)
    user.command_ok("play", {"track_uuid": walk, "position_ms": 1000})
    wait_playing(mpv, walk)
    rng = random.Random(13)
    latencies: dict[str, list[float]] = {"pause": [], "play": [], "seek": []}
    after_answer: list[float] = []
    playing = True
    for n in range(50):
        sent = time.monotonic()
        if n % 3 == 2:
            target = rng.randrange(5_000, 500_000)
            user.command_ok("seek", {"position_ms": target})
            answered = time.monotonic()
            kind = "seek"
            seen = mpv.wait_for(partial(mpv.saw_event, "seek", sent), 5, "seek in mpv")
            mpv.wait_for(partial(mpv.near, target, 2000), 5, "mpv at the target")
        else:
            kind = "pause" if playing else "play"
            user.command_ok(kind)
            answered = time.monotonic()
            playing = not playing
            seen = mpv.wait_for(partial(mpv.saw_value, "pause", not playing, sent), 5, f"{kind} in mpv")
        latencies[kind].append((seen - sent) * 1000)
        after_answer.append((seen - answered) * 1000)
    every = sorted(ms for values in latencies.values() for ms in values)
    p50, p99 = statistics.median(every), every[min(len(every) - 1, int(len(every) * 0.99))]
    print(  # noqa: T201
        f"command -> mpv over {len(every)} commands: p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {every[-1]:.0f} ms "
        + ", ".join(f"{k} p50 {statistics.median(v):.0f}" for k, v in latencies.items())
        + f"; after the command's answer: p50 {statistics.median(after_answer):.0f} ms, max {max(after_answer):.0f} ms"
    )
    # The target is 300 ms p99 from the phone's press (docs/SPEAKER.md has the figures). Most of it
    # is the command's own round trip, which a loaded CI machine stretches by seconds now and then;
    # the box's own part (from the command's answer to mpv) is what is asserted, generously.
    assert sorted(after_answer)[int(len(after_answer) * 0.99)] < 1000

    sent = time.monotonic()
    user.command_ok("volume", {"volume_percent": 35})
    mpv.wait_for(partial(mpv.saw_value, "volume", 35.0, sent), 5, "volume in mpv")


def test_next_and_end_of_queue(user: UserClient, make_box: BoxFactory) -> None:
    box, mpv = make_box(user)
    titles = by_title(user)
    user.post_ok("/queue/enqueue", {"track_uuids": [titles["Dawn"]["track_uuid"], titles["Blip"]["track_uuid"]]})
    speaker(user, box.device_uuid)
    queue = user.get_ok("/queue")["items"]
    user.command_ok("play", {"item_uuid": queue[0]["item_uuid"]})
    wait_playing(mpv, titles["Dawn"]["track_uuid"])
    user.command_ok("next")
    wait_playing(mpv, titles["Blip"]["track_uuid"])
    # Near the end of the last item: the box reports the end, the server stops on it at 0, the
    # box holds it paused at 0.
    user.command_ok("seek", {"position_ms": titles["Blip"]["duration_ms"] - 1500})
    wait_until(lambda: user.session["play_state"] == "stopped", 15, "the end of the queue")
    mpv.wait_for(lambda: mpv.get("pause") is True and mpv.position_ms() == 0, 10, "mpv paused at 0")
