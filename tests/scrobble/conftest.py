"""Fixtures for scrobbling: a real Maloja, users with a target on it, listens made quickly.

Listens are made the way tests/control makes them: the session's clock reference is moved back
(``UPDATE session_state SET last_update_ms = …``), as if the track had been playing that long,
then a command lets the server count the listen with its real rules. Maloja keys scrobbles by
their second, so every listen of a run gets a start second no other listen of that Maloja has.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.maloja import ThrowawayMaloja, running_maloja
from devtools.stack import Stack
from tests.support import UserClient, sql


@pytest.fixture(scope="session")
def maloja() -> Iterator[ThrowawayMaloja]:
    with running_maloja() as server:
        yield server


@dataclass
class StartSeconds:
    """Start seconds already given to a listen on one Maloja (its primary key is the second).

    Listens played now start in the last minutes; imported history gets blocks of seconds from
    30 days back, each block older than the one before."""

    used: set[int] = field(default_factory=set)
    _history_cursor: int = field(default_factory=lambda: int(time.time()) - 30 * 86400)

    def history(self, count: int, spacing_s: int = 180) -> list[int]:
        """``count`` start seconds for imported listens, oldest first, never given out before."""
        block = [self._history_cursor - i * spacing_s for i in range(count)][::-1]
        self._history_cursor -= (count + 1) * spacing_s
        self.used.update(block)
        return block

    def pick(self, latest_s: int, earliest_s: int) -> int | None:
        """A free second in the window (its neighbours free too), or ``None``: every one is
        taken — listens made faster than the clock moves; the caller starts again later."""
        for second in range(latest_s, earliest_s - 1, -1):
            if not {second - 1, second, second + 1} & self.used:
                self.used.add(second)
                return second
        return None


@pytest.fixture(scope="session")
def start_seconds() -> StartSeconds:
    return StartSeconds()


def add_target(user: UserClient, base_url: str, token: str) -> dict[str, Any]:
    response = user.post("/scrobble/targets", {"base_url": base_url, "token": token})
    assert response.status_code == 201, response.text
    target: dict[str, Any] = response.json()
    return target


def target_of(user: UserClient, target_uuid: str) -> dict[str, Any]:
    target: dict[str, Any] = user.get_ok(f"/scrobble/targets/{target_uuid}")
    return target


def wait_for(
    check: Callable[[], Any], timeout_s: float = 30, what: str = "condition", interval_s: float = 0.2
) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@dataclass
class Player:
    """Plays tracks for one user on a registered speaker and makes the server count listens."""

    stack: Stack
    user: UserClient
    seconds: StartSeconds
    device: str = ""

    def __post_init__(self) -> None:
        self.device = self.user.register_device("scrobble speaker")
        self.user.post_ok(f"/sessions/{self.user.user_uuid}/speaker", {"device_uuid": self.device})

    def _session_row(self) -> Any:
        return sql(
            self.stack,
            "SELECT last_update_ms, position_ms, listened_ms FROM session_state WHERE user_uuid = $1",
            uuid.UUID(self.user.user_uuid),
        )[0]

    def listen(self, track: dict[str, Any], then: str = "pause") -> int:
        """Play ``track`` (or go on playing it, if it just started), let the server count it, and
        return the second it started.

        The track started at ``s0`` = the clock reference minus the position (it played from 0
        without a seek); moving the reference back by ``x`` makes the next command count a listen
        that started at ``s0 - x``, when ``now - (s0 - x)`` is over the listen threshold and short
        of the whole track. The window of such starts moves with the clock: when every second in
        it is taken (listens made faster than time passes), it waits for a free one.
        """
        self.user.command_ok("play", {"track_uuid": track["track_uuid"], "device_uuid": self.device})
        row = self._session_row()
        assert row["position_ms"] == row["listened_ms"] < 5_000  # playing from its start
        since_ms = int(row["last_update_ms"]) - int(row["position_ms"])
        duration = int(track["duration_ms"])
        threshold = min(duration // 2, 240_000)
        for _ in range(60):
            # The window of start seconds that count as a listen at the next command: heard for
            # more than the threshold, and not yet at the end (what the clock says now).
            now_ms = int(sql(self.stack, "SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS t")[0]["t"])
            latest = (now_ms - threshold - 2_000) // 1000
            earliest = (now_ms - duration + 8_000) // 1000
            start_s = self.seconds.pick(latest, earliest)
            if start_s is not None:
                break
            time.sleep(0.5)  # listens made faster than the clock moves: wait for a free second
        else:
            raise AssertionError("no free start second in 30 s of windows")
        back_ms = since_ms - start_s * 1000
        sql(
            self.stack,
            "UPDATE session_state SET last_update_ms = last_update_ms - $2 WHERE user_uuid = $1",
            uuid.UUID(self.user.user_uuid),
            back_ms,
        )
        bodies = {"pause": {}, "next": {"device_uuid": self.device}}
        body = bodies.get(then, {"track_uuid": track["track_uuid"], "device_uuid": self.device})
        self.user.command_ok(then, body)
        return start_s


def counted_listens(user: UserClient) -> list[dict[str, Any]]:
    """The server's own record (GET /listens), oldest first, with each listen's start second."""
    items = user.get_ok("/listens", params={"limit": 200})["items"]
    for item in items:
        counted_ms = int(_parse_iso(item["listened_at"]) * 1000)
        item["started_s"] = (counted_ms - int(item["played_ms"])) // 1000
    return sorted(items, key=lambda i: i["started_s"])


def _parse_iso(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def maloja_scrobbles_since(maloja: ThrowawayMaloja, seconds: set[int]) -> list[dict[str, Any]]:
    """Maloja's scrobbles at the given start seconds (each test looks only at its own)."""
    return [s for s in maloja.scrobbles() if int(s["time"]) in seconds]


def control_log(stack: Stack) -> str:
    return Path(stack.log_file("control")).read_text(errors="replace")


def sent_requests(stack: Stack, target_uuid: str) -> list[dict[str, Any]]:
    """The sender's own record of each request to a target (its ``scrobble_sent`` log lines)."""
    requests = []
    for line in control_log(stack).splitlines():
        if '"scrobble_sent"' in line and target_uuid in line:
            entry = json.loads(line)
            if entry.get("event") == "scrobble_sent" and entry.get("target_uuid") == target_uuid:
                requests.append(entry)
    return requests


def history_lines(tracks: list[dict[str, Any]], seconds: list[int]) -> list[dict[str, Any]]:
    """A ListenBrainz export of listens of ``tracks`` (round robin) at ``seconds``."""
    return [
        {
            "listened_at": second,
            "track_metadata": {
                "artist_name": track["artist"],
                "track_name": track["title"],
                "release_name": track["album"],
            },
        }
        for second, track in zip(seconds, [tracks[i % len(tracks)] for i in range(len(seconds))], strict=True)
    ]


def import_listens(stack: Stack, user: UserClient, lines: list[dict[str, Any]], *flags: str) -> dict[str, Any]:
    result = stack.usctl(
        "listens", "import", user.username, "-", *flags, stdin="\n".join(json.dumps(line) for line in lines)
    )
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def countable(user: UserClient) -> list[dict[str, Any]]:
    """The user's tracks that can be a listen (30 s or longer)."""
    return [t for t in user.tracks() if t["duration_ms"] >= 30_000]


def http_get(url: str, **kw: Any) -> httpx.Response:
    return httpx.get(url, timeout=10, **kw)
