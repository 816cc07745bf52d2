"""Login and access tokens through nginx against real gunicorn workers."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import httpx

from devtools.stack import Stack
from tests.support import PASSWORD, UserClient
from us_common.jwt import TokenCodec, TokenKind


def test_good_login_opens_users_me(user: UserClient) -> None:
    me = user.get_ok("/users/me")
    assert me == {"user_uuid": user.user_uuid, "username": user.username}


def test_token_response_shape(stack: Stack, user: UserClient, public: httpx.Client) -> None:
    response = public.post("/auth/token", data={"username": user.username, "password": PASSWORD})
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0 and isinstance(body["access_token"], str)


def test_wrong_password_and_unknown_user_are_401(user: UserClient, public: httpx.Client) -> None:
    for username, password in ((user.username, "wrong password"), ("nobody-here", PASSWORD)):
        response = public.post("/auth/token", data={"username": username, "password": password})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"detail": "incorrect username or password"}


def test_missing_form_fields_are_422(public: httpx.Client) -> None:
    response = public.post("/auth/token", data={"username": "x"})
    assert response.status_code == 422
    assert "detail" in response.json()


def _me(public: httpx.Client, token: str) -> httpx.Response:
    return public.get("/users/me", headers={"Authorization": f"Bearer {token}"})


def test_expired_tampered_alg_none_and_wrong_kind_tokens_are_401(
    stack: Stack, user: UserClient, public: httpx.Client
) -> None:
    key = stack.env["US_ACCESS_TOKEN_KEY"]
    codec = TokenCodec(TokenKind.ACCESS, key, "universalscrobbler")
    expired = codec.encode({"sub": user.user_uuid, "name": user.username}, ttl_s=1, now=time.time() - 60)

    head, payload, sig = user.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 3600
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = f"{head}.{forged_payload}.{sig}"

    none_header = (
        base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": TokenKind.ACCESS.value}).encode())
        .rstrip(b"=")
        .decode()
    )
    alg_none = f"{none_header}.{payload}."

    media_kind = TokenCodec(TokenKind.MEDIA, stack.env["US_MEDIA_TOKEN_KEY"], "universalscrobbler")
    media_token = media_kind.encode({"sub": user.user_uuid}, ttl_s=60)

    for token in (expired, tampered, alg_none, media_token, "garbage"):
        response = _me(public, token)
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == "Bearer"
    assert _me(public, user.token).status_code == 200


def test_no_credentials_is_401(public: httpx.Client) -> None:
    response = public.get("/users/me")
    assert response.status_code == 401
    assert response.json()["detail"] == "not authenticated"


def test_cookie_login_sets_httponly_cookie_and_needs_csrf_header_for_writes(
    make_user: Callable[..., UserClient], stack: Stack
) -> None:
    someone = make_user()
    with httpx.Client(base_url=stack.public_url) as browser:
        response = browser.post("/auth/session", json={"username": someone.username, "password": PASSWORD})
        assert response.status_code == 200
        set_cookie = response.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie
        assert browser.get("/users/me").json()["username"] == someone.username
        # A cookie alone cannot change state: a cross-site form could send it.
        assert browser.post("/devices/register", json={"device_name": "x"}).status_code == 403
        assert browser.delete("/auth/session").status_code == 204
        assert browser.get("/users/me").status_code == 401


def test_login_is_rate_limited_per_username(user: UserClient, public: httpx.Client) -> None:
    # The fixture's own login was the first attempt of this minute's ten.
    statuses = [
        public.post("/auth/token", data={"username": user.username, "password": "nope"}).status_code
        for _ in range(11)
    ]
    assert statuses[:9] == [401] * 9
    assert statuses[9:] == [429, 429]
    response = public.post("/auth/token", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1


def test_passwords_and_tokens_never_reach_the_logs(
    stack: Stack, user: UserClient, public: httpx.Client
) -> None:
    public.post("/auth/token", data={"username": user.username, "password": "a-wrong-secret-pw"})
    user.get_ok("/users/me")
    logs = stack.log_file("control").read_text(errors="replace") + stack.log_file("nginx-access").read_text()
    assert "a-wrong-secret-pw" not in logs
    assert PASSWORD not in logs
    assert user.token not in logs
    assert user.token.split(".")[2] not in logs
