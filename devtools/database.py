"""Create and drop databases named by a SQLAlchemy URL (./dev up, one database per test run)."""

from __future__ import annotations

import asyncio
import sys

import asyncpg
from sqlalchemy.engine import make_url


def _admin_dsn(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    name = parsed.database or "us_playback"
    admin = parsed.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), name


async def _ensure(url: str) -> bool:
    dsn, name = _admin_dsn(url)
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
        return not exists
    finally:
        await conn.close()


async def _drop(url: str) -> None:
    dsn, name = _admin_dsn(url)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def ensure_database(url: str) -> bool:
    return asyncio.run(_ensure(url))


def drop_database(url: str) -> None:
    asyncio.run(_drop(url))


if __name__ == "__main__":
    from devtools.__main__ import dev_env

    if sys.argv[1:] == ["ensure"]:
        created = ensure_database(dev_env()["US_DATABASE_URL"])
        if created:
            print("created the database", file=sys.stderr)
