"""Moderation actions in a circle, and the circle's mod log.

``moderate`` is the one write path: it checks who may act on whom, applies the effect and
writes exactly one ``ModAction`` node, all in one transaction that write-locks the circle
first (so member counts stay exact and two actions on one membership never interleave).

Who may act (roles are scoped to one circle; rank OWNER 2 > MODERATOR 1 > anyone else 0):

- the actor must moderate the circle (``graph.circles.moderates``: MEMBER with role
  MODERATOR or OWNER); others get NOT_FOUND when they cannot see the circle's card, else
  FORBIDDEN. Banned users see at most the card, so they never act.
- platform admins (token role ``admin``, signed in as a user) act in any circle as if they
  were its owner, whatever their own membership, banned or not;
- nobody acts on themselves, and an actor acts only on targets of a lower rank: a
  moderator on ordinary users, the owner (or an admin) on moderators and ordinary users.
  The owner is beyond everyone's reach, admins included: an admin first hands ownership
  on with SET_ROLE OWNER, which makes the old owner a MODERATOR;
- SET_ROLE is for the owner (and admins) only;
- for REMOVE_POST and RESTORE_POST the target is the post's author.

Refusals, in this order: INVALID_INPUT (the input itself), NOT_FOUND / FORBIDDEN (the
actor), NOT_FOUND (the target user or post), FORBIDDEN (self, rank), then NOT_FOUND when
there is nothing to undo (no ban, no mute, not a member, no pending request, post not
removed) and ALREADY_EXISTS when the thing is already so (post already removed, role
already held). BAN and MUTE of someone already banned or muted set a new expiry.

Expiry needs no job: ``bannedUntil`` is read through ``graph.circles.effective_state`` and
``mutedUntil`` through ``graph.circles.is_muted``; a permanent mute is a far-future
``mutedUntil`` and a permanent ban a null ``bannedUntil``, while the action's
``expiresAt`` is null for both.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, LiteralString

from neo4j import AsyncManagedTransaction

from graph.circles import (
    MembershipRecord,
    Role,
    State,
    membership_of,
    moderator_gate,
    remove_membership,
    set_membership,
)
from graph.driver import Graph
from graph.errors import ActionError, ErrorCode, Problem, invalid
from graph.posts import new_post_id
from graph.validation import check_text

REASON_MAX = 500
MAX_DURATION_SECONDS = 10 * 36525 * 864  # ten years of 365.25 days
# A permanent mute: ``is_muted`` reads any future ``mutedUntil`` as muted.
PERMANENT_MUTE = datetime(9999, 12, 31, tzinfo=UTC)


class Kind(enum.StrEnum):
    REMOVE_POST = "REMOVE_POST"
    RESTORE_POST = "RESTORE_POST"
    BAN = "BAN"
    UNBAN = "UNBAN"
    MUTE = "MUTE"
    UNMUTE = "UNMUTE"
    KICK = "KICK"
    APPROVE_JOIN = "APPROVE_JOIN"
    DENY_JOIN = "DENY_JOIN"
    SET_ROLE = "SET_ROLE"


POST_KINDS = frozenset({Kind.REMOVE_POST, Kind.RESTORE_POST})
TIMED_KINDS = frozenset({Kind.BAN, Kind.MUTE})
RANK = {Role.OWNER: 2, Role.MODERATOR: 1, Role.MEMBER: 0}
OWNER_RANK = 2


@dataclass(frozen=True)
class ModerateInput:
    circle_id: str
    kind: Kind
    user_id: str | None = None
    post_id: str | None = None
    reason: str | None = None
    duration_seconds: int | None = None
    role: Role | None = None


@dataclass(frozen=True)
class ModActionRecord:
    id: str
    kind: Kind
    moderator_id: str
    circle_id: str
    target_user_id: str | None
    target_post_id: str | None
    reason: str | None
    expires_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ModActionRecord:
        expires = row.get("expiresAt")
        return cls(
            id=row["id"],
            kind=Kind(row["kind"]),
            moderator_id=row["moderatorId"],
            circle_id=row["circleId"],
            target_user_id=row.get("targetUserId"),
            target_post_id=row.get("targetPostId"),
            reason=row.get("reason"),
            expires_at=expires.to_native() if expires is not None else None,
            created_at=row["createdAt"].to_native(),
        )


_ACTION_FIELDS: LiteralString = """
    a {.id, .kind, .reason, .expiresAt, .createdAt,
       moderatorId: [(m:User)-[:TOOK]->(a) | m.id][0],
       circleId: [(a)-[:IN]->(c:Circle) | c.id][0],
       targetUserId: [(a)-[:ON_USER]->(t:User) | t.id][0],
       targetPostId: [(a)-[:ON_POST]->(p:Post) | p.id][0]} AS action
