"""Posts, reactions and comments, and the one rule that says who may read a post.

``may_read`` is that rule; every read path (the post loader, ``node``, ``Query.post``,
``Circle.posts``, comments) and every write path (delete, react, comment) asks it, with the
facts about one viewer and one post that ``_FACTS`` gathers in a single statement.

Writes that change a post's counters run in one transaction that write-locks the post
first (``SET p.lockToken = 1 REMOVE p.lockToken``), so ``reactionCount`` and
``commentCount`` stay exact under concurrency.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, LiteralString, TypeVar

from neo4j import AsyncManagedTransaction
from neo4j.exceptions import ConstraintError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from graph import safety
from graph.circles import MembershipRecord, Role, State, Visibility, access
from graph.driver import Graph, write_transaction
from graph.errors import ActionError, ErrorCode, Problem
from graph.notifications import notify_comment
from graph.users import UserRecord
from graph.validation import check_text
from workers.feeds import FeedPost, post_changed, post_created, reaction_changed
from workers.ratelimit import rate_limited, take

log = logging.getLogger(__name__)

BODY_MAX = 5000
COMMENT_MAX = 5000

# ---------------------------------------------------------------- ids

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
ID_LENGTH = 13  # 65 bits: 45 of milliseconds (until the year 3084) and 20 random
RANDOM_BITS = 20


def new_post_id(now_ms: int | None = None) -> tuple[str, int]:
    """A compact id that sorts by creation time, and that time in milliseconds.

    ``(ms << 20) | 20 random bits`` in fixed-width base32: string order is time order, and
    two ids made in the same millisecond collide with probability 2^-20 (the unique
    constraint turns that into a retried error, never a lost post).
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << RANDOM_BITS) | secrets.randbits(RANDOM_BITS)
    chars = []
    for _ in range(ID_LENGTH):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars)), ms


def id_millis(post_id: str) -> int:
    """The creation time encoded in an id from ``new_post_id``."""
    value = 0
    for ch in post_id:
        value = value * 32 + _ALPHABET.index(ch)
    return value >> RANDOM_BITS


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class PostRecord:
    id: str
    author_id: str
    circle_id: str | None
    circle_visibility: Visibility | None
    body: str
    created_at: datetime
    created_at_ms: int
    removed: bool
    deleted: bool
    reaction_count: int
    comment_count: int
    author_suspended: bool = False
    hidden: bool = False  # held or reported: reads like removed (graph/reports.py)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PostRecord:
        visibility = row.get("circleVisibility")
        return cls(
            id=row["id"],
            author_id=row["authorId"],
            circle_id=row.get("circleId"),
            circle_visibility=Visibility(visibility) if visibility else None,
            body=row["body"],
            created_at=row["createdAt"].to_native(),
            created_at_ms=row["createdAtMs"],
            removed=bool(row["removed"]),
            deleted=bool(row["deleted"]),
            reaction_count=row["reactionCount"],
            comment_count=row["commentCount"],
            author_suspended=bool(row.get("authorSuspended")),
            hidden=bool(row.get("hidden")),
        )


@dataclass(frozen=True)
class ViewerFacts:
    """What the rules need to know about one viewer (None = anonymous) and one post."""

    viewer_id: str | None
    state: State = State.NONE
    role: Role | None = None
    muted: bool = False
    friend: bool = False
    blocked: bool = False


@dataclass(frozen=True)
class PostAccess:
    post: PostRecord
    facts: ViewerFacts


@dataclass(frozen=True)
class CommentRecord:
    id: str
    post_id: str
    author_id: str
    body: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CommentRecord:
        return cls(
            id=row["id"],
            post_id=row["postId"],
            author_id=row["authorId"],
            body=row["body"],
            created_at=row["createdAt"].to_native(),
        )


def is_muted(muted_until: Any, now: datetime | None = None) -> bool:
    """``mutedUntil`` null or absent = not muted; in the future = muted (far future =
    permanently); in the past = the mute is over."""
    if muted_until is None:
        return False
    until = muted_until.to_native() if hasattr(muted_until, "to_native") else muted_until
    return bool(until > (now or datetime.now(UTC)))


