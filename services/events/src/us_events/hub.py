"""The per-worker fan-out hub: the user feeds of this worker, their clients, their lifecycle.

A feed per user with local clients, a bounded queue per client (``feeds.py``). The hub ties the
parts together, each in its own file (docs/EVENTS.md says why):

- ``subscriber.py``: a pub/sub connection (reads, watchdog, reconnects, (re)subscribes);
  ``subscriptions.py`` its bookkeeping; ``shards.py`` which connection carries which channel
  (one Redis, or one per Redis Cluster master). The hub says which channels its feeds need.
- ``delivery.py``: a user's messages, in revision order, to that user's clients.
- ``healing.py``: beacons, healing lost messages, resync after a reconnect.
- ``introspection.py``: what ``/debug/counts`` and ``/debug/clients`` show.

``_watch_shutdown`` ends every stream (with a reconnect hint) when the server shuts down.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from sse_starlette.sse import AppStatus

from us_common.bus import SessionCache, user_channel
from us_common.errors import NotFound, Unavailable
from us_events.delivery import Delivery
from us_events.feeds import Client, Feed
from us_events.frames import snapshot_event
from us_events.healing import Beacons
from us_events.session_cache import CacheUnavailable, SessionCacheReader
from us_events.settings import EventsSettings
from us_events.shards import Bus
from us_events.stats import SSE_CONNECTIONS, USERS, new_stats
from us_events.subscriber import Subscriber, SubscriberSink

log = structlog.get_logger(__name__)


def resume_revision(last_event_id: str | None) -> int | None:
    """The revision a reconnecting client last saw (``Last-Event-ID``), if it is one."""
    if last_event_id is None or not last_event_id.strip().isdigit():
        return None
    return int(last_event_id.strip())


class Hub:
    def __init__(
        self, settings: EventsSettings, make_bus: Callable[[SubscriberSink], Bus], caches: SessionCacheReader
    ) -> None:
        self._settings = settings
        self.caches = caches
        self.feeds: dict[str, Feed] = {}
        self._by_channel: dict[bytes, Feed] = {}
        self.stats = new_stats()
        self.closing = False
        self._loops: list[asyncio.Task[None]] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.bus = make_bus(self)
        self._delivery = Delivery(settings, caches, self.stats, self._spawn)
        self._beacons = Beacons(settings, caches, self.stats, self.feeds)

    @property
    def connected(self) -> bool:
        """Every feed's channel is subscribed on a live connection (``/readyz``)."""
        return self.bus.connected

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        await self.bus.start()
        self._loops = [
            asyncio.create_task(self._beacons.run(), name="events-beacons"),
            asyncio.create_task(self._watch_shutdown(), name="events-shutdown-watch"),
        ]

    def begin_shutdown(self) -> None:
        """Refuse new streams and end the current ones (each gets its reconnect hint)."""
        if self.closing:
            return
        self.closing = True
        clients = [client for feed in self.feeds.values() for client in feed.clients]
        log.info("events_shutdown", clients=len(clients))
        for client in clients:
            client.close("shutdown")

    async def stop(self) -> None:
        self.begin_shutdown()
        tasks = [*self._loops, *self.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.bus.stop()

    async def _watch_shutdown(self) -> None:
        # uvicorn runs the lifespan shutdown only once every connection has closed, so streams
        # must notice SIGTERM themselves. sse-starlette (imported here) patches uvicorn's exit
        # handler to set AppStatus.should_exit; this is its documented way to read it.
        while not AppStatus.should_exit:
            await asyncio.sleep(0.25)
        self.begin_shutdown()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
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
            SSE_CONNECTIONS.inc()
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
                now_ms, cache = await self.caches.read(feed.user_uuid)
                if cache is not None and device_uuid not in cache.device_uuids:
                    # The hash may predate the device's registration: control has the truth.
                    cache = await self.caches.from_control(feed.user_uuid)
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
        self.stats.add("frames_dropped_closed", client.dropped)
        client.queue.clear()
        if client in client.feed.clients:
            client.feed.clients.discard(client)
            SSE_CONNECTIONS.dec()
        self._release_if_idle(client.feed)

    def _join(self, user_uuid: str) -> Feed:
        feed = self.feeds.get(user_uuid)
        if feed is None:
            channel = user_channel(user_uuid).encode()
            loop_now = asyncio.get_running_loop().time()
            feed = Feed(user_uuid, channel, loop_now + self._settings.beacon_interval_s)
            self.feeds[user_uuid] = feed
            self._by_channel[channel] = feed
            USERS.inc()
            if self.bus.want(channel):
                feed.subscribed.set_result(None)  # left and came back before the UNSUBSCRIBE went out
        feed.joiners += 1
        return feed

    def _release_if_idle(self, feed: Feed) -> None:
        if feed.clients or feed.joiners or self.feeds.get(feed.user_uuid) is not feed:
            return
        del self.feeds[feed.user_uuid]
        del self._by_channel[feed.channel]
        USERS.dec()
        if feed.delivery is not None:
            feed.delivery.cancel()
        feed.pending.clear()
        self.bus.drop(feed.channel)

    # --- what the subscriber reports (us_events.subscriber.SubscriberSink) -----------------------

    def on_message(self, channel: bytes, data: bytes) -> None:
        feed = self._by_channel.get(channel)
        if feed is not None:  # else a late message for a user who just left
            self._delivery.accept(feed, data)

    def on_subscribed(self, channel: bytes) -> None:
        feed = self._by_channel.get(channel)
        if feed is not None and not feed.subscribed.done():
            feed.subscribed.set_result(None)

    def on_ready(self, subscriber: Subscriber, channels: frozenset[bytes]) -> None:
        feeds = [feed for channel in channels if (feed := self._by_channel.get(channel)) is not None]
        if feeds:
            self._spawn(self._beacons.resync(feeds))

    def on_disconnected(self, subscriber: Subscriber) -> None:
        self.stats.add("disconnects", 1)
        self.bus.disconnected()

    def on_lost(self, subscriber: Subscriber, channel: bytes) -> None:
        self.stats.add("subscriptions_moved", 1)
        self.bus.lost(subscriber, channel)