"""


# ---------------------------------------------------------------- validation


def input_problems(data: ModerateInput) -> list[Problem]:
    problems: list[Problem] = []
    if data.reason is not None:
        problems += check_text("reason", data.reason, min_len=0, max_len=REASON_MAX)
    if data.kind in POST_KINDS:
        if data.post_id is None:
            problems.append(invalid("postId", f"{data.kind} needs a postId"))
        if data.user_id is not None:
            problems.append(invalid("userId", f"{data.kind} takes a postId, not a userId"))
    else:
        if data.user_id is None:
            problems.append(invalid("userId", f"{data.kind} needs a userId"))
        if data.post_id is not None:
            problems.append(invalid("postId", f"{data.kind} takes a userId, not a postId"))
    if data.duration_seconds is not None:
        if data.kind not in TIMED_KINDS:
            problems.append(invalid("durationSeconds", "only BAN and MUTE take a duration"))
        elif not 0 < data.duration_seconds <= MAX_DURATION_SECONDS:
            problems.append(
                invalid(
                    "durationSeconds",
                    f"durationSeconds must be 1 to {MAX_DURATION_SECONDS} (ten years)",
                )
            )
    if data.kind is Kind.SET_ROLE and data.role is None:
        problems.append(invalid("role", "SET_ROLE needs a role"))
    if data.kind is not Kind.SET_ROLE and data.role is not None:
        problems.append(invalid("role", "only SET_ROLE takes a role"))
    return problems


def _forbidden(message: str, field: str = "circleId") -> ActionError:
    return ActionError(Problem(ErrorCode.FORBIDDEN, message, field))


def _not_found(message: str, field: str) -> ActionError:
    return ActionError(Problem(ErrorCode.NOT_FOUND, message, field))


# ---------------------------------------------------------------- the transaction


@dataclass(frozen=True)
class _Target:
    """The user acted on (the author for post actions) and their place in the circle."""

    membership: MembershipRecord
    post_removed: bool = False

    @property
    def rank(self) -> int:
        role = self.membership.role
        return RANK[role] if role is not None else 0


@dataclass(frozen=True)
class Outcome:
    """What ``moderate`` did: the log entry, and what changed for feeds."""

    action: ModActionRecord
    membership_before: State | None = None
    membership_after: MembershipRecord | None = None


async def _actor_rank(
    tx: AsyncManagedTransaction, circle_id: str, actor_id: str, admin: bool
) -> int:
    _, own = await moderator_gate(tx, circle_id, actor_id, admin=admin)
    if admin:
        return OWNER_RANK
    assert own.role is not None  # moderator_gate let only owners and moderators through
    return RANK[own.role]


async def _post_target(tx: AsyncManagedTransaction, circle_id: str, post_id: str) -> _Target:
    """The post's author as the target; NOT_FOUND for posts not (or no longer) in the circle."""
    result = await tx.run(
        """
        MATCH (u:User)-[:POSTED]->(p:Post {id: $post})-[:IN]->(c:Circle {id: $circle})
        WHERE NOT p.deleted
        SET p.lockToken = 1 REMOVE p.lockToken
        WITH u, p, c
        OPTIONAL MATCH (u)-[r:MEMBER_OF]->(c)
        RETURN u.id AS author, p.removed AS removed,
               r {.state, .role, .since, .bannedUntil, .mutedUntil} AS m
        """,
        post=post_id,
        circle=circle_id,
    )
    record = await result.single()
    if record is None:
        raise _not_found("post not found", "postId")
    row, author = record["m"], record["author"]
    membership = (
        MembershipRecord.from_row({**row, "userId": author, "circleId": circle_id})
        if row is not None
        else MembershipRecord.none(author, circle_id)
    )
    return _Target(membership, bool(record["removed"]))