# ---------------------------------------------------------------- the rule


def moderates(item: PostAccess) -> bool:
    """Whether the viewer moderates the post's circle (and so may see it removed)."""
    post, facts = item.post, item.facts
    if post.circle_visibility is None:
        return False
    return access(post.circle_visibility, facts.state, facts.role).moderate


def may_read(item: PostAccess) -> bool:
    """Who may read a post: the product's visibility rules for posts, in one place.

    Deleted posts and posts of suspended authors: nobody. Blocked either way with the
    author: hidden. A profile post: the author and the author's friends. A circle post:
    whoever ``access(...).posts`` allows for their membership; a removed one only the
    circle's moderators and owner.
    """
    post, facts = item.post, item.facts
    if post.deleted or post.author_suspended:
        return False
    if facts.viewer_id is not None and facts.blocked:
        return False
    if post.circle_id is None or post.circle_visibility is None:
        return facts.viewer_id is not None and (facts.viewer_id == post.author_id or facts.friend)
    rights = access(post.circle_visibility, facts.state, facts.role)
    return rights.moderate if post.removed or post.hidden else rights.posts


def interaction_problem(item: PostAccess, field: str = "postId") -> Problem | None:
    """Why the viewer may not react to or comment on a post, if they may not.

    Hidden posts are NOT_FOUND; in a circle only MEMBERs who are not muted take part, and
    a removed post takes no new reactions or comments.
    """
    if not may_read(item):
        return Problem(ErrorCode.NOT_FOUND, "post not found", field)
    post, facts = item.post, item.facts
    if post.circle_id is None:
        return None
    if facts.state is not State.MEMBER or post.removed or post.hidden:
        return Problem(ErrorCode.FORBIDDEN, "only members of the circle take part", field)
    if facts.muted:
        return Problem(ErrorCode.MUTED, "you are muted in this circle", field)
    return None


# ---------------------------------------------------------------- reads

# Rows: one per post id found; $viewer may be null (anonymous).
_FACTS: LiteralString = """
    OPTIONAL MATCH (v:User {id: $viewer})
    WITH v
    UNWIND $ids AS pid
    MATCH (a:User)-[:POSTED]->(p:Post {id: pid})
    OPTIONAL MATCH (p)-[:IN]->(c:Circle)
    OPTIONAL MATCH (v)-[r:MEMBER_OF]->(c)
    RETURN p {.id, .body, .createdAt, .createdAtMs, .removed, .deleted, .reactionCount,
              .commentCount, .hidden, authorId: a.id,
              authorSuspended: coalesce(a.suspended, false),
              circleId: c.id, circleVisibility: c.visibility} AS post,
           r {.state, .role, .bannedUntil, .mutedUntil} AS membership,
           v IS NOT NULL AND EXISTS { (v)-[:FRIEND]-(a) } AS friend,
           v IS NOT NULL AND EXISTS { (v)-[:BLOCKED]-(a) } AS blocked
"""


def _access_from(record: Mapping[str, Any], viewer_id: str | None) -> PostAccess:
    post = PostRecord.from_row(record["post"])
    facts = ViewerFacts(viewer_id)
    if viewer_id is not None:
        row = record["membership"]
        membership = (
            MembershipRecord.from_row(
                {**row, "userId": viewer_id, "circleId": post.circle_id or ""}
            )
            if row is not None and post.circle_id is not None
            else None
        )
        facts = ViewerFacts(
            viewer_id,
            state=membership.state if membership else State.NONE,
            role=membership.role if membership else None,
            muted=bool(row and membership and is_muted(row.get("mutedUntil"))),
            friend=bool(record["friend"]),
            blocked=bool(record["blocked"]),
        )
    return PostAccess(post, facts)


