"""Circles: semi-public communities, their memberships and who may see what.

``access`` is the product's visibility table as code; every read path asks it. Every
membership change runs in one transaction that first write-locks the circle, so the
member count stays exact and two changes to one membership never interleave.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, LiteralString

from neo4j import AsyncManagedTransaction
from redis.asyncio import Redis

from graph.driver import Graph, write_transaction
from graph.errors import ActionError, ErrorCode, Problem, invalid
from graph.notifications import notify_join_approved
from graph.users import UserRecord, new_id
from graph.validation import check_text, check_trust_score
from workers.feeds import members_changed, relationships_changed
from workers.ratelimit import rate_limited, take
from workers.suggestions import neighbourhood_changed

NAME_MAX = 80
DESCRIPTION_MAX = 2000
SERVICE_MAX = 40
# Circles this large may only become stricter: loosening would expose too many people.
LARGE_CIRCLE = 5000


class Visibility(enum.StrEnum):
    PUBLIC = "PUBLIC"
    SEMI_PUBLIC = "SEMI_PUBLIC"
    PRIVATE = "PRIVATE"


STRICTNESS = {Visibility.PUBLIC: 0, Visibility.SEMI_PUBLIC: 1, Visibility.PRIVATE: 2}


class JoinPolicy(enum.StrEnum):
    OPEN = "OPEN"
    APPROVAL = "APPROVAL"
    INVITE = "INVITE"


POLICY_STRICTNESS = {JoinPolicy.OPEN: 0, JoinPolicy.APPROVAL: 1, JoinPolicy.INVITE: 2}


class State(enum.StrEnum):
    NONE = "NONE"
    PENDING = "PENDING"
    INVITED = "INVITED"
    MEMBER = "MEMBER"
    BANNED = "BANNED"


class Role(enum.StrEnum):
    OWNER = "OWNER"
    MODERATOR = "MODERATOR"
    MEMBER = "MEMBER"


CIRCLE_FIELDS: LiteralString = """
    c {.id, .name, .description, .visibility, .joinPolicy, .minTrustScore, .customersOnly,
       .service, .memberCount, .createdAt,
       merchantId: [(c)-[:HOSTED_BY]->(m:Merchant) | m.id][0]} AS circle
"""

MEMBERSHIP_FIELDS: LiteralString = """
    {userId: u.id, circleId: c.id, state: r.state, role: r.role, since: r.since,
     bannedUntil: r.bannedUntil} AS membership
