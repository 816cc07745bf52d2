"""Migrations run up from an empty database, down to nothing, and up again, with no drift."""

from __future__ import annotations

import asyncio
import uuid

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.__main__ import dev_env
from devtools.database import drop_database, ensure_database
from us_control.migrate import alembic_config, downgrade, upgrade


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        names: set[str] = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names


def test_up_down_up_from_empty_database_without_drift() -> None:
    base = dev_env()["US_DATABASE_URL"].rsplit("/", 1)[0]
    url = f"{base}/us_migrations_{uuid.uuid4().hex[:8]}"
    ensure_database(url)
    try:
        upgrade(url)
        command.check(alembic_config(url))  # raises if the models and migrations differ
        downgrade(url, "base")
        assert asyncio.run(_tables(url)) == {"alembic_version"}
        upgrade(url)
        assert {"appuser", "session_state", "device", "track", "queue_item", "listen"} <= asyncio.run(
            _tables(url)
        )
    finally:
        drop_database(url)
