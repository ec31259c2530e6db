"""Posts, reactions and comments, and the one rule that says who may read a post.

``may_read`` is that rule; every read path (the post loader, ``node``, ``Query.post``,
``Circle.posts``, comments, feeds) and every write path (delete, react, comment) asks it,
with the facts about one viewer and one post that ``_FACTS`` gathers in one statement.
A post has one shape, ``PostRecord``, read through one projection (``POST_FIELDS``) and
cached by feeds as ``PostRecord.to_dict()``.

Writes that change a post's counters run in one transaction that write-locks the post
first (``lock``), so ``reactionCount`` and ``commentCount`` stay exact under concurrency.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any, LiteralString

from neo4j import AsyncManagedTransaction

from graph import safety
from graph.circles import (
    MEMBERSHIP_MAP,
    MembershipRecord,
    Role,
    State,
    Visibility,
    access,
    moderates,
)
from graph.driver import Graph
from graph.errors import ActionError, ErrorCode, Problem
from graph.validation import check_text

BODY_MAX = 5000
COMMENT_MAX = 5000

# ---------------------------------------------------------------- ids

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
ID_LENGTH = 13  # 65 bits: 45 of milliseconds (until the year 3084) and 20 random
RANDOM_BITS = 20
# Transactions that make ids with ``new_post_id`` run this many times on a collision.
ID_ATTEMPTS = 3


def new_post_id(now_ms: int | None = None) -> tuple[str, int]:
    """A compact id that sorts by creation time, and that time in milliseconds.

    ``(ms << 20) | 20 random bits`` in fixed-width base32: string order is time order, and
    two ids made in the same millisecond collide with probability 2^-20 (the unique
    constraint turns that into a retried transaction, never a lost post).
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

# The one projection of a post: ``p`` the post, ``a`` its author, ``c`` its circle or null.
POST_FIELDS: LiteralString = """
    p {.id, .body, .createdAt, .createdAtMs, .reactionCount, .commentCount,
       removed: coalesce(p.removed, false), deleted: coalesce(p.deleted, false),
       hidden: coalesce(p.hidden, false), authorId: a.id,
       authorSuspended: coalesce(a.suspended, false),
       circleId: c.id, circleVisibility: c.visibility} AS post
"""


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
            created_at_ms=int(row["createdAtMs"]),
            removed=bool(row["removed"]),
            deleted=bool(row["deleted"]),
            reaction_count=int(row["reactionCount"] or 0),
            comment_count=int(row["commentCount"] or 0),
            author_suspended=bool(row.get("authorSuspended")),
            hidden=bool(row.get("hidden")),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: how feeds cache a post and carry it in a fan-out job."""
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["circle_visibility"] = self.circle_visibility.value if self.circle_visibility else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PostRecord:
        """The inverse of ``to_dict``; KeyError or ValueError for anything else."""
        visibility = data["circle_visibility"]
        return cls(
            **{
                **data,
                "created_at": datetime.fromisoformat(data["created_at"]),
                "circle_visibility": Visibility(visibility) if visibility else None,
            }
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
    admin: bool = False  # a platform admin moderates every circle
    # Comments on the post this viewer may not see (their authors and the viewer block
    # each other): ``commentCount`` counts only what the viewer sees.
    hidden_comments: int = 0


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


# ---------------------------------------------------------------- the rule


def moderated(item: PostAccess) -> bool:
    """Whether the viewer moderates the post's circle (and so may see it removed)."""
    post, facts = item.post, item.facts
    if post.circle_visibility is None:
        return False
    return moderates(post.circle_visibility, facts.state, facts.role, admin=facts.admin)


def may_read(item: PostAccess) -> bool:
    """Who may read a post: the product's visibility rules for posts, in one place.

    Deleted posts and posts of suspended authors: nobody. Blocked either way with the
    author: hidden. A profile post: the author and the author's friends. A circle post:
    whoever ``access(...).posts`` allows for their membership; a removed or held one only
    those who moderate the circle.
    """
    post, facts = item.post, item.facts
    if post.deleted or post.author_suspended:
        return False
    if facts.viewer_id is not None and facts.blocked:
        return False
    if post.circle_id is None or post.circle_visibility is None:
        return facts.viewer_id is not None and (facts.viewer_id == post.author_id or facts.friend)
    rights = access(post.circle_visibility, facts.state, facts.role, admin=facts.admin)
    return rights.moderate if post.removed or post.hidden else rights.posts