"""


@dataclass(frozen=True)
class CircleRecord:
    id: str
    name: str
    description: str
    visibility: Visibility
    join_policy: JoinPolicy
    min_trust_score: int
    customers_only: bool
    service: str | None
    member_count: int
    merchant_id: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CircleRecord:
        return cls(
            id=row["id"],
            name=row["name"],
            description=row["description"],
            visibility=Visibility(row["visibility"]),
            join_policy=JoinPolicy(row["joinPolicy"]),
            min_trust_score=row["minTrustScore"],
            customers_only=row["customersOnly"],
            service=row["service"],
            member_count=row["memberCount"],
            merchant_id=row["merchantId"],
            created_at=row["createdAt"].to_native(),
        )


@dataclass(frozen=True)
class MembershipRecord:
    user_id: str
    circle_id: str
    state: State
    role: Role | None
    since: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any], now: datetime | None = None) -> MembershipRecord:
        state = effective_state(row.get("state"), row.get("bannedUntil"), now)
        since = row.get("since")
        return cls(
            user_id=row["userId"],
            circle_id=row["circleId"],
            state=state,
            role=Role(row["role"]) if state is State.MEMBER and row.get("role") else None,
            since=since.to_native() if since is not None else None,
        )

    @classmethod
    def none(cls, user_id: str, circle_id: str) -> MembershipRecord:
        return cls(user_id, circle_id, State.NONE, None, None)


def effective_state(raw: str | None, banned_until: Any, now: datetime | None = None) -> State:
    """A ban whose time has passed reads as no membership, without waiting for a job."""
    if raw is None:
        return State.NONE
    state = State(raw)
    if state is State.BANNED and banned_until is not None:
        until = banned_until.to_native() if hasattr(banned_until, "to_native") else banned_until
        if until <= (now or datetime.now(UTC)):
            return State.NONE
    return state


@dataclass(frozen=True)
class Access:
    """What one viewer may see of one circle."""

    card: bool
    posts: bool
    members: bool
    moderate: bool


NO_ACCESS = Access(card=False, posts=False, members=False, moderate=False)


def access(visibility: Visibility, state: State, role: Role | None) -> Access:
    """The visibility table of product.md, cell by cell."""
    if state is State.MEMBER and role in (Role.OWNER, Role.MODERATOR):
        return Access(card=True, posts=True, members=True, moderate=True)
    if state is State.MEMBER:
        return Access(card=True, posts=True, members=True, moderate=False)
    public = visibility is Visibility.PUBLIC
    if state in (State.PENDING, State.INVITED):
        return Access(card=True, posts=public, members=False, moderate=False)
    if state is State.BANNED:
        return Access(
            card=visibility is not Visibility.PRIVATE, posts=False, members=False, moderate=False
        )
    # anonymous or signed-in non-member
    if visibility is Visibility.PRIVATE:
        return NO_ACCESS
    return Access(card=True, posts=public, members=False, moderate=False)


# ---------------------------------------------------------------- reads


async def circles_by_ids(graph: Graph, ids: Sequence[str]) -> dict[str, CircleRecord]:
    result = await graph.read(
        "UNWIND $ids AS cid MATCH (c:Circle {id: cid}) RETURN " + CIRCLE_FIELDS, ids=list(ids)
    )
    return {r["circle"]["id"]: CircleRecord.from_row(r["circle"]) for r in result.records}


async def memberships_of(
    graph: Graph, user_id: str, circle_ids: Sequence[str]
) -> dict[str, MembershipRecord]:
    """The user's membership in each circle (NONE where there is none)."""
    result = await graph.read(
        """
        MATCH (u:User {id: $user})
        UNWIND $ids AS cid
        MATCH (c:Circle {id: cid})
        OPTIONAL MATCH (u)-[r:MEMBER_OF]->(c)
        RETURN """
        + MEMBERSHIP_FIELDS,
        user=user_id,
        ids=list(circle_ids),
    )
    found = {
        r["membership"]["circleId"]: MembershipRecord.from_row(r["membership"])
        for r in result.records
    }
    return {cid: found.get(cid) or MembershipRecord.none(user_id, cid) for cid in circle_ids}


async def members_page(
    graph: Graph,
    circle_id: str,
    *,
    state: State,
    first: int,
    after: tuple[str, str] | None,
) -> list[MembershipRecord]:
    """Memberships in one state, oldest first (owners and moderators are members too)."""
    after_since, after_user = after if after else (None, None)
    result = await graph.read(
        """
        MATCH (u:User)-[r:MEMBER_OF {state: $state}]->(c:Circle {id: $circle})
        WHERE NOT coalesce(u.suspended, false)
          AND ($afterSince IS NULL OR r.since > datetime($afterSince)
               OR (r.since = datetime($afterSince) AND u.id > $afterUser))
        WITH u, r, c ORDER BY r.since, u.id LIMIT $limit
        RETURN """
        + MEMBERSHIP_FIELDS,
        state=state.value,
        circle=circle_id,
        afterSince=after_since,
        afterUser=after_user,
        limit=first,
    )
    return [MembershipRecord.from_row(r["membership"]) for r in result.records]


