"""The Cypher behind feeds: audiences, timeline rebuilds, the outbox, feed views, and the
home feed read from Neo4j alone for when Redis is away."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import LiteralString

from graph.driver import Graph


async def circle_member_ids(graph: Graph, circle_id: str, *, at_most: int) -> list[str] | None:
    """Every MEMBER of a circle as one list, or None for a circle of more than ``at_most``
    members (merged at read time instead of fanned out)."""
    result = await graph.read(
        """
        MATCH (c:Circle {id: $id})
        WITH c, coalesce(c.memberCount, 0) > $most AS large
        OPTIONAL CALL (c, large) {
            WITH c WHERE NOT large
            MATCH (u:User)-[:MEMBER_OF {state: 'MEMBER'}]->(c)
            WITH u.id AS id ORDER BY id
            RETURN collect(id) AS ids
        }
        RETURN large, ids
        """,
        id=circle_id,
        most=at_most,
    )
    if not result.records:
        return []
    row = result.records[0]
    return None if row["large"] else list(row["ids"] or [])


async def mark_delivered(graph: Graph, post_ids: list[str]) -> None:
    await graph.write(
        "UNWIND $ids AS pid MATCH (p:Post {id: pid}) WHERE p.fanout = 'PENDING' "
        "SET p.fanout = 'DONE'",
        ids=post_ids,
    )


async def mark_failed(graph: Graph, post_id: str) -> None:
    """Give up delivering a post (it stays in Neo4j; timelines rebuilt from it include it)."""
    await graph.write(
        "MATCH (p:Post {id: $id}) WHERE p.fanout = 'PENDING' SET p.fanout = 'FAILED'", id=post_id
    )


async def undelivered(graph: Graph, *, older_than_ms: int, limit: int = 500) -> list[str]:
    """The outbox: committed posts no worker has finished delivering."""
    result = await graph.read(
        """
        MATCH (p:Post {fanout: 'PENDING'}) WHERE p.createdAtMs < $before
        RETURN p.id AS id ORDER BY p.createdAtMs LIMIT $limit
        """,
        before=older_than_ms,
        limit=limit,
    )
    return [r["id"] for r in result.records]


@dataclass(frozen=True)
class FeedView:
    """What decides which timeline entries a user may see, kept beside the timeline."""

    friends: frozenset[str] = frozenset()
    blocked: frozenset[str] = frozenset()
    # circle id -> role, for circles where the user is a MEMBER
    circles: dict[str, str] = field(default_factory=dict)
    large_circles: frozenset[str] = frozenset()


async def feed_view(graph: Graph, user_id: str, *, large_above: int) -> FeedView:
    result = await graph.read(
        """
        MATCH (me:User {id: $id})
        RETURN [(me)-[:FRIEND]-(f:User) | f.id] AS friends,
               [(me)-[:BLOCKED]-(b:User) | b.id] AS blocked,
               [(me)-[r:MEMBER_OF {state: 'MEMBER'}]->(c:Circle) |
                    {id: c.id, role: r.role, large: c.memberCount > $large}] AS circles
        """,
        id=user_id,
        large=large_above,
    )
    if not result.records:
        return FeedView()
    row = result.records[0]
    circles = row["circles"]
    return FeedView(
        friends=frozenset(row["friends"]),
        blocked=frozenset(row["blocked"]),
        circles={c["id"]: c["role"] for c in circles},
        large_circles=frozenset(c["id"] for c in circles if c["large"]),
    )


async def timeline_from_graph(
    graph: Graph, user_id: str, *, length: int, large_above: int
) -> list[tuple[str, int]]:
    """The newest posts a user's home timeline holds, as (post id, createdAtMs):
    their own, friends' profile posts, and posts of their circles that are fanned out."""
    result = await graph.read(
        """
        MATCH (me:User {id: $id})
        CALL (me) {
            MATCH (me)-[:POSTED]->(p:Post)
            RETURN p ORDER BY p.createdAtMs DESC LIMIT $length
            UNION
            MATCH (me)-[:FRIEND]-(f:User)-[:POSTED]->(p:Post)
            WHERE NOT EXISTS { (p)-[:IN]->(:Circle) }
            RETURN p ORDER BY p.createdAtMs DESC LIMIT $length
            UNION
            MATCH (me)-[:MEMBER_OF {state: 'MEMBER'}]->(c:Circle)<-[:IN]-(p:Post)
            WHERE c.memberCount <= $large
            RETURN p ORDER BY p.createdAtMs DESC LIMIT $length
        }
        WITH me, p
        WHERE NOT coalesce(p.deleted, false) AND NOT coalesce(p.removed, false)
          AND NOT EXISTS { (me)-[:BLOCKED]-(:User)-[:POSTED]->(p) }
        RETURN p.id AS id, p.createdAtMs AS score
        ORDER BY score DESC LIMIT $length
        """,
        id=user_id,
        length=length,
        large=large_above,
    )
    return [(r["id"], r["score"]) for r in result.records]