def posting_problem(
    visibility: Visibility, membership: MembershipRecord, field: str = "circleId"
) -> Problem | None:
    """Why someone may not post in a circle, if they may not: a circle they cannot see is
    NOT_FOUND (before any other rule), then only MEMBERs who are not muted post."""
    if not access(visibility, membership.state, membership.role).card:
        return Problem(ErrorCode.NOT_FOUND, "circle not found", field)
    if membership.state is not State.MEMBER:
        return Problem(ErrorCode.FORBIDDEN, "only members post in a circle", field)
    if membership.muted:
        return Problem(ErrorCode.MUTED, "you are muted in this circle", field)
    return None


async def posting_problem_now(graph: Graph, author_id: str, circle_id: str) -> Problem | None:
    """``posting_problem`` as the graph stands (the transaction asks again under its lock)."""
    result = await graph.read(
        """
        MATCH (c:Circle {id: $circle})
        OPTIONAL MATCH (u:User {id: $author})-[r:MEMBER_OF]->(c)
        RETURN c.visibility AS visibility,
               CASE WHEN r IS NULL THEN null ELSE """
        + MEMBERSHIP_MAP
        + """ END AS membership
        """,
        circle=circle_id,
        author=author_id,
    )
    if not result.records:
        return Problem(ErrorCode.NOT_FOUND, "circle not found", "circleId")
    row = result.records[0]
    membership = (
        MembershipRecord.from_row(row["membership"])
        if row["membership"] is not None
        else MembershipRecord.none(author_id, circle_id)
    )
    return posting_problem(Visibility(row["visibility"]), membership)


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

# The comments on ``p`` written by users blocked either way with ``v`` (none for null).
# A post's stored ``commentCount`` leaves out deleted comments and suspended authors'.
_HIDDEN_COMMENTS: LiteralString = """
    CALL (v, p) {
        OPTIONAL MATCH (v)-[:BLOCKED]-(w:User)
        WITH DISTINCT w WHERE w IS NOT NULL AND NOT coalesce(w.suspended, false)
        MATCH (w)-[:WROTE]->(cm:Comment)-[:ON]->(p) WHERE NOT cm.deleted
        RETURN count(cm) AS hiddenComments
    }
"""

# Rows: one per post id found; $viewer may be null (anonymous).
_FACTS: LiteralString = (
    """
    OPTIONAL MATCH (v:User {id: $viewer})
    WITH v
    UNWIND $ids AS pid
    MATCH (a:User)-[:POSTED]->(p:Post {id: pid})
    OPTIONAL MATCH (p)-[:IN]->(c:Circle)
    OPTIONAL MATCH (v)-[r:MEMBER_OF]->(c)
    """
    + _HIDDEN_COMMENTS
    + """
    RETURN """
    + POST_FIELDS
    + """,
           r {.state, .role, .bannedUntil, .mutedUntil} AS membership,
           v IS NOT NULL AND EXISTS { (v)-[:FRIEND]-(a) } AS friend,
           v IS NOT NULL AND EXISTS { (v)-[:BLOCKED]-(a) } AS blocked,
           hiddenComments
    """
)


def _access_from(record: Mapping[str, Any], viewer_id: str | None, admin: bool) -> PostAccess:
    post = PostRecord.from_row(record["post"])
    facts = ViewerFacts(viewer_id, admin=admin)
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
            muted=bool(membership and membership.state is State.MEMBER and membership.muted),
            friend=bool(record["friend"]),
            blocked=bool(record["blocked"]),
            admin=admin,
            hidden_comments=int(record["hiddenComments"]),
        )
    return PostAccess(post, facts)


async def posts_for_viewer(
    graph: Graph, viewer_id: str | None, ids: Sequence[str], *, admin: bool = False
) -> dict[str, PostAccess]:
    """Posts by id with the viewer's facts about each, readable or not (ask ``may_read``)."""
    result = await graph.read(_FACTS, viewer=viewer_id, ids=list(dict.fromkeys(ids)))
    found = (_access_from(r, viewer_id, admin) for r in result.records)
    return {item.post.id: item for item in found}


_BY_IDS: LiteralString = """
    UNWIND $ids AS pid
    MATCH (a:User)-[:POSTED]->(p:Post {id: pid})
    OPTIONAL MATCH (p)-[:IN]->(c:Circle)
"""


async def posts_by_ids(graph: Graph, ids: Sequence[str]) -> dict[str, PostRecord]:
    """Posts as they are now, by id, whoever may read them (feeds filter them per reader)."""
    result = await graph.read(_BY_IDS + "RETURN " + POST_FIELDS, ids=list(ids))
    return {r["post"]["id"]: PostRecord.from_row(r["post"]) for r in result.records}


