"""The social graph's writes: friend requests, friendships, blocks and dismissals.

Two users' relationship changes in one transaction that first write-locks both user
nodes (in id order), so concurrent requests between the same pair serialise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from neo4j import AsyncManagedTransaction

from graph.driver import Graph
from graph.errors import ActionError, ErrorCode, Problem
from graph.users import new_id

PENDING, ACCEPTED, DECLINED, CANCELLED = "PENDING", "ACCEPTED", "DECLINED", "CANCELLED"

REQUEST_FIELDS: LiteralString = """
    r {.id, .state, .createdAt, from: [(f)-[:SENT]->(r) | f.id][0],
       to: [(r)-[:TO]->(t) | t.id][0]} AS request
"""


@dataclass(frozen=True)
class FriendRequestRecord:
    id: str
    from_id: str
    to_id: str
    state: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FriendRequestRecord:
        return cls(
            id=row["id"],
            from_id=row["from"],
            to_id=row["to"],
            state=row["state"],
            created_at=row["createdAt"].to_native(),
        )


def _problem(code: ErrorCode, message: str, field: str | None = "userId") -> ActionError:
    return ActionError(Problem(code, message, field))


async def _lock_pair(tx: AsyncManagedTransaction, a: str, b: str) -> set[str]:
    """Write-lock both users; returns the ids of those that exist and are not suspended."""
    result = await tx.run(
        """
        MATCH (u:User) WHERE u.id IN $ids
        WITH u ORDER BY u.id
        SET u.lockToken = 1 REMOVE u.lockToken
        RETURN u.id AS id, coalesce(u.suspended, false) AS suspended
        """,
        ids=[a, b],
    )
    return {r["id"] async for r in result if not r["suspended"]}


async def _pair_state(tx: AsyncManagedTransaction, a: str, b: str) -> dict[str, Any]:
    result = await tx.run(
        """
        MATCH (a:User {id: $a}), (b:User {id: $b})
        RETURN EXISTS { (a)-[:BLOCKED]-(b) } AS blocked,
               EXISTS { (a)-[:FRIEND]-(b) } AS friends,
               EXISTS { (a)-[:SENT]->(:FriendRequest {state: 'PENDING'})-[:TO]->(b) } AS outgoing,
               [(b)-[:SENT]->(r:FriendRequest {state: 'PENDING'})-[:TO]->(a) | r.id][0] AS incoming
        """,
        a=a,
        b=b,
    )
    record = await result.single(strict=True)
    return dict(record)


async def _befriend(tx: AsyncManagedTransaction, a: str, b: str) -> None:
    low, high = sorted((a, b))
    await tx.run(
        """
        MATCH (l:User {id: $low}), (h:User {id: $high})
        MERGE (l)-[f:FRIEND]->(h) ON CREATE SET f.since = datetime()
        """,
        low=low,
        high=high,
    )


async def _close_request(
    tx: AsyncManagedTransaction, request_id: str, state: str
) -> FriendRequestRecord:
    result = await tx.run(
        "MATCH (r:FriendRequest {id: $id}) "
        "SET r.state = $state, r.updatedAt = datetime() REMOVE r.pendingKey "
        "RETURN " + REQUEST_FIELDS,
        id=request_id,
        state=state,
    )
    record = await result.single(strict=True)
    return FriendRequestRecord.from_row(record["request"])


async def _request_in(tx: AsyncManagedTransaction, request_id: str) -> FriendRequestRecord | None:
    result = await tx.run(
        "MATCH (r:FriendRequest {id: $id}) RETURN " + REQUEST_FIELDS, id=request_id
    )
    record = await result.single()
    return FriendRequestRecord.from_row(record["request"]) if record is not None else None


# ---------------------------------------------------------------- transactions


async def send_request(
    tx: AsyncManagedTransaction, sender_id: str, target_id: str
) -> FriendRequestRecord:
    """A new PENDING request; if the target already asked the sender, both are friends now
    (the request comes back ACCEPTED). Sending one to oneself is the caller's to refuse."""
    alive = await _lock_pair(tx, sender_id, target_id)
    if target_id not in alive or sender_id not in alive:
        raise _problem(ErrorCode.NOT_FOUND, "user not found")
    state = await _pair_state(tx, sender_id, target_id)
    if state["blocked"]:
        raise _problem(ErrorCode.BLOCKED, "you cannot send this user a friend request")
    if state["friends"]:
        raise _problem(ErrorCode.ALREADY_EXISTS, "you are already friends")
    if state["outgoing"]:
        raise _problem(ErrorCode.ALREADY_EXISTS, "a request is already pending")
    if state["incoming"]:
        await _befriend(tx, sender_id, target_id)
        return await _close_request(tx, state["incoming"], ACCEPTED)
    result = await tx.run(
        """
        MATCH (a:User {id: $a}), (b:User {id: $b})
        CREATE (a)-[:SENT]->(r:FriendRequest {id: $id, state: 'PENDING',
                createdAt: datetime(), updatedAt: datetime(), pendingKey: $a + '>' + $b})
               -[:TO]->(b)
        RETURN """
        + REQUEST_FIELDS,
        a=sender_id,
        b=target_id,
        id=new_id(),
    )
    record = await result.single(strict=True)
    return FriendRequestRecord.from_row(record["request"])


