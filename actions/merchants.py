"""The platform's writes to merchants: upserts and their staff."""

from __future__ import annotations

from collections.abc import Sequence

from neo4j import AsyncManagedTransaction

from actions import effects
from graph import merchants
from graph.errors import ActionError
from graph.merchants import Merchant, UpsertMerchant
from workers.services import Services


async def upsert_merchant(
    services: Services,
    row: UpsertMerchant,
    staff_platform_ids: Sequence[str] | None,
    *,
    staff_field: str = "staffPlatformUserIds",
    latitude_field: str = "latitude",
    longitude_field: str = "longitude",
) -> Merchant:
    """One merchant, upserted by platform id; ``staff_platform_ids`` (when not None)
    replaces its staff. Unknown staff are NOT_FOUND and then nothing is written."""
    problems = merchants.upsert_problems(
        row,
        staff_platform_ids,
        staff_field=staff_field,
        latitude_field=latitude_field,
        longitude_field=longitude_field,
    )
    if problems:
        raise ActionError(*problems)

    async def work(tx: AsyncManagedTransaction) -> Merchant:
        return await merchants.upsert_with_staff(
            tx, row, staff_platform_ids, staff_field=staff_field
        )

    return await effects.commit(services, work, lambda _: effects.NONE)
