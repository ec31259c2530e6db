"""The viewer marks their notifications read."""

from __future__ import annotations

from collections.abc import Sequence

from neo4j import AsyncManagedTransaction

from actions import effects
from graph import notifications
from graph.users import UserRecord
from workers.services import Services


async def mark_read(services: Services, viewer: UserRecord, ids: Sequence[str] | None) -> int:
    """The viewer's unread notifications with these ids, or all of them (None), are read
    now; returns how many changed."""

    async def work(tx: AsyncManagedTransaction) -> int:
        return await notifications.mark_read(tx, viewer.id, ids=ids)

    return await effects.commit(services, work, lambda _: effects.NONE)
