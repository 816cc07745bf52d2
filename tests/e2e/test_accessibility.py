"""Accessibility (issue 12): axe-core (axe-playwright-python) over every main view, on a laptop
and on a phone, with something playing: no serious or critical violation.

Real Chromium against the real stack; the views are the ones a person moves between: the
library's sections, an album, an artist, search results, the queue, scrobbling settings, "Add a
speaker", the full-screen player and the devices sheet.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from axe_playwright_python.sync_playwright import Axe

from devtools.stack import Stack
from tests.e2e.conftest import DESKTOP, PHONE, DevicePage, api_client, assert_no_script_errors, create_users

pytestmark = pytest.mark.e2e

VIEWS = [
    "#/library/albums",
    "#/library/artists",
    "#/library/songs",
    "#/library/genres",
    "#/library/recent",
    "#/library/liked",
    "#/search?q=light",
    "#/queue",
    "#/settings",
    "#/pair",
    "#/now",
]
BLOCKING = {"serious", "critical"}


def blocking_violations(axe: Axe, device: DevicePage) -> list[str]:
    results = axe.run(device.page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING
    ]


@pytest.mark.parametrize("profile", ["laptop", "phone"])
def test_every_main_view_has_no_serious_or_critical_axe_violation(
    stack: Stack, open_device: Callable[..., DevicePage], profile: str
) -> None:
    ((username, user_uuid),) = create_users(stack, 1)
    device = open_device("A", DESKTOP if profile == "laptop" else PHONE)
    device.login(stack.public_url, username)
    with api_client(stack, username, user_uuid) as user:
        album = next(a for a in user.get_ok("/albums?q=First Light")["items"] if a["title"] == "First Light")
        user.post_ok("/queue/enqueue", {"album_uuid": album["album_uuid"], "replace": True})
        artist_uuid = album["artist_uuid"]
    device.wait_for("document.getElementById('np-title').textContent === 'Dawn'")

    axe = Axe()
    found: dict[str, list[str]] = {}
    for route in [*VIEWS, f"#/album/{album['album_uuid']}", f"#/artist/{artist_uuid}"]:
        device.go(route)
        device.page.wait_for_load_state("networkidle")
        if bad := blocking_violations(axe, device):
            found[route] = bad
    device.go("#/library/albums")
    device.open_devices()
    if bad := blocking_violations(axe, device):
        found["devices sheet"] = bad
    device.close_devices()
    assert not found, found
    assert_no_script_errors(device)
