"""Platform safety: posts held for review, cross-posting, and account suspension.

Held posts. A post held by automod (a HOLD rule) or by the cross-posting check is created
with ``hidden = true`` and, in the same transaction, an OPEN system ``Report`` about it
(no reporter: no ``FILED`` relationship) whose reason says why, so it appears in the
circle's moderation queue like any report; dismissing it un-hides the post.

Cross-posting. The same text (normalised: case-folded, whitespace collapsed) posted by one
author into 3 or more circles within 10 minutes: the 3rd and later posts are held. Each
author and text hash has a Redis sorted set of circle ids scored by time
(``keys.crosspost``); old entries are trimmed and the key expires with the window.

Suspension. ``User.suspended`` is set by platform admins; it refuses the user's token,
hides their posts and comments (the read rules check it), and removes them from
suggestions. The user's card in Redis and the feed copies of their posts are refreshed at
once, since both are read without asking Neo4j.
"""

from __future__ import annotations

import hashlib
import logging
import time

from neo4j import AsyncManagedTransaction
from redis.asyncio import Redis
from redis.exceptions import RedisError

from graph.automod import normalise
from graph.driver import Graph
from graph.errors import ActionError, ErrorCode, Problem
from graph.users import USER_FIELDS, UserRecord, new_id
from workers import cards, keys
from workers.feeds import post_changed

log = logging.getLogger(__name__)

CROSSPOST_WINDOW_SECONDS = 600
CROSSPOST_HOLD_AT = 3  # the 3rd distinct circle within the window is held

# KEYS[1] the author's set for one text; ARGV now, window, circle id.
_CROSSPOST_LUA = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('EXPIRE', KEYS[1], window)
return redis.call('ZCARD', KEYS[1])
"""


def text_digest(body: str) -> str:
    return hashlib.sha256(normalise(body).encode()).hexdigest()[:32]


async def crosspost_count(redis: Redis, author_id: str, circle_id: str, body: str) -> int:
    """Record this post and return in how many circles the author posted the same text
    within the window (this one included). Redis down: 0 (nothing is held)."""
    try:
        count = await redis.eval(
            _CROSSPOST_LUA,
            1,
            keys.crosspost(author_id, text_digest(body)),
            time.time(),
            CROSSPOST_WINDOW_SECONDS,
            circle_id,
        )
    except (RedisError, OSError) as exc:
        log.warning("cross-post check unavailable for %s: %s", author_id, exc)
        return 0
    return int(count)


async def hold_reason(
    graph: Graph, redis: Redis, author: UserRecord, circle_id: str | None, body: str
) -> str | None:
    """Why a new circle post must be held for review, or None; raises INVALID_INPUT when an
    automod REFUSE rule matches. Profile posts are not checked (they have no moderators)."""
    from graph.automod import AutomodAction, matcher_for

    if circle_id is None:
        return None
    found = (await matcher_for(graph, circle_id)).check(body)
    if found is not None and found[0] is AutomodAction.REFUSE:
        raise ActionError(
            Problem(ErrorCode.INVALID_INPUT, f"refused by the circle's rule “{found[1]}”", "body")
        )
    count = await crosspost_count(redis, author.id, circle_id, body)
    if found is not None:
        return f"automod: {found[1]}"
    if count >= CROSSPOST_HOLD_AT:
        return f"cross-posting: the same text in {count} circles within 10 minutes"
    return None


async def comment_problem(graph: Graph, circle_id: str | None, body: str) -> None:
    """Comments have no review state: any matching rule (REFUSE or HOLD) refuses them."""
    from graph.automod import matcher_for

    if circle_id is None:
        return
    found = (await matcher_for(graph, circle_id)).check(body)
    if found is not None:
        raise ActionError(
            Problem(ErrorCode.INVALID_INPUT, f"refused by the circle's rule “{found[1]}”", "body")
        )


async def hold_in_tx(
    tx: AsyncManagedTransaction, post_id: str, circle_id: str, reason: str
) -> None:
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
        reason=reason[:500],
    )


# ---------------------------------------------------------------- suspension

REFRESH_BATCH = 500


async def set_suspended(graph: Graph, redis: Redis, user_id: str, suspended: bool) -> UserRecord:
    result = await graph.write(
        "MATCH (u:User {id: $id}) SET u.suspended = $suspended RETURN " + USER_FIELDS,
        id=user_id,
        suspended=suspended,
    )
    if not result.records:
        raise ActionError(Problem(ErrorCode.NOT_FOUND, "user not found", "userId"))
    record = UserRecord.from_row(result.records[0]["user"])
    # The viewer comes from the card cache: overwrite it, so the token is refused at once.
    await cards.put_cards(redis, [record])
    await _refresh_posts(graph, redis, user_id)
    return record


async def _refresh_posts(graph: Graph, redis: Redis, user_id: str) -> None:
    """Feed copies carry the author's suspension; rewrite the copies of their posts."""
    after = ""
    while True:
        result = await graph.read(
            """
            MATCH (:User {id: $id})-[:POSTED]->(p:Post) WHERE p.id > $after
            RETURN p.id AS id ORDER BY p.id LIMIT $limit
            """,
            id=user_id,
            after=after,
            limit=REFRESH_BATCH,
        )
        ids = [r["id"] for r in result.records]
        if not ids:
            return
        try:
            await post_changed(redis, graph, ids)
        except (RedisError, OSError) as exc:
            log.warning("feed copies of %s's posts not refreshed: %s", user_id, exc)
            return
        after = ids[-1]
