"""Devices: idempotent registration, rename, heartbeat presence, list, forget."""

from __future__ import annotations

import uuid

from devtools.stack import Stack
from tests.control.conftest import by_title
from tests.support import UserClient, sql


def test_register_is_idempotent_and_renames(user: UserClient) -> None:
    device_uuid = str(uuid.uuid4())
    first = user.post_ok("/devices/register", {"device_uuid": device_uuid, "device_name": "Laptop"})
    rev = user.session["revision"]
    again = user.post_ok("/devices/register", {"device_uuid": device_uuid, "device_name": "Laptop"})
    assert again["device_uuid"] == first["device_uuid"] == device_uuid
    assert user.session["revision"] == rev  # nothing changed, nothing published
    renamed = user.post_ok(
        "/devices/register",
        {"device_uuid": device_uuid, "device_name": "Work laptop", "device_platform": "linux"},
    )
    assert renamed["device_name"] == "Work laptop" and renamed["device_platform"] == "linux"
    assert user.session["revision"] == rev + 1
    listed = user.get_ok("/devices")
    assert listed["total"] == 1 and listed["items"][0]["device_name"] == "Work laptop"


def test_register_without_uuid_gets_a_new_one(user: UserClient) -> None:
    device = user.post_ok("/devices/register", {"device_name": "Phone"})
    assert uuid.UUID(device["device_uuid"])
    assert device["online"] is True and device["is_active"] is False


def test_heartbeat_keeps_a_device_online_and_silence_makes_it_offline(stack: Stack, user: UserClient) -> None:
    device = user.register_device("Phone")
    sql(
        stack,
        "UPDATE device SET last_seen = now() - interval '5 minutes' WHERE device_uuid = $1",
        uuid.UUID(device),
    )
    assert user.get_ok("/devices")["items"][0]["online"] is False
    beat = user.http.patch("/devices/heartbeat", json={"device_uuid": device})
    assert beat.status_code == 200 and beat.json()["online"] is True
    assert user.get_ok("/devices")["items"][0]["online"] is True


def test_devices_list_marks_the_active_speaker(user: UserClient) -> None:
    a = user.register_device("A")
    b = user.register_device("B")
    user.post_ok(f"/sessions/{user.user_uuid}/speaker", {"device_uuid": b})
    items = {d["device_uuid"]: d for d in user.get_ok("/devices")["items"]}
    assert items[b]["is_active"] is True and items[a]["is_active"] is False


def test_forgetting_the_playing_speaker_pauses_and_clears_it(user: UserClient) -> None:
    device = user.register_device("A")
    track = by_title(user)["Dawn"]
    user.command_ok("play", {"track_uuid": track["track_uuid"], "device_uuid": device})
    response = user.http.delete(f"/devices/{device}")
    assert response.status_code == 204
    snap = user.session
    assert snap["active_device_uuid"] is None and snap["play_state"] == "paused"
    assert user.get_ok("/devices")["total"] == 0


def test_register_validates_its_body(user: UserClient) -> None:
    assert user.post("/devices/register", {"device_name": ""}).status_code == 422
    assert user.post("/devices/register", {"device_name": "x" * 101}).status_code == 422
    assert user.post("/devices/register", {"device_uuid": "nope", "device_name": "x"}).status_code == 422
