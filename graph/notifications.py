"""Notifications: what happened to a user that they should hear about.

The graph is the source of truth::

    (:Notification {id, kind, recipientId, createdAt, createdAtMs, readAt, unreadFor,
                    dedupeKey})-[:FOR]->(:User)
    (n)-[:ABOUT]->(:FriendRequest | :Circle | :Post | :Comment)
    (n)-[:BY]->(:User)                        the acting user, where there is one

``recipientId`` copies the FOR end so the composite index (recipientId, createdAtMs) serves
the newest-first page; ``unreadFor`` is the recipient's id while the notification is unread
and absent afterwards, so the unread count and ``unreadOnly`` pages seek only unread rows.

An action writes its notifications inside its own transaction (``friend_request``,
``join_approved``, ``comment``, ``post_removed``), so they commit with the change they
tell of or not at all; the live push on Redis follows the commit as one of the action's
effects (``workers/notifications.py``). ``dedupeKey`` makes a repeated call for the same
event create nothing new.

Reads never show a notification whose (personal) actor is suspended or blocked either way
with the recipient. What a notification is about is resolved by the schema through the
ordinary read rules, so a post hidden since reads as null.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from neo4j import AsyncManagedTransaction

from graph.driver import Graph
from graph.users import new_id


class Kind(enum.StrEnum):
    FRIEND_REQUEST_RECEIVED = "FRIEND_REQUEST_RECEIVED"
    FRIEND_REQUEST_ACCEPTED = "FRIEND_REQUEST_ACCEPTED"
    JOIN_REQUEST_APPROVED = "JOIN_REQUEST_APPROVED"
    COMMENT_ON_YOUR_POST = "COMMENT_ON_YOUR_POST"
    POST_REMOVED = "POST_REMOVED"


# Kinds where a person acted towards the recipient: the actor is shown, and blocking or
# suspension of that person hides the notification. Moderation decisions (join approved,
# post removed) are the circle's: the moderator is recorded (BY) but never shown.
PERSONAL: frozenset[Kind] = frozenset(
    {Kind.FRIEND_REQUEST_RECEIVED, Kind.FRIEND_REQUEST_ACCEPTED, Kind.COMMENT_ON_YOUR_POST}
)


@dataclass(frozen=True)
class NotificationRecord:
    id: str
    kind: Kind
    recipient_id: str
    created_at: datetime
    created_at_ms: int
    read_at: datetime | None
    actor_id: str | None
    request_id: str | None
    circle_id: str | None
    post_id: str | None
    comment_id: str | None

    @property
    def read(self) -> bool:
        return self.read_at is not None

    @property
    def shown_actor_id(self) -> str | None:
        """The actor as clients see it: only for kinds where a person acted."""
        return self.actor_id if self.kind in PERSONAL else None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> NotificationRecord:
        read_at = row.get("readAt")
        return cls(
            id=row["id"],
            kind=Kind(row["kind"]),
            recipient_id=row["recipientId"],
            created_at=row["createdAt"].to_native(),
            created_at_ms=int(row["createdAtMs"]),
            read_at=read_at.to_native() if read_at is not None else None,
            actor_id=row.get("actorId"),
            request_id=row.get("requestId"),
            circle_id=row.get("circleId"),
            post_id=row.get("postId"),
            comment_id=row.get("commentId"),
        )


_FIELDS: LiteralString = """
    n {.id, .kind, .recipientId, .createdAt, .createdAtMs, .readAt,
       actorId: [(n)-[:BY]->(x:User) | x.id][0],
       requestId: [(n)-[:ABOUT]->(x:FriendRequest) | x.id][0],
       circleId: [(n)-[:ABOUT]->(x:Circle) | x.id][0],
       postId: [(n)-[:ABOUT]->(x:Post) | x.id][0],
       commentId: [(n)-[:ABOUT]->(x:Comment) | x.id][0]} AS notification
"""

# True when the notification may be shown to `me` (bound to the recipient's User node).
_SHOWN: LiteralString = """
    NOT EXISTS {
      MATCH (n)-[:BY]->(x:User)
      WHERE n.kind IN $personal
        AND (coalesce(x.suspended, false) OR EXISTS { (me)-[:BLOCKED]-(x) })
    }
