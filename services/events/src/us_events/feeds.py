"""What one worker holds per user (a :class:`Feed`) and per SSE connection (a :class:`Client`).

Plain data and the synchronous push rule; the :class:`~us_events.hub.Hub` does the async work.
A feed lives while it has clients (or a client is joining); its channel is subscribed meanwhile.
"""

from __future__ import annotations

import asyncio

from us_common.bus import BusMessage


class Client:
    """One SSE connection: a bounded queue of encoded frames (oldest dropped when full)."""

    __slots__ = (
        "closing",
        "detached",
        "device_uuid",
        "dropped",
        "expiry",
        "feed",
        "gone",
        "last_rev",
        "queue",
        "queue_size",
        "waiter",
    )

    def __init__(self, feed: Feed, device_uuid: str, queue_size: int) -> None:
        self.feed = feed
        self.device_uuid = device_uuid
        # A list, not a deque(maxlen): an idle client's queue is empty, and an empty deque already
        # holds a 64-slot block (docs/EVENTS.md, "Memory per connection").
        self.queue: list[bytes] = []
        self.queue_size = queue_size
        # The highest revision queued for this client: it never sees a revision twice.
        self.last_rev = -1
        # What the stream awaits while it has nothing to send (set by wake()); an asyncio.Event
        # would cost a deque per client.
        self.waiter: asyncio.Future[None] | None = None
        self.dropped = 0
        self.closing: str | None = None  # why the server ends the stream, once it does
        self.gone = False  # the client disconnected
        self.expiry: asyncio.TimerHandle | None = None
        self.detached = False

    def push(self, frame: bytes, rev: int | None = None) -> None:
        """Queue a frame; a state frame (``rev``) not newer than what the client has is skipped."""
        if rev is not None:
            if rev <= self.last_rev:
                return
            self.last_rev = rev
        if len(self.queue) >= self.queue_size:
            del self.queue[0]  # the oldest goes: the latest state wins
            self.dropped += 1
        self.queue.append(frame)
        self.wake()

    def close(self, reason: str) -> None:
        """End the stream after what is queued, with a reconnect hint."""
        if self.closing is None:
            self.closing = reason
            self.wake()

    def wake(self) -> None:
        """The stream has something to do (a frame, a close, the client gone)."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Feed:
    """One user on this worker: its clients, the revision last forwarded, messages in flight."""

    __slots__ = (
        "ahead_rev",
        "arrived",
        "channel",
        "clients",
        "delivery",
        "heal_at",
        "joiners",
        "last_forwarded",
        "next_beacon_at",
        "pending",
        "subscribed",
        "user_uuid",
    )

    def __init__(self, user_uuid: str, channel: bytes, next_beacon_at: float) -> None:
        self.user_uuid = user_uuid
        self.channel = channel
        self.clients: set[Client] = set()
        # Connections between "authenticated" and "attached": the feed must outlive them.
        self.joiners = 0
        # Messages whose rev is not above this are dropped (DESIGN.md, Redis). None: nothing yet.
        self.last_forwarded: int | None = None
        self.pending: dict[int, BusMessage] = {}
        self.arrived = asyncio.Event()
        self.delivery: asyncio.Task[None] | None = None
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.next_beacon_at = next_beacon_at
        # Lost-message detection: the cache revision first seen ahead, and when to act on it.
        self.ahead_rev: int | None = None
        self.heal_at: float | None = None

    def push(self, frame: bytes, rev: int | None = None) -> None:
        for client in self.clients:
            client.push(frame, rev)

    def forwarded(self, rev: int) -> None:
        self.last_forwarded = rev if self.last_forwarded is None else max(self.last_forwarded, rev)
