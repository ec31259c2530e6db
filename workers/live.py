"""Live streams: one Redis pub/sub connection per process, shared by every subscription.

A websocket subscription asks the ``Hub`` for a channel's messages; the hub subscribes the
process's one pub/sub connection to a channel while anyone listens to it, reads it in one
task and hands each message to every local listener's bounded queue. One task at a time
uses the connection (redis-py's pub/sub is not safe for a command sent while another
task waits for a message), so the reader waits ``POLL_SECONDS`` at most before letting a
subscribe through. So thousands of
open subscriptions cost one Redis connection, not one pooled connection each, and a
listener that leaves (however its socket dropped) takes nothing with it. When Redis
fails, the reader reconnects and subscribes again to whatever is still listened to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from workers import keys
from workers.redis import UNAVAILABLE

log = logging.getLogger(__name__)

_LOST: tuple[type[Exception], ...] = (*UNAVAILABLE, RuntimeError)
QUEUE_SIZE = 256  # messages kept for a listener that reads slower than they come
POLL_SECONDS = 0.1
CLOSE_SECONDS = 2.0
RECONNECT_SECONDS = 0.5


class Hub:
    """The process's pub/sub connection and its listeners (see the module docstring)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._listeners: dict[str, set[asyncio.Queue[str | None]]] = {}
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # the listeners; taken before ``_io`` when both are
        self._io = asyncio.Lock()  # the connection
        self.dropped = 0  # messages a full queue could not take
        self._closed = False

    @property
    def channels(self) -> int:
        """How many channels this process listens to now (for tests and metrics)."""
        return len(self._listeners)

    @property
    def listeners(self) -> int:
        return sum(len(queues) for queues in self._listeners.values())

    @contextlib.asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[AsyncIterator[str]]:
        """The messages published on ``channel`` while the context lasts; they end when
        the hub closes (the process stops)."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=QUEUE_SIZE)
        if self._closed:
            queue.put_nowait(None)
            yield self._messages(queue)
            return
        await self._add(channel, queue)
        try:
            yield self._messages(queue)
        finally:
            await self._remove(channel, queue)

    @staticmethod
    async def _messages(queue: asyncio.Queue[str | None]) -> AsyncIterator[str]:
        while (message := await queue.get()) is not None:
            yield message

    async def _add(self, channel: str, queue: asyncio.Queue[str | None]) -> None:
        async with self._lock:
            queues = self._listeners.setdefault(channel, set())
            queues.add(queue)
            if len(queues) == 1:
                try:
                    async with self._io:
                        await self._connection().subscribe(channel)
                except UNAVAILABLE:
                    queues.discard(queue)
                    if not queues:
                        del self._listeners[channel]
                    raise
            if self._reader is None:
                self._reader = asyncio.create_task(self._read(), name="live-hub")

    async def _remove(self, channel: str, queue: asyncio.Queue[str | None]) -> None:
        async with self._lock:
            queues = self._listeners.get(channel)
            if queues is None:
                return
            queues.discard(queue)
            if queues:
                return
            del self._listeners[channel]
            if self._pubsub is not None:
                with contextlib.suppress(*UNAVAILABLE):
                    async with self._io:
                        await self._pubsub.unsubscribe(channel)

    def _connection(self) -> PubSub:
        if self._pubsub is None:
            self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        return self._pubsub

    async def _read(self) -> None:
        """Hand out messages while anyone listens; ends (and is started again) when
        nobody does."""
        while True:
            async with self._lock:
                if not self._listeners:
                    self._reader = None
                    return
                pubsub = self._connection()
            try:
                async with self._io:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=POLL_SECONDS
                    )
            except _LOST as exc:  # RuntimeError: a fresh connection never subscribed
                log.warning("live hub lost redis (%r); subscribing again", exc)
                await self._reconnect()
                continue
            if message is None or message.get("type") != "message":
                continue
            channel, data = str(message["channel"]), str(message["data"])
            for queue in tuple(self._listeners.get(channel, ())):
                try:
                    queue.put_nowait(data)
                except asyncio.QueueFull:
                    self.dropped += 1

    async def _reconnect(self) -> None:
        """A new connection, subscribed to every channel someone still listens to; waits
        for Redis without holding up listeners who come or go meanwhile."""
        while True:
            async with self._lock, self._io:
                old, self._pubsub = self._pubsub, None
                if old is not None:
                    with contextlib.suppress(Exception):
                        await old.aclose()  # type: ignore[no-untyped-call]
                if not self._listeners:
                    return
                try:
                    await self._connection().subscribe(*self._listeners)
                    return
                except UNAVAILABLE:
                    pass
            await asyncio.sleep(RECONNECT_SECONDS)

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
        if self._pubsub is not None:
            with contextlib.suppress(*UNAVAILABLE):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]


async def end_sockets(redis: Redis, user_ids: Iterable[str], because: str) -> None:
    """Ask every API process to close these users' open websockets now."""
    for user_id in sorted(set(user_ids)):
        await redis.publish(keys.LIVE_CONTROL, json.dumps({"close": user_id, "because": because}))
