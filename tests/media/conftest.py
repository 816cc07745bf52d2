"""Fixtures for media tests: a playing speaker, minted URLs, crafted tokens, a second stack.

The second stack (``aux_stack``) runs the media service with ``US_SELF_STREAM=true``, a refusal
threshold of 3 and a small media-token rate limit, over its own music root (so tests may plant
symlinks there without touching the session library).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.stack import Stack
from tests.conftest import UserPool, logged_in_users, start_stack, stop_stack
from tests.support import (
    TEST_LIBRARY,
    LibraryTrack,
    UserClient,
    sql,
    write_library,
)
from us_common.jwt import TokenCodec, TokenKind

AUX_REFUSAL_THRESHOLD = 3
AUX_MEDIA_TOKEN_LIMIT = 5  # per minute and user
AUX_LIBRARY = [t for t in TEST_LIBRARY if t.title in ("Dawn", "Blip", "Señal")]
EVIL_REL = "Evil/01 Replaced.flac"  # a real FLAC at scan time, a symlink out of the root later


@dataclass
class Speaker:
    """A user whose device is the active speaker, playing ``track``."""

    user: UserClient
    device_uuid: str
    session_uuid: str
    track: dict[str, Any]

    def mint(self, track_uuid: str | None = None, device_uuid: str | None = None) -> httpx.Response:
        return self.user.post(
            f"/sessions/{self.session_uuid}/media-token",
            {
                "device_uuid": device_uuid or self.device_uuid,
                "track_uuid": track_uuid or self.track["track_uuid"],
            },
        )

    def url(self, track_uuid: str | None = None) -> str:
        response = self.mint(track_uuid)
        assert response.status_code == 200, response.text
        return str(response.json()["url"])


def tracks_by_title(user: UserClient) -> dict[str, dict[str, Any]]:
    return {t["title"]: t for t in user.tracks()}


def start_speaker(user: UserClient, title: str = "Dawn") -> Speaker:
    device = user.register_device("speaker")
    track = tracks_by_title(user)[title]
    snap = user.command_ok("play", {"track_uuid": track["track_uuid"], "device_uuid": device})
    return Speaker(user, device, str(snap["session_uuid"]), track)


def media_codec(stack: Stack) -> TokenCodec:
    return TokenCodec(
        TokenKind.MEDIA, stack.env["US_MEDIA_TOKEN_KEY"], stack.env.get("US_ISSUER", "universalscrobbler")
    )


def craft_token(
    stack: Stack, speaker: Speaker, now: float | None = None, ttl_s: int = 60, **claims: Any
) -> str:
    """A media token signed with the stack's real media key (to test what minting never makes)."""
    epoch = sql(
        stack, "SELECT media_epoch FROM session_state WHERE user_uuid = $1", uuid.UUID(speaker.user.user_uuid)
    )
    body = {
        "sub": speaker.user.user_uuid,
        "sid": speaker.session_uuid,
        "dev": speaker.device_uuid,
        "trk": speaker.track["track_uuid"],
        "epoch": int(epoch[0][0]),
        "jti": uuid.uuid4().hex,
        **claims,
    }
    return media_codec(stack).encode(body, ttl_s=ttl_s, now=now if now is not None else time.time())


def media_epoch(stack: Stack, user: UserClient) -> int:
    rows = sql(stack, "SELECT media_epoch FROM session_state WHERE user_uuid = $1", uuid.UUID(user.user_uuid))
    return int(rows[0][0])


def track_rel_path(stack: Stack, track_uuid: str) -> str:
    return str(sql(stack, "SELECT rel_path FROM track WHERE track_uuid = $1", uuid.UUID(track_uuid))[0][0])


@pytest.fixture
def speaker(make_user: Callable[..., UserClient]) -> Speaker:
    return start_speaker(make_user())


@pytest.fixture
def player(stack: Stack) -> Iterator[httpx.Client]:
    """A client with no credentials of its own, like an audio element fetching a media URL."""
    with httpx.Client(base_url=stack.public_url, timeout=15) as client:
        yield client


# --- the second stack ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def aux_music_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("aux-music")
    write_library(root / "Library", AUX_LIBRARY)
    write_library(root / "Library", [LibraryTrack(EVIL_REL, "Replaced", "Evil", "Evil", 1, 1, 5.0)])
    root.chmod(0o755)
    return root


@pytest.fixture(scope="session")
def aux_stack(tmp_path_factory: pytest.TempPathFactory, aux_music_root: Path) -> Iterator[Stack]:
    st = start_stack(
        tmp_path_factory.mktemp("aux-stack"),
        aux_music_root,
        US_SELF_STREAM="true",
        US_MEDIA_REFUSAL_THRESHOLD=str(AUX_REFUSAL_THRESHOLD),
        US_RATE_LIMIT_MEDIA_TOKEN=f"{AUX_MEDIA_TOKEN_LIMIT}/minute",
    )
    try:
        st.usctl("library", "scan", str(aux_music_root / "Library"), "--name", "Library")
        yield st
    finally:
        stop_stack(st)


@pytest.fixture(scope="session")
def aux_user_pool(aux_stack: Stack) -> UserPool:
    return UserPool(aux_stack, granted=80, ungranted=0)


@pytest.fixture
def make_aux_user(aux_stack: Stack, aux_user_pool: UserPool) -> Iterator[Callable[[], UserClient]]:
    with logged_in_users(aux_stack, aux_user_pool) as factory:
        yield factory