"""


def _personal() -> list[str]:
    return sorted(k.value for k in PERSONAL)


# ---------------------------------------------------------------- writes


# One statement per notification: recipient, actor and the things it is about are matched
# by id (each by its label, so by its unique index); nothing is created when the recipient
# is missing or suspended, when they are the actor, or when the two block each other.
# MERGE on dedupeKey (unique) makes a repeated call create nothing; `created` tells.
_CREATE: LiteralString = """
    MATCH (me:User {id: $recipient})
    WHERE NOT coalesce(me.suspended, false)
    OPTIONAL MATCH (actor:User {id: $actor})
    WITH me, actor
    WHERE actor IS NULL OR (actor <> me AND NOT EXISTS { (me)-[:BLOCKED]-(actor) })
    OPTIONAL MATCH (r:FriendRequest {id: $request})
    OPTIONAL MATCH (c:Circle {id: $circle})
    OPTIONAL MATCH (p:Post {id: $post})
    OPTIONAL MATCH (cm:Comment {id: $comment})
    MERGE (n:Notification {dedupeKey: $key})
    ON CREATE SET n.id = $id, n.kind = $kind, n.recipientId = me.id, n.unreadFor = me.id,
                  n.createdAt = datetime({epochMillis: $ms}), n.createdAtMs = $ms
    WITH me, actor, [x IN [r, c, p, cm] WHERE x IS NOT NULL] AS about, n, n.id = $id AS created
    FOREACH (_ IN CASE WHEN created THEN [1] ELSE [] END | CREATE (n)-[:FOR]->(me))
    FOREACH (_ IN CASE WHEN created AND actor IS NOT NULL THEN [1] ELSE [] END |
             CREATE (n)-[:BY]->(actor))
    FOREACH (x IN CASE WHEN created THEN about ELSE [] END | CREATE (n)-[:ABOUT]->(x))
    RETURN n.id AS id, created
"""


@dataclass(frozen=True)
class Created:
    """A notification just written, for the live push once the transaction commits."""

    recipient_id: str
    id: str


async def _create(
    tx: AsyncManagedTransaction,
    kind: Kind,
    recipient_id: str,
    *,
    actor_id: str | None,
    about: Mapping[str, str],
    dedupe_key: str | None,
) -> Created | None:
    """Record one notification in the caller's transaction; None when nothing was created
    (recipient missing, suspended, the actor, blocked either way, or a repeat)."""
    notification_id = new_id()
    result = await tx.run(
        _CREATE,
        recipient=recipient_id,
        actor=actor_id,
        key=dedupe_key or f"{kind.value}:{notification_id}",
        id=notification_id,
        kind=kind.value,
        ms=int(time.time() * 1000),
        request=about.get("request"),
        circle=about.get("circle"),
        post=about.get("post"),
        comment=about.get("comment"),
    )
    record = await result.single()
    if record is None or not record["created"]:
        return None
    return Created(recipient_id, record["id"])


async def friend_request(
    tx: AsyncManagedTransaction, request_id: str, from_id: str, to_id: str, state: str
) -> Created | None:
    """A friend request was sent (PENDING: the recipient hears) or accepted (ACCEPTED: the
    one who asked hears, from the one who accepted)."""
    if state == "PENDING":
        kind, recipient, actor = Kind.FRIEND_REQUEST_RECEIVED, to_id, from_id
    elif state == "ACCEPTED":
        kind, recipient, actor = Kind.FRIEND_REQUEST_ACCEPTED, from_id, to_id
    else:
        return None
    return await _create(
        tx,
        kind,
        recipient,
        actor_id=actor,
        about={"request": request_id},
        dedupe_key=f"{kind.value}:{request_id}",
    )


async def join_approved(
    tx: AsyncManagedTransaction, circle_id: str, user_id: str, moderator_id: str
) -> Created | None:
    """A moderator admitted a user who had asked to join (review or invite)."""
    return await _create(
        tx,
        Kind.JOIN_REQUEST_APPROVED,
        user_id,
        actor_id=moderator_id,
        about={"circle": circle_id},
        dedupe_key=None,
    )


async def comment(
    tx: AsyncManagedTransaction, comment_id: str, post_id: str, commenter_id: str
) -> Created | None:
    """A comment: the post's author hears, unless they wrote the comment."""
    found = await tx.run(
        "MATCH (a:User)-[:POSTED]->(:Post {id: $post}) RETURN a.id AS author", post=post_id
    )
    row = await found.single()
    if row is None or row["author"] == commenter_id:
        return None
    return await _create(
        tx,
        Kind.COMMENT_ON_YOUR_POST,
        row["author"],
        actor_id=commenter_id,
        about={"comment": comment_id, "post": post_id},
        dedupe_key=f"{Kind.COMMENT_ON_YOUR_POST.value}:{comment_id}",
    )


