"""Which subscriber connection carries which user's channel.

- One Redis (:class:`SingleRedis`): one :class:`~us_events.subscriber.Subscriber`, classic
  ``SUBSCRIBE``, every channel on it.
- Redis Cluster (:class:`ClusterShards`): one subscriber per master, sharded ``SSUBSCRIBE``,
  each channel on the master that owns its slot — a user's messages reach that shard only.
  The slot map is redis-py's cluster client's (``NodesManager``); it is refreshed when Redis
  ends a subscription by itself (a slot moved away), while a master's connection is down (a
  failover promotes its replica), and every ``US_TOPOLOGY_INTERVAL_S`` in any case. A channel
  whose owner changed is dropped on the old connection and subscribed on the new owner; once
  that is confirmed its clients are resynced (the messages in between may be lost), and beacons
  heal whatever is left.

Why not redis-py's ``ClusterPubSub`` (8.1): it polls its node connections one after another
with a blocking timeout each (a message on the third shard waits out two timeouts), reconnects
and resubscribes inside ``get_message`` where the hub cannot resync the clients that missed
messages, and follows slot moves only when a regular command happens to refresh the slot cache.
docs/SCALING.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Final, Protocol

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot

from us_common.redis import REDIS_ERRORS, create_redis, node_url
from us_events.settings import EventsSettings
from us_events.subscriber import Subscriber, SubscriberSink

log = structlog.get_logger(__name__)
# A slot map that cannot answer (SlotNotCoveredError is a RedisClusterException, not a RedisError).
_NO_OWNER: tuple[type[Exception], ...] = (*REDIS_ERRORS, KeyError)

# After Redis ended a subscription, the slot map may lag the move for a moment (gossip):
# look again this often, and this long at most, before subscribing on whoever the map names.
_MOVED_RETRY_S: Final = 0.1
_MOVED_PATIENCE_S: Final = 5.0


# The subscriber's own connections never retry inside redis-py: the subscriber reconnects,
# resubscribes and has the clients resynced, which a silent retry would skip.
NO_RETRY: Final = Retry(NoBackoff(), 0)


class Bus(Protocol):
    """What the hub needs of the pub/sub side, whatever the deployment."""

    @property
    def subscribers(self) -> list[Subscriber]: ...

    @property
    def connected(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def want(self, channel: bytes) -> bool: ...

    def drop(self, channel: bytes) -> None: ...

    def lost(self, subscriber: Subscriber, channel: bytes) -> None: ...

    def disconnected(self) -> None: ...


class SingleRedis:
    """One Redis: one subscriber carries every channel."""

    def __init__(self, open_pubsub: Callable[[], PubSub], settings: EventsSettings, sink: SubscriberSink) -> None:
        self._subscriber = Subscriber("redis", open_pubsub, settings, sink)

    @property
    def subscribers(self) -> list[Subscriber]:
        return [self._subscriber]

    @property
    def connected(self) -> bool:
        return self._subscriber.connected

    async def start(self) -> None:
        self._subscriber.start()

    async def stop(self) -> None:
        await self._subscriber.stop()

    def want(self, channel: bytes) -> bool:
        return self._subscriber.want(channel)

    def drop(self, channel: bytes) -> None:
        self._subscriber.drop(channel)

    def lost(self, subscriber: Subscriber, channel: bytes) -> None:
        subscriber.want(channel, resync=True)  # cannot happen on one Redis; subscribe again if it does

    def disconnected(self) -> None:
        """The subscriber reconnects by itself."""


class ClusterShards:
    """Redis Cluster: a subscriber per master, each channel on the master of its slot."""

    def __init__(
        self, cluster: RedisCluster, seed_url: str, settings: EventsSettings, sink: SubscriberSink
    ) -> None:
        self._cluster = cluster
        self._seed_url = seed_url
        self._settings = settings
        self._sink = sink
        self._by_node: dict[str, Subscriber] = {}
        self._clients: dict[str, Redis] = {}
        self._placed: dict[bytes, str] = {}  # channel -> node whose subscriber carries it
        self._moved: dict[bytes, tuple[str, float]] = {}  # ended by Redis: (old node, since)
        self._refresh = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None

    @property
    def subscribers(self) -> list[Subscriber]:
        return list(self._by_node.values())

    @property
    def connected(self) -> bool:
        return bool(self._by_node) and all(s.connected for s in self._by_node.values())

    async def start(self) -> None:
        with contextlib.suppress(*REDIS_ERRORS):
            await self._cluster.initialize()
        self._masters()
        self._watch = asyncio.create_task(self._watch_topology(), name="events-cluster-topology")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        await asyncio.gather(*(s.stop() for s in self._by_node.values()), return_exceptions=True)
        await asyncio.gather(*(c.aclose() for c in self._clients.values()), return_exceptions=True)

    def want(self, channel: bytes) -> bool:
        node = self._owner(channel)
        if node is None:
            node = next(iter(self._by_node), None)  # no slot map yet: the refresh re-places it
            self._refresh.set()
            if node is None:
                return False
        self._placed[channel] = node
        return self._subscriber(node).want(channel)

    def drop(self, channel: bytes) -> None:
        self._moved.pop(channel, None)
        node = self._placed.pop(channel, None)
        if node is not None and node in self._by_node:
            self._by_node[node].drop(channel)

    def lost(self, subscriber: Subscriber, channel: bytes) -> None:
        if self._placed.get(channel) == subscriber.name:
            self._moved[channel] = (subscriber.name, asyncio.get_running_loop().time())
            self._refresh.set()

    def disconnected(self) -> None:
        self._refresh.set()

    # --- the slot map --------------------------------------------------------------------------

    def _owner(self, channel: bytes) -> str | None:
        try:
            return str(self._cluster.nodes_manager.get_node_from_slot(key_slot(channel)).name)
        except _NO_OWNER:
            return None

    def _subscriber(self, node: str) -> Subscriber:
        subscriber = self._by_node.get(node)
        if subscriber is None:
            host, _, port = node.rpartition(":")
            client = create_redis(node_url(self._seed_url, host, int(port)), retry=NO_RETRY)
            assert isinstance(client, Redis)
            self._clients[node] = client
            subscriber = Subscriber(node, client.pubsub, self._settings, self._sink, sharded=True)
            self._by_node[node] = subscriber
            subscriber.start()
        return subscriber

    async def _watch_topology(self) -> None:
        while True:
            down = any(not s.connected for s in self._by_node.values())
            # While a master is down or a slot is moving, look often; otherwise now and then.
            wait = _MOVED_RETRY_S if self._moved else 0.5 if down else self._settings.topology_interval_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._refresh.wait()
            self._refresh.clear()
            try:
                await self._cluster.nodes_manager.initialize()
            except REDIS_ERRORS as exc:  # also RedisClusterException: no node answers
                log.info("cluster_topology_unavailable", error_type=type(exc).__name__)
                continue
            self._replace()
            await self._retire(self._masters())

    def _replace(self) -> None:
        """Move every channel whose slot owner changed to the owner's subscriber."""
        now = asyncio.get_running_loop().time()
        moved = 0
        for channel, node in list(self._placed.items()):
            owner = self._owner(channel)
            if owner is None:
                continue
            ended = self._moved.get(channel)
            if ended is not None:
                if owner == ended[0] and now - ended[1] < _MOVED_PATIENCE_S:
                    continue  # the map still names the node that let it go: look again shortly
                del self._moved[channel]
            elif owner == node:
                continue
            old = self._by_node.get(node)
            if old is not None:
                old.drop(channel)
            self._placed[channel] = owner
            self._subscriber(owner).want(channel, resync=True)
            moved += 1
        if moved:
            log.info("cluster_channels_moved", channels=moved)

    def _masters(self) -> list[str]:
        """A subscriber per current master (so each is watched); returns the nodes that are no
        longer masters and carry nothing (their subscribers can go)."""
        masters = {str(node.name) for node in self._cluster.nodes_manager.get_nodes_by_server_type("primary")}
        for node in masters:
            self._subscriber(node)
        carrying = set(self._placed.values())
        return [node for node in self._by_node if node not in masters and node not in carrying]

    async def _retire(self, nodes: list[str]) -> None:
        for node in nodes:
            subscriber = self._by_node.pop(node)
            client = self._clients.pop(node)
            await subscriber.stop()
            with contextlib.suppress(*REDIS_ERRORS):
                await client.aclose()
            log.info("cluster_subscriber_retired", node=node)
