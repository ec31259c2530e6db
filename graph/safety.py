"""Platform safety in the graph: posts held for review, and account suspension.

Held posts. A post held by automod (a HOLD rule) or by the cross-posting check is created
with ``hidden = true`` and, in the same transaction, an OPEN system ``Report`` about it
(no reporter: no ``FILED`` relationship) whose reason says why, so it appears in the
circle's moderation queue like any report; dismissing it un-hides the post.

Suspension. ``User.suspended`` is set by platform admins; it refuses the user's token,
hides their posts and comments (the read rules check it), and removes them from
suggestions. The action (``actions/safety.py``) then refreshes what Redis caches of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from neo4j import AsyncManagedTransaction

from graph.errors import ActionError, ErrorCode, Problem
from graph.users import USER_FIELDS, UserRecord, new_id

REASON_MAX = 500


async def hold(tx: AsyncManagedTransaction, post_id: str, circle_id: str, reason: str) -> None:
    """Hide the new post and file the system report that puts it in the queue."""
    await tx.run(
        """
        MATCH (p:Post {id: $post}), (c:Circle {id: $circle})
        SET p.hidden = true
        CREATE (r:Report {id: $id, reason: $reason, state: 'OPEN', createdAt: datetime(),
                          createdAtMs: timestamp(), dedupeKey: 'system|post:' + $post,
                          system: true})
        CREATE (r)-[:IN]->(c)
        CREATE (r)-[:ABOUT_POST]->(p)
        """,
        post=post_id,
        circle=circle_id,
        id=new_id(),
        reason=reason[:REASON_MAX],
    )


@dataclass(frozen=True)
class Suspension:
    """A user suspended or reinstated, and the posts whose comment counts moved with it."""

    user: UserRecord
    commented_posts: list[str]


async def suspend(tx: AsyncManagedTransaction, user_id: str, suspended: bool) -> Suspension:
    """Suspend a user everywhere, or reinstate them. What a suspended user wrote or joined
    is hidden from everyone, so the counts others read (a post's ``commentCount``, a
    circle's ``memberCount``) leave them out while the suspension lasts."""
    result = await tx.run(
        """
        MATCH (u:User {id: $id})
        WITH u, coalesce(u.suspended, false) <> $suspended AS changing,
             CASE WHEN $suspended THEN -1 ELSE 1 END AS delta
        CALL (u, changing, delta) {
            WITH u WHERE changing
            MATCH (u)-[:WROTE]->(cm:Comment)-[:ON]->(p:Post) WHERE NOT cm.deleted
            WITH p, count(cm) AS n
            SET p.commentCount = p.commentCount + delta * n
            RETURN collect(p.id) AS posts
        }
        CALL (u, changing, delta) {
            WITH u WHERE changing
            MATCH (u)-[:MEMBER_OF {state: 'MEMBER'}]->(c:Circle)
            SET c.memberCount = c.memberCount + delta
        }
        SET u.suspended = $suspended
        RETURN """
        + USER_FIELDS
        + ", posts",
        id=user_id,
        suspended=suspended,
    )
    record = await result.single()
    if record is None:
        raise ActionError(Problem(ErrorCode.NOT_FOUND, "user not found", "userId"))
    return Suspension(UserRecord.from_row(record["user"]), list(record["posts"] or []))