async def undelivered_posts(graph: Graph, ids: Sequence[str]) -> dict[str, PostRecord]:
    """Of these posts, the ones whose fan-out has not finished (``fanout = 'PENDING'``)."""
    result = await graph.read(
        _BY_IDS + "WITH a, p, c WHERE p.fanout = 'PENDING' RETURN " + POST_FIELDS, ids=list(ids)
    )
    return {r["post"]["id"]: PostRecord.from_row(r["post"]) for r in result.records}


async def hidden_comment_counts(
    graph: Graph, viewer_id: str, post_ids: Sequence[str]
) -> dict[str, int]:
    """Per post, the comments the viewer may not see (see ``ViewerFacts``); posts with
    none are left out."""
    result = await graph.read(
        """
        MATCH (v:User {id: $viewer})
        UNWIND $ids AS pid
        MATCH (p:Post {id: pid})
        """
        + _HIDDEN_COMMENTS
        + """
        WITH p, hiddenComments WHERE hiddenComments > 0
        RETURN p.id AS id, hiddenComments
        """,
        viewer=viewer_id,
        ids=list(post_ids),
    )
    return {r["id"]: int(r["hiddenComments"]) for r in result.records}


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


@dataclass(frozen=True)
class CirclePostsPage:
    """One page request: ``first`` posts of a circle after the keyset (createdAtMs, id);
    removed and held posts only for those who moderate it."""

    circle_id: str
    include_removed: bool
    first: int
    after: tuple[int, str] | None


async def circle_posts_pages(
    graph: Graph, viewer_id: str | None, pages: Sequence[CirclePostsPage]
) -> list[list[str]]:
    """Ids of several circles' posts, newest first, in one statement.

    The caller has checked that the viewer may read each circle's posts; posts by users
    blocked either way and by suspended users are left out here so pages stay full.
    """
    result = await graph.read(
        """
        OPTIONAL MATCH (v:User {id: $viewer})
        WITH v
        UNWIND range(0, size($pages) - 1) AS i
        WITH v, i, $pages[i] AS page
        CALL (v, page) {
          MATCH (c:Circle {id: page.circle})<-[:IN]-(p:Post)<-[:POSTED]-(a:User)
          WHERE NOT p.deleted
            AND (page.removed OR NOT (p.removed OR coalesce(p.hidden, false)))
            AND (page.afterMs IS NULL OR p.createdAtMs < page.afterMs
                 OR (p.createdAtMs = page.afterMs AND p.id < page.afterId))
            AND NOT coalesce(a.suspended, false)
            AND (v IS NULL OR NOT EXISTS { (v)-[:BLOCKED]-(a) })
          WITH p ORDER BY p.createdAtMs DESC, p.id DESC LIMIT $most
          RETURN collect(p.id) AS ids
        }
        RETURN i, ids[..page.limit] AS ids
        """,
        viewer=viewer_id,
        pages=[
            {
                "circle": p.circle_id,
                "removed": p.include_removed,
                "afterMs": p.after[0] if p.after else None,
                "afterId": p.after[1] if p.after else None,
                "limit": p.first,
            }
            for p in pages
        ],
        most=max((p.first for p in pages), default=0),  # LIMIT takes no variables
    )
    by_index = {r["i"]: r["ids"] for r in result.records}
    return [list(by_index.get(i, [])) for i in range(len(pages))]


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


async def post_ids_by_author(graph: Graph, user_id: str, *, after: str, limit: int) -> list[str]:
    """One page of the ids of a user's posts, in id order after ``after`` ("" first)."""
    result = await graph.read(
        """
        MATCH (:User {id: $id})-[:POSTED]->(p:Post) WHERE p.id > $after
        RETURN p.id AS id ORDER BY p.id LIMIT $limit
        """,
        id=user_id,
        after=after,
        limit=limit,
    )
    return [r["id"] for r in result.records]


# ---------------------------------------------------------------- input rules


def body_problems(body: str) -> list[Problem]:
    return check_text("body", body, min_len=1, max_len=BODY_MAX, allow_newlines=True)


def comment_problems(body: str) -> list[Problem]:
    return check_text("body", body, min_len=1, max_len=COMMENT_MAX, allow_newlines=True)


def not_found(field: str = "postId") -> ActionError:
    return ActionError(Problem(ErrorCode.NOT_FOUND, "post not found", field))


# ---------------------------------------------------------------- transactions