async def my_circles_page(
    graph: Graph, user_id: str, *, first: int, after: tuple[str, str] | None
) -> list[str]:
    """Ids of circles the user is a member of, most recently joined first."""
    after_since, after_circle = after if after else (None, None)
    result = await graph.read(
        """
        MATCH (:User {id: $user})-[r:MEMBER_OF {state: 'MEMBER'}]->(c:Circle)
        WHERE $afterSince IS NULL OR r.since < datetime($afterSince)
              OR (r.since = datetime($afterSince) AND c.id > $afterCircle)
        RETURN c.id AS id ORDER BY r.since DESC, c.id LIMIT $limit
        """,
        user=user_id,
        afterSince=after_since,
        afterCircle=after_circle,
        limit=first,
    )
    return [r["id"] for r in result.records]


async def merchant_circles_page(
    graph: Graph, merchant_id: str, viewer_id: str | None, *, first: int, after: str | None
) -> list[str]:
    """A merchant's circles the viewer may find: PRIVATE ones only for members and invitees."""
    result = await graph.read(
        """
        MATCH (c:Circle)-[:HOSTED_BY]->(:Merchant {id: $merchant})
        WHERE ($after IS NULL OR c.id > $after)
          AND (c.visibility <> 'PRIVATE' OR EXISTS {
                MATCH (:User {id: $viewer})-[r:MEMBER_OF]->(c)
                WHERE r.state IN ['MEMBER', 'INVITED', 'PENDING'] })
        RETURN c.id AS id ORDER BY c.id LIMIT $limit
        """,
        merchant=merchant_id,
        viewer=viewer_id,
        after=after,
        limit=first,
    )
    return [r["id"] for r in result.records]


# ---------------------------------------------------------------- writes


@dataclass(frozen=True)
class CircleInput:
    """A new circle, or the fields of an update (None = unchanged)."""

    name: str | None = None
    description: str | None = None
    visibility: Visibility | None = None
    join_policy: JoinPolicy | None = None
    min_trust_score: int | None = None
    customers_only: bool | None = None
    service: str | None = None
    merchant_id: str | None = None


def _check(data: CircleInput) -> list[Problem]:
    problems: list[Problem] = []
    if data.name is not None:
        problems += check_text("name", data.name, min_len=1, max_len=NAME_MAX)
    if data.description is not None:
        problems += check_text(
            "description",
            data.description,
            min_len=0,
            max_len=DESCRIPTION_MAX,
            allow_newlines=True,
        )
    if data.service is not None:
        problems += check_text("service", data.service, min_len=1, max_len=SERVICE_MAX)
    problems += check_trust_score("minTrustScore", data.min_trust_score)
    return problems


def _check_combination(
    visibility: Visibility, policy: JoinPolicy, customers_only: bool, merchant_id: str | None
) -> list[Problem]:
    problems = []
    if visibility is Visibility.PRIVATE and policy is not JoinPolicy.INVITE:
        problems.append(invalid("joinPolicy", "a PRIVATE circle must be INVITE only"))
    if customers_only and merchant_id is None:
        problems.append(invalid("customersOnly", "only a merchant's circle can be customers-only"))
    return problems


def _not_found(field: str = "circleId") -> ActionError:
    return ActionError(Problem(ErrorCode.NOT_FOUND, "circle not found", field))