async def post_removed(
    tx: AsyncManagedTransaction, post_id: str, *, action_id: str
) -> Created | None:
    """A moderator removed a post: its author hears (the moderator stays unnamed); the
    action's id makes a repeated call create nothing new."""
    found = await tx.run(
        """
        MATCH (a:User)-[:POSTED]->(p:Post {id: $post})
        RETURN a.id AS author, [(p)-[:IN]->(c:Circle) | c.id][0] AS circle
        """,
        post=post_id,
    )
    row = await found.single()
    if row is None:
        return None
    about = {"post": post_id, "circle": row["circle"]} if row["circle"] else {"post": post_id}
    return await _create(
        tx,
        Kind.POST_REMOVED,
        row["author"],
        actor_id=None,
        about=about,
        dedupe_key=f"{Kind.POST_REMOVED.value}:{action_id}",
    )


# ---------------------------------------------------------------- reads

NEWEST = 2**53  # above any createdAtMs: the first page's upper bound


async def notifications_page(
    graph: Graph,
    user_id: str,
    *,
    unread_only: bool,
    first: int,
    after: tuple[int, str] | None,
) -> list[NotificationRecord]:
    """The user's notifications newest first, after the keyset cursor (createdAtMs, id).

    A range on both properties of the composite index, so Neo4j seeks the user's rows in
    index order instead of scanning every notification.
    """
    after_ms, after_id = after if after else (None, None)
    query: LiteralString = (
        "MATCH (n:Notification {unreadFor: $me}) "
        if unread_only
        else "MATCH (n:Notification {recipientId: $me}) "
    )
    result = await graph.read(
        """
        MATCH (me:User {id: $me})
        """
        + query
        + """
        WHERE n.createdAtMs <= $maxMs
          AND (n.createdAtMs < $maxMs OR $afterId IS NULL OR n.id < $afterId)
          AND """
        + _SHOWN
        + """
        WITH n ORDER BY n.createdAtMs DESC, n.id DESC LIMIT $limit
        RETURN """
        + _FIELDS,
        me=user_id,
        maxMs=after_ms if after_ms is not None else NEWEST,
        afterId=after_id,
        limit=first,
        personal=_personal(),
    )
    return [NotificationRecord.from_row(r["notification"]) for r in result.records]


async def notifications_by_ids(
    graph: Graph, user_id: str, ids: Sequence[str]
) -> dict[str, NotificationRecord]:
    """The user's own notifications by id, hidden ones left out."""
    result = await graph.read(
        """
        MATCH (me:User {id: $me})
        UNWIND $ids AS nid
        MATCH (n:Notification {id: nid})
        WHERE n.recipientId = $me AND """
        + _SHOWN
        + """
        RETURN """
        + _FIELDS,
        me=user_id,
        ids=list(dict.fromkeys(ids)),
        personal=_personal(),
    )
    return {
        r["notification"]["id"]: NotificationRecord.from_row(r["notification"])
        for r in result.records
    }


async def unread_count(graph: Graph, user_id: str) -> int:
    result = await graph.read(
        """
        MATCH (me:User {id: $me})
        MATCH (n:Notification {unreadFor: $me})
        WHERE n.createdAtMs IS NOT NULL AND """  # lets the composite index answer
        + _SHOWN
        + """
        RETURN count(n) AS n
        """,
        me=user_id,
        personal=_personal(),
    )
    return int(result.records[0]["n"]) if result.records else 0


async def mark_read(tx: AsyncManagedTransaction, user_id: str, *, ids: Sequence[str] | None) -> int:
    """Mark the user's unread notifications read: those with the given ids, or all (None).

    Ids that are not the user's, or not unread, are left alone. Returns how many changed.
    """
    result = await tx.run(
        """
        MATCH (n:Notification {unreadFor: $me})
        WHERE n.createdAtMs IS NOT NULL AND ($ids IS NULL OR n.id IN $ids)
        SET n.readAt = datetime()
        REMOVE n.unreadFor
        RETURN count(n) AS n
        """,
        me=user_id,
        ids=list(ids) if ids is not None else None,
    )
    record = await result.single()
    return int(record["n"]) if record is not None else 0
