"""Helpers of the catalog tests: private folders under the music root, scans, grants, SQL reads."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
from mutagen.flac import FLAC
from sqlalchemy.engine import make_url

from devtools.flacgen import write_flac
from devtools.stack import Stack
from tests.conftest import UserPool, logged_in_users
from tests.support import UserClient


def music_root(stack: Stack) -> Path:
    return Path(stack.env["US_MUSIC_ROOT"])


def new_folder(stack: Stack) -> tuple[Path, str]:
    """A fresh folder under the music root and a unique library name for it."""
    token = uuid.uuid4().hex[:10]
    folder = music_root(stack) / f"scan-{token}"
    folder.mkdir()
    return folder, f"Lib {token}"


def flac(
    path: Path,
    title: str,
    artist: str = "Artist",
    album: str = "Album",
    extra_tags: dict[str, str] | None = None,
    **tags: Any,
) -> Path:
    """A short real FLAC (1 s at 8 kHz unless told otherwise); ``extra_tags`` are more Vorbis
    comments (``{"genre": "Rock"}``)."""
    tags.setdefault("sample_rate", 8000)
    duration_s = tags.pop("duration_s", 1.0)
    written = write_flac(path, duration_s=duration_s, title=title, artist=artist, album=album, **tags)
    if extra_tags:
        comments = FLAC(str(written))
        for key, value in extra_tags.items():
            comments[key] = value
        comments.save()
    return written


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


def scanned_library(stack: Stack, files: list[tuple[str, dict[str, Any]]]) -> str:
    """A new library of ``(relative path, tags for flac())`` files, scanned; returns its name."""
    folder, name = new_folder(stack)
    for rel_path, tags in files:
        flac(folder / rel_path, **tags)
    scan(stack, folder, name)
    return name


@contextmanager
def user_of_new_library(
    stack: Stack, pool: UserPool, files: list[tuple[str, dict[str, Any]]]
) -> Iterator[tuple[UserClient, str]]:
    """A logged-in user granted only a new library of ``files`` (for a module's fixture), and
    the library's name."""
    name = scanned_library(stack, files)
    with logged_in_users(stack, pool) as factory:
        user = factory(grant=False)
        stack.usctl("library", "grant", user.username, name)
        yield user, name


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