async def create_circle(graph: Graph, creator: UserRecord, data: CircleInput) -> CircleRecord:
    """A new circle with the creator as OWNER; a merchant's circle needs its staff."""
    if data.name is None or data.visibility is None or data.join_policy is None:
        raise ActionError(invalid(None, "name, visibility and joinPolicy are required"))
    problems = _check(data) + _check_combination(
        data.visibility, data.join_policy, bool(data.customers_only), data.merchant_id
    )
    if problems:
        raise ActionError(*problems)
    if data.merchant_id is not None:
        staff = await graph.read(
            """
            MATCH (m:Merchant {id: $merchant})
            RETURN EXISTS { (:User {id: $creator})-[:STAFF_OF]->(m) } AS staff
            """,
            merchant=data.merchant_id,
            creator=creator.id,
        )
        if not staff.records:
            raise ActionError(Problem(ErrorCode.NOT_FOUND, "merchant not found", "merchantId"))
        if not staff.records[0]["staff"]:
            raise ActionError(
                Problem(
                    ErrorCode.FORBIDDEN,
                    "only the merchant's staff may host its circles",
                    "merchantId",
                )
            )
    result = await graph.write(
        """
        MATCH (u:User {id: $creator})
        OPTIONAL MATCH (m:Merchant {id: $merchant})
        CREATE (c:Circle {id: $id, name: $name, description: $description,
                visibility: $visibility, joinPolicy: $policy, minTrustScore: $minTrust,
                customersOnly: $customersOnly, service: $service, memberCount: 1,
                location: m.location, createdAt: datetime(), updatedAt: datetime()})
        CREATE (u)-[:MEMBER_OF {state: 'MEMBER', role: 'OWNER', since: datetime(),
                updatedAt: datetime()}]->(c)
        FOREACH (_ IN CASE WHEN m IS NULL THEN [] ELSE [1] END | CREATE (c)-[:HOSTED_BY]->(m))
        RETURN """
        + CIRCLE_FIELDS,
        creator=creator.id,
        merchant=data.merchant_id,
        id=new_id(),
        name=data.name.strip(),
        description=(data.description or "").strip(),
        visibility=data.visibility.value,
        policy=data.join_policy.value,
        minTrust=data.min_trust_score or 0,
        customersOnly=bool(data.customers_only),
        service=data.service.strip() if data.service else None,
    )
    return CircleRecord.from_row(result.records[0]["circle"])


async def _lock(
    tx: AsyncManagedTransaction, circle_id: str, user_id: str
) -> tuple[CircleRecord, MembershipRecord] | None:
    """Write-lock the circle and read it with the user's membership in it."""
    result = await tx.run(
        """
        MATCH (c:Circle {id: $circle})
        SET c.lockToken = 1 REMOVE c.lockToken
        WITH c
        OPTIONAL MATCH (:User {id: $user})-[r:MEMBER_OF]->(c)
        RETURN """
        + CIRCLE_FIELDS
        + """, r {.state, .role, .since, .bannedUntil} AS m""",
        circle=circle_id,
        user=user_id,
    )
    record = await result.single()
    if record is None:
        return None
    circle = CircleRecord.from_row(record["circle"])
    row = record["m"]
    membership = (
        MembershipRecord.from_row({**row, "userId": user_id, "circleId": circle_id})
        if row is not None
        else MembershipRecord.none(user_id, circle_id)
    )
    return circle, membership


async def _set_membership(
    tx: AsyncManagedTransaction,
    circle_id: str,
    user_id: str,
    state: State,
    role: Role | None,
    *,
    count_delta: int,
    message: str | None = None,
    invited_by: str | None = None,
) -> MembershipRecord:
    result = await tx.run(
        """
        MATCH (u:User {id: $user}), (c:Circle {id: $circle})
        MERGE (u)-[r:MEMBER_OF]->(c)
        SET r.since = CASE WHEN r.state = $state THEN r.since ELSE datetime() END,
            r.state = $state, r.role = $role, r.updatedAt = datetime(),
            r.message = $message, r.invitedBy = $invitedBy, r.bannedUntil = null,
            c.memberCount = c.memberCount + $delta
        RETURN """
        + MEMBERSHIP_FIELDS,
        user=user_id,
        circle=circle_id,
        state=state.value,
        role=role.value if role else None,
        delta=count_delta,
        message=message,
        invitedBy=invited_by,
    )
    record = await result.single(strict=True)
    return MembershipRecord.from_row(record["membership"])


async def _remove_membership(
    tx: AsyncManagedTransaction, circle_id: str, user_id: str, *, count_delta: int
) -> None:
    await tx.run(
        """
        MATCH (:User {id: $user})-[r:MEMBER_OF]->(c:Circle {id: $circle})
        DELETE r
        SET c.memberCount = c.memberCount + $delta
        """,
        user=user_id,
        circle=circle_id,
        delta=count_delta,
    )


