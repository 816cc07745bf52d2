"""One pub/sub connection to one Redis node: connect, read, watch, resubscribe, reconnect.

Two loops, each owning one thing:

- ``_run_connection`` owns the connection: connects, reads with ``get_message(timeout=…)``
  (never ``listen()``, redis-py #4119), PINGs as a watchdog, and reconnects with jittered
  exponential backoff. ``connected`` (``/readyz``) is true only while every wanted channel is
  subscribed on a live connection.
- ``_run_writer`` is the only sender of (S)SUBSCRIBE/(S)UNSUBSCRIBE: it makes the connection's
  channels match :class:`~us_events.subscriptions.Subscriptions`, so resubscribing after a
  reconnect is the normal path. A PING after the resubscription marks the moment the channels
  are in effect: the sink resyncs their clients.

``sharded`` picks the commands: ``SSUBSCRIBE`` (Redis Cluster, a connection to the master that
owns the channels' slots) or ``SUBSCRIBE`` (one Redis). The connection is always also subscribed
to a private classic channel, so it exists (and is watched) while no user is connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol

import structlog
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from us_events.settings import EventsSettings
from us_events.subscriptions import Subscriptions

log = structlog.get_logger(__name__)

_WATCHDOG_PING: Final = b"us-events-watchdog"
_RESUBSCRIBED_PING: Final = b"us-events-resubscribed"
_CHANNELS_PER_COMMAND: Final = 1000
_BACKOFF_BASE_S: Final = 0.05
_MESSAGE_TYPES: Final = frozenset({"message", "smessage"})
_SUBSCRIBED_TYPES: Final = frozenset({"subscribe", "ssubscribe"})


_CLOSE_TIMEOUT_S: Final = 1.0


class SubscriberSink(Protocol):
    """What a subscriber reports to (the hub)."""

    def on_message(self, channel: bytes, data: bytes) -> None: ...

    def on_subscribed(self, channel: bytes) -> None: ...

    def on_ready(self, subscriber: Subscriber, channels: frozenset[bytes]) -> None:
        """``channels`` are in effect on the connection now: resync their clients."""

    def on_disconnected(self, subscriber: Subscriber) -> None: ...

    def on_lost(self, subscriber: Subscriber, channel: bytes) -> None: ...


class Subscriber:
    def __init__(
        self,
        name: str,
        open_pubsub: Callable[[], PubSub],
        settings: EventsSettings,
        sink: SubscriberSink,
        *,
        sharded: bool = False,
    ) -> None:
        self.name = name
        self._open_pubsub = open_pubsub
        self._settings = settings
        self._sink = sink
        self._sharded = sharded
        self.subscriptions = Subscriptions()
        self._pubsub: PubSub | None = None
        self._generation = 0
        self._writer_wakeup = asyncio.Event()
        self._resubscribe_pending = False
        self._resync: set[bytes] = set()  # moved here from another connection: resync once in effect
        self._pings: deque[frozenset[bytes] | None] = deque()  # per ready PING sent: what it covers
        self._own_channel = f"us:events:{uuid.uuid4()}".encode()
        self.connected = False
        self._loops: list[asyncio.Task[None]] = []

    @property
    def redis_channels(self) -> int:
        """Channels the connection carries, as redis-py counts them (watchdog channel excluded)."""
        if self._pubsub is None:
            return 0
        return len(self._pubsub.channels) + len(self._pubsub.shard_channels) - 1

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._run_connection(), name=f"events-subscriber-{self.name}"),
            asyncio.create_task(self._run_writer(), name=f"events-subscription-writer-{self.name}"),
        ]

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self._pubsub is not None:
            await _close(self._pubsub)

    def want(self, channel: bytes, *, resync: bool = False) -> bool:
        """Carry ``channel``; True when it is already subscribed and confirmed. ``resync``: the
        channel moved here from another connection; its clients are resynced once it is in effect."""
        active = self.subscriptions.want(channel)
        if resync:
            self._resync.add(channel)
            self._resubscribe_pending = True
        if not active or resync:
            self._writer_wakeup.set()
        return active

    def drop(self, channel: bytes) -> None:
        self.subscriptions.drop(channel)
        self._writer_wakeup.set()

    # --- the connection ---------------------------------------------------------------------

    async def _run_connection(self) -> None:
        failures = 0
        while True:
            _raise_if_cancelling()
            pubsub = self._open_pubsub()
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
                log.warning(
                    "subscriber_disconnected", node=self.name, error_type=type(exc).__name__, error=str(exc)
                )
            finally:
                if adopted:
                    self._abandon()
                await _close(pubsub)
            # Equal jitter: never a tight loop, never all workers in step.
            delay = min(self._settings.redis_backoff_max_s, _BACKOFF_BASE_S * 2**failures)
            failures = min(failures + 1, 30)
            await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))

    def _adopt(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub
        self._generation += 1
        self.subscriptions.reset()
        self._resync = set()
        self._pings = deque()
        self._resubscribe_pending = True
        self._writer_wakeup.set()

    def _abandon(self) -> None:
        if self.connected:
            self._sink.on_disconnected(self)
        self.connected = False
        self._pubsub = None
        self._generation += 1
        self.subscriptions.reset()

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
        if kind in _MESSAGE_TYPES:
            self._sink.on_message(message["channel"], message["data"])
        elif kind in _SUBSCRIBED_TYPES:
            if self.subscriptions.confirm(message["channel"]):
                self._sink.on_subscribed(message["channel"])
        elif kind == "sunsubscribe":
            if self.subscriptions.ended(message["channel"]):
                # Not asked for: Redis moved the channel's slot to another master.
                self._sink.on_lost(self, message["channel"])
        elif kind == "pong" and message["data"] == _RESUBSCRIBED_PING and self._pings:
            covered = self._pings.popleft()
            if covered is None:  # the first after (re)connecting: everything is in effect
                self.connected = True
                log.info("subscriber_ready", node=self.name, channels=len(self.subscriptions))
                covered = self.subscriptions.wanted
            self._sink.on_ready(self, covered)

    # --- what the connection carries -------------------------------------------------------------

    async def _run_writer(self) -> None:
        while True:
            _raise_if_cancelling()
            await self._writer_wakeup.wait()
            self._writer_wakeup.clear()
            pubsub, generation = self._pubsub, self._generation
            if pubsub is None:
                continue
            try:
                await self._sync(pubsub, generation)
            except (RedisError, OSError) as exc:
                # The connection loop sees the same failure and reconnects; its adopt wakes us.
                log.info("subscription_write_failed", node=self.name, error_type=type(exc).__name__)

    async def _sync(self, pubsub: PubSub, generation: int) -> None:
        while self.subscriptions.pending and generation == self._generation:
            subscribe, unsubscribe = self.subscriptions.next_batch(_CHANNELS_PER_COMMAND)
            # Sharded: one slot per SSUBSCRIBE / SUNSUBSCRIBE (Redis refuses a CROSSSLOT one, and
            # the error ended the connection with every channel on it); a user's channel is alone
            # in its hash tag, so one channel per command, all written before any answer.
            if unsubscribe:
                if self._sharded:
                    for channel in unsubscribe:
                        await pubsub.sunsubscribe(channel)
                else:
                    await pubsub.unsubscribe(*unsubscribe)
            if subscribe and generation == self._generation:
                if self._sharded:
                    for channel in subscribe:
                        await pubsub.ssubscribe(channel)
                else:
                    await pubsub.subscribe(*subscribe)
        if self._resubscribe_pending and generation == self._generation:
            # Redis answers in order: this PONG means every SUBSCRIBE above is in effect.
            self._resubscribe_pending = False
            self._pings.append(None if not self.connected and not self._pings else frozenset(self._resync))
            self._resync = set()
            await pubsub.ping(_RESUBSCRIBED_PING)


def _raise_if_cancelling() -> None:
    """Called where a loop starts over: a cancel that redis-py absorbed (it catches the
    cancellation of a read or a connect, or turns it into a ``TimeoutError`` under its own
    timeout) leaves the task "cancelling" but running. Swallowed, the loop went back to waiting
    and the worker's shutdown waited for it forever: a graceful reload with a stalled client kept
    its old worker until gunicorn's kill."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _close(pubsub: PubSub) -> None:
    """Close a pub/sub connection, never for longer than a second: a worker that stops must not
    wait on Redis."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(_CLOSE_TIMEOUT_S):
            await pubsub.aclose()  # type: ignore[no-untyped-call]
