"""``/scrobble/targets`` against a real Maloja: add, list, change, remove; what is refused and why."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from devtools.maloja import ThrowawayMaloja
from devtools.stack import free_port
from tests.scrobble.conftest import add_target, target_of
from tests.support import UserClient

TARGET_KEYS = {
    "target_uuid", "kind", "base_url", "state", "paused", "pending", "delivered", "refused",
    "last_error", "last_delivered_at", "next_attempt_at", "receiver_user", "created_at",
}  # fmt: skip


def test_a_target_is_added_when_the_receiver_takes_the_token(user: UserClient, maloja: ThrowawayMaloja) -> None:
    target = add_target(user, maloja.listenbrainz_url + "/", maloja.api_key)
    assert set(target) == TARGET_KEYS
    assert target["kind"] == "listenbrainz"
    assert target["base_url"] == maloja.listenbrainz_url  # trailing slash dropped
    assert (target["state"], target["pending"], target["delivered"], target["refused"]) == ("ok", 0, 0, 0)
    assert target["receiver_user"] == "Generic Maloja User"  # what Maloja's validate-token says
    page = user.get_ok("/scrobble/targets")
    assert (page["total"], page["limit"], page["offset"]) == (1, 50, 0)
    assert page["items"] == [target]
    assert maloja.api_key not in str(page) and "token" not in str(page)


def test_a_refused_token_is_a_422_and_nothing_is_saved(user: UserClient, maloja: ThrowawayMaloja) -> None:
    response = user.post("/scrobble/targets", {"base_url": maloja.listenbrainz_url, "token": "not-the-key"})
    assert response.status_code == 422
    assert response.json()["detail"] == "the receiver refused the token"
    assert user.get_ok("/scrobble/targets")["total"] == 0


@pytest.mark.parametrize(
    ("base_url", "detail_part"),
    [
        ("ftp://127.0.0.1/x", "http:// or https://"),
        ("http://user:pw@127.0.0.1:1/x", "user or password"),
        ("http://127.0.0.1:1/x?y=1", "query"),
        ("not a url", "http:// or https://"),
        ("http://localhost:8001", "US_SCROBBLE_ALLOW_HOSTS"),  # loopback, but not the allowed entry
        ("http://169.254.169.254/latest", "US_SCROBBLE_ALLOW_HOSTS"),  # cloud metadata
        ("http://10.1.2.3/apis/listenbrainz", "US_SCROBBLE_ALLOW_HOSTS"),
        ("http://[::1]:8001", "US_SCROBBLE_ALLOW_HOSTS"),
        ("http://no-such-host.invalid/", "cannot resolve"),
    ],
)
def test_base_urls_that_are_malformed_or_point_inside_are_refused(
    user: UserClient, base_url: str, detail_part: str
) -> None:
    response = user.post("/scrobble/targets", {"base_url": base_url, "token": "tok"})
    assert response.status_code == 422, response.text
    assert detail_part in response.json()["detail"]


def test_a_receiver_that_does_not_answer_or_is_not_listenbrainz_is_a_422(
    user: UserClient, maloja: ThrowawayMaloja
) -> None:
    closed = user.post("/scrobble/targets", {"base_url": f"http://127.0.0.1:{free_port()}", "token": "tok"})
    assert closed.status_code == 422
    assert "cannot reach" in closed.json()["detail"]
    not_lb = user.post("/scrobble/targets", {"base_url": maloja.url, "token": maloja.api_key})
    assert not_lb.status_code == 422
    assert "ListenBrainz API root" in not_lb.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"base_url": "http://127.0.0.1/x"},
        {"token": "abc"},
        {"base_url": "http://127.0.0.1/x", "token": "has space"},
        {"base_url": "http://127.0.0.1/x", "token": "line\r\nX-Evil: 1"},
        {"base_url": "http://127.0.0.1/x", "token": "t", "extra": 1},
        {"base_url": 5, "token": "t"},
    ],
)
def test_bad_bodies_are_422_and_echo_no_token(user: UserClient, body: dict[str, object]) -> None:
    response = user.post("/scrobble/targets", body)
    assert response.status_code == 422
    assert "Evil" not in response.text and "has space" not in response.text


def test_the_same_receiver_twice_is_a_409(user: UserClient, maloja: ThrowawayMaloja) -> None:
    add_target(user, maloja.listenbrainz_url, maloja.api_key)
    same = "HTTP://" + maloja.listenbrainz_url.removeprefix("http://") + "/"  # the same, once normalized
    again = user.post("/scrobble/targets", {"base_url": same, "token": maloja.api_key})
    assert again.status_code == 409, again.text


def test_pause_resume_and_a_wrong_new_token_keeps_the_old_one(user: UserClient, maloja: ThrowawayMaloja) -> None:
    target = add_target(user, maloja.listenbrainz_url, maloja.api_key)
    path = f"/scrobble/targets/{target['target_uuid']}"
    paused = user.http.patch(path, json={"paused": True})
    assert paused.status_code == 200 and paused.json()["state"] == "paused" and paused.json()["paused"]
    wrong = user.http.patch(path, json={"token": "wrong-token"})
    assert wrong.status_code == 422
    resumed = user.http.patch(path, json={"paused": False, "token": maloja.api_key})
    assert resumed.status_code == 200 and resumed.json()["state"] == "ok"
    assert user.http.patch(path, json={"paused": "yes"}).status_code == 422
    assert user.http.patch(path, json={"url": "x"}).status_code == 422


def test_another_users_target_does_not_exist_for_you(
    make_user: Callable[..., UserClient], maloja: ThrowawayMaloja
) -> None:
    owner, other = make_user(), make_user()
    target = add_target(owner, maloja.listenbrainz_url, maloja.api_key)
    path = f"/scrobble/targets/{target['target_uuid']}"
    assert other.get(path).status_code == 404
    assert other.http.patch(path, json={"paused": True}).status_code == 404
    assert other.http.patch(path, json={"token": maloja.api_key}).status_code == 404
    assert other.http.delete(path).status_code == 404
    assert other.get_ok("/scrobble/targets")["total"] == 0
    assert target_of(owner, target["target_uuid"])["state"] == "ok"  # untouched
    assert other.get(f"/scrobble/targets/{uuid.uuid4()}").status_code == 404
    assert other.get("/scrobble/targets/not-a-uuid").status_code == 422


def test_removing_a_target(user: UserClient, maloja: ThrowawayMaloja) -> None:
    target = add_target(user, maloja.listenbrainz_url, maloja.api_key)
    path = f"/scrobble/targets/{target['target_uuid']}"
    assert user.http.delete(path).status_code == 204
    assert user.get(path).status_code == 404
    assert user.http.delete(path).status_code == 404
    assert user.get_ok("/scrobble/targets")["items"] == []


def test_targets_need_a_login(public: object, maloja: ThrowawayMaloja) -> None:
    import httpx

    assert isinstance(public, httpx.Client)
    assert public.get("/scrobble/targets").status_code == 401
    response = public.post("/scrobble/targets", json={"base_url": maloja.listenbrainz_url, "token": "t"})
    assert response.status_code == 401
