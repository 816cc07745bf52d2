"""The per-worker fan-out hub: one Redis subscriber connection, a feed per user, a queue per client.

Four loops, each owning one thing (docs/EVENTS.md says why):

- ``_run_subscriber`` owns the pub/sub connection: connects, reads with
  ``get_message(timeout=…)`` (never ``listen()``, redis-py #4119), PINGs as a watchdog, and
  reconnects with jittered exponential backoff. ``connected`` (``/readyz``) is true only while
  every feed's channel is subscribed on a live connection.
- ``_run_subscription_writer`` is the only sender of SUBSCRIBE/UNSUBSCRIBE: it makes the
  connection's channels match the feeds, so resubscribing after a reconnect is the normal path.
  A PING after the resubscription marks the moment every client gets a fresh snapshot.
- ``_run_beacons`` sends each user's ``timeline_beacon`` and forwards state whose message was lost.
- ``_watch_shutdown`` ends every stream (with a reconnect hint) when the server shuts down.

Per message, a short-lived delivery task per user orders messages by revision, reads the cache
once and pushes one encoded frame to every client of that user.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import uuid
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, Final, TypeVar

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from sse_starlette.sse import AppStatus

from us_common.bus import BusMessage, SessionCache, user_channel
from us_common.errors import NotFound, Unavailable
from us_events.feeds import Client, Feed
from us_events.frames import beacon_event, snapshot_event, state_event
from us_events.session_cache import CacheUnavailable, SessionCacheReader, SessionState
from us_events.settings import EventsSettings

log = structlog.get_logger(__name__)

_WATCHDOG_PING: Final = b"us-events-watchdog"
_RESUBSCRIBED_PING: Final = b"us-events-resubscribed"
_CHANNELS_PER_COMMAND: Final = 1000
_USERS_PER_PIPELINE: Final = 64  # keeps each CPU-bound stretch (parse, encode) to a few ms
_BACKOFF_BASE_S: Final = 0.05


_T = TypeVar("_T")


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def resume_revision(last_event_id: str | None) -> int | None:
    """The revision a reconnecting client last saw (``Last-Event-ID``), if it is one."""
    if last_event_id is None or not last_event_id.strip().isdigit():
        return None
    return int(last_event_id.strip())


class Hub:
    def __init__(self, settings: EventsSettings, subscriber_redis: Redis, caches: SessionCacheReader) -> None:
        self._settings = settings
        self._subscriber_redis = subscriber_redis
        self._caches = caches
        self._feeds: dict[str, Feed] = {}
        self._by_channel: dict[bytes, Feed] = {}
        # The subscriber connection and what has been sent on it.
        self._pubsub: PubSub | None = None
        self._generation = 0
        self._sent: set[bytes] = set()
        self._unconfirmed: dict[bytes, int] = {}  # SUBSCRIBEs sent and not yet answered
        self._dirty: set[bytes] = set()
        self._writer_wakeup = asyncio.Event()
        self._resubscribe_pending = False
        # Always subscribed, so the connection exists (and is watched) even with no users.
        self._own_channel = f"us:events:{uuid.uuid4()}".encode()
        self.connected = False
        self.closing = False
        self._loops: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stats: dict[str, int] = dict.fromkeys(
            (
                "messages_received",
                "messages_forwarded",
                "messages_stale",
                "messages_undeliverable",
                "gaps_waited_out",
                "beacons",
                "heals",
                "resyncs",
                "disconnects",
                "frames_dropped_closed",
            ),
            0,
        )

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._run_subscriber(), name="events-subscriber"),
            asyncio.create_task(self._run_subscription_writer(), name="events-subscription-writer"),
            asyncio.create_task(self._run_beacons(), name="events-beacons"),
            asyncio.create_task(self._watch_shutdown(), name="events-shutdown-watch"),
        ]

    def begin_shutdown(self) -> None:
        """Refuse new streams and end the current ones (each gets its reconnect hint)."""
        if self.closing:
            return
        self.closing = True
        clients = [client for feed in self._feeds.values() for client in feed.clients]
        log.info("events_shutdown", clients=len(clients))
        for client in clients:
            client.close("shutdown")

    async def stop(self) -> None:
        self.begin_shutdown()
        tasks = [*self._loops, *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _watch_shutdown(self) -> None:
        # uvicorn runs the lifespan shutdown only once every connection has closed, so streams
        # must notice SIGTERM themselves. sse-starlette (imported here) patches uvicorn's exit
        # handler to set AppStatus.should_exit; this is its documented way to read it.
        while not AppStatus.should_exit:
            await asyncio.sleep(0.25)
        self.begin_shutdown()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("events_task_failed", error_type=type(exc).__name__, error=str(exc))

    # --- clients ----------------------------------------------------------------------------

    async def open(self, user_uuid: str, device_uuid: str, last_event_id: str | None) -> Client:
        """Attach a client: subscribed first, then the cache read, so nothing falls in between."""
        if self.closing:
            raise Unavailable("the gateway is restarting, reconnect shortly")
        feed = self._join(user_uuid)
        try:
            if self.connected and not feed.subscribed.done():
                try:
                    async with asyncio.timeout(self._settings.subscribe_timeout_s):
                        await asyncio.shield(feed.subscribed)
                except TimeoutError:
                    log.warning("subscribe_unconfirmed", user_uuid=user_uuid)
            now_ms, cache = await self._read_for_client(feed, device_uuid)
            if self.closing:
                raise Unavailable("the gateway is restarting, reconnect shortly")
            client = Client(feed, device_uuid, self._settings.client_queue_size)
            if not feed.clients:
                feed.forwarded(cache.rev)  # nobody here could have missed anything older
            if resume_revision(last_event_id) == cache.rev:
                client.last_rev = cache.rev
            else:
                client.push(snapshot_event(cache.rev, cache.snapshot, now_ms), cache.rev)
            feed.clients.add(client)
            max_age = self._settings.stream_max_age_s * random.uniform(0.9, 1.0)  # no herd at expiry
            client.expiry = asyncio.get_running_loop().call_later(max_age, client.close, "max_age")
            return client
        finally:
            feed.joiners -= 1
            self._release_if_idle(feed)

    async def _read_for_client(self, feed: Feed, device_uuid: str) -> tuple[int, SessionCache]:
        attempts = 3
        while True:
            attempts -= 1
            try:
                now_ms, cache = await self._caches.read(feed.user_uuid)
                if cache is not None and device_uuid not in cache.device_uuids:
                    # The hash may predate the device's registration: control has the truth.
                    cache = await self._caches.from_control(feed.user_uuid)
            except CacheUnavailable as exc:
                raise Unavailable() from exc
            if cache is None or device_uuid not in cache.device_uuids:
                raise NotFound("device not found")
            # A message newer than this read may have been forwarded while we waited for it;
            # the client would miss it between its snapshot and its first event: read again.
            if feed.last_forwarded is None or feed.last_forwarded <= cache.rev or attempts == 0:
                return now_ms, cache

    def detach(self, client: Client) -> None:
        """Free everything the client held; idempotent, synchronous (safe in any ``finally``)."""
        if client.detached:
            return
        client.detached = True
        if client.expiry is not None:
            client.expiry.cancel()
        self.stats["frames_dropped_closed"] += client.dropped
        client.queue.clear()
        client.feed.clients.discard(client)
        self._release_if_idle(client.feed)

    def _join(self, user_uuid: str) -> Feed:
        feed = self._feeds.get(user_uuid)
        if feed is None:
            channel = user_channel(user_uuid).encode()
            loop_now = asyncio.get_running_loop().time()
            feed = Feed(user_uuid, channel, loop_now + self._settings.beacon_interval_s)
            self._feeds[user_uuid] = feed
            self._by_channel[channel] = feed
            if channel in self._sent and not self._unconfirmed.get(channel):
                feed.subscribed.set_result(None)  # left and came back before the UNSUBSCRIBE went out
            else:
                self._mark_dirty(channel)
        feed.joiners += 1
        return feed

    def _release_if_idle(self, feed: Feed) -> None:
        if feed.clients or feed.joiners or self._feeds.get(feed.user_uuid) is not feed:
            return
        del self._feeds[feed.user_uuid]
        del self._by_channel[feed.channel]
        if feed.delivery is not None:
            feed.delivery.cancel()
        feed.pending.clear()
        self._mark_dirty(feed.channel)

    # --- the subscriber connection ----------------------------------------------------------

    def _mark_dirty(self, channel: bytes) -> None:
        self._dirty.add(channel)
        self._writer_wakeup.set()

    async def _run_subscriber(self) -> None:
        failures = 0
        while True:
            pubsub = self._subscriber_redis.pubsub()
            adopted = False
            try:
                await pubsub.subscribe(self._own_channel)
                self._adopt(pubsub)
                adopted = True
                failures = 0
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever broke, the answer is to reconnect
                log.warning("subscriber_disconnected", error_type=type(exc).__name__, error=str(exc))
            finally:
                if adopted:
                    self._abandon()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            # Equal jitter: never a tight loop, never all workers in step.
            delay = min(self._settings.redis_backoff_max_s, _BACKOFF_BASE_S * 2**failures)
            failures = min(failures + 1, 30)
            await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))

    def _adopt(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub
        self._generation += 1
        self._sent = set()
        self._unconfirmed = {}
        self._dirty = set(self._by_channel)
        self._resubscribe_pending = True
        self._writer_wakeup.set()

    def _abandon(self) -> None:
        if self.connected:
            self.stats["disconnects"] += 1
        self.connected = False
        self._pubsub = None
        self._generation += 1
        self._sent = set()
        self._unconfirmed = {}

    async def _read(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        interval = self._settings.subscriber_ping_interval_s
        last_heard = loop.time()
        next_ping = last_heard + interval
        while True:
            message = await pubsub.get_message(timeout=min(1.0, interval))
            now = loop.time()
            if message is not None:
                last_heard = now
                self._handle(message)
            if now - last_heard > 3 * interval:
                # A half-open connection looks idle forever; keepalive alone takes too long.
                raise ConnectionError("redis did not answer the subscriber's pings")
            if now >= next_ping:
                next_ping = now + interval
                await pubsub.ping(_WATCHDOG_PING)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "message":
            self._on_message(message["channel"], message["data"])
        elif kind == "subscribe":
            channel = message["channel"]
            left = self._unconfirmed.get(channel, 0) - 1
            if left > 0:
                self._unconfirmed[channel] = left
                return
            self._unconfirmed.pop(channel, None)
            feed = self._by_channel.get(channel)
            if feed is not None and channel in self._sent and not feed.subscribed.done():
                feed.subscribed.set_result(None)
        elif kind == "pong" and message["data"] == _RESUBSCRIBED_PING:
            self.connected = True
            log.info("subscriber_ready", users=len(self._feeds))
            self._spawn(self._resync())

    async def _run_subscription_writer(self) -> None:
        while True:
            await self._writer_wakeup.wait()
            self._writer_wakeup.clear()
            pubsub, generation = self._pubsub, self._generation
            if pubsub is None:
                continue
            try:
                await self._sync_subscriptions(pubsub, generation)
            except (RedisError, OSError) as exc:
                # The subscriber loop sees the same failure and reconnects; its adopt wakes us.
                log.info("subscription_write_failed", error_type=type(exc).__name__)

    async def _sync_subscriptions(self, pubsub: PubSub, generation: int) -> None:
        while self._dirty and generation == self._generation:
            batch = [self._dirty.pop() for _ in range(min(len(self._dirty), _CHANNELS_PER_COMMAND))]
            wanted = [c for c in batch if c in self._by_channel and c not in self._sent]
            unwanted = [c for c in batch if c not in self._by_channel and c in self._sent]
            if unwanted:
                self._sent.difference_update(unwanted)
                await pubsub.unsubscribe(*unwanted)
            if wanted and generation == self._generation:
                self._sent.update(wanted)
                for channel in wanted:
                    self._unconfirmed[channel] = self._unconfirmed.get(channel, 0) + 1
                await pubsub.subscribe(*wanted)
        if self._resubscribe_pending and generation == self._generation:
            # Redis answers in order: this PONG means every SUBSCRIBE above is in effect.
            self._resubscribe_pending = False
            await pubsub.ping(_RESUBSCRIBED_PING)

    # --- messages -----------------------------------------------------------------------------

    def _on_message(self, channel: bytes, data: bytes) -> None:
        feed = self._by_channel.get(channel)
        if feed is None:
            return  # a late message for a user who just left
        try:
            message = BusMessage.model_validate_json(data)
        except ValidationError:
            log.warning("bus_message_invalid")
            return
        self.stats["messages_received"] += 1
        stale = feed.last_forwarded is not None and message.rev <= feed.last_forwarded
        if stale or message.rev in feed.pending:
            self.stats["messages_stale"] += 1
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
                    self.stats["messages_undeliverable"] += len(batch)
                    continue
                self._forward(feed, batch, state)
        finally:
            if feed.delivery is asyncio.current_task():
                feed.delivery = None

    def _forward(self, feed: Feed, batch: list[BusMessage], state: SessionState) -> None:
        session_json = state.snapshot.model_dump_json()  # once per message, not per client
        for message in batch:
            if feed.last_forwarded is not None and message.rev <= feed.last_forwarded:
                self.stats["messages_stale"] += 1
                continue
            if message.rev > state.rev:
                # The cache is behind its own message (refilled from an older read?): never send
                # a state labelled newer than it is. The beacon heals when the cache catches up.
                self.stats["messages_undeliverable"] += 1
                continue
            feed.push(state_event(message, session_json), message.rev)
            feed.forwarded(message.rev)
            self.stats["messages_forwarded"] += 1

    async def _wait_for_missing(self, feed: Feed) -> None:
        """Hold messages that arrived ahead of a missing revision, briefly (reordered publishes)."""
        window = self._settings.reorder_window_ms / 1000
        if window <= 0 or feed.last_forwarded is None:
            return
        deadline = asyncio.get_running_loop().time() + window
        while not self._contiguous(feed):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                self.stats["gaps_waited_out"] += 1
                return
            feed.arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await feed.arrived.wait()

    @staticmethod
    def _contiguous(feed: Feed) -> bool:
        if not feed.pending or feed.last_forwarded is None:
            return True
        low, high = min(feed.pending), max(feed.pending)
        return low == feed.last_forwarded + 1 and high - low + 1 == len(feed.pending)

    # --- snapshots after a reconnect, beacons, healing ---------------------------------------

    async def _read_states(self, feeds: Sequence[Feed]) -> tuple[int, list[SessionState | None]] | None:
        users = [feed.user_uuid for feed in feeds]
        try:
            now_ms, states = await self._caches.read_states(users)
        except (RedisError, OSError) as exc:
            log.info("session_cache_batch_failed", error_type=type(exc).__name__)
            return None
        return now_ms, await self._caches.fill_missing(users, states)

    async def _resync(self) -> None:
        """After a (re)connect every client that is behind gets a fresh snapshot: messages may have
        been missed. A client already at (or past) the cached revision gets nothing: it would see
        that revision twice (and an older cache, restored from a dump, must not roll it back)."""
        self.stats["resyncs"] += 1
        for chunk in _chunks(list(self._feeds.values()), _USERS_PER_PIPELINE):
            read = await self._read_states(chunk)
            if read is None:
                return  # Redis went away again; the next reconnect resyncs
            now_ms, states = read
            for feed, state in zip(chunk, states, strict=True):
                if state is None or self._feeds.get(feed.user_uuid) is not feed:
                    continue
                feed.push(snapshot_event(state.rev, state.snapshot, now_ms), state.rev)
                feed.forwarded(state.rev)

    async def _run_beacons(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self._settings.beacon_interval_s
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
            if state is None or self._feeds.get(feed.user_uuid) is not feed:
                continue
            self._heal(feed, state, now_ms, mono_now)
            if due:
                feed.push(beacon_event(state.rev, state.snapshot, now_ms))
                self.stats["beacons"] += 1

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
            feed.heal_at = mono_now + self._settings.heal_grace_s
            return
        if feed.heal_at is not None and mono_now < feed.heal_at:
            return
        # We don't know which kind of change was lost, so the client gets the whole state.
        feed.push(snapshot_event(state.rev, state.snapshot, now_ms), state.rev)
        feed.forwarded(state.rev)
        feed.ahead_rev = feed.heal_at = None
        self.stats["heals"] += 1
        log.info("lost_message_healed", user_uuid=feed.user_uuid, rev=state.rev)

    # --- introspection (loopback debug endpoint) -------------------------------------------------

    def counts(self) -> dict[str, Any]:
        clients = [client for feed in self._feeds.values() for client in feed.clients]
        return {
            "pid": os.getpid(),
            "connected": self.connected,
            "closing": self.closing,
            "clients": len(clients),
            "users": len(self._feeds),
            "subscriptions": len(self._sent),
            "redis_channels": len(self._pubsub.channels) - 1 if self._pubsub is not None else 0,
            "hub_tasks": len(self._tasks),
            "control_fetches_in_flight": self._caches.in_flight,
            "asyncio_tasks": len(asyncio.all_tasks()),
            "queued_frames": sum(len(client.queue) for client in clients),
            "max_queue": max((len(client.queue) for client in clients), default=0),
            "frames_dropped": self.stats["frames_dropped_closed"] + sum(c.dropped for c in clients),
            "gc_collections": [generation["collections"] for generation in gc.get_stats()],
            **self.stats,
        }

    def clients(self) -> list[dict[str, Any]]:
        return [
            {
                "user_uuid": feed.user_uuid,
                "device_uuid": client.device_uuid,
                "queue": len(client.queue),
                "dropped": client.dropped,
                "last_rev": client.last_rev,
            }
            for feed in self._feeds.values()
            for client in feed.clients
        ]