async def posts_for_viewer(
    graph: Graph, viewer_id: str | None, ids: Sequence[str]
) -> dict[str, PostAccess]:
    """Posts by id with the viewer's facts about each, readable or not (ask ``may_read``)."""
    result = await graph.read(_FACTS, viewer=viewer_id, ids=list(dict.fromkeys(ids)))
    found = (_access_from(r, viewer_id) for r in result.records)
    return {item.post.id: item for item in found}


async def reacted(graph: Graph, viewer_id: str, post_ids: Sequence[str]) -> frozenset[str]:
    """Which of these posts the viewer reacted to."""
    result = await graph.read(
        """
        MATCH (:User {id: $viewer})-[:REACTED]->(p:Post)
        WHERE p.id IN $ids
        RETURN collect(p.id) AS ids
        """,
        viewer=viewer_id,
        ids=list(post_ids),
    )
    return frozenset(result.records[0]["ids"]) if result.records else frozenset()


async def circle_posts_page(
    graph: Graph,
    circle_id: str,
    viewer_id: str | None,
    *,
    include_removed: bool,
    first: int,
    after: tuple[int, str] | None,
) -> list[str]:
    """Ids of a circle's posts, newest first, after the keyset cursor (createdAtMs, id).

    The caller has checked that the viewer may read the circle's posts; posts by users
    blocked either way and by suspended users are left out here so pages stay full.
    """
    after_ms, after_id = after if after else (None, None)
    result = await graph.read(
        """
        OPTIONAL MATCH (v:User {id: $viewer})
        WITH v
        MATCH (c:Circle {id: $circle})<-[:IN]-(p:Post)<-[:POSTED]-(a:User)
        WHERE NOT p.deleted AND ($removed OR NOT (p.removed OR coalesce(p.hidden, false)))
          AND ($afterMs IS NULL OR p.createdAtMs < $afterMs
               OR (p.createdAtMs = $afterMs AND p.id < $afterId))
          AND NOT coalesce(a.suspended, false)
          AND (v IS NULL OR NOT EXISTS { (v)-[:BLOCKED]-(a) })
        RETURN p.id AS id ORDER BY p.createdAtMs DESC, p.id DESC LIMIT $limit
        """,
        viewer=viewer_id,
        circle=circle_id,
        removed=include_removed,
        afterMs=after_ms,
        afterId=after_id,
        limit=first,
    )
    return [r["id"] for r in result.records]


@dataclass(frozen=True)
class CommentsPage:
    """One page request: ``first`` comments of a post after the comment id ``after``."""

    post_id: str
    first: int
    after: str | None


async def comments_pages(
    graph: Graph, viewer_id: str | None, pages: Sequence[CommentsPage]
) -> list[list[CommentRecord]]:
    """Several posts' comment pages in one statement, oldest first (ids are time-ordered).

    Deleted comments and comments by users blocked either way with the viewer (or
    suspended) are left out. The caller has checked that the viewer may read each post.
    """
    result = await graph.read(
        """
        OPTIONAL MATCH (v:User {id: $viewer})
        WITH v
        UNWIND range(0, size($pages) - 1) AS i
        WITH v, i, $pages[i] AS page
        CALL (v, page) {
          MATCH (p:Post {id: page.post})<-[:ON]-(cm:Comment)<-[:WROTE]-(a:User)
          WHERE NOT cm.deleted
            AND (page.after IS NULL OR cm.id > page.after)
            AND NOT coalesce(a.suspended, false)
            AND (v IS NULL OR NOT EXISTS { (v)-[:BLOCKED]-(a) })
          WITH cm, a, p ORDER BY cm.id LIMIT $most
          RETURN collect(cm {.id, .body, .createdAt, postId: p.id, authorId: a.id})
                 AS comments
        }
        RETURN i, comments[..page.limit] AS comments
        """,
        viewer=viewer_id,
        pages=[{"post": p.post_id, "after": p.after, "limit": p.first} for p in pages],
        most=max((p.first for p in pages), default=0),  # LIMIT takes no variables
    )
    by_index = {r["i"]: r["comments"] for r in result.records}
    return [[CommentRecord.from_row(c) for c in by_index.get(i, [])] for i in range(len(pages))]


