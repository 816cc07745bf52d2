"""Least privilege in Redis: each service its own ACL user (infra/redis/users.acl.template).

- events and media cannot PUBLISH, SET or otherwise write; media cannot even subscribe;
- the whole stack works with the three users (over TLS when openssl is available), and Redis
  refused none of their commands (ACL LOG stays empty) — rate limits included, which fail open
  and would hide a refusal otherwise;
- ``./dev up``'s ACL SETUSER path is idempotent and leaves everything else alone;
- compose's start script renders hashed passwords and turns the ``default`` user off.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from devtools.redis_acl import PASSWORD_VARS, SERVICE_USERS, acl_users, apply, generate_passwords
from devtools.stack import ROOT, SERVICES, Stack, free_port
from devtools.throwaway import ThrowawayRedis
from tests.security.conftest import LockedRedis
from tests.support import PASSWORD, add_user, login, sse_events
from us_common.bus import (
    RATE_LIMIT_PREFIX,
    media_refusals_key,
    media_track_key,
    session_cache_key,
    user_channel,
)

pytestmark = pytest.mark.timeout(120)

WRITES: list[tuple[str, ...]] = [
    ("PUBLISH", user_channel("x"), "{}"),
    ("SET", media_track_key("x", "t"), "evil"),
    ("HSET", session_cache_key("x"), "rev", "999"),
    ("DEL", session_cache_key("x")),
    ("EXPIRE", session_cache_key("x"), "1"),
    ("EVAL", "return 1", "0"),
    ("FLUSHALL",),
    ("CONFIG", "SET", "appendonly", "no"),
    ("KEYS", "*"),
    ("ACL", "LIST"),
]


def connect(locked: LockedRedis, service: str) -> redis.Redis:
    return redis.Redis.from_url(locked.url(service), socket_timeout=5)


def refused(client: redis.Redis, *command: str) -> bool:
    try:
        client.execute_command(*command)  # type: ignore[no-untyped-call]
    except redis.exceptions.NoPermissionError:
        return True
    return False


@pytest.fixture
def admin(locked_redis: LockedRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(locked_redis.admin_url)
    yield client
    client.close()


@pytest.mark.parametrize("service", ["events", "media"])
def test_events_and_media_cannot_publish_or_write(
    locked_redis: LockedRedis, admin: redis.Redis, service: str
) -> None:
    admin.hset(session_cache_key("x"), mapping={"rev": "1"})
    admin.set(media_track_key("x", "t"), "Alpha/a.flac")
    client = connect(locked_redis, service)
    try:
        denied = [" ".join(command[:1]) for command in WRITES if refused(client, *command)]
        assert denied == [command[0] for command in WRITES], denied
        # What it is for still works.
        if service == "events":
            assert client.hgetall(session_cache_key("x")) == {b"rev": b"1"}
            pubsub = client.pubsub()  # type: ignore[no-untyped-call]
            pubsub.subscribe(user_channel("x"))  # allowed channel
            pubsub.close()
            assert refused(client, "GET", media_track_key("x", "t"))  # not its key
        else:
            assert client.hmget(session_cache_key("x"), ["rev"]) == [b"1"]
            assert client.get(media_track_key("x", "t")) == b"Alpha/a.flac"
            assert refused(client, "SUBSCRIBE", user_channel("x"))
            assert refused(client, "GET", f"{RATE_LIMIT_PREFIX}:x")
    finally:
        client.close()
    assert admin.hget(session_cache_key("x"), "rev") == b"1"


def test_control_writes_only_its_own_keys(locked_redis: LockedRedis) -> None:
    client = connect(locked_redis, "control")
    try:
        assert client.set(media_track_key("y", "t"), "x") and client.publish(user_channel("y"), "{}") == 0
        for command in (("SET", "other:key", "x"), ("FLUSHALL",), ("CONFIG", "GET", "*"), ("KEYS", "*")):
            assert refused(client, *command), command
        assert refused(client, "SUBSCRIBE", user_channel("y"))
        assert refused(client, "PUBLISH", "other-channel", "x")
    finally:
        client.close()


async def test_the_stack_works_with_three_users_and_redis_refuses_none_of_their_commands(
    locked_stack: Stack, locked_redis: LockedRedis, admin: redis.Redis
) -> None:
    stack = locked_stack
    admin.acl_log_reset()
    username = f"acl-{uuid.uuid4().hex[:8]}"
    add_user(stack, username)
    stack.usctl("library", "grant", username, "Library")
    token = login(stack, username, PASSWORD)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.public_url, headers=headers, timeout=15) as http:
        speaker = http.post("/devices/register", json={"device_name": "speaker"}).json()["device_uuid"]
        screen = http.post("/devices/register", json={"device_name": "screen"}).json()["device_uuid"]
        tracks = http.get("/tracks").json()["items"]
        with http.stream("GET", "/events", params={"device_uuid": screen}) as stream:
            events = sse_events(stream)
            first = next(e for e in events if "event" in e)
            assert first["event"] == "snapshot"
            session_uuid = first["data"]["session"]["session_uuid"]
            played = http.post(
                f"/sessions/{session_uuid}/play",
                json={"track_uuid": tracks[0]["track_uuid"], "device_uuid": speaker},
            )
            assert played.status_code == 200, played.text
            # control published over its user, events subscribed and read the cache over its own.
            update = next(e for e in events if e.get("event") not in (None, "timeline_beacon"))
            assert int(update["id"]) == played.json()["revision"]
        mint = {"device_uuid": speaker, "track_uuid": tracks[0]["track_uuid"]}
        url = http.post(f"/sessions/{session_uuid}/media-token", json=mint).json()["url"]
        assert http.get(url, headers={"Range": "bytes=0-3"}).content == b"fLaC"  # media read its keys
        other = http.post(
            f"/sessions/{session_uuid}/media-token", json={**mint, "track_uuid": tracks[1]["track_uuid"]}
        )
        wrong_track = other.json()["url"].replace(tracks[1]["track_uuid"], tracks[0]["track_uuid"])
        assert http.get(wrong_track).status_code == 403  # media reports it; control counts (EVAL)
        statuses = [
            http.post(f"/sessions/{session_uuid}/media-token", json=mint).status_code for _ in range(3)
        ]
        assert statuses[-1] == 429, statuses  # the limiter really ran on Redis (3/minute)
    for service in SERVICES:
        assert httpx.get(f"{stack.public_url}/readyz/{service}").status_code == 200
    time.sleep(0.5)  # the refusal report travels media -> control after the answer
    assert admin.get(media_refusals_key(login_subject(token))) == b"1"
    assert admin.acl_log() == [], admin.acl_log()
    users = {client["user"] for client in admin.client_list()} - {"default"}
    assert users == set(SERVICE_USERS.values()), admin.client_list()
    if locked_redis.tls_port is not None:
        assert all(
            str(locked_redis.tls_port) in client["laddr"]
            for client in admin.client_list()
            if client["user"] != "default"
        )


def login_subject(token: str) -> str:
    import base64
    import json

    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def test_dev_up_applies_the_users_idempotently_and_touches_nothing_else(tmp_path: Path) -> None:
    server = ThrowawayRedis(tmp_path)
    server.start()
    try:
        admin = redis.Redis.from_url(server.url)
        admin.set("someone:else", "kept")
        admin.execute_command("ACL", "SETUSER", "other-app", "on", ">pw", "~other:*", "+get")  # type: ignore[no-untyped-call]
        default_before = admin.acl_getuser("default")
        passwords = generate_passwords()
        assert apply(server.url, passwords) == list(SERVICE_USERS.values())
        rules = {user: admin.acl_getuser(user) for user in SERVICE_USERS.values()}
        # A subscriber logged in before the second apply keeps its subscription and its user.
        events = redis.Redis.from_url(
            f"redis://us-events:{passwords['events']}@127.0.0.1:{server.port}/0", socket_timeout=5
        )
        pubsub = events.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        pubsub.subscribe(user_channel("z"))
        assert apply(server.url, passwords) == list(SERVICE_USERS.values())
        assert {user: admin.acl_getuser(user) for user in SERVICE_USERS.values()} == rules
        admin.publish(user_channel("z"), "still here")
        deadline = time.monotonic() + 3
        message = None
        while message is None and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)  # None for the subscribe confirmation too
        assert message is not None and message["data"] == b"still here"
        assert admin.acl_getuser("default") == default_before
        assert admin.acl_getuser("other-app") is not None
        assert admin.get("someone:else") == b"kept"
        assert "healthcheck" not in admin.acl_users()  # compose-only users are not applied
        pubsub.close()
        events.close()
        admin.close()
    finally:
        server.stop()


def test_compose_start_script_hashes_passwords_and_turns_default_off(tmp_path: Path) -> None:
    passwords = generate_passwords()
    port = free_port()
    acl_file = tmp_path / "users.acl"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("US_")},
        **{PASSWORD_VARS[s]: passwords[s] for s in SERVICES},
        "US_REDIS_ACL_FILE": str(acl_file),
    }
    with (tmp_path / "redis.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                "sh",
                str(ROOT / "infra" / "redis" / "start-redis.sh"),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 10
        health = redis.Redis(port=port, username="healthcheck", password="-", socket_timeout=2)
        while True:
            try:
                assert health.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, (tmp_path / "redis.log").read_text()
                time.sleep(0.05)
        text = acl_file.read_text()
        assert all(password not in text for password in passwords.values())
        assert oct(acl_file.stat().st_mode & 0o777) == "0o600"
        assert set(acl_users()) == {line.split()[1] for line in text.splitlines()}
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port, socket_timeout=2).ping()  # no user, no entry
        assert refused(health, "GET", "x")
        media = redis.Redis(port=port, username="us-media", password=passwords["media"], socket_timeout=2)
        assert media.ping() and refused(media, "SET", media_track_key("x", "t"), "y")
        for client in (health, media):
            client.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_missing_password_stops_the_compose_start(tmp_path: Path) -> None:
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.startswith("US_")}
    env["US_REDIS_ACL_FILE"] = str(tmp_path / "users.acl")
    result = subprocess.run(
        ["sh", str(ROOT / "infra" / "redis" / "start-redis.sh"), "--render-only"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "US_REDIS_CONTROL_PASSWORD" in result.stderr


def test_dev_up_step_writes_private_passwords_and_gives_each_service_its_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m devtools.redis_acl apply`` as ``./dev up`` runs it (here against a throwaway)."""
    from devtools import redis_acl

    server = ThrowawayRedis(tmp_path / "redis")
    server.start()
    try:
        monkeypatch.setattr(redis_acl, "PASSWORDS_FILE", tmp_path / "redis-acl.env")
        monkeypatch.setenv("US_REDIS_URL", server.url)
        assert redis_acl.main(["apply"]) == 0
        assert oct((tmp_path / "redis-acl.env").stat().st_mode & 0o777) == "0o600"
        first = redis_acl.load_passwords(tmp_path / "redis-acl.env")
        assert first is not None
        assert redis_acl.main(["apply"]) == 0  # a second `./dev up`: same passwords, same users
        assert redis_acl.load_passwords(tmp_path / "redis-acl.env") == first
        urls = {s: env["US_REDIS_URL"] for s, env in redis_acl.dev_service_env(server.url).items()}
        admin = redis.Redis.from_url(server.url)
        for service, url in urls.items():
            client = redis.Redis.from_url(url, socket_timeout=5)
            assert client.ping()
            assert f"us-{service}" in {c["user"] for c in admin.client_list()}
            client.close()
        admin.close()
        assert all(
            first[other] not in urls[service] for service in urls for other in first if other != service
        )
    finally:
        server.stop()
