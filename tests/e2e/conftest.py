"""Fixtures for the browser end-to-end tests: Debian's Chromium driven by Playwright.

A browser context is one device (its own localStorage, cookies and device uuid). ``devices``
signs one user in on two of them through the login form: ``A`` a desktop window, ``B`` a phone.
Chromium is the system's ``/usr/bin/chromium`` — never a downloaded browser.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from devtools.flacgen import write_flac
from devtools.stack import Stack
from tests.conftest import new_username, start_stack, stop_stack
from tests.support import PASSWORD, UserClient, login

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-gpu",
    "--mute-audio",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 820}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}

# Everything a test asserts on, read in one round trip. ``t`` is the page's clock (epoch ms),
# so readings of two pages can be compared at one instant.
READ_STATE = """() => {
  const app = document.getElementById('app');
  const audio = document.getElementById('audio');
  const progress = document.getElementById('progress');
  const player = window.usPlayer && window.usPlayer.state;
  return {
    t: performance.timeOrigin + performance.now(),
    rev: Number(app.dataset.rev || 0),
    playState: app.dataset.playState,
    trackUuid: app.dataset.trackUuid || null,
    speaker: app.dataset.speaker === 'true',
    activeDevice: app.dataset.activeDevice || null,
    title: document.getElementById('np-title').textContent,
    liked: document.getElementById('btn-like').getAttribute('aria-pressed') === 'true',
    position: Number(progress.dataset.positionMs || 0),
    conn: document.getElementById('conn').dataset.state,
    audio: {
      time: audio.currentTime * 1000,
      paused: audio.paused,
      src: audio.getAttribute('src'),
      error: audio.error ? audio.error.code : null,
      volume: audio.volume,
    },
    stats: player ? player.speaker : null,
  };
}"""


@dataclass
class DevicePage:
    """One browser context signed in as one device."""

    name: str
    context: BrowserContext
    page: Page
    console_errors: list[str] = field(default_factory=list)
    media_requests: list[tuple[str, str | None]] = field(default_factory=list)  # (token, range)
    media_statuses: list[int] = field(default_factory=list)

    @property
    def device_uuid(self) -> str:
        return str(self.page.get_attribute("#app", "data-device-uuid"))

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.page.evaluate(READ_STATE)
        return result

    def wait_for(self, predicate_js: str, timeout_ms: float = 5000) -> None:
        """Wait until ``predicate_js`` (a JS expression over the page) is true.

        Passed as a function: the page's CSP forbids eval, which a bare expression would need."""
        try:
            self.page.wait_for_function(f"() => ({predicate_js})", timeout=timeout_ms, polling="raf")
        except PlaywrightTimeoutError:
            raise AssertionError(
                f"{self.name}: not true in {timeout_ms} ms: {predicate_js}\n{dump(self.state())}"
            ) from None

    def login(self, base_url: str, username: str, password: str = PASSWORD) -> None:
        self.page.goto(base_url)
        self.page.fill("#login-username", username)
        self.page.fill("#login-password", password)
        self.page.click("#login-submit")
        self.page.wait_for_selector("#app:not([hidden])")
        self.wait_for("document.getElementById('conn').dataset.state === 'live'")
        self.wait_for("document.getElementById('app').dataset.rev !== undefined")

    def go(self, route: str) -> None:
        """Show a view by its route (``#/library/songs``, ``#/queue``, ``#/now`` …)."""
        self.page.evaluate("(route) => { location.hash = route; }", route)
        self.wait_for(
            f"document.getElementById('app').dataset.view !== undefined && location.hash === {json.dumps(route)}"
        )

    def open_devices(self) -> None:
        """The "Connect to a device" sheet."""
        if not self.page.locator("#devices-sheet").evaluate("(d) => d.open"):
            self.page.click("[data-testid=speaker-line]")
        self.page.locator("#devices-sheet[open]").wait_for()

    def close_devices(self) -> None:
        if self.page.locator("#devices-sheet").evaluate("(d) => d.open"):
            self.page.locator("#devices-sheet .sheet-close").click()
        self.page.locator("#devices-sheet").wait_for(state="hidden")

    def rename(self, name: str) -> None:
        """Rename this device in place, in the devices sheet."""
        self.open_devices()
        self.page.click("[data-testid=device-row][data-mine=true] [data-testid=device-rename]")
        field_ = self.page.locator("[data-testid=device-name-input]")
        field_.fill(name)
        field_.press("Enter")
        self.page.locator(
            f"[data-testid=device-row][data-mine=true] [data-testid=device-row-name]:text-is('{name}')"
        ).wait_for()
        self.close_devices()

    def screenshot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{label}-{self.name}.png"
        self.page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays on top of the shot
        self.page.screenshot(path=str(path), full_page=True)
        return path


@dataclass
class TwoDevices:
    user: UserClient
    a: DevicePage
    b: DevicePage

    def session(self) -> dict[str, Any]:
        return self.user.session

    def both(self) -> tuple[DevicePage, DevicePage]:
        return self.a, self.b


