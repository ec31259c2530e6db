"""Live streams: one Redis pub/sub connection per process, shared by every subscription.

A websocket subscription asks the ``Hub`` for a channel's messages. Joining and leaving
only change the hub's own table of listeners (no Redis call a cancelled task could leave
half done); the hub's one reader task keeps the process's pub/sub connection subscribed
to exactly the channels someone listens to, reads it, and hands each message to every
local listener's bounded queue. So thousands of open subscriptions cost one Redis
connection, and a listener that leaves, however its socket dropped, takes nothing with
it. Who is listening is Redis's own bookkeeping (``PUBSUB NUMSUB``): nothing to leak when
a process dies. When Redis fails, the reader connects again and subscribes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from workers import keys
from workers.redis import UNAVAILABLE

log = logging.getLogger(__name__)

QUEUE_SIZE = 256  # messages kept for a listener that reads slower than they come
POLL_SECONDS = 0.1  # the longest a new listener waits for its subscription
RECONNECT_SECONDS = 0.5
CLOSE_SECONDS = 2.0


class Hub:
    """The process's pub/sub connection and its listeners (see the module docstring)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
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
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=POLL_SECONDS
                )
            except UNAVAILABLE as exc:
                log.warning("live hub lost redis (%r); subscribing again", exc)
                await self._drop_connection()
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel, data = str(message["channel"]), str(message["data"])
            for queue in tuple(self._listeners.get(channel, ())):
                try:
                    queue.put_nowait(data)
                except asyncio.QueueFull:
                    self.dropped += 1

    async def _reconcile(self) -> PubSub:
        """The connection, subscribed to exactly the channels listened to now."""
        if self._pubsub is None:
            self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            self._subscribed = set()
        wanted = set(self._listeners)
        if extra := self._subscribed - wanted:
            await self._pubsub.unsubscribe(*extra)
            self._subscribed -= extra
        if missing := wanted - self._subscribed:
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


async def listening(redis: Redis, channels: Sequence[str]) -> set[str]:
    """Of these channels, those some process listens to now (Redis's own count)."""
    if not channels:
        return set()
    return listening_of(await redis.pubsub_numsub(*channels))


def listening_of(counts: Sequence[tuple[Any, Any]]) -> set[str]:
    """The channels with a listener, from a ``PUBSUB NUMSUB`` reply."""
    return {str(channel) for channel, count in counts if int(count) > 0}


async def end_sockets(redis: Redis, user_ids: Iterable[str], because: str) -> None:
    """Ask every API process to close these users' open websockets now."""
    for user_id in sorted(set(user_ids)):
        await redis.publish(keys.LIVE_CONTROL, json.dumps({"close": user_id, "because": because}))