async def respond(
    tx: AsyncManagedTransaction, viewer_id: str, request_id: str, *, accept: bool
) -> FriendRequestRecord:
    """The recipient accepts (friends now) or declines a pending request."""
    request = await _request_in(tx, request_id)
    if request is None or request.to_id != viewer_id:
        raise _problem(ErrorCode.NOT_FOUND, "friend request not found", "requestId")
    alive = await _lock_pair(tx, request.from_id, request.to_id)
    current = await tx.run("MATCH (r:FriendRequest {id: $id}) RETURN r.state AS s", id=request_id)
    row = await current.single()
    if row is None or row["s"] != PENDING:
        raise _problem(ErrorCode.INVALID_INPUT, "this request is no longer pending", "requestId")
    if accept:
        if request.from_id not in alive:
            raise _problem(ErrorCode.NOT_FOUND, "friend request not found", "requestId")
        await _befriend(tx, request.from_id, request.to_id)
    return await _close_request(tx, request_id, ACCEPTED if accept else DECLINED)


async def cancel(
    tx: AsyncManagedTransaction, viewer_id: str, request_id: str
) -> FriendRequestRecord:
    """The sender withdraws a pending request."""
    request = await _request_in(tx, request_id)
    if request is None or request.from_id != viewer_id:
        raise _problem(ErrorCode.NOT_FOUND, "friend request not found", "requestId")
    result = await tx.run(
        "MATCH (r:FriendRequest {id: $id, state: 'PENDING'}) "
        "SET r.state = 'CANCELLED', r.updatedAt = datetime() REMOVE r.pendingKey "
        "RETURN " + REQUEST_FIELDS,
        id=request_id,
    )
    record = await result.single()
    if record is None:
        raise _problem(ErrorCode.INVALID_INPUT, "this request is no longer pending", "requestId")
    return FriendRequestRecord.from_row(record["request"])


async def unfriend(tx: AsyncManagedTransaction, viewer_id: str, friend_id: str) -> None:
    result = await tx.run(
        """
        MATCH (:User {id: $a})-[f:FRIEND]-(:User {id: $b})
        DELETE f
        RETURN count(*) AS removed
        """,
        a=viewer_id,
        b=friend_id,
    )
    record = await result.single()
    if record is None or record["removed"] == 0:
        raise _problem(ErrorCode.NOT_FOUND, "not a friend")


async def block(tx: AsyncManagedTransaction, viewer_id: str, target_id: str) -> None:
    """Block: the friendship ends and pending requests either way are cancelled."""
    if viewer_id == target_id:
        raise _problem(ErrorCode.INVALID_INPUT, "you cannot block yourself")
    await _lock_pair(tx, viewer_id, target_id)
    result = await tx.run(
        """
        MATCH (a:User {id: $a}), (b:User {id: $b})
        MERGE (a)-[k:BLOCKED]->(b) ON CREATE SET k.at = datetime()
        WITH a, b
        OPTIONAL MATCH (a)-[f:FRIEND]-(b)
        DELETE f
        WITH DISTINCT a, b
        OPTIONAL MATCH (a)-[:SENT|TO]-(r:FriendRequest {state: 'PENDING'})-[:SENT|TO]-(b)
        SET r.state = 'CANCELLED', r.updatedAt = datetime()
        REMOVE r.pendingKey
        RETURN count(*) AS n
        """,
        a=viewer_id,
        b=target_id,
    )
    if await result.single() is None:
        raise _problem(ErrorCode.NOT_FOUND, "user not found")


async def unblock(tx: AsyncManagedTransaction, viewer_id: str, target_id: str) -> None:
    result = await tx.run(
        """
        MATCH (:User {id: $a})-[k:BLOCKED]->(:User {id: $b})
        DELETE k
        RETURN count(*) AS removed
        """,
        a=viewer_id,
        b=target_id,
    )
    record = await result.single()
    if record is None or record["removed"] == 0:
        raise _problem(ErrorCode.NOT_FOUND, "not blocked")


