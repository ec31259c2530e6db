"""The live side of notifications: pushing new ones to open ``notificationAdded`` streams.

Neo4j holds the notifications (``graph/notifications.py``); Redis pub/sub only tells an
open subscription that one was created, by id, after the transaction that wrote it
committed (an effect of the action).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable

from redis.asyncio import Redis

from workers import keys
from workers.redis import UNAVAILABLE


async def publish(redis: Redis, notices: Iterable[tuple[str, str]]) -> None:
    """Announce (recipient id, notification id) pairs on the recipients' channels."""
    items = list(notices)
    if not items:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for recipient_id, notification_id in items:
            pipe.publish(keys.notification_channel(recipient_id), notification_id)
        await pipe.execute()


@contextlib.asynccontextmanager
async def live_ids(redis: Redis, user_id: str) -> AsyncIterator[AsyncIterator[str]]:
    """Ids of the user's notifications as they are announced, until the caller leaves the
    context; the pub/sub subscription goes with it."""
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.notification_channel(user_id))

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
