"""Speaker truth and failures as people see them (issue 12, CONTRACTS C1), in real Chromium.

A file that vanished after the scan (a real 404 from nginx) is reported by the browser
speaker (POST /failed); a reload of the speaker keeps playing; leaving the page pauses after
the server's grace, and Play on another device then makes that device the speaker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devtools.flacgen import write_flac
from devtools.stack import Stack
from tests.e2e.conftest import DevicePage, TwoDevices, create_users, server_position_ms, signed_in_pair

pytestmark = pytest.mark.e2e

GONE = "Gone Missing"


@pytest.fixture(scope="session")
def vanishing_library(stack: Stack, music_root: Path) -> str:
    """An album whose second file is deleted after the scan (the catalog still lists it)."""
    name = "Vanishing"
    folder = music_root / name
    for n, title in enumerate(("Here First", GONE, "Still Here"), start=1):
        write_flac(
            folder / f"{n:02d}.flac",
            duration_s=12.0,
            title=title,
            artist="Delta",
            album="Now You See It",
            track_number=n,
            year=2022,
            sample_rate=8000,
        )
    stack.usctl("library", "scan", str(folder), "--name", name)
    (folder / "02.flac").unlink()
    return name


@pytest.fixture
def vanishing_devices(
    stack: Stack, vanishing_library: str, open_device: Callable[..., DevicePage]
) -> Iterator[TwoDevices]:
    [(username, user_uuid)] = create_users(stack, 1, (vanishing_library,))
    with signed_in_pair(stack, open_device, username, user_uuid) as pair:
        yield pair


def play_here(device: DevicePage) -> None:
    device.open_devices()
    device.page.click("[data-testid=device-row][data-mine=true] [data-testid=device-make-speaker]")
    device.wait_for("document.getElementById('app').dataset.speaker === 'true'")


def notices(device: DevicePage) -> list[str]:
    return [str(t) for t in device.page.locator("[data-testid=failure-notice]").all_inner_texts()]


def test_a_missing_file_is_skipped_on_every_device_and_only_failed_items_stop(
    vanishing_devices: TwoDevices,
) -> None:
    devices = vanishing_devices
    a, b, user = devices.a, devices.b, devices.user
    play_here(a)
    # B plays the album from its library; A (the speaker) plays it.
    b.go("#/library/albums")
    b.page.click("[data-testid=album-row][data-title='Now You See It'] [data-testid=album-play]")
    a.wait_for("document.getElementById('np-title').textContent === 'Here First'")
    a.wait_for(
        "!document.getElementById('audio').paused && document.getElementById('audio').currentTime > 0.2"
    )

    # Near its end: the next song's file is gone (nginx answers 404). A reports it, the session
    # marks the item failed and moves on; both devices say so; A plays the one after.
    user.command_ok("seek", {"position_ms": 10_500})
    for device in (a, b):
        device.wait_for("document.getElementById('np-title').textContent === 'Still Here'", timeout_ms=15_000)
        device.page.locator("[data-testid=failure-notice]", has_text=GONE).wait_for()
    assert notices(b) == ["Skipped “Gone Missing”: its file is missing."], notices(b)
    a.wait_for(
        "!document.getElementById('audio').paused && document.getElementById('audio').currentTime > 0.2"
    )
    assert 404 in a.media_statuses
    assert a.state()["stats"]["failures"] == 1
    session = user.session
    assert session["play_state"] == "playing" and session["last_failure"]["title"] == GONE
    assert session["last_failure"]["reason"] == "http 404"
    statuses = {i["track"]["title"]: i["status"] for i in user.get_ok("/queue")["items"]}
    assert statuses == {"Here First": "played", GONE: "failed", "Still Here": "playing"}, statuses
    a.go("#/queue")
    a.page.locator("[data-testid=queue-item][data-current=true][data-status=playing]").wait_for()

    # A queue of nothing but the missing song: it fails once, and playback stops (no retries,
    # no frozen "playing").
    gone = next(t for t in user.tracks(GONE) if t["title"] == GONE)
    user.post_ok("/queue/enqueue", {"track_uuids": [gone["track_uuid"]], "replace": True})
    for device in (a, b):
        device.wait_for("document.getElementById('app').dataset.playState === 'stopped'", timeout_ms=15_000)
        device.page.locator("[data-testid=failure-notice]", has_text="Nothing playable is left").wait_for()
    assert a.state()["stats"]["failures"] == 2
    assert a.state()["audio"]["paused"]
    assert user.session["play_state"] == "stopped"
    a.screenshot("failed")
    b.screenshot("failed")


# Every value #app[data-play-state] takes from now on (a MutationObserver in the page).
RECORD_PLAY_STATES = """() => {
  window.__playStates = [];
  new MutationObserver(() => window.__playStates.push(document.getElementById('app').dataset.playState))
    .observe(document.getElementById('app'), { attributes: true, attributeFilter: ['data-play-state'] });
}"""


def test_a_reload_keeps_playing_leaving_pauses_and_play_elsewhere_takes_over(devices: TwoDevices) -> None:
    a, b, user = devices.a, devices.b, devices.user
    play_here(a)
    long_walk = next(t for t in user.tracks("Long Walk") if t["title"] == "Long Walk")
    user.post_ok(f"/sessions/{user.session_uuid}/play", {"track_uuid": long_walk["track_uuid"]})
    a.wait_for(
        "!document.getElementById('audio').paused && document.getElementById('audio').currentTime > 0.3"
    )
    b.wait_for("document.getElementById('speaker-label').textContent === 'Playing on Device A'")
    b.page.evaluate(RECORD_PLAY_STATES)
    revision = user.session["revision"]

    # The speaker's tab reloads: it says it is leaving, comes back within the grace, plays on
    # at the projected position. Nothing changed for anyone: no revision, never paused.
    a.page.reload()
    a.page.wait_for_selector("#app:not([hidden])")
    a.wait_for(
        "!document.getElementById('audio').paused && document.getElementById('audio').readyState >= 3"
        " && !document.getElementById('audio').seeking",
        timeout_ms=10_000,
    )
    state = a.state()
    expected = server_position_ms(user.session, state["t"])
    assert abs(state["audio"]["time"] - expected) < 1500, (state["audio"], expected)
    session = user.session
    assert session["revision"] == revision and session["play_state"] == "playing", session
    assert session["speaker_online"] is True
    assert b.page.evaluate("window.__playStates") == [], "B saw the session leave 'playing'"

    # The speaker's page goes away for good: after the grace the session pauses, and B says
    # where it stopped and why.
    a.page.goto("about:blank")
    b.wait_for("document.getElementById('app').dataset.playState === 'paused'", timeout_ms=20_000)
    b.wait_for("document.getElementById('speaker-label').textContent === 'Device A is offline'")
    assert user.session["speaker_online"] is False

    # Play on B: B becomes the speaker in the same command and really plays.
    b.page.click("[data-testid=btn-play]")
    b.wait_for("document.getElementById('app').dataset.speaker === 'true'")
    b.wait_for(
        "!document.getElementById('audio').paused && document.getElementById('audio').currentTime > 0.3"
    )
    session = user.session
    assert session["active_device_uuid"] == b.device_uuid and session["play_state"] == "playing"
    assert b.page.inner_text("#speaker-label") == "Playing on this device"
    b.screenshot("took-over")
