"""What a person hits using the player every day (issue 12): long titles, words, keys, offline.

Two devices of one user in Debian's Chromium, against the real stack. The layout checks read
bounding boxes: an element "past the edge" is one whose visible part (its box cut by the
ancestors that clip it — an ellipsis line, the horizontally scrolling chips) leaves the viewport.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Route

from devtools.stack import Stack
from tests.e2e.conftest import (
    DESKTOP,
    LONG_TITLE,
    LONG_WORD,
    PHONE,
    DevicePage,
    TwoDevices,
    api_client,
    assert_no_script_errors,
    create_users,
)

pytestmark = pytest.mark.e2e

# Every visible element whose box leaves the viewport horizontally, and the page's own width.
PAST_THE_EDGE = """() => {
  const vw = document.documentElement.clientWidth;
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden' || el.closest('.sr-only')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    // What can be seen of it: its box cut by every ancestor that clips (an ellipsis line, a
    // horizontal scroller). Past the edge = a visible part outside [0, vw].
    let left = r.left, right = r.right;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === 'visible') continue;
      const c = a.getBoundingClientRect();
      left = Math.max(left, c.left);
      right = Math.min(right, c.right);
    }
    if (right <= left) continue;
    if (left < -0.5 || right > vw + 0.5) {
      bad.push(`${el.tagName.toLowerCase()}#${el.id}.${typeof el.className === 'string' ? el.className : ''}`
        + ` [${Math.round(left)}, ${Math.round(right)}]`);
    }
  }
  return { vw, scrollWidth: document.documentElement.scrollWidth, bad: bad.slice(0, 12) };
}"""

# The box of an element, and whether its text is cut (ellipsis) rather than overflowing.
BOX = """(sel) => {
  const el = document.querySelector(sel);
  const r = el.getBoundingClientRect();
  const s = getComputedStyle(el);
  return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, cut: el.scrollWidth > el.clientWidth,
           ellipsis: s.textOverflow === 'ellipsis', overflow: s.overflowX };
}"""


def assert_inside(device: DevicePage, where: str) -> None:
    result: dict[str, Any] = device.page.evaluate(PAST_THE_EDGE)
    assert not result["bad"] and result["scrollWidth"] <= result["vw"], (device.name, where, result)


def toast_texts(device: DevicePage) -> list[str]:
    return [str(t) for t in device.page.locator("[data-testid=toast]").all_inner_texts()]


@pytest.fixture
def long_title_user(stack: Stack, long_titles: str) -> tuple[str, str]:
    [user] = create_users(stack, 1, ("Library", long_titles))
    return user


def test_long_titles_stay_inside_on_a_laptop_and_a_phone(
    stack: Stack, long_title_user: tuple[str, str], open_device: Callable[..., DevicePage]
) -> None:
    """A 130-character title and an 80-letter word: the player keeps its size, every control
    stays on screen, list titles end in an ellipsis — on a laptop and at 390 and 360 px."""
    username, user_uuid = long_title_user
    narrow = {**PHONE, "viewport": {"width": 360, "height": 740}}
    laptop, phone, small = (
        open_device(n, p) for n, p in (("laptop", DESKTOP), ("phone", PHONE), ("360", narrow))
    )
    for device in (laptop, phone, small):
        device.login(stack.public_url, username)
    with api_client(stack, username, user_uuid) as user:
        long_track = next(t for t in user.tracks("Extraordinarily") if t["title"] == LONG_TITLE)
        user.post_ok(f"/sessions/{user.user_uuid}/speaker", {"device_uuid": laptop.device_uuid})
        user.post_ok(f"/sessions/{user.session_uuid}/play", {"track_uuid": long_track["track_uuid"]})

    for device in (laptop, phone, small):
        device.wait_for(f"document.getElementById('np-title').textContent === {json.dumps(LONG_TITLE)}")
        width = device.page.viewport_size["width"]  # type: ignore[index]
        title = device.page.evaluate(BOX, "#np-title")
        assert title["cut"] and title["ellipsis"] and title["right"] <= width, (device.name, title)
        for control in ("#btn-play", "#btn-devices"):
            box = device.page.evaluate(BOX, control)
            assert 0 <= box["left"] and box["right"] <= width, (device.name, control, box)
        device.go("#/library/songs")
        for title in (LONG_TITLE, LONG_WORD):
            row = f"[data-testid=track-row][data-title={json.dumps(title)}]"
            device.page.locator(row).wait_for()
            text = device.page.evaluate(BOX, f"{row} .row-title-text")
            add = device.page.evaluate(BOX, f"{row} [data-testid=track-add]")
            # Cut with an ellipsis where it does not fit (the word fits a laptop's row).
            fits = title == LONG_WORD and device is laptop
            assert text["ellipsis"] and text["cut"] != fits and text["right"] <= add["left"], (
                device.name,
                text,
            )
            assert add["right"] <= width, (device.name, add)
        assert_inside(device, "songs")
        device.go("#/library/albums")
        device.page.locator("[data-testid=album-row]").first.wait_for()
        assert_inside(device, "albums")

    # The full-screen player on the phones: every control on screen, the title on two lines.
    for device in (phone, small):
        device.go("#/now")
        width = device.page.viewport_size["width"]  # type: ignore[index]
        for control in (
            "#btn-shuffle",
            "#btn-prev",
            "#btn-play",
            "#btn-next",
            "#btn-repeat",
            "#btn-like",
            "#volume",
            "#progress",
        ):
            box = device.page.evaluate(BOX, control)
            assert 0 <= box["left"] and box["right"] <= width and box["bottom"] <= 740 + 104, (
                device.name,
                control,
                box,
            )
        assert_inside(device, "now playing")
        device.screenshot("long-title-now")
    laptop.screenshot("long-title")
    small.go("#/library/songs")
    small.screenshot("long-title-songs")
    assert_no_script_errors(laptop, phone, small)


def test_words_keys_and_the_offline_banner(devices: TwoDevices) -> None:
    a, b = devices.both()
    user = devices.user
    a.open_devices()
    a.page.click("[data-testid=device-row][data-mine=true] [data-testid=device-make-speaker]")
    a.wait_for("document.getElementById('app').dataset.speaker === 'true'")
    album = next(x for x in user.get_ok("/albums?q=First Light")["items"] if x["title"] == "First Light")
    user.post_ok("/queue/enqueue", {"album_uuid": album["album_uuid"], "replace": True})
    a.wait_for("document.getElementById('np-title').textContent === 'Dawn'")

    # Paused: no device says "Playing on".
    for device in (a, b):
        device.wait_for("document.getElementById('speaker-label').textContent.startsWith('Paused on')")
    assert a.page.inner_text("#speaker-label") == "Paused on this device"
    assert b.page.inner_text("#speaker-label") == "Paused on Device A"

    # Shortcuts on A (focus on the page, not in a field): space, N, P, L, S, R, /, ?.
    a.page.locator("body").press("Space")
    b.wait_for("document.getElementById('speaker-label').textContent === 'Playing on Device A'")
    # Each key acts on what A shows: wait for both screens before the next key (a like pressed
    # while A still showed the previous song would like that one).
    a.page.keyboard.press("n")
    for device in (a, b):
        device.wait_for("document.getElementById('np-title').textContent === 'Noon'")
    a.page.keyboard.press("p")
    for device in (a, b):
        device.wait_for("document.getElementById('np-title').textContent === 'Dawn'")
    a.page.keyboard.press("l")
    for device in (a, b):
        device.wait_for("document.getElementById('btn-like').getAttribute('aria-pressed') === 'true'")
    a.page.keyboard.press("s")
    for device in (a, b):
        device.wait_for("document.getElementById('btn-shuffle').getAttribute('aria-pressed') === 'true'")
    a.page.keyboard.press("s")
    a.wait_for("document.getElementById('btn-shuffle').getAttribute('aria-pressed') === 'false'")
    a.page.keyboard.press("r")
    b.wait_for(
        "document.getElementById('btn-repeat').dataset.mode === 'all'"
        " && document.getElementById('btn-shuffle').getAttribute('aria-pressed') === 'false'"
    )
    a.page.keyboard.press("/")
    a.wait_for("document.activeElement === document.getElementById('search-input')")
    a.page.keyboard.type("noon")
    a.wait_for("location.hash === '#/search?q=noon'")
    a.page.locator("[data-testid=search-tracks] [data-testid=track-row][data-title=Noon]").wait_for()
    a.page.keyboard.press("Escape")
    a.page.keyboard.press("?")
    a.page.locator("#help-dialog[open]").wait_for()
    assert "Next song" in a.page.inner_text("#help-dialog")
    a.page.keyboard.press("Escape")
    a.page.locator("#help-dialog").wait_for(state="hidden")
    # Typing in a field is not a shortcut.
    a.page.fill("#search-input", "")
    a.page.locator("#search-input").press("n")
    assert a.page.input_value("#search-input") == "n"
    a.wait_for("location.hash === '#/search?q=n'")  # it searched, and nothing else happened
    assert user.session["track"]["title"] == "Dawn"

    # Every text field has a length limit the server also has.
    limits = a.page.evaluate(
        "() => [...document.querySelectorAll('input:not([type=range]):not([type=checkbox])')]"
        ".map(i => [i.id, i.maxLength])"
    )
    assert limits and all(length > 0 for _, length in limits), limits

    # A refusal the server words for developers (a 422's validation list) reaches people as a
    # sentence: what failed and why, never the raw text.
    def refuse(route: Route) -> None:
        body = {
            "detail": [
                {
                    "type": "string_too_long",
                    "loc": ["body", "x"],
                    "msg": "String should have at most 200 characters",
                }
            ]
        }
        route.fulfill(status=422, content_type="application/json", body=json.dumps(body))

    a.page.route("**/queue/enqueue", refuse)
    a.go("#/library/songs")
    a.page.click("[data-testid=track-row][data-title=Blip] [data-testid=track-add]")
    a.page.locator("[data-testid=toast]", has_text="Couldn’t add to the queue").wait_for()
    assert not any("String should" in t for t in toast_texts(a)), toast_texts(a)
    a.page.unroute("**/queue/enqueue")

    # B goes offline: a banner says so and what needs the server is disabled, not a toast.
    b.go("#/library/songs")
    b.page.locator("[data-testid=track-row]").first.wait_for()
    b.context.set_offline(True)
    b.page.locator("[data-testid=offline-banner]").wait_for()
    assert "offline" in b.page.inner_text("[data-testid=offline-banner]")
    disabled = b.page.evaluate(
        "() => ['btn-play', 'btn-next', 'btn-like', 'btn-devices'].map(id => document.getElementById(id).matches(':disabled'))"
    )
    assert all(disabled), disabled
    assert b.page.locator("[data-testid=track-row] [data-testid=track-add]").first.is_disabled()
    b.context.set_offline(False)
    b.page.locator("[data-testid=offline-banner]").wait_for(state="hidden")
    b.wait_for("!document.getElementById('btn-play').matches(':disabled')")
    b.go("#/now")
    b.page.click("[data-testid=btn-repeat]")
    a.wait_for("document.getElementById('btn-repeat').dataset.mode === 'one'")
    assert not [t for t in toast_texts(b) if "network" in t.lower()]
    a.screenshot("daily-use")
    b.screenshot("daily-use")


@pytest.fixture
def fresh_pair(
    stack: Stack, open_device: Callable[..., DevicePage]
) -> Iterator[tuple[DevicePage, DevicePage]]:
    """Two new browsers of one new user, signed in, names left as the browser chose them."""
    [(username, _)] = create_users(stack, 1)
    first, second = open_device("first", DESKTOP), open_device("second", DESKTOP)
    for device in (first, second):
        device.login(stack.public_url, username)
    yield first, second
    assert_no_script_errors(first, second)


def test_two_new_devices_get_names_that_tell_them_apart_and_rename_in_place(
    fresh_pair: tuple[DevicePage, DevicePage],
) -> None:
    first, second = fresh_pair
    names = {}
    for device in (first, second):
        device.open_devices()
        names[device.name] = device.page.inner_text(
            "[data-testid=device-row][data-mine=true] [data-testid=device-row-name]"
        )
    assert names["first"] != names["second"], names  # same browser, same platform
    assert names["second"] == f"{names['first']} (2)"

    # The first renames the second in place; the second takes the name and keeps it.
    row = f"[data-testid=device-row][data-device-uuid='{second.device_uuid}']"
    first.page.click(f"{row} [data-testid=device-rename]")
    first.page.fill("[data-testid=device-name-input]", "Kitchen tablet")
    first.page.press("[data-testid=device-name-input]", "Enter")
    first.page.locator(f"{row} [data-testid=device-row-name]:text-is('Kitchen tablet')").wait_for()
    second.page.locator(
        "[data-testid=device-row][data-mine=true] [data-testid=device-row-name]:text-is('Kitchen tablet')"
    ).wait_for()
    second.page.reload()
    second.page.wait_for_selector("#app:not([hidden])")
    second.open_devices()
    second.page.locator(
        "[data-testid=device-row][data-mine=true] [data-testid=device-row-name]:text-is('Kitchen tablet')"
    ).wait_for()
