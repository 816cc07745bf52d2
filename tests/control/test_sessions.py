"""The authoritative session through nginx and 2 control workers: commands, revisions,
publish-after-commit, projection, speaker, presence, staleness, idempotence, ownership."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from devtools.stack import Stack
from tests.control.conftest import by_title
from tests.support import ChannelRecorder, UserClient, sql

SNAPSHOT_KEYS = {
    "session_uuid",
    "user_uuid",
    "revision",
    "active_device_uuid",
    "track_uuid",
    "position_ms",
    "play_state",
    "shuffle",
    "repeat_mode",
    "volume_percent",
    "actions",
    "queue_position",
    "queue_length",
    "updated_at",
    "server_time_ms",
    "track",
}


def start_playing(
    user: UserClient, title: str = "Long Walk", position_ms: int | None = None
) -> tuple[str, dict[str, Any]]:
    device = user.register_device("laptop")
    track = by_title(user)[title]
    body: dict[str, Any] = {"track_uuid": track["track_uuid"], "device_uuid": device}
    if position_ms is not None:
        body["position_ms"] = position_ms
    return device, user.command_ok("play", body)


def test_snapshot_of_a_new_session_has_the_contract_shape(user: UserClient) -> None:
    snap = user.session
    assert set(snap) >= SNAPSHOT_KEYS
    assert snap["user_uuid"] == user.user_uuid
    assert snap["play_state"] == "stopped"
    assert snap["track"] is None and snap["queue_position"] is None and snap["queue_length"] == 0
    assert snap["repeat_mode"] == "off" and snap["shuffle"] is False and snap["volume_percent"] == 100
    assert snap["actions"] == {"play": False, "pause": False, "next": False, "prev": False, "seek": False}
    assert snap["updated_at"].endswith("Z") or "+00:00" in snap["updated_at"]


def test_play_without_a_speaker_or_sender_is_409_with_a_clear_message(user: UserClient) -> None:
    track = by_title(user)["Dawn"]
    response = user.command("play", {"track_uuid": track["track_uuid"]})
    assert response.status_code == 409
    assert "no active speaker" in response.json()["detail"]


def test_play_from_a_device_makes_it_the_speaker_and_plays(user: UserClient) -> None:
    before = user.session["revision"]
    device, snap = start_playing(user, "Dawn")
    assert snap["active_device_uuid"] == device
    assert snap["play_state"] == "playing"
    assert snap["track"]["title"] == "Dawn"
    assert snap["queue_length"] == 1 and snap["queue_position"] == 0
    # register (+1) and play (+1): one revision per request
    assert snap["revision"] == before + 2
    assert snap["actions"]["pause"] and not snap["actions"]["play"] and not snap["actions"]["next"]


def test_projection_follows_the_shared_clock_through_play_pause_seek(user: UserClient) -> None:
    _, played = start_playing(user, position_ms=1000)
    time.sleep(0.4)
    now = user.session
    elapsed = now["server_time_ms"] - played["server_time_ms"]
    assert abs(now["position_ms"] - (played["position_ms"] + elapsed)) <= 50

    paused = user.command_ok("pause")
    time.sleep(0.3)
    assert abs(user.session["position_ms"] - paused["position_ms"]) <= 1
    assert paused["play_state"] == "paused"

    seeked = user.command_ok("seek", {"position_ms": 60_000})
    assert seeked["position_ms"] == 60_000 and seeked["play_state"] == "paused"
    resumed = user.command_ok("play")
    time.sleep(0.3)
    later = user.session
    expected = 60_000 + later["server_time_ms"] - resumed["server_time_ms"]
    assert abs(later["position_ms"] - expected) <= 50


def test_seek_past_the_end_is_clamped_to_the_duration(user: UserClient) -> None:
    start_playing(user, "Dawn")
    snap = user.command_ok("seek", {"position_ms": 10_000_000})
    assert snap["position_ms"] == snap["track"]["duration_ms"]


def test_speaker_change_keeps_position_and_state_and_bumps_the_epoch(stack: Stack, user: UserClient) -> None:
    _, played = start_playing(user, position_ms=5000)
    other = user.register_device("phone")
    epoch_before = sql(
        stack, "SELECT media_epoch FROM session_state WHERE user_uuid = $1", uuid.UUID(user.user_uuid)
    )[0][0]
    time.sleep(0.3)
    switched = user.post_ok(f"/sessions/{user.user_uuid}/speaker", {"device_uuid": other})
    assert switched["active_device_uuid"] == other
    assert switched["play_state"] == "playing"
    expected = 5000 + switched["server_time_ms"] - played["server_time_ms"]
    assert abs(switched["position_ms"] - expected) <= 50
    epoch_after = sql(
        stack, "SELECT media_epoch FROM session_state WHERE user_uuid = $1", uuid.UUID(user.user_uuid)
    )[0][0]
    assert epoch_after == epoch_before + 1
    # Choosing the current speaker again changes nothing.
    again = user.post_ok(f"/sessions/{user.user_uuid}/speaker", {"device_uuid": other})
    assert again["revision"] == switched["revision"]


def test_a_request_changing_several_fields_publishes_exactly_one_message(
    user: UserClient, listener: Callable[[UserClient], ChannelRecorder]
) -> None:
    device = user.register_device("laptop")
    recorder = listener(user)
    track = by_title(user)["Noon"]
    snap = user.command_ok(
        "play", {"track_uuid": track["track_uuid"], "position_ms": 3000, "device_uuid": device}
    )
    messages = recorder.drain()
    assert len(messages) == 1
    assert messages[0]["rev"] == snap["revision"]
    assert set(messages[0]) == {"rev", "type", "ts"}
    assert messages[0]["type"] in {"speaker", "queue", "timeline"}


def test_a_failing_request_changes_nothing_and_publishes_nothing(
    user: UserClient, listener: Callable[[UserClient], ChannelRecorder]
) -> None:
    device = user.register_device("laptop")
    before = user.session
    recorder = listener(user)
    # The sender would become the speaker, then the track turns out not to exist: all rolled back.
    response = user.command("play", {"track_uuid": str(uuid.uuid4()), "device_uuid": device})
    assert response.status_code == 404
    after = user.session
    assert after["revision"] == before["revision"]
    assert after["active_device_uuid"] is None
    assert recorder.drain() == []


def test_a_command_that_changes_nothing_bumps_nothing(
    user: UserClient, listener: Callable[[UserClient], ChannelRecorder]
) -> None:
    start_playing(user)
    paused = user.command_ok("pause")
    recorder = listener(user)
    again = user.command_ok("pause")
    assert again["revision"] == paused["revision"]
    assert recorder.drain() == []


def test_a_repeated_client_event_uuid_applies_once(
    user: UserClient, listener: Callable[[UserClient], ChannelRecorder]
) -> None:
    start_playing(user)
    recorder = listener(user)
    event = str(uuid.uuid4())
    first = user.command_ok("seek", {"position_ms": 20_000, "client_event_uuid": event})
    user.command_ok("seek", {"position_ms": 40_000})
    retry = user.command_ok("seek", {"position_ms": 20_000, "client_event_uuid": event})
    assert retry["revision"] == first["revision"] + 1  # the retry returns the current state
    assert len(recorder.drain()) == 2


def test_fifty_concurrent_commands_from_two_devices_get_consecutive_revisions(
    stack: Stack, user: UserClient, listener: Callable[[UserClient], ChannelRecorder]
) -> None:
    device_a, _ = start_playing(user)
    device_b = user.register_device("phone")
    # Paused, so every seek below lands on a position that differs from the current one.
    start_rev = user.command_ok("pause")["revision"]
    session_uuid = user.session_uuid
    recorder = listener(user)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=stack.public_url, headers={"Authorization": f"Bearer {user.token}"}, timeout=30
        ) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"/sessions/{session_uuid}/seek",
                        json={"position_ms": 1000 + i, "device_uuid": device_a if i % 2 else device_b},
                    )
                    for i in range(50)
                )
            )

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 50
    revisions = sorted(r.json()["revision"] for r in responses)
    assert revisions == list(range(start_rev + 1, start_rev + 51))
    messages = recorder.drain(settle_s=1.0)
    assert sorted(m["rev"] for m in messages) == revisions
    assert user.session["revision"] == revisions[-1]


def test_a_speaker_that_stops_heartbeating_is_paused_by_the_sweeper(stack: Stack, user: UserClient) -> None:
    device, played = start_playing(user, position_ms=2000)
    sql(
        stack,
        "UPDATE device SET last_seen = now() - interval '10 minutes' WHERE device_uuid = $1",
        uuid.UUID(device),
    )
    # GET already shows it paused; the sweeper then persists the pause as one new revision.
    assert user.session["play_state"] == "paused"
    deadline = time.monotonic() + 10
    snap = user.session
    while snap["revision"] == played["revision"] and time.monotonic() < deadline:
        time.sleep(0.2)
        snap = user.session
    assert snap["play_state"] == "paused"
    assert snap["revision"] == played["revision"] + 1
    # Paused where it was last known to play (its heartbeat is older than the play command).
    assert abs(snap["position_ms"] - 2000) <= 100
    devices = user.get_ok("/devices")["items"]
    assert [d["online"] for d in devices if d["device_uuid"] == device] == [False]


def test_a_session_untouched_for_a_day_resumes_paused_at_zero_on_the_same_track(
    stack: Stack, user: UserClient
) -> None:
    start_playing(user, "Noon", position_ms=9000)
    paused = user.command_ok("pause")
    day = 25 * 3600 * 1000
    sql(
        stack,
        "UPDATE session_state SET last_update_ms = last_update_ms - $2 WHERE user_uuid = $1",
        uuid.UUID(user.user_uuid),
        day,
    )
    snap = user.session
    assert snap["play_state"] == "paused"
    assert snap["position_ms"] == 0
    assert snap["track"]["title"] == "Noon"
    assert snap["revision"] in (
        paused["revision"],
        paused["revision"] + 1,
    )  # the sweeper may have persisted it


def test_commands_are_rate_limited_per_user_with_retry_after(
    stack: Stack, make_user: Callable[..., UserClient]
) -> None:
    someone = make_user()
    session_uuid = someone.session_uuid

    # The test stack allows 300 commands a minute: bursts of 25 in flight reach that even on a
    # loaded machine, where one request after the other may not.
    async def until_limited() -> httpx.Response | None:
        async with httpx.AsyncClient(
            base_url=stack.public_url, headers={"Authorization": f"Bearer {someone.token}"}, timeout=30
        ) as client:
            for _ in range(40):
                burst = await asyncio.gather(
                    *(client.post(f"/sessions/{session_uuid}/pause", json={}) for _ in range(25))
                )
                limited = [r for r in burst if r.status_code == 429]
                assert all(r.status_code == 200 for r in burst if r not in limited)
                if limited:
                    return limited[0]
        return None

    response = asyncio.run(until_limited())
    assert response is not None and response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["detail"] == "too many requests"


def test_another_users_ids_answer_exactly_like_ids_that_do_not_exist(
    make_user: Callable[..., UserClient],
) -> None:
    alice, bob = make_user(), make_user()
    alice_device = alice.register_device("alice laptop")
    ghost = str(uuid.uuid4())
    pairs = [
        (bob.get(f"/sessions/{alice.user_uuid}"), bob.get(f"/sessions/{ghost}")),
        (bob.post(f"/sessions/{alice.session_uuid}/pause", {}), bob.post(f"/sessions/{ghost}/pause", {})),
        (
            bob.post(f"/sessions/{bob.user_uuid}/speaker", {"device_uuid": alice_device}),
            bob.post(f"/sessions/{bob.user_uuid}/speaker", {"device_uuid": ghost}),
        ),
        (
            bob.http.patch("/devices/heartbeat", json={"device_uuid": alice_device}),
            bob.http.patch("/devices/heartbeat", json={"device_uuid": ghost}),
        ),
        (bob.http.delete(f"/devices/{alice_device}"), bob.http.delete(f"/devices/{ghost}")),
    ]
    for theirs, missing in pairs:
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json() == missing.json()
    taken = bob.post("/devices/register", {"device_uuid": alice_device, "device_name": "mine now"})
    assert taken.status_code == 409
    assert alice.get_ok("/devices")["items"][0]["device_name"] == "alice laptop"


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("options", {"repeat_mode": "sometimes"}, "repeat_mode"),
        ("seek", {"position_ms": -1}, "position_ms"),
        ("seek", {"position_ms": 1.5}, "position_ms"),
        ("seek", {"position_ms": "10"}, "position_ms"),
        ("seek", {}, "position_ms"),
        ("play", {"track_uuid": "not-a-uuid"}, "track_uuid"),
        ("volume", {"volume_percent": 101}, "volume_percent"),
        ("options", {"shuffle": "yes"}, "shuffle"),
        ("pause", {"unexpected": 1}, "unexpected"),
        ("ended", {"track_uuid": str(uuid.UUID(int=1))}, "device_uuid"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_changes_nothing(
    user: UserClient, route: str, body: dict[str, Any], field: str
) -> None:
    before = user.session
    response = user.command(route, body)
    assert response.status_code == 422
    assert any(field in map(str, error["loc"]) for error in response.json()["detail"]), response.json()
    assert user.session["revision"] == before["revision"]


def test_malformed_uuids_in_paths_are_422(user: UserClient) -> None:
    assert user.get("/sessions/not-a-uuid").status_code == 422
    assert user.post("/sessions/not-a-uuid/pause", {}).status_code == 422


def test_volume_is_part_of_the_snapshot_and_travels_with_the_speaker(user: UserClient) -> None:
    start_playing(user)
    snap = user.command_ok("volume", {"volume_percent": 35})
    assert snap["volume_percent"] == 35
    other = user.register_device("kitchen")
    switched = user.post_ok(f"/sessions/{user.user_uuid}/speaker", {"device_uuid": other})
    assert switched["volume_percent"] == 35


def test_ended_must_come_from_the_active_speaker(user: UserClient) -> None:
    device, snap = start_playing(user, "Dawn")
    other = user.register_device("phone")
    track = snap["track_uuid"]
    assert user.command("ended", {"track_uuid": track, "device_uuid": other}).status_code == 409
    assert user.command("ended", {"track_uuid": track, "device_uuid": str(uuid.uuid4())}).status_code == 404
    assert user.command("ended", {"track_uuid": track}).status_code == 422


def test_toggle_flips_play_and_pause(user: UserClient) -> None:
    start_playing(user)
    assert user.command_ok("toggle")["play_state"] == "paused"
    assert user.command_ok("toggle")["play_state"] == "playing"


def test_a_user_without_a_session_row_gets_one_that_stays(stack: Stack, user: UserClient) -> None:
    """Regression: the lazily made row was rolled back, so each GET showed a new session_uuid
    (never saved) and the internal cache route cached one that no command could address."""
    from us_common.jwt import TokenCodec, TokenKind

    sql(stack, "DELETE FROM session_state WHERE user_uuid = $1", uuid.UUID(user.user_uuid))
    first = user.session["session_uuid"]
    assert user.session["session_uuid"] == first
    events = TokenCodec(TokenKind.SERVICE, stack.env["US_ACCESS_TOKEN_KEY"], "universalscrobbler")
    cached = httpx.get(
        f"{stack.service_url('control')}/internal/sessions/{user.user_uuid}/cache",
        headers={"Authorization": f"Bearer {events.encode({'sub': 'events'}, ttl_s=60)}"},
    )
    assert cached.status_code == 200 and cached.json()["session_uuid"] == first
    stored = sql(stack, "SELECT session_uuid FROM session_state WHERE user_uuid = $1", uuid.UUID(user.user_uuid))
    assert [str(row[0]) for row in stored] == [first]
    assert user.command_ok("pause")["session_uuid"] == first