async def comments_by_ids(graph: Graph, ids: Sequence[str]) -> dict[str, CommentRecord]:
    """Comments by id, deleted ones and those of suspended authors left out."""
    result = await graph.read(
        """
        UNWIND $ids AS cid
        MATCH (a:User)-[:WROTE]->(cm:Comment {id: cid})-[:ON]->(p:Post)
        WHERE NOT cm.deleted AND NOT coalesce(a.suspended, false)
        RETURN cm {.id, .body, .createdAt, postId: p.id, authorId: a.id} AS comment
        """,
        ids=list(ids),
    )
    return {r["comment"]["id"]: CommentRecord.from_row(r["comment"]) for r in result.records}


# ---------------------------------------------------------------- writes


async def _limit(redis: Redis, action: str, user: UserRecord, field: str) -> None:
    """Spend a token of the user's bucket or refuse with RATE_LIMITED.

    When Redis is unreachable the attempt is let through (and logged): Neo4j is the source
    of truth, and an outage of derived state must not stop people posting.
    """
    try:
        decision = await take(redis, action, user)
    except (RedisError, OSError):
        log.warning("rate limit %s unavailable for %s; allowing", action, user.id)
        return
    if not decision.allowed:
        raise ActionError(rate_limited(decision, field))


T = TypeVar("T")
ID_ATTEMPTS = 3


async def _with_fresh_id(
    graph: Graph, work: Callable[[AsyncManagedTransaction], Awaitable[T]]
) -> T:
    """Run a transaction that creates a node with an id from ``new_post_id`` (made inside
    ``work``); two ids of one millisecond collide once in 2^20, so try again then."""
    for attempt in range(ID_ATTEMPTS):
        try:
            return await write_transaction(graph, work)
        except ConstraintError:
            if attempt == ID_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _not_found(field: str = "postId") -> ActionError:
    return ActionError(Problem(ErrorCode.NOT_FOUND, "post not found", field))


async def _lock(tx: AsyncManagedTransaction, post_id: str, viewer_id: str) -> PostAccess | None:
    """Write-lock the post, then read it with the viewer's facts about it."""
    await tx.run("MATCH (p:Post {id: $id}) SET p.lockToken = 1 REMOVE p.lockToken", id=post_id)
    result = await tx.run(_FACTS, viewer=viewer_id, ids=[post_id])
    record = await result.single()
    return _access_from(record, viewer_id) if record is not None else None


_RETURN_POST: LiteralString = """
    RETURN p {.id, .body, .createdAt, .createdAtMs, .removed, .deleted, .reactionCount,
              .commentCount, .hidden, authorId: a.id, circleId: c.id,
              circleVisibility: c.visibility} AS post
"""