async def _apply(
    tx: AsyncManagedTransaction,
    data: ModerateInput,
    target: _Target,
    expires_at: datetime | None,
) -> tuple[State | None, MembershipRecord | None]:
    """The effect of one action; returns the membership state before and after, when the
    action changed a membership."""
    current = target.membership
    uid, cid = current.user_id, data.circle_id
    kind = data.kind
    if kind is Kind.REMOVE_POST or kind is Kind.RESTORE_POST:
        remove = kind is Kind.REMOVE_POST
        if remove and target.post_removed:
            raise ActionError(Problem(ErrorCode.ALREADY_EXISTS, "already removed", "postId"))
        if not remove and not target.post_removed:
            raise _not_found("this post is not removed", "postId")
        await tx.run(
            # restoring is a review: a post hidden by reports comes back too
            "MATCH (p:Post {id: $post}) SET p.removed = $removed, "
            "p.hidden = CASE WHEN $removed THEN p.hidden ELSE false END",
            post=data.post_id,
            removed=remove,
        )
        return None, None
    if kind is Kind.BAN:
        result = await tx.run(
            """
            MATCH (u:User {id: $user}), (c:Circle {id: $circle})
            MERGE (u)-[r:MEMBER_OF]->(c)
            SET c.memberCount = c.memberCount - CASE WHEN r.state = 'MEMBER' THEN 1 ELSE 0 END,
                r.since = CASE WHEN r.state = 'BANNED' THEN r.since ELSE datetime() END,
                r.state = 'BANNED', r.role = null, r.updatedAt = datetime(),
                r.bannedUntil = $until, r.mutedUntil = null, r.message = null,
                r.invitedBy = null
            RETURN {userId: u.id, circleId: c.id, state: r.state, role: r.role,
                    since: r.since, bannedUntil: r.bannedUntil} AS membership
            """,
            user=uid,
            circle=cid,
            until=expires_at,
        )
        record = await result.single(strict=True)
        # a MEMBER's count was exact under the circle lock: the stale state is the raw one
        return current.state, MembershipRecord.from_row(record["membership"])
    if kind is Kind.UNBAN:
        if current.state is not State.BANNED:
            raise _not_found("this user is not banned here", "userId")
        await remove_membership(tx, cid, uid, count_delta=0)
        return State.BANNED, MembershipRecord.none(uid, cid)
    if kind is Kind.MUTE or kind is Kind.UNMUTE:
        if current.state is not State.MEMBER:
            raise _not_found("this user is not a member here", "userId")
        if kind is Kind.UNMUTE and not current.muted:
            raise _not_found("this user is not muted", "userId")
        await tx.run(
            """
            MATCH (:User {id: $user})-[r:MEMBER_OF]->(:Circle {id: $circle})
            SET r.mutedUntil = $until, r.updatedAt = datetime()
            """,
            user=uid,
            circle=cid,
            until=(expires_at or PERMANENT_MUTE) if kind is Kind.MUTE else None,
        )
        return None, None
    if kind is Kind.KICK:
        if current.state is not State.MEMBER:
            raise _not_found("this user is not a member here", "userId")
        await remove_membership(tx, cid, uid, count_delta=-1)
        return State.MEMBER, MembershipRecord.none(uid, cid)
    if kind is Kind.APPROVE_JOIN or kind is Kind.DENY_JOIN:
        # reviewJoinRequest's rule: only a PENDING request is reviewed
        if current.state is not State.PENDING:
            raise _not_found("no pending request from this user", "userId")
        if kind is Kind.APPROVE_JOIN:
            joined = await set_membership(tx, cid, uid, State.MEMBER, Role.MEMBER, count_delta=1)
            return State.PENDING, joined
        await remove_membership(tx, cid, uid, count_delta=0)
        return State.PENDING, MembershipRecord.none(uid, cid)
    # SET_ROLE
    assert data.role is not None  # checked by input_problems
    if current.state is not State.MEMBER:
        raise _not_found("this user is not a member here", "userId")
    if current.role is data.role:
        raise ActionError(Problem(ErrorCode.ALREADY_EXISTS, "already has this role", "role"))
    if data.role is Role.OWNER:
        # the ownership moves on: every current owner steps down to MODERATOR
        await tx.run(
            """
            MATCH (:User)-[r:MEMBER_OF {state: 'MEMBER', role: 'OWNER'}]->(:Circle {id: $circle})
            SET r.role = 'MODERATOR', r.updatedAt = datetime()
            """,
            circle=cid,
        )
    await tx.run(
        """
        MATCH (:User {id: $user})-[r:MEMBER_OF {state: 'MEMBER'}]->(:Circle {id: $circle})
        SET r.role = $role, r.updatedAt = datetime()
        """,
        user=uid,
        circle=cid,
        role=data.role.value,
    )
    return None, None


