"""Enumeration: another user's session, device and queue-item ids answer exactly like ids that do
not exist — same status, same body, same headers — wherever they appear (path, body, query, the
event stream). Extends tests/control/test_sessions.py (session GET/pause, speaker, heartbeat,
device delete, register 409) and tests/media/test_mint.py (media-token session/device)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.support import UserClient

# Headers that differ between any two responses whatever they answer.
VOLATILE = {"date", "x-request-id", "content-length"}


def same_answer(theirs: httpx.Response, missing: httpx.Response) -> bool:
    def shape(response: httpx.Response) -> tuple[int, Any, set[str]]:
        headers = {f"{k}: {v}" for k, v in response.headers.items() if k.lower() not in VOLATILE}
        return response.status_code, response.json(), headers

    return shape(theirs) == shape(missing)


def commands(track: str, device: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("play", {}),
        ("toggle", {}),
        ("seek", {"position_ms": 1000}),
        ("next", {}),
        ("prev", {}),
        ("options", {"shuffle": True}),
        ("volume", {"volume_percent": 10}),
        ("ended", {"track_uuid": track, "device_uuid": device}),
    ]


def test_another_users_ids_answer_like_missing_ones_everywhere(make_user: Callable[..., UserClient]) -> None:
    alice, bob = make_user(), make_user()
    alice_device = alice.register_device("alice speaker")
    tracks = alice.tracks()
    alice.command_ok("play", {"track_uuid": tracks[0]["track_uuid"], "device_uuid": alice_device})
    alice_item = alice.post_ok("/queue/enqueue", {"track_uuids": [tracks[1]["track_uuid"]]})["items"][0]
    bob_device = bob.register_device("bob phone")
    bob.post_ok("/queue/enqueue", {"track_uuids": [tracks[2]["track_uuid"]]})
    ghost = str(uuid.uuid4())
    track = tracks[0]["track_uuid"]

    def pair(send: Callable[[str], httpx.Response], theirs: str) -> tuple[httpx.Response, httpx.Response]:
        return send(theirs), send(ghost)

    session = alice.session_uuid
    bob_session = bob.session_uuid
    pairs: dict[str, tuple[httpx.Response, httpx.Response]] = {
        # Alice's session in the path of every command.
        **{
            f"{name} on her session": (
                bob.post(f"/sessions/{session}/{name}", body),
                bob.post(f"/sessions/{ghost}/{name}", body),
            )
            for name, body in commands(track, bob_device)
        },
        "media token for her session": pair(
            lambda sid: bob.post(
                f"/sessions/{sid}/media-token", {"device_uuid": bob_device, "track_uuid": track}
            ),
            session,
        ),
        # Her device as the sender of his own commands, or as his speaker.
        "her device as sender": pair(
            lambda dev: bob.post(f"/sessions/{bob_session}/seek", {"position_ms": 5, "device_uuid": dev}),
            alice_device,
        ),
        "her device as the one that ended": pair(
            lambda dev: bob.post(f"/sessions/{bob_session}/ended", {"track_uuid": track, "device_uuid": dev}),
            alice_device,
        ),
        "her device for a media token": pair(
            lambda dev: bob.post(
                f"/sessions/{bob_session}/media-token", {"device_uuid": dev, "track_uuid": track}
            ),
            alice_device,
        ),
        # Her queue items.
        "delete her queue item": pair(
            lambda item: bob.http.delete(f"/queue/items/{item}"), alice_item["item_uuid"]
        ),
        "move her queue item": pair(
            lambda item: bob.post("/queue/move", {"item_uuid": item, "to_idx": 0}), alice_item["item_uuid"]
        ),
        "play her queue item": pair(
            lambda item: bob.post(
                f"/sessions/{bob_session}/play", {"item_uuid": item, "device_uuid": bob_device}
            ),
            alice_item["item_uuid"],
        ),
        # Her device on the event stream (his token).
        "her device on /events": pair(
            lambda dev: bob.get("/events", params={"device_uuid": dev}), alice_device
        ),
    }
    differing = {
        name: (theirs.status_code, theirs.text, missing.status_code, missing.text)
        for name, (theirs, missing) in pairs.items()
        if not same_answer(theirs, missing) or theirs.status_code != 404
    }
    assert not differing, differing
    # And nothing of hers changed.
    assert alice.get_ok("/queue")["items"][0]["item_uuid"] == alice_item["item_uuid"]
    assert alice.session["active_device_uuid"] == alice_device
