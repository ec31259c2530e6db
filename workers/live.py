"""Following one pub/sub channel for as long as a live subscription is open."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from workers.redis import UNAVAILABLE


@contextlib.asynccontextmanager
async def messages(redis: Redis, channel: str) -> AsyncIterator[AsyncIterator[str]]:
    """The messages published on ``channel`` until the caller leaves the context; the
    subscription (and its connection) goes with it, however the caller left."""
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel)

    async def stream() -> AsyncIterator[str]:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                yield str(message["data"])

    try:
        yield stream()
    finally:
        with contextlib.suppress(*UNAVAILABLE):
            await pubsub.unsubscribe()
        await pubsub.aclose()  # type: ignore[no-untyped-call]
