"""The "Add a speaker" view (CONTRACTS C3) and the scrobbling settings (C4), in real Chromium
against the real stack — a real device-code grant and a real Maloja as the receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from devtools.maloja import ThrowawayMaloja, running_maloja
from devtools.stack import Stack
from tests.e2e.conftest import DESKTOP, PHONE, DevicePage, api_client, assert_no_script_errors, create_users
from tests.support import PASSWORD

pytestmark = pytest.mark.e2e

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def start_pairing(stack: Stack) -> dict[str, str]:
    """What a speaker box does first: ask for codes (no credential)."""
    answer = httpx.post(
        f"{stack.public_url}/auth/device", json={"device_name": "Box", "client_id": "us-speaker"}, timeout=15
    )
    answer.raise_for_status()
    codes: dict[str, str] = answer.json()
    return codes


def poll(stack: Stack, device_code: str) -> httpx.Response:
    return httpx.post(
        f"{stack.public_url}/auth/token",
        data={"grant_type": DEVICE_GRANT, "device_code": device_code},
        timeout=15,
    )


def test_a_speaker_is_added_from_the_address_it_shows(
    stack: Stack, open_device: Callable[..., DevicePage]
) -> None:
    [(username, user_uuid)] = create_users(stack, 1)
    codes = start_pairing(stack)
    assert codes["verification_uri_complete"].endswith(f"/pair?code={codes['user_code']}")
    phone = open_device("phone", PHONE)

    # The box's address on a phone that is not signed in: the login form, then "Add a speaker"
    # with the code already filled in.
    phone.page.goto(f"{stack.public_url}/pair?code={codes['user_code']}")
    phone.page.fill("#login-username", username)
    phone.page.fill("#login-password", PASSWORD)
    phone.page.click("#login-submit")
    phone.page.locator("[data-testid=pair-view]").wait_for()
    assert phone.page.input_value("[data-testid=pair-code]") == codes["user_code"]
    phone.page.fill("[data-testid=pair-name]", "Living room")
    phone.page.click("[data-testid=pair-approve]")
    phone.page.locator(
        "[data-testid=pair-result]", has_text="“Living room” is now one of your devices"
    ).wait_for()

    # It is a device of this user, and the box gets its credential at its next poll.
    phone.open_devices()
    phone.page.locator("[data-testid=device-row-name]:text-is('Living room')").wait_for(state="attached")
    tokens = poll(stack, codes["device_code"])
    assert tokens.status_code == 200 and tokens.json()["access_token"], tokens.text
    with api_client(stack, username, user_uuid) as user:
        box = next(d for d in user.get_ok("/devices")["items"] if d["device_name"] == "Living room")
        assert box["device_platform"] == "us-speaker" and box["device_uuid"] == tokens.json()["device_uuid"]
    phone.close_devices()

    # A mistyped code reads as a sentence; a refused code leaves the box denied.
    phone.page.fill("[data-testid=pair-code]", "BBBB-BBBB")
    phone.page.click("[data-testid=pair-approve]")
    phone.page.locator("[data-testid=pair-result]", has_text="that code is unknown or has expired").wait_for()
    other = start_pairing(stack)
    phone.page.fill("[data-testid=pair-code]", other["user_code"].lower().replace("-", " "))
    phone.page.click("[data-testid=pair-deny]")
    phone.page.locator("[data-testid=pair-result]", has_text="Refused").wait_for()
    assert poll(stack, other["device_code"]).json()["error"] == "access_denied"
    phone.screenshot("pair")
    assert_no_script_errors(phone)


@pytest.fixture(scope="module")
def maloja() -> Iterator[ThrowawayMaloja]:
    with running_maloja() as server:
        yield server


def test_scrobble_targets_are_added_paused_fixed_and_removed(
    stack: Stack, maloja: ThrowawayMaloja, open_device: Callable[..., DevicePage]
) -> None:
    [(username, user_uuid)] = create_users(stack, 1)
    laptop = open_device("laptop", DESKTOP)
    laptop.login(stack.public_url, username)
    laptop.page.click("[data-testid=btn-menu]")
    laptop.page.click("[data-testid=menu-settings]")
    laptop.page.locator("[data-testid=settings-view]").wait_for()
    result = laptop.page.locator("[data-testid=target-result]")

    # A wrong token: the receiver says no, and the page says so in words.
    laptop.page.fill("[data-testid=target-url]", maloja.listenbrainz_url)
    laptop.page.fill("[data-testid=target-token]", "not-the-key")
    laptop.page.click("[data-testid=target-add]")
    result.filter(has_text="the receiver refused the token").wait_for()

    laptop.page.fill("[data-testid=target-token]", maloja.api_key)
    laptop.page.click("[data-testid=target-add]")
    result.filter(has_text="Added").wait_for()
    row = laptop.page.locator("[data-testid=target-row]")
    row.locator("[data-testid=target-state]", has_text="Delivering").wait_for()
    assert maloja.api_key not in laptop.page.content()  # the token never comes back

    with api_client(stack, username, user_uuid) as user:
        [target] = user.get_ok("/scrobble/targets")["items"]
        assert target["state"] == "ok" and target["base_url"].endswith("/apis/listenbrainz")

        row.locator("[data-testid=target-pause]").click()
        laptop.page.locator("[data-testid=target-row][data-state=paused]").wait_for()
        assert user.get_ok("/scrobble/targets")["items"][0]["paused"] is True
        laptop.page.locator("[data-testid=target-row] [data-testid=target-pause]", has_text="Resume").click()
        laptop.page.locator("[data-testid=target-row][data-state=ok]").wait_for()

        # Maloja's key is replaced (as a user does there); the new one is given here.
        new_key = maloja.replace_api_key()
        laptop.page.click("[data-testid=target-row] [data-testid=target-token-change]")
        laptop.page.fill("[data-testid=target-new-token]", new_key)
        laptop.page.click("[data-testid=target-token-save]")
        laptop.page.locator("[data-testid=toast]", has_text="Token replaced").wait_for()
        assert user.get_ok("/scrobble/targets")["items"][0]["state"] == "ok"

        laptop.screenshot("scrobbling")
        laptop.page.click("[data-testid=target-row] [data-testid=target-remove]")
        laptop.page.click("[data-testid=target-remove-confirm]")
        laptop.page.locator("[data-testid=target-row]").wait_for(state="detached")
        assert user.get_ok("/scrobble/targets")["total"] == 0
    assert_no_script_errors(laptop)