async def circle_timeline_from_graph(
    graph: Graph, circle_id: str, *, length: int
) -> list[tuple[str, int]]:
    result = await graph.read(
        """
        MATCH (:Circle {id: $id})<-[:IN]-(p:Post)
        WHERE NOT coalesce(p.deleted, false) AND NOT coalesce(p.removed, false)
        RETURN p.id AS id, p.createdAtMs AS score ORDER BY score DESC LIMIT $length
        """,
        id=circle_id,
        length=length,
    )
    return [(r["id"], r["score"]) for r in result.records]


_HOME_BRANCH_FILTER: LiteralString = """
    NOT coalesce(p.deleted, false) AND NOT coalesce(p.removed, false)
    AND NOT coalesce(p.hidden, false)
    AND ($afterMs IS NULL OR p.createdAtMs < $afterMs
         OR (p.createdAtMs = $afterMs AND p.id < $afterId))
"""


async def home_page(
    graph: Graph, user_id: str, *, first: int, after: tuple[int, str] | None
) -> list[str]:
    """Ids of the user's home feed straight from the graph, newest first after the keyset
    (createdAtMs, id): their own posts, friends' profile posts and posts of every circle
    they are a MEMBER of. Slower than the timelines; serves while Redis cannot be trusted.
    The caller still asks ``may_read`` of each."""
    after_ms, after_id = after if after else (None, None)
    result = await graph.read(
        """
        MATCH (me:User {id: $id})
        CALL (me) {
            MATCH (me)-[:POSTED]->(p:Post)
            WHERE """
        + _HOME_BRANCH_FILTER
        + """
            RETURN p ORDER BY p.createdAtMs DESC, p.id DESC LIMIT $limit
            UNION
            MATCH (me)-[:FRIEND]-(:User)-[:POSTED]->(p:Post)
            WHERE NOT EXISTS { (p)-[:IN]->(:Circle) } AND """
        + _HOME_BRANCH_FILTER
        + """
            RETURN p ORDER BY p.createdAtMs DESC, p.id DESC LIMIT $limit
            UNION
            MATCH (me)-[:MEMBER_OF {state: 'MEMBER'}]->(:Circle)<-[:IN]-(p:Post)
            WHERE """
        + _HOME_BRANCH_FILTER
        + """
            RETURN p ORDER BY p.createdAtMs DESC, p.id DESC LIMIT $limit
        }
        WITH me, p
        WHERE NOT EXISTS { (me)-[:BLOCKED]-(:User)-[:POSTED]->(p) }
        RETURN p.id AS id ORDER BY p.createdAtMs DESC, p.id DESC LIMIT $limit
        """,
        id=user_id,
        afterMs=after_ms,
        afterId=after_id,
        limit=first,
    )
    return [r["id"] for r in result.records]


async def recent_reactions(graph: Graph, user_id: str, limit: int = 2000) -> list[str]:
    """The posts the user reacted to most recently (feeds answer viewerReacted from these)."""
    result = await graph.read(
        """
        MATCH (:User {id: $id})-[r:REACTED]->(p:Post)
        RETURN p.id AS id ORDER BY r.at DESC LIMIT $limit
        """,
        id=user_id,
        limit=limit,
    )
    return [r["id"] for r in result.records]


async def count_users(graph: Graph) -> int:
    """How many users there are (the total for a rebuild's progress bar)."""
    result = await graph.read("MATCH (u:User) RETURN count(u) AS n")
    return int(result.records[0]["n"])


async def user_ids_page(graph: Graph, *, after: str, limit: int) -> list[str]:
    """One page of user ids in id order, after ``after`` (keyset paging over the unique
    index on ``User.id``; pass ``""`` for the first page)."""
    result = await graph.read(
        """
        MATCH (u:User) WHERE u.id > $after
        RETURN u.id AS id ORDER BY u.id LIMIT $limit
        """,
        after=after,
        limit=limit,
    )
    return [r["id"] for r in result.records]
