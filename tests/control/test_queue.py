"""Queue, next/prev/ended at the boundaries of every repeat mode with and without shuffle,
likes and listens — against the real stack."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from devtools.stack import Stack
from tests.control.conftest import by_title
from tests.support import ChannelRecorder, UserClient, sql

ALBUM = ["Dawn", "Noon", "Evening", "Dusk"]  # "First Light": disc 1 tracks 1-3, then disc 2


def titles_in_play_order(user: UserClient) -> list[str]:
    items = user.get_ok("/queue")["items"]
    return [i["track"]["title"] for i in sorted(items, key=lambda i: i["play_order"])]


def queue_of(
    user: UserClient, titles: list[str], *, shuffle: bool = False, repeat: str = "off"
) -> tuple[str, list[str]]:
    """Enqueue ``titles``, set the options, and play the first item in play order."""
    device = user.register_device("speaker")
    tracks = by_title(user)
    user.post_ok(
        "/queue/enqueue", {"track_uuids": [tracks[t]["track_uuid"] for t in titles], "replace": True}
    )
    user.command_ok("options", {"shuffle": shuffle, "repeat_mode": repeat})
    order = titles_in_play_order(user)
    first = min(user.get_ok("/queue")["items"], key=lambda i: i["play_order"])
    user.command_ok("play", {"item_uuid": first["item_uuid"], "device_uuid": device})
    return device, order


def go_last(user: UserClient, order: list[str]) -> dict[str, Any]:
    snap = user.session
    for _ in range(len(order) - 1):
        snap = user.command_ok("next")
    assert snap["track"]["title"] == order[-1]
    return snap


def finish(user: UserClient, device: str) -> dict[str, Any]:
    snap = user.session
    user.command_ok("seek", {"position_ms": snap["track"]["duration_ms"] - 500})
    return user.command_ok("ended", {"track_uuid": snap["track_uuid"], "device_uuid": device})


MODES = [(repeat, shuffle) for repeat in ("off", "one", "all") for shuffle in (False, True)]


@pytest.mark.parametrize(("repeat", "shuffle"), MODES)
def test_boundaries_at_the_first_item(user: UserClient, repeat: str, shuffle: bool) -> None:
    device, order = queue_of(user, ["Dawn", "Noon", "Evening"], shuffle=shuffle, repeat=repeat)
    assert user.session["track"]["title"] == order[0]
    prev = user.command_ok("prev")
    expected_prev = order[-1] if repeat == "all" else order[0]
    assert prev["track"]["title"] == expected_prev and prev["position_ms"] < 1000
    queue_of(user, ["Dawn", "Noon", "Evening"], shuffle=False, repeat=repeat)  # back to a known start
    order = titles_in_play_order(user)
    assert user.command_ok("next")["track"]["title"] == order[1]
    user.command_ok("prev")
    ended = finish(user, device)
    assert ended["track"]["title"] == (order[0] if repeat == "one" else order[1])
    assert ended["play_state"] == "playing" and ended["position_ms"] < 1000


@pytest.mark.parametrize(("repeat", "shuffle"), MODES)
def test_boundaries_at_the_last_item(user: UserClient, repeat: str, shuffle: bool) -> None:
    device, order = queue_of(user, ["Dawn", "Noon", "Evening"], shuffle=shuffle, repeat=repeat)
    last = go_last(user, order)
    assert last["actions"]["next"] is (repeat == "all")
    response = user.command("next")
    if repeat == "all":
        assert response.status_code == 200 and response.json()["track"]["title"] == order[0]
        go_last(user, order)
    else:
        assert response.status_code == 409
    assert user.command_ok("prev")["track"]["title"] == order[-2]
    user.command_ok("next")
    ended = finish(user, device)
    if repeat == "off":
        assert (ended["track"]["title"], ended["play_state"], ended["position_ms"]) == (
            order[-1],
            "stopped",
            0,
        )
        assert ended["actions"]["next"] is False
        assert user.command("next").status_code == 409
    elif repeat == "one":
        assert (ended["track"]["title"], ended["play_state"]) == (order[-1], "playing")
    else:
        assert (ended["track"]["title"], ended["play_state"]) == (order[0], "playing")


def test_prev_restarts_the_track_after_three_seconds(user: UserClient) -> None:
    queue_of(user, ["Dawn", "Noon"])
    user.command_ok("next")
    user.command_ok("seek", {"position_ms": 10_000})
    restarted = user.command_ok("prev")
    assert restarted["track"]["title"] == "Noon" and restarted["position_ms"] < 1000
    assert user.command_ok("prev")["track"]["title"] == "Dawn"


def test_shuffle_on_keeps_the_current_item_and_off_returns_to_queue_order(user: UserClient) -> None:
    queue_of(user, ALBUM)
    user.command_ok("next")  # Noon is current
    on = user.command_ok("options", {"shuffle": True})
    assert on["track"]["title"] == "Noon" and on["shuffle"] is True
    order = titles_in_play_order(user)
    assert order[0] == "Noon" and sorted(order) == sorted(ALBUM)
    assert titles_in_play_order(user) == order  # stored: the same on every read and every device
    off = user.command_ok("options", {"shuffle": False})
    assert off["track"]["title"] == "Noon" and off["queue_position"] == 1
    assert user.command_ok("next")["track"]["title"] == "Evening"


def test_the_permutation_survives_a_control_restart(stack: Stack, user: UserClient) -> None:
    queue_of(user, ALBUM, shuffle=True)
    order = titles_in_play_order(user)
    stack.stop_service("control")
    stack.start_service("control")
    stack.wait_ready(services=("control",))
    assert titles_in_play_order(user) == order


def test_album_enqueue_follows_disc_then_track_order(user: UserClient) -> None:
    album = next(a for a in user.get_ok("/albums")["items"] if a["title"] == "First Light")
    page = user.post_ok("/queue/enqueue", {"album_uuid": album["album_uuid"]})
    assert [i["track"]["title"] for i in page["items"]] == ALBUM
    assert [i["idx"] for i in page["items"]] == [0, 1, 2, 3]
    assert {i["status"] for i in page["items"]} == {"queued"}


def test_enqueue_is_all_or_nothing(
    make_user: Callable[..., UserClient], listener: Callable[[UserClient], ChannelRecorder]
) -> None:
    user = make_user()
    dawn = by_title(user)["Dawn"]["track_uuid"]
    user.post_ok("/queue/enqueue", {"track_uuids": [dawn]})
    before = user.session["revision"]
    recorder = listener(user)
    response = user.post("/queue/enqueue", {"track_uuids": [dawn, str(uuid.uuid4())]})
    assert response.status_code == 404
    assert user.get_ok("/queue")["total"] == 1
    assert user.session["revision"] == before and recorder.drain() == []
    outsider = make_user(grant=False)
    assert outsider.post("/queue/enqueue", {"track_uuids": [dawn]}).status_code == 404
    assert outsider.post("/queue/enqueue", {"track_uuids": []}).status_code == 422
    assert outsider.post("/queue/enqueue", {}).status_code == 422


def test_enqueue_of_an_unavailable_track_is_refused(stack: Stack, user: UserClient) -> None:
    blip = by_title(user)["Blip"]["track_uuid"]
    sql(stack, "UPDATE track SET available = false WHERE track_uuid = $1", uuid.UUID(blip))
    try:
        response = user.post("/queue/enqueue", {"track_uuids": [blip]})
        assert response.status_code == 422
        assert user.get_ok("/queue")["total"] == 0
    finally:
        sql(stack, "UPDATE track SET available = true WHERE track_uuid = $1", uuid.UUID(blip))


def test_an_item_whose_file_vanished_is_marked_failed_and_skipped(stack: Stack, user: UserClient) -> None:
    queue_of(user, ["Dawn", "Blip", "Noon"])
    blip = by_title(user)["Blip"]["track_uuid"]
    sql(stack, "UPDATE track SET available = false WHERE track_uuid = $1", uuid.UUID(blip))
    try:
        assert user.command_ok("next")["track"]["title"] == "Noon"
        statuses = {i["track"]["title"]: i["status"] for i in user.get_ok("/queue")["items"]}
        assert statuses == {"Dawn": "played", "Blip": "failed", "Noon": "playing"}
    finally:
        sql(stack, "UPDATE track SET available = true WHERE track_uuid = $1", uuid.UUID(blip))


def test_the_same_track_can_be_queued_twice_and_each_item_is_its_own(user: UserClient) -> None:
    dawn = by_title(user)["Dawn"]["track_uuid"]
    page = user.post_ok("/queue/enqueue", {"track_uuids": [dawn, dawn]})
    first, second = page["items"]
    assert first["item_uuid"] != second["item_uuid"]
    after = user.http.delete(f"/queue/items/{second['item_uuid']}").json()
    assert [i["item_uuid"] for i in after["items"]] == [first["item_uuid"]]


def test_double_ended_advances_once_and_a_stale_ended_changes_nothing(user: UserClient) -> None:
    device, _ = queue_of(user, ["Dawn", "Noon", "Evening"])
    snap = user.session
    user.command_ok("seek", {"position_ms": snap["track"]["duration_ms"] - 500})
    body = {"track_uuid": snap["track_uuid"], "device_uuid": device}
    first = user.command_ok("ended", body)
    second = user.command_ok("ended", body)
    assert first["track"]["title"] == second["track"]["title"] == "Noon"
    assert second["revision"] == first["revision"]
    stale = user.command_ok(
        "ended", {"track_uuid": by_title(user)["Evening"]["track_uuid"], "device_uuid": device}
    )
    assert stale["revision"] == first["revision"] and stale["track"]["title"] == "Noon"


def test_play_a_track_plays_its_queued_item_or_inserts_it_next(user: UserClient) -> None:
    device, _ = queue_of(user, ["Dawn", "Noon", "Evening"])
    tracks = by_title(user)
    snap = user.command_ok("play", {"track_uuid": tracks["Evening"]["track_uuid"], "device_uuid": device})
    assert snap["track"]["title"] == "Evening" and snap["queue_length"] == 3
    snap = user.command_ok("play", {"track_uuid": tracks["Señal"]["track_uuid"]})
    assert snap["track"]["title"] == "Señal" and snap["queue_length"] == 4
    assert [i["track"]["title"] for i in user.get_ok("/queue")["items"]] == [
        "Dawn",
        "Noon",
        "Evening",
        "Señal",
    ]


def test_enqueue_next_and_move_and_clear(user: UserClient) -> None:
    queue_of(user, ["Dawn", "Noon", "Evening"])
    tracks = by_title(user)
    page = user.post_ok("/queue/enqueue", {"track_uuids": [tracks["Dusk"]["track_uuid"]], "position": "next"})
    assert [i["track"]["title"] for i in page["items"]] == ["Dawn", "Dusk", "Noon", "Evening"]
    evening = page["items"][3]["item_uuid"]
    moved = user.post_ok("/queue/move", {"item_uuid": evening, "to_idx": 0})
    assert [i["track"]["title"] for i in moved["items"]] == ["Evening", "Dawn", "Dusk", "Noon"]
    assert user.session["queue_position"] == 1  # Dawn is still current, now at idx 1
    cleared = user.http.delete("/queue").json()
    assert [i["track"]["title"] for i in cleared["items"]] == ["Dawn"]  # the current item stays
    assert cleared["items"][0]["idx"] == 0 and user.session["queue_position"] == 0


def test_removing_the_current_item_moves_on_to_the_next(user: UserClient) -> None:
    queue_of(user, ["Dawn", "Noon"])
    current = next(i for i in user.get_ok("/queue")["items"] if i["status"] == "playing")
    user.http.delete(f"/queue/items/{current['item_uuid']}")
    snap = user.session
    assert snap["track"]["title"] == "Noon" and snap["play_state"] == "playing" and snap["queue_length"] == 1


def test_queue_changes_publish_one_queue_message_each(
    user: UserClient, listener: Callable[[UserClient], ChannelRecorder]
) -> None:
    recorder = listener(user)
    tracks = by_title(user)
    page = user.post_ok(
        "/queue/enqueue", {"track_uuids": [tracks["Dawn"]["track_uuid"], tracks["Noon"]["track_uuid"]]}
    )
    user.post_ok("/queue/move", {"item_uuid": page["items"][1]["item_uuid"], "to_idx": 0})
    messages = recorder.drain()
    assert [m["type"] for m in messages] == ["queue", "queue"]
    assert messages[-1]["rev"] == user.get_ok("/queue")["revision"]


def test_like_is_one_revision_with_a_like_message_and_shows_in_the_snapshot(
    user: UserClient, listener: Callable[[UserClient], ChannelRecorder]
) -> None:
    queue_of(user, ["Dawn"])
    recorder = listener(user)
    dawn = by_title(user)["Dawn"]["track_uuid"]
    liked = user.post_ok(f"/tracks/{dawn}/like")
    assert liked["liked"] is True
    assert user.session["track"]["liked"] is True
    assert user.post_ok(f"/tracks/{dawn}/like")["liked"] is True  # again: no change
    assert [m["type"] for m in recorder.drain()] == ["like"]
    assert [t["title"] for t in user.get_ok("/likes")["items"]] == ["Dawn"]
    assert user.http.delete(f"/tracks/{dawn}/like").json()["liked"] is False
    assert user.get_ok("/likes")["total"] == 0
    assert user.post(f"/tracks/{uuid.uuid4()}/like").status_code == 404


def _played_for(stack: Stack, user: UserClient, ms: int) -> None:
    """Move the session's clock reference back: as if it had been playing ``ms`` longer."""
    sql(
        stack,
        "UPDATE session_state SET last_update_ms = last_update_ms - $2 WHERE user_uuid = $1",
        uuid.UUID(user.user_uuid),
        ms,
    )


