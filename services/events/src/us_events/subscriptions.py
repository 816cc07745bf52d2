"""Subscription bookkeeping for one pub/sub connection: which channels it should carry, which
SUBSCRIBEs it has been sent, which of them Redis has confirmed.

Pure data, no I/O: the :class:`~us_events.subscriber.Subscriber` asks it what to send next and
tells it what Redis answered. A new connection starts from nothing sent, so resubscribing after
a reconnect is the normal path, not a special case.
"""

from __future__ import annotations


class Subscriptions:
    __slots__ = ("_dirty", "_sent", "_unconfirmed", "_unsubscribing", "_wanted")

    def __init__(self) -> None:
        self._wanted: set[bytes] = set()  # what the feeds need
        self._sent: set[bytes] = set()  # what this connection has been told to carry
        self._unconfirmed: dict[bytes, int] = {}  # SUBSCRIBEs sent and not yet answered
        self._unsubscribing: dict[bytes, int] = {}  # UNSUBSCRIBEs sent and not yet answered
        self._dirty: set[bytes] = set()  # channels whose wanted/sent may differ

    def __len__(self) -> int:
        return len(self._sent)

    @property
    def wanted(self) -> frozenset[bytes]:
        return frozenset(self._wanted)

    @property
    def pending(self) -> bool:
        """Something is left to send."""
        return bool(self._dirty)

    def want(self, channel: bytes) -> bool:
        """Carry ``channel``; True when it is already in effect (a feed that left and came back
        before its UNSUBSCRIBE went out), False when its SUBSCRIBE is yet to be confirmed."""
        self._wanted.add(channel)
        if self.active(channel):
            return True
        self._dirty.add(channel)
        return False

    def drop(self, channel: bytes) -> None:
        self._wanted.discard(channel)
        self._dirty.add(channel)

    def active(self, channel: bytes) -> bool:
        """Sent on this connection and confirmed by Redis."""
        return channel in self._sent and not self._unconfirmed.get(channel)

    def reset(self) -> None:
        """A new connection: nothing sent yet, every wanted channel to be (re)subscribed."""
        self._sent = set()
        self._unconfirmed = {}
        self._unsubscribing = {}
        self._dirty = set(self._wanted)

    def next_batch(self, limit: int) -> tuple[list[bytes], list[bytes]]:
        """Up to ``limit`` channels to look at: ``(subscribe, unsubscribe)``, recorded as sent."""
        batch = [self._dirty.pop() for _ in range(min(len(self._dirty), limit))]
        subscribe = [c for c in batch if c in self._wanted and c not in self._sent]
        unsubscribe = [c for c in batch if c not in self._wanted and c in self._sent]
        self._sent.difference_update(unsubscribe)
        self._sent.update(subscribe)
        for channel in subscribe:
            self._unconfirmed[channel] = self._unconfirmed.get(channel, 0) + 1
        for channel in unsubscribe:
            self._unsubscribing[channel] = self._unsubscribing.get(channel, 0) + 1
        return subscribe, unsubscribe

    def confirm(self, channel: bytes) -> bool:
        """Redis answered one SUBSCRIBE of ``channel``; True when that made it active and wanted
        (an answer to an older SUBSCRIBE of a channel sent twice does not count)."""
        left = self._unconfirmed.get(channel, 0) - 1
        if left > 0:
            self._unconfirmed[channel] = left
            return False
        self._unconfirmed.pop(channel, None)
        return channel in self._wanted and channel in self._sent

    def ended(self, channel: bytes) -> bool:
        """Redis reported a subscription of ``channel`` ended. True when nobody here asked for it
        (Redis Cluster moved the channel's slot to another master): the channel is no longer
        carried by this connection, and it stays wanted until the caller drops it."""
        left = self._unsubscribing.get(channel, 0)
        if left > 1:
            self._unsubscribing[channel] = left - 1
            return False
        if left == 1:
            del self._unsubscribing[channel]
            return False
        if channel not in self._sent:
            return False
        self._sent.discard(channel)
        self._unconfirmed.pop(channel, None)
        return True
