"""Pairing a device without a keyboard (RFC 8628) through nginx: codes, polling, approval,
denial, expiry, wrong-code limits, refresh-token rotation and the device binding of its tokens."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from devtools.stack import Stack
from tests.support import UserClient, sql

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def start_pairing(public: httpx.Client, **body: str) -> dict[str, Any]:
    response = public.post("/auth/device", data=body or {"device_name": "Box", "client_id": "us-speaker"})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    result: dict[str, Any] = response.json()
    return result


def poll(public: httpx.Client, device_code: str) -> httpx.Response:
    return public.post("/auth/token", data={"grant_type": DEVICE_GRANT, "device_code": device_code})


def refresh(public: httpx.Client, refresh_token: str) -> httpx.Response:
    return public.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def grant_error(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert "detail" not in body
    return str(body["error"])


def paired(user: UserClient, public: httpx.Client, name: str = "Living room") -> dict[str, Any]:
    """A device paired to ``user``: its token response."""
    codes = start_pairing(public)
    user.post_ok("/auth/device/approve", {"user_code": codes["user_code"], "device_name": name})
    response = poll(public, codes["device_code"])
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def as_device(stack: Stack, tokens: dict[str, Any]) -> httpx.Client:
    return httpx.Client(
        base_url=stack.public_url, headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=15
    )


def test_codes_answer_the_rfc_shape_with_form_or_json(stack: Stack, public: httpx.Client) -> None:
    codes = start_pairing(public)
    assert set(codes) == {
        "device_code",
        "user_code",
        "verification_uri",
        "verification_uri_complete",
        "expires_in",
        "interval",
    }
    assert codes["verification_uri"] == f"{stack.env['US_PUBLIC_URL']}/pair"
    assert codes["verification_uri_complete"] == f"{codes['verification_uri']}?code={codes['user_code']}"
    assert codes["expires_in"] == 600 and codes["interval"] == 1
    assert len(codes["user_code"]) == 9 and codes["user_code"][4] == "-"
    as_json = public.post("/auth/device", json={"device_name": "Kitchen"})
    assert as_json.status_code == 200 and as_json.json()["user_code"] != codes["user_code"]
    too_long = public.post("/auth/device", json={"device_name": "x" * 101})
    assert too_long.status_code == 422 and "detail" in too_long.json()
    assert public.post("/auth/device", json={"client_id": "no spaces"}).status_code == 422


def test_the_pair_page_is_the_web_player(public: httpx.Client) -> None:
    response = public.get("/pair", params={"code": "BCDF-GHJK"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == public.get("/").text


def test_pending_then_slow_down_and_the_interval_grows(public: httpx.Client) -> None:
    codes = start_pairing(public)
    assert grant_error(poll(public, codes["device_code"])) == "authorization_pending"
    assert grant_error(poll(public, codes["device_code"])) == "slow_down"
    # The interval is now 1 + 5 s: a poll 1.1 s later (fine before) is still too fast.
    time.sleep(1.1)
    assert grant_error(poll(public, codes["device_code"])) == "slow_down"


def test_approval_names_the_device_and_hands_out_one_credential(
    user: UserClient, public: httpx.Client, stack: Stack
) -> None:
    codes = start_pairing(public, device_name="Box by the stereo", client_id="us-speaker")
    assert grant_error(poll(public, codes["device_code"])) == "authorization_pending"
    # Typed loosely: lower case, no dash.
    typed = codes["user_code"].replace("-", "").lower()
    device = user.post_ok("/auth/device/approve", {"user_code": typed, "device_name": "Living room"})
    assert device["device_name"] == "Living room" and device["device_platform"] == "us-speaker"
    listed = {d["device_uuid"]: d for d in user.get_ok("/devices")["items"]}
    assert listed[device["device_uuid"]]["device_name"] == "Living room"

    response = poll(public, codes["device_code"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in", "device_uuid"}
    assert tokens["token_type"] == "bearer" and tokens["device_uuid"] == device["device_uuid"]
    # A device code is good once.
    assert grant_error(poll(public, codes["device_code"])) == "invalid_grant"
    with as_device(stack, tokens) as box:
        assert box.get("/users/me").json()["user_uuid"] == user.user_uuid


def test_the_approvers_name_is_optional(user: UserClient, public: httpx.Client) -> None:
    codes = start_pairing(public, device_name="Garage", client_id="us-speaker")
    device = user.post_ok("/auth/device/approve", {"user_code": codes["user_code"]})
    assert device["device_name"] == "Garage"
    # Approving again (a double click) is not a miss and changes nothing.
    again = user.post_ok("/auth/device/approve", {"user_code": codes["user_code"]})
    assert again["device_uuid"] == device["device_uuid"]


def test_denied_pairing_is_access_denied(user: UserClient, public: httpx.Client) -> None:
    codes = start_pairing(public)
    assert user.post_ok("/auth/device/deny", {"user_code": codes["user_code"]}) == {"status": "denied"}
    assert grant_error(poll(public, codes["device_code"])) == "access_denied"
    assert user.post("/auth/device/approve", {"user_code": codes["user_code"]}).status_code == 404


def test_expired_codes_cannot_be_approved_or_polled(stack: Stack, user: UserClient, public: httpx.Client) -> None:
    codes = start_pairing(public)
    sql(
        stack,
        "UPDATE device_authorization SET expires_at_ms = expires_at_ms - 601000 WHERE user_code_hash = "
        "encode(sha256(convert_to($1, 'UTF8')), 'hex')",
        codes["user_code"].replace("-", ""),
    )
    response = user.post("/auth/device/approve", {"user_code": codes["user_code"]})
    assert response.status_code == 404 and response.json() == {"detail": "unknown or expired code"}
    assert grant_error(poll(public, codes["device_code"])) == "expired_token"


def test_token_endpoint_errors_are_rfc_bodies(public: httpx.Client) -> None:
    assert grant_error(poll(public, "not-a-code")) == "invalid_grant"
    assert grant_error(public.post("/auth/token", data={"grant_type": DEVICE_GRANT})) == "invalid_request"
    assert grant_error(public.post("/auth/token", data={"grant_type": "client_credentials"})) == (
        "unsupported_grant_type"
    )
    assert grant_error(refresh(public, "not-a-token")) == "invalid_grant"


def test_wrong_codes_are_limited_per_user(make_user: Callable[..., UserClient], public: httpx.Client) -> None:
    guesser, other = make_user(), make_user()
    codes = start_pairing(public)
    statuses = [guesser.post("/auth/device/approve", {"user_code": "BBBB-BBBB"}).status_code for _ in range(5)]
    assert statuses == [404] * 5
    limited = guesser.post("/auth/device/approve", {"user_code": codes["user_code"]})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert guesser.post("/auth/device/deny", {"user_code": codes["user_code"]}).status_code == 429
    # Someone else's misses are theirs: this user approves at once.
    assert other.post("/auth/device/approve", {"user_code": codes["user_code"]}).status_code == 200


def test_asking_for_codes_is_limited_per_address(stack: Stack) -> None:
    # Straight to control with our own X-Real-IP (nginx sets it from the peer address); the test
    # stack allows 100 a minute.
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    with httpx.Client(base_url=stack.service_url("control"), headers={"X-Real-IP": address}) as control:
        statuses = [control.post("/auth/device", json={}).status_code for _ in range(101)]
    assert statuses[:100] == [200] * 100
    assert statuses[100] == 429


def test_refresh_rotates_and_a_replayed_token_revokes_the_device(
    stack: Stack, user: UserClient, public: httpx.Client
) -> None:
    first = paired(user, public)
    response = refresh(public, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["device_uuid"] == first["device_uuid"]
    with as_device(stack, second) as box:
        assert box.get("/users/me").status_code == 200
        # The old refresh token again: someone has a copy. It is refused, and so is everything
        # that came from this credential.
        assert grant_error(refresh(public, first["refresh_token"])) == "invalid_grant"
        assert grant_error(refresh(public, second["refresh_token"])) == "invalid_grant"
        refused = box.get("/users/me")
        assert refused.status_code == 401 and "pair it again" in refused.json()["detail"]


def test_forgetting_a_device_revokes_its_credential(stack: Stack, user: UserClient, public: httpx.Client) -> None:
    tokens = paired(user, public)
    with as_device(stack, tokens) as box:
        assert box.patch("/devices/heartbeat", json={"device_uuid": tokens["device_uuid"]}).status_code == 200
        assert user.http.delete(f"/devices/{tokens['device_uuid']}").status_code == 204
        assert box.patch("/devices/heartbeat", json={"device_uuid": tokens["device_uuid"]}).status_code == 401
        # Nor can it come back by registering itself again.
        again = box.post("/devices/register", json={"device_uuid": tokens["device_uuid"], "device_name": "x"})
        assert again.status_code == 401
    assert grant_error(refresh(public, tokens["refresh_token"])) == "invalid_grant"
    assert tokens["device_uuid"] not in {d["device_uuid"] for d in user.get_ok("/devices")["items"]}


def test_a_device_credential_acts_only_as_its_device(stack: Stack, user: UserClient, public: httpx.Client) -> None:
    tokens = paired(user, public)
    mine = tokens["device_uuid"]
    phone = user.register_device("phone")
    with as_device(stack, tokens) as box:
        assert box.patch("/devices/heartbeat", json={"device_uuid": mine}).status_code == 200
        for response in (
            box.patch("/devices/heartbeat", json={"device_uuid": phone}),
            box.post("/devices/register", json={"device_uuid": phone, "device_name": "stolen"}),
            box.post(f"/sessions/{user.session_uuid}/media-token", json={"device_uuid": phone, "track_uuid": str(uuid.uuid4())}),
            box.delete(f"/devices/{phone}"),
        ):
            assert response.status_code == 403, response.text
            assert response.json() == {"detail": "this credential belongs to another device"}
        with box.stream("GET", "/events", params={"device_uuid": phone}) as stream:
            assert stream.status_code == 403
        with box.stream("GET", "/events", params={"device_uuid": mine}) as stream:
            assert stream.status_code == 200
        # A paired box cannot pair further devices.
        codes = start_pairing(public)
        assert box.post("/auth/device/approve", json={"user_code": codes["user_code"]}).status_code == 403
    assert phone in {d["device_uuid"] for d in user.get_ok("/devices")["items"]}


def test_only_hashes_are_stored(stack: Stack, user: UserClient, public: httpx.Client) -> None:
    codes = start_pairing(public)
    user.post_ok("/auth/device/approve", {"user_code": codes["user_code"]})
    tokens = poll(public, codes["device_code"]).json()
    rows = sql(stack, "SELECT * FROM device_authorization") + sql(stack, "SELECT * FROM device_credential")
    stored = " ".join(str(value) for row in rows for value in row.values())
    for secret in (codes["device_code"], codes["user_code"], codes["user_code"].replace("-", ""), tokens["refresh_token"]):
        assert secret not in stored
    logs = stack.log_file("control").read_text(errors="replace")
    assert codes["device_code"] not in logs and tokens["refresh_token"] not in logs


@pytest.mark.parametrize("grant", ["password", ""])
def test_password_grant_still_needs_both_fields(public: httpx.Client, grant: str) -> None:
    response = public.post("/auth/token", data={"grant_type": grant, "username": "x"})
    assert response.status_code == 422 and "detail" in response.json()
