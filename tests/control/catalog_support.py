"""Helpers of the catalog tests: private folders under the music root, scans, grants, SQL reads."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from devtools.flacgen import write_flac
from devtools.stack import Stack
from tests.support import UserClient


def music_root(stack: Stack) -> Path:
    return Path(stack.env["US_MUSIC_ROOT"])


def new_folder(stack: Stack) -> tuple[Path, str]:
    """A fresh folder under the music root and a unique library name for it."""
    token = uuid.uuid4().hex[:10]
    folder = music_root(stack) / f"scan-{token}"
    folder.mkdir()
    return folder, f"Lib {token}"


def flac(path: Path, title: str, artist: str = "Artist", album: str = "Album", **tags: Any) -> Path:
    """A short real FLAC (1 s at 8 kHz unless told otherwise)."""
    tags.setdefault("sample_rate", 8000)
    duration_s = tags.pop("duration_s", 1.0)
    return write_flac(path, duration_s=duration_s, title=title, artist=artist, album=album, **tags)


def scan(stack: Stack, folder: Path | None, name: str | None = None) -> dict[str, Any]:
    """``usctl library scan --json``; asserts success and returns the summary."""
    path = [str(folder)] if folder else []
    named = ["--name", name] if name else []
    result = stack.usctl("library", "scan", *path, *named, "--json", check=False)
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def user_of(make_user: Callable[..., UserClient], stack: Stack, library: str) -> UserClient:
    """A new user granted only ``library``."""
    user = make_user(grant=False)
    stack.usctl("library", "grant", user.username, library)
    return user


def all_tracks(user: UserClient, q: str = "") -> dict[str, dict[str, Any]]:
    page = user.get_ok("/tracks", params={"limit": 200, "q": q})
    return {t["title"]: t for t in page["items"]}


def db_rows(stack: Stack, sql: str, *args: Any) -> list[Any]:
    """Run one statement on the run's database (reads, or a row a test needs that no route makes)."""
    dsn = make_url(stack.env["US_DATABASE_URL"]).set(drivername="postgresql").render_as_string(False)

    async def fetch() -> list[Any]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(fetch())
