"""The operator registers the operations a client build sends (the allow-list)."""

from __future__ import annotations

from collections.abc import Sequence

from neo4j import AsyncManagedTransaction

from actions import effects
from graph import queries
from graph.queries import Operation
from workers.services import Services


async def register_operations(services: Services, operations: Sequence[Operation]) -> int:
    """Store them (already checked against the schema); how many are new."""

    async def work(tx: AsyncManagedTransaction) -> int:
        return await queries.register(tx, operations)

    return await effects.commit(services, work, lambda _: effects.NONE)
