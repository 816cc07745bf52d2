"""The async engine (asyncpg) and the shared wall clock (Postgres ``clock_timestamp``)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from us_control.settings import ControlSettings

_NOW_MS = text("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")


def create_db_engine(
    settings: ControlSettings, application_name: str = "us-control", command_timeout_s: float | None = None
) -> AsyncEngine:
    """``statement_timeout`` (the server's) guards every statement; asyncpg's ``command_timeout``
    (the client's) is a second of slack over it — or ``command_timeout_s`` for an engine whose
    transactions raise the server's limit themselves (a scan's settling: ``SET LOCAL``).

    No overflow: a request past the pool's ``db_pool_size`` waits for a pooled connection
    (``pool_timeout``, then 503) instead of opening one that is closed again when it returns —
    under load that was a TLS handshake and a Postgres backend fork per request (bench/control:
    424 → 590 commands/s when it went)."""
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        pool_timeout=3,
        connect_args={
            "timeout": 3,
            "command_timeout": command_timeout_s or settings.db_statement_timeout_ms / 1000 + 1,
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(settings.db_statement_timeout_ms),
                "lock_timeout": str(settings.db_statement_timeout_ms),
            },
        },
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def db_now_ms(db: AsyncSession) -> int:
    """The shared clock: every worker and host projects positions against this one."""
    return int((await db.execute(_NOW_MS)).scalar_one())


# SQLSTATE classes of a server that is going away or not there yet: 08 connection exception,
# 57P01 admin shutdown, 57P02 crash shutdown, 57P03 "the database system is starting up/shutting
# down". asyncpg raises these as plain driver errors, not as connection failures.
_DOWN_SQLSTATES = ("08", "57P")


def is_database_down(exc: BaseException) -> bool:
    """Connection-level failures become 503; constraint errors and bugs do not."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | OSError | TimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = str(getattr(exc.orig, "sqlstate", "") or "")
    return bool(exc.connection_invalidated) or sqlstate.startswith(_DOWN_SQLSTATES)
