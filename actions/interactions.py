"""Payments and visits reported by the platform, through the API or the event stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from neo4j import AsyncManagedTransaction

from actions import effects
from graph import interactions
from graph.interactions import Payment, Visit, WriteResult
from workers.services import Services


@dataclass(frozen=True)
class Recorded:
    payments: WriteResult
    visits: WriteResult


async def record_interactions(
    services: Services, payments: Sequence[Payment], visits: Sequence[Visit]
) -> Recorded:
    """Record the events (idempotently: an event is merged on its time), then refresh the
    suggestions of everyone they touched. Rows naming an unknown user or merchant are
    skipped and reported in the results; an invalid row raises before anything is
    written."""

    async def work(tx: AsyncManagedTransaction) -> Recorded:
        return Recorded(
            await interactions.record_payments(tx, payments),
            await interactions.record_visits(tx, visits),
        )

    if not payments and not visits:
        return Recorded(WriteResult(), WriteResult())
    return await effects.commit(
        services,
        work,
        lambda done: effects.neighbourhood_changed(done.payments.user_ids | done.visits.user_ids),
    )