async def create_post(
    graph: Graph, redis: Redis, author: UserRecord, circle_id: str | None, body: str
) -> PostRecord:
    """A post in a circle (MEMBERs who are not muted) or on the author's profile (friends).

    Committed to Neo4j with ``fanout = 'PENDING'``, then queued for delivery; when Redis
    is down the post still stands and the outbox sweeper delivers it later.
    """
    problems = check_text("body", body, min_len=1, max_len=BODY_MAX, allow_newlines=True)
    if problems:
        raise ActionError(*problems)
    await _limit(redis, "post", author, "circleId" if circle_id else "body")
    held = await safety.hold_reason(graph, redis, author, circle_id, body)  # automod, x-posts

    async def work(tx: AsyncManagedTransaction) -> PostRecord:
        post_id, ms = new_post_id()
        if circle_id is not None:
            # Locks the membership (not the circle: posting must not serialise a circle),
            # so a ban or mute being written at the same time is seen or waits for us.
            found = await tx.run(
                """
                MATCH (c:Circle {id: $circle})
                OPTIONAL MATCH (:User {id: $author})-[r:MEMBER_OF]->(c)
                FOREACH (_ IN CASE WHEN r IS NULL THEN [] ELSE [1] END |
                         SET r.lockToken = 1 REMOVE r.lockToken)
                RETURN c.visibility AS visibility,
                       r {.state, .role, .bannedUntil, .mutedUntil} AS m
                """,
                circle=circle_id,
                author=author.id,
            )
            record = await found.single()
            if record is None:
                raise ActionError(Problem(ErrorCode.NOT_FOUND, "circle not found", "circleId"))
            row = record["m"]
            membership = (
                MembershipRecord.from_row({**row, "userId": author.id, "circleId": circle_id})
                if row is not None
                else MembershipRecord.none(author.id, circle_id)
            )
            rights = access(Visibility(record["visibility"]), membership.state, membership.role)
            if not rights.card:
                raise ActionError(Problem(ErrorCode.NOT_FOUND, "circle not found", "circleId"))
            if membership.state is not State.MEMBER:
                raise ActionError(
                    Problem(ErrorCode.FORBIDDEN, "only members post in a circle", "circleId")
                )
            if is_muted(row.get("mutedUntil")):
                raise ActionError(
                    Problem(ErrorCode.MUTED, "you are muted in this circle", "circleId")
                )
        result = await tx.run(
            """
            MATCH (a:User {id: $author})
            OPTIONAL MATCH (c:Circle {id: $circle})
            CREATE (a)-[:POSTED]->(p:Post {id: $id, body: $body,
                    createdAt: datetime({epochMillis: $ms}), createdAtMs: $ms,
                    removed: false, deleted: false, reactionCount: 0, commentCount: 0,
                    fanout: 'PENDING', hidden: false})
            FOREACH (_ IN CASE WHEN c IS NULL THEN [] ELSE [1] END | CREATE (p)-[:IN]->(c))
            """
            + _RETURN_POST,
            author=author.id,
            circle=circle_id,
            id=post_id,
            body=body.strip(),
            ms=ms,
        )
        created = await result.single(strict=True)
        if held is not None and circle_id is not None:
            await safety.hold_in_tx(tx, post_id, circle_id, held)
            return replace(PostRecord.from_row(created["post"]), hidden=True)
        return PostRecord.from_row(created["post"])

    post = await _with_fresh_id(graph, work)
    try:
        await post_created(redis, post.id, _feed_copy(post))
    except (RedisError, OSError):
        log.warning("post %s committed but not queued; the outbox sweeper will", post.id)
    return post


def _feed_copy(post: PostRecord) -> FeedPost:
    """The post as feeds cache it, carried by its fan-out job."""
    return FeedPost(
        id=post.id,
        author_id=post.author_id,
        circle_id=post.circle_id,
        circle_visibility=post.circle_visibility.value if post.circle_visibility else None,
        body=post.body,
        created_at_ms=post.created_at_ms,
        created_at=post.created_at.isoformat(),
        reaction_count=post.reaction_count,
        comment_count=post.comment_count,
        removed=post.removed,
        deleted=post.deleted,
        hidden=post.hidden,
        author_suspended=post.author_suspended,
    )


async def delete_post(graph: Graph, redis: Redis, viewer: UserRecord, post_id: str) -> None:
    """The author deletes their post: it stays in the graph (moderation history) but is
    gone for everyone. Others get NOT_FOUND if they cannot see it, FORBIDDEN if they can."""

    async def work(tx: AsyncManagedTransaction) -> None:
        found = await _lock(tx, post_id, viewer.id)
        if found is None or found.post.deleted:
            raise _not_found()
        post = found.post
        if post.author_id != viewer.id:
            if not may_read(found):
                raise _not_found()
            raise ActionError(
                Problem(ErrorCode.FORBIDDEN, "only the author deletes a post", "postId")
            )
        if post.removed and not moderates(found):
            raise _not_found()  # removed posts are invisible to their author too
        await tx.run(
            "MATCH (p:Post {id: $id}) SET p.deleted = true",
            id=post_id,
        )

    await write_transaction(graph, work)
    await _refresh_feeds(graph, redis, post_id)


