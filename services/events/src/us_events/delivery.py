"""Delivery: a user's bus messages, in revision order, to every client of that user here.

Per message (or per batch that arrived together) a short-lived task per user orders messages
by revision, waits briefly for a missing one (two control workers can publish out of commit
order), reads the cache once and pushes one encoded frame to every client of that user.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from pydantic import ValidationError

from us_common.bus import BusMessage
from us_events.feeds import Feed
from us_events.frames import state_event
from us_events.session_cache import CacheUnavailable, SessionCacheReader, SessionState
from us_events.settings import EventsSettings
from us_events.stats import Stats

log = structlog.get_logger(__name__)

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class Delivery:
    def __init__(self, settings: EventsSettings, caches: SessionCacheReader, stats: Stats, spawn: Spawn) -> None:
        self._reorder_window_s = settings.reorder_window_ms / 1000
        self._caches = caches
        self._stats = stats
        self._spawn = spawn

    def accept(self, feed: Feed, data: bytes) -> None:
        """A message for ``feed`` arrived: queue it and make sure a delivery task runs."""
        try:
            message = BusMessage.model_validate_json(data)
        except ValidationError:
            log.warning("bus_message_invalid")
            return
        self._stats.add("messages_received", 1)
        stale = feed.last_forwarded is not None and message.rev <= feed.last_forwarded
        if stale or message.rev in feed.pending:
            self._stats.add("messages_stale", 1)
            return
        feed.pending[message.rev] = message
        feed.arrived.set()
        if feed.delivery is None:
            feed.delivery = self._spawn(self._deliver(feed))

    async def _deliver(self, feed: Feed) -> None:
        try:
            while feed.pending:
                await self._wait_for_missing(feed)
                batch = sorted(feed.pending.values(), key=lambda m: m.rev)
                feed.pending.clear()
                try:
                    state = await self._caches.read_state(feed.user_uuid)
                except CacheUnavailable:
                    state = None
                if state is None:
                    # Nothing to render with; the beacon forwards the state once it is readable.
                    self._stats.add("messages_undeliverable", len(batch))
                    continue
                self._forward(feed, batch, state)
        finally:
            if feed.delivery is asyncio.current_task():
                feed.delivery = None

    def _forward(self, feed: Feed, batch: list[BusMessage], state: SessionState) -> None:
        session_json = state.snapshot.model_dump_json()  # once per message, not per client
        for message in batch:
            if feed.last_forwarded is not None and message.rev <= feed.last_forwarded:
                self._stats.add("messages_stale", 1)
                continue
            if message.rev > state.rev:
                # The cache is behind its own message (refilled from an older read?): never send
                # a state labelled newer than it is. The beacon heals when the cache catches up.
                self._stats.add("messages_undeliverable", 1)
                continue
            feed.push(state_event(message, session_json), message.rev)
            feed.forwarded(message.rev)
            self._stats.add("messages_forwarded", 1)

    async def _wait_for_missing(self, feed: Feed) -> None:
        """Hold messages that arrived ahead of a missing revision, briefly (reordered publishes)."""
        window = self._reorder_window_s
        if window <= 0 or feed.last_forwarded is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + window
        while not _contiguous(feed):
            remaining = deadline - loop.time()
            if remaining <= 0:
                self._stats.add("gaps_waited_out", 1)
                return
            feed.arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await feed.arrived.wait()


def _contiguous(feed: Feed) -> bool:
    if not feed.pending or feed.last_forwarded is None:
        return True
    low, high = min(feed.pending), max(feed.pending)
    return low == feed.last_forwarded + 1 and high - low + 1 == len(feed.pending)
