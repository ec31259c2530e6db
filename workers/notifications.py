"""The live side of notifications: pushing new ones to open ``notificationAdded`` streams
(through the process's live hub, ``workers/live.py``).

Neo4j holds the notifications (``graph/notifications.py``); Redis pub/sub only tells an
open subscription that one was created, by id, after the transaction that wrote it
committed (an effect of the action).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager

from redis.asyncio import Redis

from workers import keys
from workers.redis import pipe_publish
from workers.services import Services


async def publish(redis: Redis, notices: Iterable[tuple[str, str]]) -> None:
    """Announce (recipient id, notification id) pairs on the recipients' channels."""
    items = list(notices)
    if not items:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for recipient_id, notification_id in items:
            pipe_publish(pipe, redis, keys.notification_channel(recipient_id), notification_id)
        await pipe.execute()


def live_ids(services: Services, user_id: str) -> AbstractAsyncContextManager[AsyncIterator[str]]:
    """Ids of the user's notifications as they are announced, while the context lasts."""
    return services.live.listen(keys.notification_channel(user_id))