def _listens(user: UserClient) -> list[str]:
    return [item["track"]["title"] for item in user.get_ok("/listens")["items"]]


def test_a_track_under_thirty_seconds_never_counts(stack: Stack, user: UserClient) -> None:
    queue_of(user, ["Blip"])
    _played_for(stack, user, 29_000)
    user.command_ok("pause")
    assert _listens(user) == []


def test_half_the_track_counts_once_and_just_under_does_not(
    stack: Stack, make_user: Callable[..., UserClient]
) -> None:
    under, over = make_user(), make_user()
    for who, ms in ((under, 19_500), (over, 20_500)):  # Dawn is 40 s
        queue_of(who, ["Dawn"])
        _played_for(stack, who, ms)
        who.command_ok("pause")
    assert _listens(under) == []
    assert _listens(over) == ["Dawn"]
    over.command_ok("play")
    _played_for(stack, over, 5_000)
    over.command_ok("pause")
    assert _listens(over) == ["Dawn"]  # one listen per play of an item


def test_four_minutes_count_for_a_long_track(stack: Stack, make_user: Callable[..., UserClient]) -> None:
    under, over = make_user(), make_user()
    for who, ms in ((under, 239_000), (over, 241_000)):  # Long Walk is 10 minutes: half is 5
        queue_of(who, ["Long Walk"])
        _played_for(stack, who, ms)
        who.command_ok("pause")
    assert _listens(under) == []
    assert _listens(over) == ["Long Walk"]
    assert user_listen_played_ms(over) >= 240_000


def user_listen_played_ms(user: UserClient) -> int:
    return int(user.get_ok("/listens")["items"][0]["played_ms"])


def test_a_seek_past_the_middle_alone_does_not_count(stack: Stack, user: UserClient) -> None:
    queue_of(user, ["Dawn"])
    user.command_ok("seek", {"position_ms": 35_000})
    _played_for(stack, user, 2_000)
    user.command_ok("pause")
    assert _listens(user) == []
