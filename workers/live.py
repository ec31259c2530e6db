"""Live streams: one Redis pub/sub connection per process, shared by every subscription.

A websocket subscription asks the ``Hub`` for a channel's messages. Joining and leaving
only change the hub's own table of listeners (no Redis call a cancelled task could leave
half done); the hub's one reader task keeps the process's pub/sub connection subscribed
to exactly the channels someone listens to, reads it, and hands each message to every
local listener's bounded queue. So thousands of open subscriptions cost one Redis
connection, and a listener that leaves, however its socket dropped, takes nothing with
it. Who is listening is Redis's own bookkeeping (``PUBSUB NUMSUB``): nothing to leak when
a process dies. When Redis fails, the reader connects again and subscribes again.

On a Redis Cluster the channels are sharded (``SSUBSCRIBE``/``SPUBLISH``/``PUBSUB
SHARDNUMSUB``): each lives on the shard of its slot (its user's, ``workers/keys.py``), so
a message crosses no other node, and the hub holds one connection per shard it listens
to. A failover ends the hub's connections; it subscribes again on the new topology.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterPubSub
from redis.exceptions import SlotNotCoveredError

from workers import keys
from workers.redis import UNAVAILABLE, cluster_of, is_cluster

log = logging.getLogger(__name__)

QUEUE_SIZE = 256  # messages kept for a listener that reads slower than they come
POLL_SECONDS = 0.1  # the longest a new listener waits for its subscription
RECONNECT_SECONDS = 0.5
CLOSE_SECONDS = 2.0


class Hub:
    """The process's pub/sub connection and its listeners (see the module docstring)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._sharded = is_cluster(redis)
        self._listeners: dict[str, set[asyncio.Queue[str | None]]] = {}
        self._subscribed: set[str] = set()
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self.dropped = 0  # messages a full queue could not take

    @property
    def channels(self) -> int:
        """How many channels this process listens to now."""
        return len(self._listeners)

    @contextlib.asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[AsyncIterator[str]]:
        """The messages published on ``channel`` while the context lasts; they end when
        the hub closes (the process stops)."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=QUEUE_SIZE)
        if self._closed:
            queue.put_nowait(None)
        else:
            self._listeners.setdefault(channel, set()).add(queue)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read(), name="live-hub")
        try:
            yield self._messages(queue)
        finally:
            queues = self._listeners.get(channel)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._listeners[channel]

    @staticmethod
    async def _messages(queue: asyncio.Queue[str | None]) -> AsyncIterator[str]:
        while (message := await queue.get()) is not None:
            yield message

    async def _read(self) -> None:
        """Subscribe to what is listened to and hand out what arrives, while anyone
        listens (a new listener starts it again)."""
        while not self._closed:
            if not self._listeners and not self._subscribed:
                self._reader = None
                return
            try:
                pubsub = await self._reconcile()
                if not self._subscribed:
                    continue  # the last listener left meanwhile
                message = await self._next(pubsub)
            except UNAVAILABLE as exc:
                log.warning("live hub lost redis (%r); subscribing again", exc)
                await self._drop_connection()
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            if message is None or message.get("type") not in ("message", "smessage"):
                continue
            channel, data = str(message["channel"]), str(message["data"])
            for queue in tuple(self._listeners.get(channel, ())):
                try:
                    queue.put_nowait(data)
                except asyncio.QueueFull:
                    self.dropped += 1

    async def _next(self, pubsub: PubSub) -> dict[str, Any] | None:
        message: dict[str, Any] | None
        if self._sharded:
            message = await cast(ClusterPubSub, pubsub).get_sharded_message(
                ignore_subscribe_messages=True, timeout=POLL_SECONDS
            )
        else:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
        return message

    async def _reconcile(self) -> PubSub:
        """The connection, subscribed to exactly the channels listened to now."""
        wanted = set(self._listeners)
        if self._sharded and not wanted and self._pubsub is not None:
            # A cluster pub/sub left with no shard subscription cannot take new ones
            # reliably (redis-py's round robin over its node connections ends): start over.
            await self._drop_connection()
        if self._pubsub is None:
            if self._sharded:
                await cluster_of(self.redis)
            self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            self._subscribed = set()
        if extra := self._subscribed - wanted:
            if self._sharded:
                await cast(ClusterPubSub, self._pubsub).sunsubscribe(*extra)
            else:
                await self._pubsub.unsubscribe(*extra)
            self._subscribed -= extra
        if missing := wanted - self._subscribed:
            if self._sharded:
                await cast(ClusterPubSub, self._pubsub).ssubscribe(*missing)
            else:
                await self._pubsub.subscribe(*missing)
            self._subscribed |= missing
        return self._pubsub

    async def _drop_connection(self) -> None:
        old, self._pubsub = self._pubsub, None
        self._subscribed = set()
        if old is not None:
            with contextlib.suppress(Exception):
                await old.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        """End every listener's stream (a cancellation can be lost inside redis-py; an
        end of stream cannot), then the reader and the connection."""
        self._closed = True
        for queues in self._listeners.values():
            for queue in queues:
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(None)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait([self._reader], timeout=CLOSE_SECONDS)
        await self._drop_connection()


async def listener_counts(redis: Redis, channels: Sequence[str]) -> dict[str, int]:
    """How many connections listen to each channel now (Redis's own count): one PUBSUB
    NUMSUB; on a cluster one PUBSUB SHARDNUMSUB per shard, asked at the channels' nodes."""
    if not channels:
        return {}
    if not is_cluster(redis):
        counts = await redis.pubsub_numsub(*channels)
        return {str(channel): int(count) for channel, count in counts}
    cluster = await cluster_of(redis)
    by_node: dict[str, list[str]] = {}
    for channel in channels:
        node = cluster.get_node_from_key(channel)
        if node is None:
            raise SlotNotCoveredError(f"no node serves the slot of {channel}")
        by_node.setdefault(node.name, []).append(channel)
    replies = await asyncio.gather(
        *(
            cluster.execute_command(
                "PUBSUB SHARDNUMSUB", *names, target_nodes=cluster.get_node(node_name=node)
            )
            for node, names in by_node.items()
        )
    )
    return {str(channel): int(count) for reply in replies for channel, count in reply}


async def listening(redis: Redis, channels: Sequence[str]) -> set[str]:
    """Of these channels, those some process listens to now."""
    counts = await listener_counts(redis, channels)
    return {channel for channel, count in counts.items() if count > 0}


def listening_of(counts: Sequence[tuple[Any, Any]]) -> set[str]:
    """The channels with a listener, from a ``PUBSUB NUMSUB`` reply."""
    return {str(channel) for channel, count in counts if int(count) > 0}


async def end_sockets(redis: Redis, user_ids: Iterable[str], because: str) -> None:
    """Ask every API process to close these users' open websockets now."""
    for user_id in sorted(set(user_ids)):
        message = json.dumps({"close": user_id, "because": because})
        if is_cluster(redis):
            await redis.spublish(keys.LIVE_CONTROL, message)
        else:
            await redis.publish(keys.LIVE_CONTROL, message)
