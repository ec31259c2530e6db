"""What merchant insights read from the graph: who may ask, and the activity a snapshot
aggregates (docs/insights.md).

Nothing here leaves the process that computes a snapshot: the activity pages carry user
ids only so that the snapshot can count each person once; ``workers/insight_snapshots.py``
turns them into exact counts per merchant and per bucket and forgets them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from graph.driver import Graph
from graph.merchants import MERCHANT_FIELDS, Merchant

# Categories that never become an interest bucket (a merchant or circle service such as a
# clinic says something about a person's health or private life). Compared lower-cased.
SENSITIVE_CATEGORIES: frozenset[str] = frozenset(
    {"medical", "adult", "pharmacy", "health", "clinic", "hospital", "sexual-health"}
)

_MERCHANT_FOR_STAFF: LiteralString = (
    """
    MATCH (m:Merchant {id: $merchant})
    WHERE $admin OR EXISTS { (:User {id: $viewer})-[:STAFF_OF]->(m) }
    RETURN """
    + MERCHANT_FIELDS
)


async def merchant_for_insights(
    graph: Graph, merchant_id: str, viewer_id: str | None, *, admin: bool
) -> Merchant | None:
    """The merchant when the viewer may read its insights (its staff, platform admins);
    None when it does not exist or the viewer may not: the two read alike."""
    if viewer_id is None and not admin:
        return None
    result = await graph.read(
        _MERCHANT_FOR_STAFF, merchant=merchant_id, viewer=viewer_id or "", admin=admin
    )
    return Merchant.from_row(result.records[0]["merchant"]) if result.records else None


@dataclass(frozen=True, slots=True)
class Place:
    """A merchant as a snapshot needs it: its category and where it is."""

    id: str
    category: str
    latitude: float | None
    longitude: float | None


async def places(graph: Graph) -> list[Place]:
    result = await graph.read(
        """
        MATCH (m:Merchant)
        RETURN m.id AS id, m.category AS category,
               m.location.latitude AS lat, m.location.longitude AS lon
        """
    )
    return [Place(r["id"], r["category"] or "", r["lat"], r["lon"]) for r in result.records]


@dataclass(frozen=True, slots=True)
class Activity:
    """One person's activity inside the window: visits per merchant (count, last visit as
    epoch seconds), the circles they are a MEMBER of (service, hosting merchant) and
    their visits and posts by local hour of day. ``suspended`` people never count."""

    user_id: str
    suspended: bool
    visits: tuple[tuple[str, int, int], ...]
    circles: tuple[tuple[str | None, str | None], ...]
    hours: Mapping[int, int]

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Activity:
        return cls(
            user_id=r["id"],
            suspended=bool(r["suspended"]),
            visits=tuple((str(m), int(n), int(last)) for m, n, last in r["visits"]),
            circles=tuple((s, h) for s, h in r["circles"]),
            hours={int(h): int(n) for h, n in r["hours"]},
        )


# A page of users in id order; suspended users come back flagged (and are skipped by the
# snapshot) so that the page's last id still moves the cursor on.
_ACTIVITY_PAGE: LiteralString = """
    MATCH (u:User) WHERE u.id > $after
    WITH u ORDER BY u.id LIMIT $limit
    WITH u, coalesce(u.suspended, false) AS suspended
    CALL (u, suspended) {
        OPTIONAL MATCH (u)-[v:VISITED]->(m:Merchant)
        WHERE NOT suspended AND v.at >= $since
        WITH m.id AS merchant, count(v) AS n, max(v.at) AS last
        WHERE merchant IS NOT NULL
        RETURN collect([merchant, n, last.epochSeconds]) AS visits
    }
    CALL (u, suspended) {
        OPTIONAL MATCH (u)-[:MEMBER_OF {state: 'MEMBER'}]->(c:Circle)
        WHERE NOT suspended
        WITH c WHERE c IS NOT NULL
        RETURN collect([c.service, [(c)-[:HOSTED_BY]->(h:Merchant) | h.id][0]]) AS circles
    }
    CALL (u, suspended) {
        CALL (u, suspended) {
            MATCH (u)-[v:VISITED]->(:Merchant) WHERE NOT suspended AND v.at >= $since
            RETURN v.at AS at
            UNION ALL
            MATCH (u)-[:POSTED]->(p:Post)
            WHERE NOT suspended AND p.createdAt >= $since AND NOT coalesce(p.deleted, false)
            RETURN p.createdAt AS at
        }
        WITH datetime({datetime: at, timezone: $tz}).hour AS hour, count(*) AS n
        RETURN collect([hour, n]) AS hours
    }
    RETURN u.id AS id, suspended, visits, circles, hours
"""


async def activity_page(
    graph: Graph, *, after: str, limit: int, since: datetime, timezone: str
) -> list[Activity]:
    """Up to ``limit`` users after ``after`` (by id) with their activity since ``since``."""
    result = await graph.read(_ACTIVITY_PAGE, after=after, limit=limit, since=since, tz=timezone)
    return [Activity.from_record(r) for r in result.records]