async def _membership_changed(redis: Redis, membership: MembershipRecord, before: State) -> None:
    """Becoming or ceasing to be a MEMBER changes the user's feed and suggestions."""
    if (membership.state is State.MEMBER) != (before is State.MEMBER):
        await members_changed(redis, membership.circle_id)
        await relationships_changed(redis, [membership.user_id])
        await neighbourhood_changed(redis, [membership.user_id])


async def _is_customer(tx: AsyncManagedTransaction, user_id: str, merchant_id: str | None) -> bool:
    if merchant_id is None:
        return True
    result = await tx.run(
        "RETURN EXISTS { (:User {id: $user})-[:VISITED]->(:Merchant {id: $merchant}) } AS ok",
        user=user_id,
        merchant=merchant_id,
    )
    record = await result.single(strict=True)
    return bool(record["ok"])


MESSAGE_MAX = 500


async def join_circle(
    graph: Graph, redis: Redis, user: UserRecord, circle_id: str, message: str | None = None
) -> MembershipRecord:
    """Join as the circle's policy allows: OPEN at once, APPROVAL as PENDING, INVITE only
    when invited. The gates (ban, trust score, customers only) apply to every policy."""
    if message is not None:
        problems = check_text(
            "message", message, min_len=0, max_len=MESSAGE_MAX, allow_newlines=True
        )
        if problems:
            raise ActionError(*problems)
    decision = await take(redis, "join", user)
    if not decision.allowed:
        raise ActionError(rate_limited(decision, "circleId"))

    async def work(tx: AsyncManagedTransaction) -> MembershipRecord:
        found = await _lock(tx, circle_id, user.id)
        if found is None:
            raise _not_found()
        circle, current = found
        if not access(circle.visibility, current.state, current.role).card:
            raise _not_found()
        if current.state in (State.MEMBER, State.PENDING):
            raise ActionError(
                Problem(ErrorCode.ALREADY_EXISTS, "already joined or asked", "circleId")
            )
        if current.state is State.BANNED:
            raise ActionError(
                Problem(ErrorCode.BANNED, "you are banned from this circle", "circleId")
            )
        if user.trust_score < circle.min_trust_score:
            raise ActionError(
                Problem(
                    ErrorCode.TRUST_TOO_LOW,
                    "your trust score is below this circle's minimum",
                    "circleId",
                )
            )
        if circle.customers_only and not await _is_customer(tx, user.id, circle.merchant_id):
            raise ActionError(
                Problem(
                    ErrorCode.NOT_A_CUSTOMER,
                    "this circle is for the merchant's customers",
                    "circleId",
                )
            )
        if current.state is State.INVITED or circle.join_policy is JoinPolicy.OPEN:
            return await _set_membership(
                tx, circle.id, user.id, State.MEMBER, Role.MEMBER, count_delta=1
            )
        if circle.join_policy is JoinPolicy.APPROVAL:
            return await _set_membership(
                tx, circle.id, user.id, State.PENDING, None, count_delta=0, message=message
            )
        raise ActionError(
            Problem(ErrorCode.INVITE_REQUIRED, "this circle is invite only", "circleId")
        )

    joined = await write_transaction(graph, work)
    await _membership_changed(redis, joined, State.NONE)
    return joined