async def _log(
    tx: AsyncManagedTransaction,
    data: ModerateInput,
    actor_id: str,
    target_user: str | None,
    reason: str | None,
    expires_at: datetime | None,
) -> ModActionRecord:
    action_id, ms = new_post_id()  # time-ordered: the log pages by id, newest first
    result = await tx.run(
        """
        MATCH (m:User {id: $actor}), (c:Circle {id: $circle})
        CREATE (m)-[:TOOK]->(a:ModAction {id: $id, kind: $kind, reason: $reason,
                expiresAt: $expiresAt, createdAt: datetime({epochMillis: $ms})})-[:IN]->(c)
        WITH a
        OPTIONAL MATCH (u:User {id: $user})
        OPTIONAL MATCH (p:Post {id: $post})
        FOREACH (_ IN CASE WHEN u IS NULL THEN [] ELSE [1] END | CREATE (a)-[:ON_USER]->(u))
        FOREACH (_ IN CASE WHEN p IS NULL THEN [] ELSE [1] END | CREATE (a)-[:ON_POST]->(p))
        RETURN """
        + _ACTION_FIELDS,
        actor=actor_id,
        circle=data.circle_id,
        id=action_id,
        kind=data.kind.value,
        reason=reason,
        expiresAt=expires_at,
        ms=ms,
        user=target_user,
        post=data.post_id,
    )
    record = await result.single(strict=True)
    return ModActionRecord.from_row(record["action"])


async def moderate(
    tx: AsyncManagedTransaction, actor_id: str, data: ModerateInput, *, admin: bool
) -> Outcome:
    """One moderation action and its log entry. ``data`` passed ``input_problems``; the
    action's id is made here (run with ``id_attempts``)."""
    reason = data.reason.strip() or None if data.reason is not None else None
    rank = await _actor_rank(tx, data.circle_id, actor_id, admin)
    if data.kind is Kind.SET_ROLE and rank < OWNER_RANK:
        raise _forbidden("only the owner sets roles")
    if data.post_id is not None:
        target = await _post_target(tx, data.circle_id, data.post_id)
    else:
        assert data.user_id is not None  # checked by input_problems
        target = _Target(await membership_of(tx, data.circle_id, data.user_id))
    field = "postId" if data.post_id is not None else "userId"
    if target.membership.user_id == actor_id:
        raise _forbidden("you cannot moderate yourself", field)
    if target.rank >= rank:
        raise _forbidden("you may act only on users below your role", field)
    expires_at = None
    if data.kind in TIMED_KINDS and data.duration_seconds is not None:
        expires_at = datetime.now(UTC) + timedelta(seconds=data.duration_seconds)
    before, after = await _apply(tx, data, target, expires_at)
    action = await _log(tx, data, actor_id, target.membership.user_id, reason, expires_at)
    return Outcome(action, before, after)


# ---------------------------------------------------------------- reads


async def mod_log_page(
    graph: Graph, circle_id: str, *, first: int, after: str | None
) -> list[ModActionRecord]:
    """A circle's actions, newest first, after the keyset cursor (an action id)."""
    result = await graph.read(
        """
        MATCH (a:ModAction)-[:IN]->(:Circle {id: $circle})
        WHERE $after IS NULL OR a.id < $after
        WITH a ORDER BY a.id DESC LIMIT $limit
        RETURN """
        + _ACTION_FIELDS,
        circle=circle_id,
        after=after,
        limit=first,
    )
    return [ModActionRecord.from_row(r["action"]) for r in result.records]


async def actions_by_ids(graph: Graph, ids: Sequence[str]) -> dict[str, ModActionRecord]:
    result = await graph.read(
        "UNWIND $ids AS aid MATCH (a:ModAction {id: aid}) RETURN " + _ACTION_FIELDS,
        ids=list(ids),
    )
    return {r["action"]["id"]: ModActionRecord.from_row(r["action"]) for r in result.records}
