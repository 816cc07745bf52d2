"""The page's pure modules, run in Chromium as the page loads them (no devices needed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from devtools.stack import Stack
from tests.e2e.conftest import DevicePage

pytestmark = pytest.mark.e2e

CLOCK_CASES = """async () => {
  const { ServerClock, projectPosition, timelineMoved } = await import('/static/js/clock.js');
  const out = {};

  // Lower bounds only (events): the least-delayed sample wins.
  let c = new ServerClock();
  c.observe(10_000, 9_000);           // offset >= 1000
  c.observe(10_500, 9_450);           // offset >= 1050
  c.observe(11_000, 10_100);          // offset >= 900
  out.lowerOnly = c.offsetMs;

  // A request/response pair bounds it from above too: the middle of [max lower, min upper].
  c.observe(20_000, 18_960, 18_900);  // 1040 <= offset <= 1100
  out.bracketed = c.offsetMs;

  // A few ms of disagreement (two server hosts): meet in the middle, keep the samples.
  c = new ServerClock();
  c.observe(5_000, 4_000, 3_990);     // [1000, 1010]
  c.observe(6_020, 5_000);            // >= 1020 (a host 10 ms ahead)
  out.skewed = c.offsetMs;
  out.skewedSamples = c.samples.length;

  // A big contradiction (the machine slept, a clock stepped): start over from the newest.
  c = new ServerClock();
  c.observe(5_000, 4_000, 3_990);
  c.observe(60_000, 5_000);
  out.stepped = c.offsetMs;
  out.steppedSamples = c.samples.length;

  const track = { duration_ms: 40_000 };
  const playing = { track, track_uuid: 't', queue_position: 0, play_state: 'playing', position_ms: 1_000, server_time_ms: 100_000 };
  out.projected = projectPosition(playing, 102_500);
  out.clampedEnd = projectPosition(playing, 200_000);
  out.clampedStart = projectPosition({ ...playing, position_ms: 0 }, 90_000);
  out.paused = projectPosition({ ...playing, play_state: 'paused' }, 150_000);
  out.noTrack = projectPosition({ ...playing, track: null }, 150_000);

  // The same timeline re-sent later is no move; a seek, a pause or a new item is.
  const later = { ...playing, position_ms: 3_000, server_time_ms: 102_000 };
  out.continued = timelineMoved(playing, later);
  out.seeked = timelineMoved(playing, { ...later, position_ms: 9_000 });
  out.pausedMove = timelineMoved(playing, { ...later, play_state: 'paused' });
  out.nextItem = timelineMoved(playing, { ...later, queue_position: 1 });
  return out;
}"""


def test_clock_estimate_projection_and_moves(stack: Stack, open_device: Callable[..., DevicePage]) -> None:
    device = open_device("modules")
    device.page.goto(stack.public_url)
    result: dict[str, Any] = device.page.evaluate(CLOCK_CASES)
    assert result["lowerOnly"] == 1050
    assert result["bracketed"] == (1050 + 1100) / 2
    assert result["skewed"] == (1020 + 1010) / 2 and result["skewedSamples"] == 2
    assert result["stepped"] == 55_000 and result["steppedSamples"] == 1
    assert result["projected"] == 3_500
    assert result["clampedEnd"] == 40_000
    assert result["clampedStart"] == 0
    assert result["paused"] == 1_000
    assert result["noTrack"] == 0
    assert result["continued"] is False
    assert result["seeked"] is True and result["pausedMove"] is True and result["nextItem"] is True


ERROR_CASES = """async () => {
  const { ApiError } = await import('/static/js/api.js');
  const { describe } = await import('/static/js/errors.js');
  const validation = [{ type: 'string_too_long', loc: ['query', 'q'], msg: 'String should have at most 200 characters' }];
  return {
    validation: describe(new ApiError(422, validation), 'search'),
    endOfQueue: describe(new ApiError(409, 'end of queue: there is no next track'), 'skip to the next song'),
    noSpeaker: describe(new ApiError(409, 'no active speaker: choose a speaker, or send device_uuid to play on this device'), 'play'),
    unknown409: describe(new ApiError(409, 'some new rule with_internal_words'), 'play'),
    missingItem: describe(new ApiError(404, 'queue item not found'), 'remove the song'),
    tooMany: describe(new ApiError(429, 'rate limited', '7'), 'add to the queue'),
    down: describe(new ApiError(503, 'database unavailable'), 'play'),
    network: describe(new ApiError(0, 'network error')),
    timeout: describe(new ApiError(0, 'request timed out', null, { timedOut: true })),
    bug: describe(new TypeError('x is undefined')),
  };
}"""


def test_errors_read_as_sentences_never_as_server_text(
    stack: Stack, open_device: Callable[..., DevicePage]
) -> None:
    device = open_device("errors")
    device.page.goto(stack.public_url)
    said: dict[str, str] = device.page.evaluate(ERROR_CASES)
    assert said["validation"] == "Couldn’t search: the server did not accept what was sent."
    assert said["endOfQueue"] == "Couldn’t skip to the next song: that was the last song in the queue."
    assert "Pick one under “Connect to a device”" in said["noSpeaker"]
    assert said["unknown409"] == "Couldn’t play: another device changed things at the same moment. Try again."
    assert said["missingItem"] == "Couldn’t remove the song: that song has already left the queue."
    assert said["tooMany"] == "Couldn’t add to the queue: too many requests. Try again in 7 s."
    assert said["down"] == "Couldn’t play: the server has a problem. Try again shortly."
    assert said["network"] == "The server cannot be reached."
    assert said["timeout"] == "The server took too long to answer."
    assert said["bug"].startswith("Something went wrong in this page")
    raw = ("String should", "device_uuid", "with_internal_words", "database", "undefined")
    assert not [text for text in said.values() for word in raw if word in text], said


def test_device_uuid_is_stable_and_two_tabs_are_two_devices(
    stack: Stack, e2e_users: list[tuple[str, str]], open_device: Callable[..., DevicePage]
) -> None:
    """A reload keeps the device; a second tab of the same browser is another device."""
    username, _ = e2e_users.pop()
    first = open_device("tab1")
    first.login(stack.public_url, username)
    uuid_before = first.device_uuid
    first.page.reload()
    first.wait_for(
        "document.getElementById('app').dataset.rev !== undefined && !document.getElementById('app').hidden"
    )
    assert first.device_uuid == uuid_before

    second_page = first.context.new_page()
    second_page.goto(stack.public_url)
    second_page.wait_for_selector("#app:not([hidden])")
    second_uuid = second_page.get_attribute("#app", "data-device-uuid")
    assert second_uuid and second_uuid != uuid_before
    second_page.wait_for_selector("[data-testid=device-row] >> nth=1", state="attached")
    rows = second_page.locator("[data-testid=device-row]").evaluate_all(
        "rows => rows.map(r => [r.dataset.deviceUuid, r.dataset.mine])"
    )
    assert sorted(rows) == sorted([[uuid_before, "false"], [second_uuid, "true"]])
    second_page.close()


def test_page_and_assets_are_served_by_nginx(public: httpx.Client) -> None:
    page = public.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert "Content-Security-Policy" in page.text  # the page's own policy, in <meta>
    for path, kind in (
        ("/static/js/main.js", "javascript"),
        ("/static/css/app.css", "text/css"),
        ("/static/favicon.svg", "image/svg+xml"),
    ):
        asset = public.get(path)
        assert asset.status_code == 200 and kind in asset.headers["content-type"], path
    assert public.get("/static/js/nope.js").status_code == 404