async def leave_circle(
    graph: Graph, redis: Redis, user: UserRecord, circle_id: str
) -> MembershipRecord:
    """Leave, withdraw a join request, or decline an invitation. The last owner must hand
    ownership on first; a ban stays."""

    async def work(tx: AsyncManagedTransaction) -> MembershipRecord:
        found = await _lock(tx, circle_id, user.id)
        if found is None:
            raise _not_found()
        _, current = found
        if current.state is State.NONE:
            raise _not_found()  # the same answer whether or not the circle is visible
        if current.state is State.BANNED:
            raise ActionError(
                Problem(ErrorCode.BANNED, "you are banned from this circle", "circleId")
            )
        if current.role is Role.OWNER:
            owners = await tx.run(
                "MATCH (:User)-[r:MEMBER_OF {state: 'MEMBER', role: 'OWNER'}]->"
                "(:Circle {id: $circle}) RETURN count(r) AS n",
                circle=circle_id,
            )
            if (await owners.single(strict=True))["n"] <= 1:
                raise ActionError(
                    invalid("circleId", "hand ownership to someone else before leaving")
                )
        delta = -1 if current.state is State.MEMBER else 0
        await _remove_membership(tx, circle_id, user.id, count_delta=delta)
        return MembershipRecord.none(user.id, circle_id)

    left = await write_transaction(graph, work)
    await _membership_changed(redis, left, State.MEMBER)
    return left


async def _moderator_gate(
    tx: AsyncManagedTransaction, circle_id: str, moderator_id: str
) -> CircleRecord:
    found = await _lock(tx, circle_id, moderator_id)
    if found is None:
        raise _not_found()
    circle, own = found
    rights = access(circle.visibility, own.state, own.role)
    if not rights.card:
        raise _not_found()
    if not rights.moderate:
        raise ActionError(Problem(ErrorCode.FORBIDDEN, "moderators and owners only", "circleId"))
    return circle


async def _target(tx: AsyncManagedTransaction, circle_id: str, user_id: str) -> MembershipRecord:
    result = await tx.run(
        """
        MATCH (u:User {id: $user}) WHERE NOT coalesce(u.suspended, false)
        OPTIONAL MATCH (u)-[r:MEMBER_OF]->(:Circle {id: $circle})
        RETURN r {.state, .role, .since, .bannedUntil} AS m
        """,
        user=user_id,
        circle=circle_id,
    )
    record = await result.single()
    if record is None:
        raise ActionError(Problem(ErrorCode.NOT_FOUND, "user not found", "userId"))
    row = record["m"]
    if row is None:
        return MembershipRecord.none(user_id, circle_id)
    return MembershipRecord.from_row({**row, "userId": user_id, "circleId": circle_id})


async def invite_to_circle(
    graph: Graph, redis: Redis, moderator: UserRecord, circle_id: str, user_id: str
) -> MembershipRecord:
    """A moderator invites someone; inviting a user who asked to join admits them."""

    async def work(tx: AsyncManagedTransaction) -> MembershipRecord:
        await _moderator_gate(tx, circle_id, moderator.id)
        blocked = await tx.run(
            "RETURN EXISTS { (:User {id: $a})-[:BLOCKED]-(:User {id: $b}) } AS blocked",
            a=moderator.id,
            b=user_id,
        )
        if (await blocked.single(strict=True))["blocked"]:
            raise ActionError(Problem(ErrorCode.BLOCKED, "you cannot invite this user", "userId"))
        target = await _target(tx, circle_id, user_id)
        if target.state in (State.MEMBER, State.INVITED):
            raise ActionError(
                Problem(ErrorCode.ALREADY_EXISTS, "already a member or invited", "userId")
            )
        if target.state is State.BANNED:
            raise ActionError(
                Problem(ErrorCode.BANNED, "this user is banned here; unban first", "userId")
            )
        if target.state is State.PENDING:
            return await _set_membership(
                tx, circle_id, user_id, State.MEMBER, Role.MEMBER, count_delta=1
            )
        return await _set_membership(
            tx, circle_id, user_id, State.INVITED, None, count_delta=0, invited_by=moderator.id
        )

    invited = await write_transaction(graph, work)
    await _membership_changed(redis, invited, State.NONE)
    if invited.state is State.MEMBER:  # they had asked to join: the invitation admitted them
        await notify_join_approved(graph, redis, circle_id, user_id, moderator.id)
    return invited


