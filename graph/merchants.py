"""Merchants: reads (the platform's writes are in graph/interactions.py for now)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from graph.driver import Graph

MERCHANT_FIELDS: LiteralString = """
    m {.id, .platformId, .name, .category, .createdAt,
       latitude: m.location.latitude, longitude: m.location.longitude} AS merchant
"""


@dataclass(frozen=True)
class Merchant:
    id: str
    platform_id: str
    name: str
    category: str
    latitude: float | None
    longitude: float | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Merchant:
        return cls(
            id=row["id"],
            platform_id=row["platformId"],
            name=row["name"],
            category=row["category"],
            latitude=row["latitude"],
            longitude=row["longitude"],
            created_at=row["createdAt"].to_native(),
        )


async def merchants_by_ids(graph: Graph, ids: Sequence[str]) -> dict[str, Merchant]:
    result = await graph.read(
        "UNWIND $ids AS mid MATCH (m:Merchant {id: mid}) RETURN " + MERCHANT_FIELDS,
        ids=list(ids),
    )
    return {r["merchant"]["id"]: Merchant.from_row(r["merchant"]) for r in result.records}
