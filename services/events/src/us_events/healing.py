"""Beacons and healing: what keeps every screen on the cache's revision when messages are lost.

- Beacons: per user every ``US_BEACON_INTERVAL_S``, a ``timeline_beacon`` with the position
  projected to now and the cache's current revision (no ``id:``).
- Heals: a cache revision that stays ahead of what was forwarded for ``US_HEAL_GRACE_S`` is a
  lost message; the state goes out as a ``snapshot``.
- Resyncs: after a subscriber (re)connect, every client behind the cache gets a snapshot.

Reads are pipelined per chunk of users, with the shared clock (Redis ``TIME``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from typing import Final, TypeVar

import structlog

from us_common.redis import REDIS_ERRORS
from us_events.feeds import Feed
from us_events.frames import beacon_event, snapshot_event
from us_events.session_cache import SessionCacheReader, SessionState
from us_events.settings import EventsSettings
from us_events.stats import Stats

log = structlog.get_logger(__name__)

_USERS_PER_PIPELINE: Final = 64  # keeps each CPU-bound stretch (parse, encode) to a few ms

_T = TypeVar("_T")


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Beacons:
    def __init__(
        self, settings: EventsSettings, caches: SessionCacheReader, stats: Stats, feeds: Mapping[str, Feed]
    ) -> None:
        self._interval_s = settings.beacon_interval_s
        self._heal_grace_s = settings.heal_grace_s
        self._caches = caches
        self._stats = stats
        self._feeds = feeds

    def _current(self, feed: Feed) -> bool:
        """Still the feed of its user (not left, not replaced) after an await."""
        return self._feeds.get(feed.user_uuid) is feed

    async def _read_states(self, feeds: Sequence[Feed]) -> tuple[int, list[SessionState | None]] | None:
        users = [feed.user_uuid for feed in feeds]
        try:
            now_ms, states = await self._caches.read_states(users)
        except REDIS_ERRORS as exc:
            log.info("session_cache_batch_failed", error_type=type(exc).__name__)
            return None
        return now_ms, await self._caches.fill_missing(users, states)

    async def resync(self, feeds: Sequence[Feed]) -> None:
        """After a (re)connect every client that is behind gets a fresh snapshot: messages may have
        been missed. A client already at (or past) the cached revision gets nothing: it would see
        that revision twice (and an older cache, restored from a dump, must not roll it back)."""
        self._stats.add("resyncs", 1)
        for chunk in _chunks(feeds, _USERS_PER_PIPELINE):
            read = await self._read_states(chunk)
            if read is None:
                return  # Redis went away again; the next reconnect resyncs
            now_ms, states = read
            for feed, state in zip(chunk, states, strict=True):
                if state is None or not self._current(feed):
                    continue
                feed.push(snapshot_event(state.rev, state.snapshot, now_ms), state.rev)
                feed.forwarded(state.rev)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self._interval_s
        tick = min(0.25, interval / 4)
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            due = [
                feed
                for feed in self._feeds.values()
                if feed.next_beacon_at <= now or (feed.heal_at is not None and feed.heal_at <= now)
            ]
            for chunk in _chunks(due, _USERS_PER_PIPELINE):
                await self._beacon_chunk(chunk, now, interval)

    async def _beacon_chunk(self, feeds: Sequence[Feed], now: float, interval: float) -> None:
        beacon_due = [feed.next_beacon_at <= now for feed in feeds]
        for feed, due in zip(feeds, beacon_due, strict=True):
            if due:
                feed.next_beacon_at = now + interval
        read = await self._read_states(feeds)
        if read is None:
            return
        now_ms, states = read
        mono_now = asyncio.get_running_loop().time()
        for feed, state, due in zip(feeds, states, beacon_due, strict=True):
            if state is None or not self._current(feed):
                continue
            self._heal(feed, state, now_ms, mono_now)
            if due:
                feed.push(beacon_event(state.rev, state.snapshot, now_ms))
                self._stats.add("beacons", 1)

    def _heal(self, feed: Feed, state: SessionState, now_ms: int, mono_now: float) -> None:
        """A cache revision that stays ahead of what was forwarded is a lost message."""
        last = feed.last_forwarded
        if last is None or state.rev <= last:
            feed.ahead_rev = feed.heal_at = None
            return
        if feed.pending or feed.delivery is not None:
            return  # its message is being delivered right now
        if feed.ahead_rev is None or feed.ahead_rev <= last:
            # First sighting: the message may still be on its way; look again after the grace.
            feed.ahead_rev = state.rev
            feed.heal_at = mono_now + self._heal_grace_s
            return
        if feed.heal_at is not None and mono_now < feed.heal_at:
            return
        # We don't know which kind of change was lost, so the client gets the whole state.
        feed.push(snapshot_event(state.rev, state.snapshot, now_ms), state.rev)
        feed.forwarded(state.rev)
        feed.ahead_rev = feed.heal_at = None
        self._stats.add("heals", 1)
        log.info("lost_message_healed", user_uuid=feed.user_uuid, rev=state.rev)
