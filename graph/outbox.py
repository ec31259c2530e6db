"""The effects outbox: what a committed write still has to change in Redis.

A write records its Redis effects (``actions/effects.py`` says which) as one ``Effect``
node in its own transaction, so they commit together or not at all. Once the effects
have run the node is deleted; while Redis is unreachable it is marked ``stalled`` and
waits. Anyone who finds an effect stalled, or one left unsettled for longer than a grace
period (its process died between the commit and the effects), runs it again: effects are
idempotent (dropping a cache twice is dropping it once).

    (:Effect {id, payload (JSON), createdAtMs, stalled})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from neo4j import AsyncManagedTransaction

from graph.driver import Graph


@dataclass(frozen=True)
class PendingEffect:
    id: str
    payload: str


async def record(tx: AsyncManagedTransaction, effect_id: str, payload: str) -> None:
    await tx.run(
        "CREATE (:Effect {id: $id, payload: $payload, createdAtMs: timestamp(), stalled: false})",
        id=effect_id,
        payload=payload,
    )


async def settle(graph: Graph, ids: Sequence[str]) -> None:
    """The effects have run: forget them."""
    await graph.write("UNWIND $ids AS eid MATCH (e:Effect {id: eid}) DELETE e", ids=list(ids))


async def stall(graph: Graph, ids: Sequence[str]) -> None:
    """Redis could not take the effects: leave them for whoever reaches it next."""
    await graph.write(
        "UNWIND $ids AS eid MATCH (e:Effect {id: eid}) SET e.stalled = true", ids=list(ids)
    )


async def any_stalled(graph: Graph) -> bool:
    result = await graph.read("MATCH (e:Effect {stalled: true}) RETURN e.id AS id LIMIT 1")
    return bool(result.records)


async def due(graph: Graph, *, unsettled_before_ms: int, limit: int) -> list[PendingEffect]:
    """Effects to run again, oldest first: stalled ones, and ones no process settled
    before ``unsettled_before_ms``."""
    result = await graph.read(
        """
        CALL () {
            MATCH (e:Effect {stalled: true}) RETURN e
            UNION
            MATCH (e:Effect) WHERE e.createdAtMs < $before RETURN e
        }
        RETURN e.id AS id, e.payload AS payload ORDER BY e.createdAtMs LIMIT $limit
        """,
        before=unsettled_before_ms,
        limit=limit,
    )
    return [PendingEffect(r["id"], r["payload"]) for r in result.records]
