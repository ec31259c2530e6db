"""Registered operations: the allow-list of persisted queries.

``quanzi queries register FILE`` stores each operation a client build will send, by the
SHA-256 of its text; in allow-list mode (``QUANZI_PERSISTED_QUERIES=allowlist``) only
those run. They live in the graph, beside what they read: they must survive Redis.

    (:PersistedQuery {id (sha256 hex), name, body, registeredAt})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from neo4j import AsyncManagedTransaction

from graph.driver import Graph


@dataclass(frozen=True)
class Operation:
    id: str  # sha256 of ``body``
    name: str | None
    body: str


async def register(tx: AsyncManagedTransaction, operations: Sequence[Operation]) -> int:
    """Store the operations (idempotent: a hash is its text); how many are new."""
    result = await tx.run(
        """
        UNWIND $rows AS row
        MERGE (q:PersistedQuery {id: row.id})
        ON CREATE SET q.name = row.name, q.body = row.body, q.registeredAt = datetime()
        """,
        rows=[{"id": o.id, "name": o.name, "body": o.body} for o in operations],
    )
    summary = await result.consume()
    return summary.counters.nodes_created


async def bodies(graph: Graph, ids: Sequence[str]) -> dict[str, str]:
    result = await graph.read(
        "UNWIND $ids AS qid MATCH (q:PersistedQuery {id: qid}) RETURN q.id AS id, q.body AS body",
        ids=list(ids),
    )
    return {r["id"]: r["body"] for r in result.records}


async def registered(graph: Graph) -> list[Operation]:
    result = await graph.read(
        "MATCH (q:PersistedQuery) RETURN q.id AS id, q.name AS name, q.body AS body "
        "ORDER BY q.name, q.id"
    )
    return [Operation(r["id"], r["name"], r["body"]) for r in result.records]
