"""Merchants: reads, and the platform's writes (upserts and staff).

Merchants are upserted by platform id (``adminUpsertMerchant``, the CSV import, the demo),
so repeating a write changes nothing. A circle hosted by a merchant carries a copy of the
merchant's ``location`` (the point index ``circle_location`` serves discovery), so every
write that moves a merchant moves its circles in the same query.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from neo4j import AsyncManagedTransaction

from graph.driver import Graph
from graph.errors import ActionError, ErrorCode, Problem, invalid
from graph.users import new_id
from graph.validation import check_platform_id, check_text

MERCHANT_NAME_MAX = 80
MERCHANT_CATEGORY_MAX = 40
MAX_STAFF = 100

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


@dataclass(frozen=True, slots=True)
class UpsertMerchant:
    platform_id: str
    name: str
    category: str
    latitude: float | None = None
    longitude: float | None = None


# ---------------------------------------------------------------- reads


async def merchants_by_ids(graph: Graph, ids: Sequence[str]) -> dict[str, Merchant]:
    result = await graph.read(
        "UNWIND $ids AS mid MATCH (m:Merchant {id: mid}) RETURN " + MERCHANT_FIELDS,
        ids=list(ids),
    )
    return {r["merchant"]["id"]: Merchant.from_row(r["merchant"]) for r in result.records}


async def staff_merchants_page(
    graph: Graph, user_id: str, *, first: int, after: str | None
) -> list[Merchant]:
    """The merchants the user is staff of, by id (a page of ``first`` after id ``after``)."""
    result = await graph.read(
        """
        MATCH (:User {id: $user})-[:STAFF_OF]->(m:Merchant)
        WHERE $after IS NULL OR m.id > $after
        RETURN """
        + MERCHANT_FIELDS
        + " ORDER BY m.id LIMIT $limit",
        user=user_id,
        after=after,
        limit=first,
    )
    return [Merchant.from_row(r["merchant"]) for r in result.records]


# ---------------------------------------------------------------- validation


def merchant_problems(
    row: UpsertMerchant, *, latitude_field: str = "latitude", longitude_field: str = "longitude"
) -> list[Problem]:
    """The problems of one merchant row (fields relative to the row)."""
    problems = [
        *check_platform_id("platformId", row.platform_id),
        *check_text("name", row.name, min_len=1, max_len=MERCHANT_NAME_MAX),
        *check_text("category", row.category, min_len=1, max_len=MERCHANT_CATEGORY_MAX),
    ]
    lat, lon = row.latitude, row.longitude
    if (lat is None) != (lon is None):
        problems.append(invalid(latitude_field, "give both latitude and longitude, or neither"))
    else:
        if lat is not None and not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
            problems.append(invalid(latitude_field, "latitude must be between -90 and 90"))
        if lon is not None and not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
            problems.append(invalid(longitude_field, "longitude must be between -180 and 180"))
    return problems


def staff_problems(staff_platform_ids: Sequence[str], field: str) -> list[Problem]:
    if len(staff_platform_ids) > MAX_STAFF:
        return [invalid(field, f"at most {MAX_STAFF} staff per merchant")]
    return [
        p
        for i, pid in enumerate(staff_platform_ids)
        for p in check_platform_id(f"{field}[{i}]", pid)
    ]


def _prefixed(index: int, problems: Sequence[Problem], what: str) -> list[Problem]:
    return [
        Problem(p.code, p.message, f"{what}[{index}].{p.field}" if p.field else None)
        for p in problems
    ]


# ---------------------------------------------------------------- writes

# Upserts one row (bound as ``row``) and moves the merchant's circles with it.
_UPSERT: LiteralString = """
    MERGE (m:Merchant {platformId: row.platformId})
    ON CREATE SET m.id = row.newId, m.createdAt = datetime()
    WITH m, row, m.location AS before
    SET m.name = row.name, m.category = row.category, m.updatedAt = datetime(),
        m.location = CASE WHEN row.lat IS NULL THEN m.location
                          ELSE point({latitude: row.lat, longitude: row.lon}) END
    WITH m, row, before
    CALL (m, before) {
        WITH m, before WHERE m.location IS NOT NULL
                         AND (before IS NULL OR before <> m.location)
        MATCH (c:Circle)-[:HOSTED_BY]->(m)
        SET c.location = m.location
    }
