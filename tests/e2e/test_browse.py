"""Browsing the library beyond albums and songs (issue 12 on issue 11's API): artists A–Z, an
artist's page (also reached from search, whose artist links led nowhere before), genres,
recently added, and the albums' sort — on a laptop and on a phone (its section chips).

One user on one Chromium device per layout, against the real stack and the suite's library
(albums of Alpha, Beta and Gamma; no genre tags).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devtools.stack import Stack
from tests.e2e.conftest import DESKTOP, PHONE, DevicePage, assert_no_script_errors, create_users

pytestmark = pytest.mark.e2e

ROW_NAMES = "(sel) => [...document.querySelectorAll(sel)].map((el) => el.dataset.name || el.dataset.title)"


@pytest.mark.parametrize("profile", ["laptop", "phone"])
def test_artists_an_artists_albums_genres_recent_and_the_album_sort(
    stack: Stack, open_device: Callable[..., DevicePage], profile: str
) -> None:
    ((username, _),) = create_users(stack, 1)
    device = open_device("A", DESKTOP if profile == "laptop" else PHONE)
    device.login(stack.public_url, username)
    page = device.page

    # Artists, A–Z with their album counts; on a phone reached by its section chip.
    if profile == "phone":
        device.go("#/library/albums")
        page.click("[data-testid=chip-artists]")
    else:
        page.click("[data-testid=nav-artists]")
    device.wait_for("location.hash === '#/library/artists'")
    rows = page.locator("[data-testid=artist-list] [data-testid=artist-row]")
    rows.first.wait_for()
    assert page.evaluate(ROW_NAMES, "[data-testid=artist-list] [data-testid=artist-row]") == ["Alpha", "Beta", "Gamma"]
    assert "1 album" in page.inner_text("[data-testid=artist-row][data-name=Alpha]")
    device.wait_for("document.querySelector('section[data-view=artists] [data-testid=view-count]').textContent === '3 artists'")

    # An artist's page: their albums as covers; an album opens from it.
    page.click("[data-testid=artist-row][data-name=Alpha] a")
    page.locator("[data-testid=artist-detail] [data-testid=artist-name]:text-is('Alpha')").wait_for()
    assert page.evaluate(ROW_NAMES, "[data-testid=artist-albums] [data-testid=album-row]") == ["First Light"]
    page.click("[data-testid=artist-albums] [data-testid=album-row][data-title='First Light'] [data-testid=album-open]")
    page.locator("[data-testid=album-title]:text-is('First Light')").wait_for()
    # … and back to the artist.
    page.click("[data-testid=album-detail]:not([hidden]) [data-testid=back]")
    page.locator("[data-testid=artist-detail]:not([hidden]) [data-testid=artist-name]:text-is('Alpha')").wait_for()

    # Search's artist links open the same page.
    device.go("#/search?q=gamma")
    page.locator("[data-testid=search-artists] [data-testid=artist-row]").first.click()
    page.locator("[data-testid=artist-detail]:not([hidden]) [data-testid=artist-name]:text-is('Gamma')").wait_for()

    # Genres: none tagged in this library — it says so instead of an empty page.
    device.go("#/library/genres")
    page.locator("section[data-view=genres] .empty:not([hidden])").wait_for()
    assert "no genre" in page.inner_text("section[data-view=genres] .empty:not([hidden])").lower()

    # Recently added: every album, as covers.
    device.go("#/library/recent")
    page.locator("[data-testid=recent-list] [data-testid=album-row]").first.wait_for()
    recent = page.evaluate(ROW_NAMES, "[data-testid=recent-list] [data-testid=album-row]")
    assert sorted(recent) == sorted(["First Light", "Short Forms", "Ünïcode Ålbum"]), recent

    # The albums' sort asks the server for that order, and is remembered on this device.
    device.go("#/library/albums")
    page.locator("[data-testid=album-list] [data-testid=album-row]").first.wait_for()
    with page.expect_request(lambda r: "/albums?" in r.url and "sort=year" in r.url):
        page.select_option("[data-testid=album-sort]", "year")
    page.locator("[data-testid=album-list] [data-testid=album-row]").first.wait_for()
    assert page.evaluate("() => localStorage.getItem('us.albumSort')") == "year"
    page.reload()
    page.wait_for_selector("#app:not([hidden])")
    device.go("#/library/albums")
    assert page.input_value("[data-testid=album-sort]") == "year"
    page.locator("[data-testid=album-list] [data-testid=album-row]").first.wait_for()  # drawn again

    device.screenshot(f"browse-{profile}")
    assert_no_script_errors(device)
