"""Speaker truth, failures, leaving (DESIGN.md "Second round"; CONTRACTS C1) through nginx and
2 control workers: nothing plays on an offline speaker, the pressing device takes over, a
track the speaker cannot play is marked failed and skipped, a reload is not a departure."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from devtools.stack import Stack
from tests.control.conftest import by_title
from tests.control.test_queue import queue_of
from tests.support import ChannelRecorder, UserClient, sql


def go_offline(stack: Stack, device: str, seconds_ago: int = 60) -> None:
    """The device's last heartbeat moves into the past (past the 30 s presence window)."""
    sql(
        stack,
        "UPDATE device SET last_seen = now() - make_interval(secs => $2) WHERE device_uuid = $1",
        uuid.UUID(device),
        float(seconds_ago),
    )


def wait_for_revision(user: UserClient, revision: int, timeout_s: float = 10) -> dict[str, Any]:
    """The session once its revision reached ``revision`` (the sweeper runs every 0.5 s here)."""
    deadline = time.monotonic() + timeout_s
    snap = user.session
    while snap["revision"] < revision and time.monotonic() < deadline:
        time.sleep(0.1)
        snap = user.session
    assert snap["revision"] >= revision, snap
    return snap


def messages_until(recorder: ChannelRecorder, revision: int, timeout_s: float = 10) -> list[dict[str, Any]]:
    """Every message up to and including the one of ``revision`` (a sentinel the caller made)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        recorder.drain(settle_s=0.05)
        if any(m["rev"] == revision for m in recorder.messages):
            return recorder.messages
    raise AssertionError(f"no message with rev {revision}: {recorder.messages}")


def playing_on_a_speaker_that_goes_offline(stack: Stack, user: UserClient) -> tuple[str, dict[str, Any]]:
    """Long Walk playing at 5 s on a laptop whose heartbeats stopped; the sweeper has paused it."""
    laptop = user.register_device("laptop")
    track = by_title(user)["Long Walk"]
    played = user.command_ok(
        "play", {"track_uuid": track["track_uuid"], "device_uuid": laptop, "position_ms": 5000}
    )
    go_offline(stack, laptop)
    shown = user.session  # already shown paused, before the sweeper persists it
    assert (shown["play_state"], shown["speaker_online"]) == ("paused", False)
    paused = wait_for_revision(user, played["revision"] + 1)
    assert paused["play_state"] == "paused" and paused["active_device_uuid"] == laptop
    return laptop, paused


def test_a_play_from_another_device_while_the_speaker_is_offline_takes_over(
    stack: Stack, user: UserClient, listener: Callable[[UserClient], ChannelRecorder]
) -> None:
    """Regression (issue 12): this answered 200 "playing" with the offline laptop as speaker."""
    laptop, paused = playing_on_a_speaker_that_goes_offline(stack, user)
    phone = user.register_device("phone")
    epoch = sql(stack, "SELECT media_epoch FROM session_state WHERE user_uuid = $1", uuid.UUID(user.user_uuid))
    before = user.session["revision"]
    recorder = listener(user)
    snap = user.command_ok("play", {"device_uuid": phone})
    assert snap["active_device_uuid"] == phone and snap["play_state"] == "playing"
    assert snap["speaker_online"] is True
    assert snap["revision"] == before + 1
    assert abs(snap["position_ms"] - paused["position_ms"]) <= 1000  # continues where it stopped
    after = sql(stack, "SELECT media_epoch FROM session_state WHERE user_uuid = $1", uuid.UUID(user.user_uuid))
    assert after[0][0] == epoch[0][0] + 1  # the old speaker's media tokens die
    sentinel = user.command_ok("volume", {"volume_percent": 40})["revision"]
    assert [m["rev"] for m in messages_until(recorder, sentinel)] == [before + 1, sentinel]
    assert laptop != phone


def test_a_toggle_from_another_device_while_the_speaker_is_offline_takes_over(
    stack: Stack, user: UserClient
) -> None:
    _, paused = playing_on_a_speaker_that_goes_offline(stack, user)
    phone = user.register_device("phone")
    snap = user.command_ok("toggle", {"device_uuid": phone})
    assert (snap["active_device_uuid"], snap["play_state"], snap["speaker_online"]) == (phone, "playing", True)


def test_a_play_without_a_sender_while_the_speaker_is_offline_is_409(stack: Stack, user: UserClient) -> None:
    laptop, paused = playing_on_a_speaker_that_goes_offline(stack, user)
    for route in ("play", "toggle"):
        response = user.command(route, {})
        assert response.status_code == 409
        assert "speaker is offline" in response.json()["detail"]
    after = user.session
    assert (after["revision"], after["play_state"], after["active_device_uuid"]) == (
        paused["revision"],
        "paused",
        laptop,
    )


def test_the_speaker_itself_pressing_play_comes_back(stack: Stack, user: UserClient) -> None:
    laptop, _ = playing_on_a_speaker_that_goes_offline(stack, user)
    snap = user.command_ok("play", {"device_uuid": laptop})  # a command counts as its heartbeat
    assert (snap["active_device_uuid"], snap["play_state"], snap["speaker_online"]) == (laptop, "playing", True)


def test_choosing_an_offline_device_as_speaker_pauses(stack: Stack, user: UserClient) -> None:
    laptop = user.register_device("laptop")
    kitchen = user.register_device("kitchen")
    user.command_ok("play", {"track_uuid": by_title(user)["Long Walk"]["track_uuid"], "device_uuid": laptop})
    go_offline(stack, kitchen)
    snap = user.post_ok(f"/sessions/{user.user_uuid}/speaker", {"device_uuid": kitchen})
    assert (snap["active_device_uuid"], snap["play_state"], snap["speaker_online"]) == (kitchen, "paused", False)


# --- a track the speaker cannot play ----------------------------------------------------------


def fail_current(user: UserClient, device: str, reason: str | None = "http 404") -> dict[str, Any]:
    body: dict[str, Any] = {"track_uuid": user.session["track_uuid"], "device_uuid": device}
    if reason is not None:
        body["reason"] = reason
    return user.command_ok("failed", body)


def statuses(user: UserClient) -> dict[str, str]:
    return {i["track"]["title"]: i["status"] for i in user.get_ok("/queue")["items"]}


def test_a_failed_track_is_marked_and_playback_moves_on(
    user: UserClient, listener: Callable[[UserClient], ChannelRecorder]
) -> None:
    device, _ = queue_of(user, ["Dawn", "Noon", "Evening"])
    before = user.session
    assert before["last_failure"] is None
    recorder = listener(user)
    snap = fail_current(user, device)
    assert (snap["track"]["title"], snap["play_state"]) == ("Noon", "playing")
    assert snap["position_ms"] < 1000 and snap["revision"] == before["revision"] + 1
    failure = snap["last_failure"]
    dawn_item = next(i for i in user.get_ok("/queue")["items"] if i["track"]["title"] == "Dawn")
    assert failure == {
        "item_uuid": dawn_item["item_uuid"],
        "track_uuid": before["track_uuid"],
        "title": "Dawn",
        "reason": "http 404",
        "at_ms": failure["at_ms"],
    }
    assert abs(failure["at_ms"] - snap["server_time_ms"]) <= 1000
    assert statuses(user) == {"Dawn": "failed", "Noon": "playing", "Evening": "queued"}
    assert user.session["last_failure"] == failure  # every device sees it
    sentinel = user.command_ok("volume", {"volume_percent": 50})["revision"]
    messages = messages_until(recorder, sentinel)
    assert [(m["rev"], m["type"]) for m in messages] == [(snap["revision"], "queue"), (sentinel, "options")]


def test_failed_is_only_for_the_active_speaker_about_the_current_track(user: UserClient) -> None:
    device, _ = queue_of(user, ["Dawn", "Noon"])
    phone = user.register_device("phone")
    dawn = user.session["track_uuid"]
    assert user.command("failed", {"track_uuid": dawn, "device_uuid": phone}).status_code == 409
    assert user.command("failed", {"track_uuid": dawn}).status_code == 422
    too_long = {"track_uuid": dawn, "device_uuid": device, "reason": "x" * 201}
    assert user.command("failed", too_long).status_code == 422
    assert user.command("failed", {"track_uuid": dawn, "device_uuid": str(uuid.uuid4())}).status_code == 404
    moved = fail_current(user, device, reason=None)
    assert moved["track"]["title"] == "Noon" and moved["last_failure"]["reason"] is None
    stale = user.command_ok("failed", {"track_uuid": dawn, "device_uuid": device})  # Dawn is gone
    assert stale["revision"] == moved["revision"] and stale["track"]["title"] == "Noon"


def test_repeat_one_does_not_replay_a_failed_item(user: UserClient) -> None:
    device, _ = queue_of(user, ["Dawn", "Noon"], repeat="one")
    snap = fail_current(user, device)
    assert (snap["track"]["title"], snap["play_state"]) == ("Noon", "playing")


def test_repeat_all_over_only_failed_items_stops(user: UserClient) -> None:
    device, _ = queue_of(user, ["Dawn", "Noon"], repeat="all")
    assert fail_current(user, device)["track"]["title"] == "Noon"
    snap = fail_current(user, device, reason="decode error")
    assert (snap["track"]["title"], snap["play_state"], snap["position_ms"]) == ("Noon", "stopped", 0)
    assert snap["last_failure"]["title"] == "Noon" and snap["last_failure"]["reason"] == "decode error"
    assert statuses(user) == {"Dawn": "failed", "Noon": "failed"}


def test_a_failure_at_the_end_of_the_queue_stops(user: UserClient) -> None:
    device, _ = queue_of(user, ["Dawn"])
    snap = fail_current(user, device)
    assert (snap["track"]["title"], snap["play_state"]) == ("Dawn", "stopped")
    assert statuses(user) == {"Dawn": "failed"}


# --- leaving -------------------------------------------------------------------------------


def heartbeat(user: UserClient, device: str, **extra: Any) -> dict[str, Any]:
    response = user.http.patch("/devices/heartbeat", json={"device_uuid": device, **extra})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_reload_within_the_leave_grace_keeps_playing(
    user: UserClient, listener: Callable[[UserClient], ChannelRecorder]
) -> None:
    device, _ = queue_of(user, ["Long Walk"])
    before = user.session
    recorder = listener(user)
    assert heartbeat(user, device, leaving=True)["online"] is True  # within the grace
    user.post_ok("/devices/register", {"device_uuid": device, "device_name": "speaker"})
    heartbeat(user, device)
    after = user.session
    assert (after["play_state"], after["speaker_online"], after["revision"]) == (
        "playing",
        True,
        before["revision"],
    )
    sentinel = user.command_ok("volume", {"volume_percent": 60})["revision"]
    assert [m["rev"] for m in messages_until(recorder, sentinel)] == [sentinel]


def test_a_speaker_that_left_is_paused_after_the_grace_where_it_left(
    stack: Stack, user: UserClient, listener: Callable[[UserClient], ChannelRecorder]
) -> None:
    device, _ = queue_of(user, ["Long Walk"])
    played = user.command_ok("seek", {"position_ms": 20_000})
    heartbeat(user, device, leaving=True)
    recorder = listener(user)
    # Ten seconds pass (the grace is 5 s): the timeline and both device stamps move back alike.
    sql(
        stack,
        "UPDATE device SET left_at = left_at - interval '10 seconds', "
        "last_seen = last_seen - interval '10 seconds' WHERE device_uuid = $1",
        uuid.UUID(device),
    )
    sql(
        stack,
        "UPDATE session_state SET last_update_ms = last_update_ms - 10000 WHERE user_uuid = $1",
        uuid.UUID(user.user_uuid),
    )
    snap = wait_for_revision(user, played["revision"] + 1)
    assert (snap["play_state"], snap["speaker_online"], snap["revision"]) == (
        "paused",
        False,
        played["revision"] + 1,
    )
    assert 20_000 <= snap["position_ms"] <= 21_500  # where it was when it left, not 10 s later
    devices = {d["device_uuid"]: d for d in user.get_ok("/devices")["items"]}
    assert devices[device]["online"] is False
    # It comes back: online again, and the session stays paused (it does not resume by itself).
    assert heartbeat(user, device)["online"] is True
    sentinel = user.command_ok("volume", {"volume_percent": 70})["revision"]
    assert [m["rev"] for m in messages_until(recorder, sentinel)] == [played["revision"] + 1, sentinel]
    assert user.session["play_state"] == "paused"


def test_leaving_is_a_strict_boolean(user: UserClient) -> None:
    device = user.register_device("tab")
    response = user.http.patch("/devices/heartbeat", json={"device_uuid": device, "leaving": "yes"})
    assert response.status_code == 422