"""


def _row_params(r: UpsertMerchant) -> dict[str, Any]:
    return {
        "platformId": r.platform_id.strip(),
        "newId": new_id(),
        "name": r.name.strip(),
        "category": r.category.strip(),
        "lat": r.latitude,
        "lon": r.longitude,
    }


async def upsert_merchants(graph: Graph, rows: Sequence[UpsertMerchant]) -> list[Merchant]:
    """Create or update merchants by platform id, in one query; returns them in order.

    A location left out keeps the stored one; a changed location is copied to the
    merchant's circles. Raises :class:`ActionError` (nothing written) if any row is
    invalid; with one row the problems name plain fields (``name``), with more they are
    prefixed (``merchants[3].name``).
    """
    problems: list[Problem] = []
    for i, row in enumerate(rows):
        found = merchant_problems(row)
        problems += found if len(rows) == 1 else _prefixed(i, found, "merchants")
    if problems:
        raise ActionError(*problems)
    if not rows:
        return []
    result = await graph.write(
        "UNWIND $rows AS row" + _UPSERT + "RETURN " + MERCHANT_FIELDS,
        rows=[_row_params(r) for r in rows],
    )
    return [Merchant.from_row(r["merchant"]) for r in result.records]


def upsert_problems(
    row: UpsertMerchant,
    staff_platform_ids: Sequence[str] | None,
    *,
    staff_field: str = "staffPlatformUserIds",
    latitude_field: str = "latitude",
    longitude_field: str = "longitude",
) -> list[Problem]:
    """What is wrong with one merchant and its staff list, before the graph is read."""
    problems = merchant_problems(
        row, latitude_field=latitude_field, longitude_field=longitude_field
    )
    if staff_platform_ids is not None:
        problems += staff_problems(staff_platform_ids, staff_field)
    return problems


async def upsert_with_staff(
    tx: AsyncManagedTransaction,
    row: UpsertMerchant,
    staff_platform_ids: Sequence[str] | None,
    *,
    staff_field: str = "staffPlatformUserIds",
) -> Merchant:
    """One merchant, upserted by platform id; ``staff_platform_ids`` (when not None)
    replaces the set of ``(:User)-[:STAFF_OF]->(m)``. Unknown users are NOT_FOUND problems
    naming ``staffPlatformUserIds[i]``, and then nothing is written."""
    staff = [s.strip() for s in staff_platform_ids] if staff_platform_ids is not None else None
    if staff:
        found = await tx.run(
            """
            UNWIND range(0, size($staff) - 1) AS i
            OPTIONAL MATCH (u:User {platformId: $staff[i]})
            WITH i, u WHERE u IS NULL
            RETURN i ORDER BY i
            """,
            staff=staff,
        )
        unknown = [r["i"] async for r in found]
        if unknown:
            raise ActionError(
                *(
                    Problem(ErrorCode.NOT_FOUND, "no such user", f"{staff_field}[{i}]")
                    for i in unknown
                )
            )
    result = await tx.run(
        "WITH $row AS row"
        + _UPSERT
        + """
        WITH m
        CALL (m) {
            WITH m WHERE $staff IS NOT NULL
            OPTIONAL MATCH (old:User)-[s:STAFF_OF]->(m)
            WHERE NOT old.platformId IN $staff
            DELETE s
        }
        CALL (m) {
            UNWIND coalesce($staff, []) AS pid
            MATCH (u:User {platformId: pid})
            MERGE (u)-[:STAFF_OF]->(m)
        }
        RETURN """
        + MERCHANT_FIELDS,
        row=_row_params(row),
        staff=staff,
    )
    record = await result.single(strict=True)
    return Merchant.from_row(record["merchant"])