def server_position_ms(session: dict[str, Any], at_ms: float) -> float:
    """DESIGN.md's projection of a snapshot to ``at_ms`` (the test machine is the server's)."""
    position = float(session["position_ms"])
    if session["play_state"] == "playing":
        position += at_ms - float(session["server_time_ms"])
    duration = float(session["track"]["duration_ms"]) if session.get("track") else position
    return max(0.0, min(position, duration))


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (./dev test does)")
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def open_device(chromium: Browser) -> Iterator[Callable[..., DevicePage]]:
    opened: list[DevicePage] = []

    def factory(name: str, profile: dict[str, Any] | None = None) -> DevicePage:
        context = chromium.new_context(**(profile or DESKTOP))
        context.set_default_timeout(10_000)
        page = context.new_page()
        device = DevicePage(name, context, page)

        def on_console(message: Any) -> None:
            if message.type == "error":
                device.console_errors.append(message.text)

        def on_request(request: Any) -> None:
            if "/media/tracks/" in request.url:
                token = request.url.partition("token=")[2]
                device.media_requests.append((token, request.headers.get("range")))

        def on_response(response: Any) -> None:
            if "/media/tracks/" in response.url:
                device.media_statuses.append(response.status)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: device.console_errors.append(f"pageerror: {exc}"))
        page.on("request", on_request)
        page.on("response", on_response)
        opened.append(device)
        return device

    yield factory
    for device in opened:
        device.context.close()


def assert_no_script_errors(*devices: DevicePage) -> None:
    """Page errors are bugs; console errors are only the expected failed loads."""
    for device in devices:
        unexpected = [
            e
            for e in device.console_errors
            if e.startswith("pageerror") or not e.startswith("Failed to load resource")
        ]
        assert not unexpected, (device.name, unexpected)


def create_users(
    stack: Stack, count: int, libraries: tuple[str, ...] = ("Library",)
) -> list[tuple[str, str]]:
    """``count`` users granted ``libraries``, made by one ``usctl user import``."""
    lines = [
        {"username": new_username("web"), "password": PASSWORD, "libraries": list(libraries)}
        for _ in range(count)
    ]
    result = stack.usctl("user", "import", "-", stdin="\n".join(json.dumps(line) for line in lines))
    return [
        (str(row["username"]), str(row["user_uuid"])) for row in map(json.loads, result.stdout.splitlines())
    ]


@contextmanager
def api_client(stack: Stack, username: str, user_uuid: str) -> Iterator[UserClient]:
    """The user's bearer-token API client (for checks against the server's own state)."""
    token = login(stack, username, PASSWORD)
    with httpx.Client(
        base_url=stack.public_url, headers={"Authorization": f"Bearer {token}"}, timeout=15
    ) as http:
        yield UserClient(stack, username, user_uuid, token, http)


@pytest.fixture(scope="module")
def e2e_users(stack: Stack) -> list[tuple[str, str]]:
    # Own users rather than the suite's pool: this module stays fast when it runs alone.
    return create_users(stack, 3)


@contextmanager
def signed_in_pair(
    stack: Stack, open_device: Callable[..., DevicePage], username: str, user_uuid: str
) -> Iterator[TwoDevices]:
    """One user on two devices (A desktop, B phone), named "Device A" and "Device B"."""
    with api_client(stack, username, user_uuid) as user:
        a = open_device("A", DESKTOP)
        b = open_device("B", PHONE)
        for device in (a, b):
            device.login(stack.public_url, username)
            device.rename(f"Device {device.name}")
        yield TwoDevices(user, a, b)
    assert_no_script_errors(a, b)


@pytest.fixture
def devices(
    stack: Stack, e2e_users: list[tuple[str, str]], open_device: Callable[..., DevicePage]
) -> Iterator[TwoDevices]:
    username, user_uuid = e2e_users.pop()
    with signed_in_pair(stack, open_device, username, user_uuid) as pair:
        yield pair


LONG_TITLE = (
    "An Extraordinarily Long Song Title That Goes On and On Without Any Mercy for Narrow Screens "
    "(Extended Remastered Deluxe Anniversary Edition)"
)
LONG_WORD = "Supercalifragilisticexpialidociouslyunbreakablewordwithoutanyspacesatallforwrapping"


@pytest.fixture(scope="session")
def long_titles(stack: Stack, music_root: Path) -> str:
    """A second library whose titles, artists and albums are far longer than any screen:
    what a real collection has (classical works, deluxe editions). Returns its name."""
    name = "LongTitles"
    folder = music_root / name
    for n, title in enumerate((LONG_TITLE, LONG_WORD, "Short one"), start=1):
        write_flac(
            folder / f"{n:02d}.flac",
            duration_s=20.0,
            title=title,
            artist="The Orchestra and Chorus of a Very Long Named Ensemble with Guest Soloists",
            album=f"{LONG_WORD} — The Complete Recordings, Volume One Hundred",
            track_number=n,
            year=2021,
            sample_rate=8000,
        )
    stack.usctl("library", "scan", str(folder), "--name", name)
    return name


@pytest.fixture(scope="module")
def short_token_stack(tmp_path_factory: pytest.TempPathFactory, music_root: Path) -> Iterator[Stack]:
    """A second stack whose media tokens live 3 s, with the test library scanned.

    Started and stopped from a worker thread: Playwright's sync API keeps an event loop running
    in this one, and the database helpers use ``asyncio.run``."""
    run_dir = tmp_path_factory.mktemp("short-token-stack")
    with ThreadPoolExecutor(max_workers=1) as worker:
        st = worker.submit(start_stack, run_dir, music_root, US_MEDIA_TOKEN_TTL_S="3").result()
        try:
            st.usctl("library", "scan", str(music_root / "Library"), "--name", "Library")
            yield st
        finally:
            worker.submit(stop_stack, st).result()


@pytest.fixture
def short_token_devices(
    short_token_stack: Stack, open_device: Callable[..., DevicePage]
) -> Iterator[TwoDevices]:
    """A user of the short-token stack on two devices (A desktop, B phone)."""
    [(username, user_uuid)] = create_users(short_token_stack, 1)
    with signed_in_pair(short_token_stack, open_device, username, user_uuid) as pair:
        yield pair


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)
