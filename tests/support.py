"""Test helpers shared by every test module: an API client for one user, FLAC libraries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from devtools.flacgen import tiny_png, write_flac
from devtools.stack import Stack
from us_common.bus import user_channel

if TYPE_CHECKING:
    import redis

PASSWORD = "correct horse battery staple"


@dataclass
class UserClient:
    """One user talking to the public host (nginx) with a bearer token."""

    stack: Stack
    username: str
    user_uuid: str
    token: str
    http: httpx.Client
    devices: list[str] = field(default_factory=list)

    @property
    def session(self) -> dict[str, Any]:
        snapshot: dict[str, Any] = self.get_ok(f"/sessions/{self.user_uuid}")
        return snapshot

    @property
    def session_uuid(self) -> str:
        return str(self.session["session_uuid"])

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, json_body: Any = None, **kw: Any) -> httpx.Response:
        return self.http.post(path, json=json_body, **kw)

    def get_ok(self, path: str, **kw: Any) -> Any:
        response = self.get(path, **kw)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def post_ok(self, path: str, json_body: Any = None) -> Any:
        response = self.post(path, json_body)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def register_device(self, name: str = "test device", device_uuid: str | None = None) -> str:
        body = {"device_uuid": device_uuid or str(uuid.uuid4()), "device_name": name}
        device = self.post_ok("/devices/register", body)
        self.devices.append(str(device["device_uuid"]))
        return str(device["device_uuid"])

    def command(self, name: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.post(f"/sessions/{self.session_uuid}/{name}", body or {})

    def command_ok(self, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.command(name, body)
        assert response.status_code == 200, (name, response.status_code, response.text)
        result: dict[str, Any] = response.json()
        return result

    def tracks(self, q: str = "", limit: int = 200) -> list[dict[str, Any]]:
        return list(self.get_ok("/tracks", params={"q": q, "limit": limit})["items"])


def login(stack: Stack, username: str, password: str = PASSWORD) -> str:
    response = httpx.post(f"{stack.public_url}/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def add_user(stack: Stack, username: str, password: str = PASSWORD) -> str:
    result = stack.usctl("user", "add", username, "--password-stdin", stdin=password + "\n")
    return str(json.loads(result.stdout)["user_uuid"])


@dataclass(frozen=True)
class LibraryTrack:
    rel_path: str
    title: str
    artist: str
    album: str
    track_number: int
    disc_number: int
    duration_s: float


# A library with known shapes: two discs (CD2 in a subfolder), a track under 30 s (never a
# listen), a 10-minute one (its listen threshold is the 4-minute cap, not half), unicode names.
TEST_LIBRARY: list[LibraryTrack] = [
    LibraryTrack("Alpha/First Light/01 Dawn.flac", "Dawn", "Alpha", "First Light", 1, 1, 40.0),
    LibraryTrack("Alpha/First Light/02 Noon.flac", "Noon", "Alpha", "First Light", 2, 1, 45.0),
    LibraryTrack("Alpha/First Light/CD2/01 Dusk.flac", "Dusk", "Alpha", "First Light", 1, 2, 35.0),
    LibraryTrack("Alpha/First Light/03 Evening.flac", "Evening", "Alpha", "First Light", 3, 1, 50.0),
    LibraryTrack("Beta/Short Forms/01 Blip.flac", "Blip", "Beta", "Short Forms", 1, 1, 29.0),
    LibraryTrack("Beta/Short Forms/02 Long Walk.flac", "Long Walk", "Beta", "Short Forms", 2, 1, 600.0),
    LibraryTrack("Gamma/Ünïcode Ålbum/01 Señal.flac", "Señal", "Gamma", "Ünïcode Ålbum", 1, 1, 60.0),
]


def write_library(root: Path, tracks: list[LibraryTrack] = TEST_LIBRARY) -> None:
    for t in tracks:
        write_flac(
            root / t.rel_path,
            duration_s=t.duration_s,
            title=t.title,
            artist=t.artist,
            album=t.album,
            track_number=t.track_number,
            disc_number=t.disc_number,
            year=2020,
            cover=tiny_png() if t.artist == "Alpha" else None,
            sample_rate=8000 if t.duration_s > 100 else 44100,
        )


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse a text/event-stream response into dicts {event, id, data, comment}."""
    event: dict[str, Any] = {}
    for line in response.iter_lines():
        if line == "":
            if event:
                yield event
                event = {}
            continue
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            event["data"] = json.loads(value) if "data" not in event else event["data"]
        elif name in ("event", "id", "retry"):
            event[name] = value


def sql(stack: Stack, query: str, *args: Any) -> list[Any]:
    """Run one SQL statement against the run's database (to inspect or back-date state)."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = (
        make_url(stack.env["US_DATABASE_URL"])
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )

    async def run() -> list[Any]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def redis_for(stack: Stack) -> redis.Redis | redis.RedisCluster:
    """A plain client of the stack's Redis: a cluster client when the stack runs on one."""
    import redis

    cluster = stack.env.get("US_REDIS_CLUSTER_URLS", "").replace(",", " ").split()
    if cluster:
        return redis.RedisCluster.from_url(cluster[0])
    return redis.Redis.from_url(stack.env["US_REDIS_URL"])


class ChannelRecorder:
    """Subscribes to a user's Redis channel and records every message (for publish counts);
    sharded (on the shard that owns the user) when the stack runs on a Redis Cluster."""

    def __init__(self, stack: Stack, user_uuid: str) -> None:
        import redis

        self.client = redis_for(stack)
        self.sharded = isinstance(self.client, redis.RedisCluster)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        if self.sharded:
            self.pubsub.ssubscribe(user_channel(user_uuid))
        else:
            self.pubsub.subscribe(user_channel(user_uuid))
        self.messages: list[dict[str, Any]] = []

    def _next(self) -> dict[str, Any] | None:
        if self.sharded:
            message: dict[str, Any] | None = self.pubsub.get_sharded_message(timeout=0.05)
            return message
        return self.pubsub.get_message(timeout=0.05)  # type: ignore[no-any-return]

    def drain(self, settle_s: float = 0.3) -> list[dict[str, Any]]:
        import time

        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            message = self._next()
            if message and message["type"] in ("message", "smessage"):
                self.messages.append(json.loads(message["data"]))
                deadline = time.monotonic() + settle_s
        return self.messages

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()