async def dismiss(tx: AsyncManagedTransaction, viewer_id: str, target_id: str) -> None:
    """Never suggest this user to the viewer again."""
    if viewer_id == target_id:
        raise _problem(ErrorCode.INVALID_INPUT, "you cannot dismiss yourself")
    result = await tx.run(
        """
        MATCH (a:User {id: $a}), (b:User {id: $b})
        MERGE (a)-[d:DISMISSED]->(b) ON CREATE SET d.at = datetime()
        RETURN count(*) AS n
        """,
        a=viewer_id,
        b=target_id,
    )
    if await result.single() is None:
        raise _problem(ErrorCode.NOT_FOUND, "user not found")


# ---------------------------------------------------------------- reads


async def request_by_id(graph: Graph, request_id: str) -> FriendRequestRecord | None:
    result = await graph.read(
        "MATCH (r:FriendRequest {id: $id}) RETURN " + REQUEST_FIELDS, id=request_id
    )
    return FriendRequestRecord.from_row(result.records[0]["request"]) if result.records else None


async def requests_by_ids(graph: Graph, ids: list[str]) -> dict[str, FriendRequestRecord]:
    result = await graph.read(
        "UNWIND $ids AS rid MATCH (r:FriendRequest {id: rid}) RETURN " + REQUEST_FIELDS, ids=ids
    )
    return {r["request"]["id"]: FriendRequestRecord.from_row(r["request"]) for r in result.records}


@dataclass(frozen=True)
class Relation:
    """How one user stands to the viewer."""

    is_friend: bool
    mutual_friends: int


async def relations(graph: Graph, viewer_id: str, ids: list[str]) -> dict[str, Relation]:
    result = await graph.read(
        """
        MATCH (me:User {id: $me})
        UNWIND $ids AS uid
        MATCH (u:User {id: uid})
        RETURN uid,
               EXISTS { (me)-[:FRIEND]-(u) } AS friend,
               CASE WHEN u = me OR EXISTS { (me)-[:BLOCKED]-(u) } THEN 0
                    ELSE COUNT { (me)-[:FRIEND]-(:User)-[:FRIEND]-(u) } END AS mutual
        """,
        me=viewer_id,
        ids=ids,
    )
    return {r["uid"]: Relation(r["friend"], r["mutual"]) for r in result.records}


async def blocked_either_way(graph: Graph, viewer_id: str) -> frozenset[str]:
    result = await graph.read(
        "MATCH (:User {id: $me})-[:BLOCKED]-(u:User) RETURN collect(DISTINCT u.id) AS ids",
        me=viewer_id,
    )
    return frozenset(result.records[0]["ids"]) if result.records else frozenset()


@dataclass(frozen=True)
class FriendsPage:
    """One page request: ``first`` friends of a user, by handle, after a handle key."""

    user_id: str
    first: int
    after: str | None


async def friends_pages(graph: Graph, pages: Sequence[FriendsPage]) -> list[list[str]]:
    """Ids of several users' friends in one statement, ordered by handle."""
    result = await graph.read(
        """
        UNWIND range(0, size($pages) - 1) AS i
        WITH i, $pages[i] AS page
        CALL (page) {
          MATCH (:User {id: page.user})-[:FRIEND]-(f:User)
          WHERE (page.after IS NULL OR f.handleKey > page.after)
            AND NOT coalesce(f.suspended, false)
          WITH f ORDER BY f.handleKey LIMIT $most
          RETURN collect(f.id) AS ids
        }
        RETURN i, ids[..page.limit] AS ids
        """,
        pages=[{"user": p.user_id, "after": p.after, "limit": p.first} for p in pages],
        most=max((p.first for p in pages), default=0),  # LIMIT takes no variables
    )
    by_index = {r["i"]: r["ids"] for r in result.records}
    return [list(by_index.get(i, [])) for i in range(len(pages))]


async def incoming_requests_page(
    graph: Graph,
    user_id: str,
    *,
    outgoing: bool,
    first: int,
    after: tuple[str, str] | None,
) -> list[FriendRequestRecord]:
    """Pending requests to (or from) the user, newest first, keyset-paginated."""
    after_at, after_id = after if after else (None, None)
    query: LiteralString = (
        "MATCH (:User {id: $id})-[:SENT]->(r:FriendRequest {state: 'PENDING'}) "
        if outgoing
        else "MATCH (:User {id: $id})<-[:TO]-(r:FriendRequest {state: 'PENDING'}) "
    )
    result = await graph.read(
        query
        + """
        WHERE $afterAt IS NULL OR r.createdAt < datetime($afterAt)
              OR (r.createdAt = datetime($afterAt) AND r.id > $afterId)
        WITH r ORDER BY r.createdAt DESC, r.id LIMIT $limit
        RETURN """
        + REQUEST_FIELDS,
        id=user_id,
        afterAt=after_at,
        afterId=after_id,
        limit=first,
    )
    return [FriendRequestRecord.from_row(r["request"]) for r in result.records]
