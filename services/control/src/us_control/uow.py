"""The unit of work: one transaction per request, then at most one publish.

Routes and services only ``flush``; the ``UnitOfWork`` dependency commits after the route
returns and, only then, hands the committed state to the publisher and runs the Redis writes
the request registered (``after_commit``). A request that raises is rolled back, publishes
nothing and writes nothing to Redis. Several changes in one request coalesce into one message.
It is the only place that commits, rolls back or writes Redis on a request's behalf.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from us_common.bus import MessageType, SessionCache
from us_control.publisher import SessionPublisher


@dataclass(slots=True)
class _Pending:
    user_uuid: UUID
    cache: SessionCache
    message_type: MessageType | None


class UnitOfWork:
    def __init__(self, db: AsyncSession, publisher: SessionPublisher) -> None:
        self.db = db
        self.publisher = publisher
        self._pending: _Pending | None = None
        self._after_commit: list[Callable[[], Awaitable[None]]] = []

    def publish_after_commit(
        self, user_uuid: UUID, cache: SessionCache, message_type: MessageType | None
    ) -> None:
        """Queue the state to announce; a later call in the same request replaces it."""
        self._pending = _Pending(user_uuid, cache, message_type)

    def refill_after_commit(self, user_uuid: UUID, cache: SessionCache) -> None:
        """Store the cache without a message, unless a change of this request publishes one."""
        if self._pending is None:
            self._pending = _Pending(user_uuid, cache, None)

    def after_commit(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` (a best-effort Redis write) once the transaction has committed."""
        self._after_commit.append(work)

    async def commit(self) -> None:
        await self.db.commit()
        pending, self._pending = self._pending, None
        work, self._after_commit = self._after_commit, []
        if pending is not None:
            await self.publisher.store(pending.user_uuid, pending.cache, pending.message_type)
        for step in work:
            await step()

    async def rollback(self) -> None:
        self._pending = None
        self._after_commit = []
        await self.db.rollback()


@asynccontextmanager
async def unit_of_work(
    sessions: async_sessionmaker[AsyncSession], publisher: SessionPublisher
) -> AsyncIterator[UnitOfWork]:
    """The same unit of work outside a request (background loops, internal jobs)."""
    async with sessions() as db:
        uow = UnitOfWork(db, publisher)
        try:
            yield uow
        except BaseException:
            await uow.rollback()
            raise
        else:
            await uow.commit()


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    async with unit_of_work(request.app.state.sessions, request.app.state.publisher) as uow:
        yield uow