async def _refresh_feeds(
    graph: Graph, redis: Redis, post_id: str, reactor: tuple[str, bool] | None = None
) -> None:
    """Feeds cache posts: refresh the cached copy (counts, deletion) after a change.

    The change is committed already; if Redis is away, cached copies expire within an
    hour and every feed read re-checks deletion against them.
    """
    try:
        await post_changed(redis, graph, [post_id])
        if reactor is not None:
            await reaction_changed(redis, reactor[0], post_id, reactor[1])
    except (RedisError, OSError) as exc:
        log.warning("post %s changed but its feed copy was not refreshed: %s", post_id, exc)


async def react_to_post(graph: Graph, redis: Redis, viewer: UserRecord, post_id: str) -> PostRecord:
    """Toggle the viewer's reaction; ``reactionCount`` changes under the post's lock."""

    async def work(tx: AsyncManagedTransaction) -> PostRecord:
        found = await _lock(tx, post_id, viewer.id)
        if found is None:
            raise _not_found()
        problem = interaction_problem(found)
        if problem is not None:
            raise ActionError(problem)
        result = await tx.run(
            """
            MATCH (u:User {id: $viewer}), (a:User)-[:POSTED]->(p:Post {id: $id})
            OPTIONAL MATCH (p)-[:IN]->(c:Circle)
            OPTIONAL MATCH (u)-[old:REACTED]->(p)
            WITH u, a, p, c, old, old IS NULL AS adding
            FOREACH (_ IN CASE WHEN adding THEN [1] ELSE [] END |
                     CREATE (u)-[:REACTED {at: datetime()}]->(p))
            DELETE old
            SET p.reactionCount = p.reactionCount + CASE WHEN adding THEN 1 ELSE -1 END
            """
            + _RETURN_POST,
            viewer=viewer.id,
            id=post_id,
        )
        record = await result.single(strict=True)
        return PostRecord.from_row(record["post"])

    before = await reacted(graph, viewer.id, [post_id])
    post = await write_transaction(graph, work)
    await _refresh_feeds(graph, redis, post_id, (viewer.id, post_id not in before))
    return post


async def comment_on_post(
    graph: Graph, redis: Redis, viewer: UserRecord, post_id: str, body: str
) -> CommentRecord:
    """A comment on a post the viewer may read and take part in; ``commentCount`` + 1."""
    problems = check_text("body", body, min_len=1, max_len=COMMENT_MAX, allow_newlines=True)
    if problems:
        raise ActionError(*problems)
    await _limit(redis, "comment", viewer, "body")
    found_post = (await posts_for_viewer(graph, viewer.id, [post_id])).get(post_id)
    await safety.comment_problem(graph, found_post.post.circle_id if found_post else None, body)

    async def work(tx: AsyncManagedTransaction) -> CommentRecord:
        comment_id, ms = new_post_id()
        found = await _lock(tx, post_id, viewer.id)
        if found is None:
            raise _not_found()
        problem = interaction_problem(found)
        if problem is not None:
            raise ActionError(problem)
        result = await tx.run(
            """
            MATCH (u:User {id: $viewer}), (p:Post {id: $post})
            CREATE (u)-[:WROTE]->(cm:Comment {id: $id, body: $body,
                    createdAt: datetime({epochMillis: $ms}), deleted: false})-[:ON]->(p)
            SET p.commentCount = p.commentCount + 1
            RETURN cm {.id, .body, .createdAt, postId: p.id, authorId: u.id} AS comment
            """,
            viewer=viewer.id,
            post=post_id,
            id=comment_id,
            body=body.strip(),
            ms=ms,
        )
        record = await result.single(strict=True)
        return CommentRecord.from_row(record["comment"])

    comment = await _with_fresh_id(graph, work)
    await _refresh_feeds(graph, redis, post_id)
    await notify_comment(graph, redis, comment.id, post_id, viewer.id)
    return comment