async def review_join_request(
    graph: Graph,
    redis: Redis,
    moderator: UserRecord,
    circle_id: str,
    user_id: str,
    *,
    approve: bool,
) -> MembershipRecord:
    """Approve (MEMBER) or deny (no membership) a pending request."""

    async def work(tx: AsyncManagedTransaction) -> MembershipRecord:
        await _moderator_gate(tx, circle_id, moderator.id)
        target = await _target(tx, circle_id, user_id)
        if target.state is not State.PENDING:
            raise ActionError(
                Problem(ErrorCode.NOT_FOUND, "no pending request from this user", "userId")
            )
        if approve:
            return await _set_membership(
                tx, circle_id, user_id, State.MEMBER, Role.MEMBER, count_delta=1
            )
        await _remove_membership(tx, circle_id, user_id, count_delta=0)
        return MembershipRecord.none(user_id, circle_id)

    reviewed = await write_transaction(graph, work)
    await _membership_changed(redis, reviewed, State.PENDING)
    if reviewed.state is State.MEMBER:
        await notify_join_approved(graph, redis, circle_id, user_id, moderator.id)
    return reviewed


def _loosened(
    circle: CircleRecord,
    visibility: Visibility,
    policy: JoinPolicy,
    customers_only: bool,
    min_trust_score: int | None,
) -> str | None:
    """The first field an update would make less strict, if any."""
    if STRICTNESS[visibility] < STRICTNESS[circle.visibility]:
        return "visibility"
    if POLICY_STRICTNESS[policy] < POLICY_STRICTNESS[circle.join_policy]:
        return "joinPolicy"
    if min_trust_score is not None and min_trust_score < circle.min_trust_score:
        return "minTrustScore"
    if circle.customers_only and not customers_only:
        return "customersOnly"
    return None


async def update_circle(
    graph: Graph, owner: UserRecord, circle_id: str, data: CircleInput
) -> CircleRecord:
    """Owner only. A circle of LARGE_CIRCLE members or more may only become stricter."""
    problems = _check(data)
    if problems:
        raise ActionError(*problems)

    async def work(tx: AsyncManagedTransaction) -> CircleRecord:
        found = await _lock(tx, circle_id, owner.id)
        if found is None:
            raise _not_found("id")
        circle, own = found
        if not access(circle.visibility, own.state, own.role).card:
            raise _not_found("id")
        if own.role is not Role.OWNER:
            raise ActionError(
                Problem(ErrorCode.FORBIDDEN, "only the owner may change a circle", "id")
            )
        visibility = data.visibility or circle.visibility
        policy = data.join_policy or circle.join_policy
        customers_only = (
            circle.customers_only if data.customers_only is None else data.customers_only
        )
        combination = _check_combination(visibility, policy, customers_only, circle.merchant_id)
        if combination:
            raise ActionError(*combination)
        if circle.member_count >= LARGE_CIRCLE:
            looser = _loosened(circle, visibility, policy, customers_only, data.min_trust_score)
            if looser:
                raise ActionError(
                    invalid(looser, f"a circle of {LARGE_CIRCLE}+ members may only become stricter")
                )
        result = await tx.run(
            """
            MATCH (c:Circle {id: $id})
            SET c.name = coalesce($name, c.name),
                c.description = coalesce($description, c.description),
                c.visibility = $visibility, c.joinPolicy = $policy,
                c.minTrustScore = coalesce($minTrust, c.minTrustScore),
                c.customersOnly = $customersOnly, c.updatedAt = datetime()
            RETURN """
            + CIRCLE_FIELDS,
            id=circle_id,
            name=data.name.strip() if data.name is not None else None,
            description=data.description.strip() if data.description is not None else None,
            visibility=visibility.value,
            policy=policy.value,
            minTrust=data.min_trust_score,
            customersOnly=customers_only,
        )
        record = await result.single(strict=True)
        return CircleRecord.from_row(record["circle"])

    return await write_transaction(graph, work)