async def lock(tx: AsyncManagedTransaction, post_id: str, viewer_id: str) -> PostAccess | None:
    """Write-lock the post, then read it with the viewer's facts about it."""
    await tx.run("MATCH (p:Post {id: $id}) SET p.lockToken = 1 REMOVE p.lockToken", id=post_id)
    result = await tx.run(_FACTS, viewer=viewer_id, ids=[post_id])
    record = await result.single()
    return _access_from(record, viewer_id, False) if record is not None else None


async def _lock_to_take_part(tx: AsyncManagedTransaction, post_id: str, viewer_id: str) -> None:
    """Lock the post for a reaction or comment, refused as ``interaction_problem`` says."""
    found = await lock(tx, post_id, viewer_id)
    if found is None:
        raise not_found()
    problem = interaction_problem(found)
    if problem is not None:
        raise ActionError(problem)


_RETURN_POST: LiteralString = "RETURN " + POST_FIELDS


async def create(
    tx: AsyncManagedTransaction,
    author_id: str,
    circle_id: str | None,
    body: str,
    *,
    held: str | None,
) -> PostRecord:
    """A post in a circle (MEMBERs who are not muted) or on the author's profile (friends),
    committed with ``fanout = 'PENDING'`` (the outbox the fan-out sweeper reads). ``held``:
    why it waits for review (hidden, with a system report in the circle's queue)."""
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
            author=author_id,
        )
        record = await found.single()
        if record is None:
            raise ActionError(Problem(ErrorCode.NOT_FOUND, "circle not found", "circleId"))
        row = record["m"]
        membership = (
            MembershipRecord.from_row({**row, "userId": author_id, "circleId": circle_id})
            if row is not None
            else MembershipRecord.none(author_id, circle_id)
        )
        problem = posting_problem(Visibility(record["visibility"]), membership)
        if problem is not None:
            raise ActionError(problem)
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
        author=author_id,
        circle=circle_id,
        id=post_id,
        body=body.strip(),
        ms=ms,
    )
    created = PostRecord.from_row((await result.single(strict=True))["post"])
    if held is not None and circle_id is not None:
        await safety.hold(tx, post_id, circle_id, held)
        return replace(created, hidden=True)
    return created


async def delete(tx: AsyncManagedTransaction, viewer_id: str, post_id: str) -> None:
    """The author deletes their post: it stays in the graph (moderation history) but is
    gone for everyone. Others get NOT_FOUND if they cannot see it, FORBIDDEN if they can."""
    found = await lock(tx, post_id, viewer_id)
    if found is None or found.post.deleted:
        raise not_found()
    post = found.post
    if post.author_id != viewer_id:
        if not may_read(found):
            raise not_found()
        raise ActionError(Problem(ErrorCode.FORBIDDEN, "only the author deletes a post", "postId"))
    if post.removed and not moderated(found):
        raise not_found()  # removed posts are invisible to their author too
    await tx.run("MATCH (p:Post {id: $id}) SET p.deleted = true", id=post_id)


async def toggle_reaction(
    tx: AsyncManagedTransaction, viewer_id: str, post_id: str
) -> tuple[PostRecord, bool]:
    """Add the viewer's reaction or take it back; returns the post and whether the viewer
    reacts now. ``reactionCount`` changes under the post's lock."""
    await _lock_to_take_part(tx, post_id, viewer_id)
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
        + _RETURN_POST
        + ", adding",
        viewer=viewer_id,
        id=post_id,
    )
    record = await result.single(strict=True)
    return PostRecord.from_row(record["post"]), bool(record["adding"])


async def add_comment(
    tx: AsyncManagedTransaction, viewer_id: str, post_id: str, body: str
) -> CommentRecord:
    """A comment on a post the viewer may read and take part in; ``commentCount`` + 1."""
    comment_id, ms = new_post_id()
    await _lock_to_take_part(tx, post_id, viewer_id)
    result = await tx.run(
        """
        MATCH (u:User {id: $viewer}), (p:Post {id: $post})
        CREATE (u)-[:WROTE]->(cm:Comment {id: $id, body: $body,
                createdAt: datetime({epochMillis: $ms}), deleted: false})-[:ON]->(p)
        SET p.commentCount = p.commentCount + 1
        RETURN cm {.id, .body, .createdAt, postId: p.id, authorId: u.id} AS comment
        """,
        viewer=viewer_id,
        post=post_id,
        id=comment_id,
        body=body.strip(),
        ms=ms,
    )
    record = await result.single(strict=True)
    return CommentRecord.from_row(record["comment"])
