"""Circles: semi-public communities, their memberships and who may see what.

``access`` is the product's visibility table as code and ``moderates`` the one answer to
"does this viewer moderate this circle"; every read and every write asks them. Every
membership change runs in one transaction that first write-locks the circle (``lock``),
so the member count stays exact and two changes to one membership never interleave.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, LiteralString

from neo4j import AsyncManagedTransaction

from graph.driver import Graph
from graph.errors import ActionError, ErrorCode, Problem, invalid
from graph.users import UserRecord, new_id
from graph.validation import check_text, check_trust_score

NAME_MAX = 80
DESCRIPTION_MAX = 2000
SERVICE_MAX = 40
MESSAGE_MAX = 500
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

# One membership as a map, with ``u`` the user, ``c`` the circle and ``r`` the MEMBER_OF.
MEMBERSHIP_MAP: LiteralString = """
    {userId: u.id, circleId: c.id, state: r.state, role: r.role, since: r.since,
     bannedUntil: r.bannedUntil, mutedUntil: r.mutedUntil}
"""
MEMBERSHIP_FIELDS: LiteralString = MEMBERSHIP_MAP + " AS membership"


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


def _native(value: Any) -> Any:
    return value.to_native() if hasattr(value, "to_native") else value


@dataclass(frozen=True)
class MembershipRecord:
    user_id: str
    circle_id: str
    state: State
    role: Role | None
    since: datetime | None
    muted_until: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any], now: datetime | None = None) -> MembershipRecord:
        state = effective_state(row.get("state"), row.get("bannedUntil"), now)
        since = row.get("since")
        muted = row.get("mutedUntil")
        return cls(
            user_id=row["userId"],
            circle_id=row["circleId"],
            state=state,
            role=Role(row["role"]) if state is State.MEMBER and row.get("role") else None,
            since=_native(since) if since is not None else None,
            muted_until=_native(muted) if muted is not None else None,
        )

    @classmethod
    def none(cls, user_id: str, circle_id: str) -> MembershipRecord:
        return cls(user_id, circle_id, State.NONE, None, None)

    @property
    def muted(self) -> bool:
        return is_muted(self.muted_until)


@dataclass(frozen=True)
class MembershipChange:
    """What a write did to one membership: the state before, the membership after."""

    before: State
    after: MembershipRecord

    @property
    def membership_changed(self) -> bool:
        """Becoming or ceasing to be a MEMBER: the user's feed and neighbourhood change."""
        return (self.before is State.MEMBER) != (self.after.state is State.MEMBER)


def effective_state(raw: str | None, banned_until: Any, now: datetime | None = None) -> State:
    """A ban whose time has passed reads as no membership, without waiting for a job."""
    if raw is None:
        return State.NONE
    state = State(raw)
    if state is State.BANNED and banned_until is not None:
        if _native(banned_until) <= (now or datetime.now(UTC)):
            return State.NONE
    return state


def is_muted(muted_until: Any, now: datetime | None = None) -> bool:
    """``mutedUntil`` null or absent = not muted; in the future = muted (far future =
    permanently); in the past = the mute is over."""
    if muted_until is None:
        return False
    return bool(_native(muted_until) > (now or datetime.now(UTC)))


@dataclass(frozen=True)
class Access:
    """What one viewer may see of one circle."""

    card: bool
    posts: bool
    members: bool
    moderate: bool


NO_ACCESS = Access(card=False, posts=False, members=False, moderate=False)
FULL_ACCESS = Access(card=True, posts=True, members=True, moderate=True)


def access(
    visibility: Visibility, state: State, role: Role | None, *, admin: bool = False
) -> Access:
    """The visibility table of docs/product.md, cell by cell. Platform admins see every
    circle as its owner does, whatever their own membership."""
    if admin or (state is State.MEMBER and role in (Role.OWNER, Role.MODERATOR)):
        return FULL_ACCESS
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


def moderates(visibility: Visibility, state: State, role: Role | None, *, admin: bool) -> bool:
    """Whether the viewer moderates the circle: its owner and moderators, and platform
    admins everywhere. The queue, appeals, mod log, removed posts, reports, join requests
    and automod rules all ask this, on reads and writes alike."""
    return access(visibility, state, role, admin=admin).moderate


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
        if r["membership"]["state"] is not None
    }
    return {cid: found.get(cid) or MembershipRecord.none(user_id, cid) for cid in circle_ids}


@dataclass(frozen=True)
class MembersPage:
    """One page request: ``first`` memberships of a circle in ``state``, oldest first,
    after the keyset (since, user id)."""

    circle_id: str
    state: State
    first: int
    after: tuple[str, str] | None


async def members_pages(graph: Graph, pages: Sequence[MembersPage]) -> list[list[MembershipRecord]]:
    """Several circles' member pages in one statement (owners and moderators are
    members too); suspended users are left out."""
    result = await graph.read(
        """
        UNWIND range(0, size($pages) - 1) AS i
        WITH i, $pages[i] AS page
        CALL (page) {
          MATCH (u:User)-[r:MEMBER_OF {state: page.state}]->(c:Circle {id: page.circle})
          WHERE NOT coalesce(u.suspended, false)
            AND (page.afterSince IS NULL OR r.since > datetime(page.afterSince)
                 OR (r.since = datetime(page.afterSince) AND u.id > page.afterUser))
          WITH u, r, c ORDER BY r.since, u.id LIMIT $most
          RETURN collect("""
        + MEMBERSHIP_MAP
        + """) AS rows
        }
        RETURN i, rows[..page.limit] AS rows
        """,
        pages=[
            {
                "circle": p.circle_id,
                "state": p.state.value,
                "afterSince": p.after[0] if p.after else None,
                "afterUser": p.after[1] if p.after else None,
                "limit": p.first,
            }
            for p in pages
        ],
        most=max((p.first for p in pages), default=0),  # LIMIT takes no variables
    )
    by_index = {r["i"]: r["rows"] for r in result.records}
    return [
        [MembershipRecord.from_row(row) for row in by_index.get(i, [])] for i in range(len(pages))
    ]


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


@dataclass(frozen=True)
class MerchantCirclesPage:
    """One page request: ``first`` circles of a merchant after the circle id ``after``."""

    merchant_id: str
    first: int
    after: str | None


async def merchant_circles_pages(
    graph: Graph, viewer_id: str | None, pages: Sequence[MerchantCirclesPage]
) -> list[list[str]]:
    """Several merchants' circles the viewer may find, in one statement: PRIVATE ones only
    for members, invitees and those who asked to join."""
    result = await graph.read(
        """
        UNWIND range(0, size($pages) - 1) AS i
        WITH i, $pages[i] AS page
        CALL (page) {
          MATCH (c:Circle)-[:HOSTED_BY]->(:Merchant {id: page.merchant})
          WHERE (page.after IS NULL OR c.id > page.after)
            AND (c.visibility <> 'PRIVATE' OR EXISTS {
                  MATCH (:User {id: $viewer})-[r:MEMBER_OF]->(c)
                  WHERE r.state IN ['MEMBER', 'INVITED', 'PENDING'] })
          WITH c ORDER BY c.id LIMIT $most
          RETURN collect(c.id) AS ids
        }
        RETURN i, ids[..page.limit] AS ids
        """,
        viewer=viewer_id,
        pages=[{"merchant": p.merchant_id, "after": p.after, "limit": p.first} for p in pages],
        most=max((p.first for p in pages), default=0),
    )
    by_index = {r["i"]: r["ids"] for r in result.records}
    return [list(by_index.get(i, [])) for i in range(len(pages))]


# ---------------------------------------------------------------- input rules


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


def input_problems(data: CircleInput, *, creating: bool) -> list[Problem]:
    """What is wrong with the fields themselves, before any of the graph is read."""
    if creating and (data.name is None or data.visibility is None or data.join_policy is None):
        return [invalid(None, "name, visibility and joinPolicy are required")]
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
    if creating and data.visibility is not None and data.join_policy is not None:
        problems += _combination_problems(
            data.visibility, data.join_policy, bool(data.customers_only), data.merchant_id
        )
    return problems


def message_problems(message: str | None) -> list[Problem]:
    if message is None:
        return []
    return check_text("message", message, min_len=0, max_len=MESSAGE_MAX, allow_newlines=True)


def _combination_problems(
    visibility: Visibility, policy: JoinPolicy, customers_only: bool, merchant_id: str | None
) -> list[Problem]:
    problems = []
    if visibility is Visibility.PRIVATE and policy is not JoinPolicy.INVITE:
        problems.append(invalid("joinPolicy", "a PRIVATE circle must be INVITE only"))
    if customers_only and merchant_id is None:
        problems.append(invalid("customersOnly", "only a merchant's circle can be customers-only"))
    return problems


def not_found(field: str = "circleId") -> ActionError:
    return ActionError(Problem(ErrorCode.NOT_FOUND, "circle not found", field))


def _refused(code: ErrorCode, message: str, field: str = "circleId") -> ActionError:
    return ActionError(Problem(code, message, field))


# ---------------------------------------------------------------- transaction steps


async def lock(
    tx: AsyncManagedTransaction, circle_id: str, user_id: str
) -> tuple[CircleRecord, MembershipRecord] | None:
    """Write-lock the circle and read it with the user's membership in it."""
    result = await tx.run(
        """
        MATCH (c:Circle {id: $circle})
        SET c.lockToken = 1 REMOVE c.lockToken
        WITH c
        OPTIONAL MATCH (u:User {id: $user})-[r:MEMBER_OF]->(c)
        RETURN """
        + CIRCLE_FIELDS
        + ", CASE WHEN r IS NULL THEN null ELSE "
        + MEMBERSHIP_MAP
        + " END AS membership",
        circle=circle_id,
        user=user_id,
    )
    record = await result.single()
    if record is None:
        return None
    circle = CircleRecord.from_row(record["circle"])
    row = record["membership"]
    membership = (
        MembershipRecord.from_row(row)
        if row is not None
        else MembershipRecord.none(user_id, circle_id)
    )
    return circle, membership


async def moderator_gate(
    tx: AsyncManagedTransaction, circle_id: str, actor_id: str, *, admin: bool
) -> tuple[CircleRecord, MembershipRecord]:
    """Write-lock the circle for someone who moderates it (see ``moderates``): NOT_FOUND
    when they cannot see it, FORBIDDEN when they see it but do not moderate it."""
    found = await lock(tx, circle_id, actor_id)
    if found is None:
        raise not_found()
    circle, own = found
    rights = access(circle.visibility, own.state, own.role, admin=admin)
    if not rights.card:
        raise not_found()
    if not rights.moderate:
        raise _refused(ErrorCode.FORBIDDEN, "moderators and owners only")
    return circle, own


async def membership_of(
    tx: AsyncManagedTransaction, circle_id: str, user_id: str
) -> MembershipRecord:
    """Someone acted upon in a circle; NOT_FOUND when the user is missing or suspended."""
    result = await tx.run(
        """
        MATCH (u:User {id: $user}) WHERE NOT coalesce(u.suspended, false)
        OPTIONAL MATCH (u)-[r:MEMBER_OF]->(c:Circle {id: $circle})
        RETURN CASE WHEN r IS NULL THEN null ELSE """
        + MEMBERSHIP_MAP
        + """ END AS membership
        """,
        user=user_id,
        circle=circle_id,
    )
    record = await result.single()
    if record is None:
        raise ActionError(Problem(ErrorCode.NOT_FOUND, "user not found", "userId"))
    row = record["membership"]
    return (
        MembershipRecord.from_row(row)
        if row is not None
        else MembershipRecord.none(user_id, circle_id)
    )


async def set_membership(
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


async def remove_membership(
    tx: AsyncManagedTransaction, circle_id: str, user_id: str, *, count_delta: int
) -> MembershipRecord:
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
    return MembershipRecord.none(user_id, circle_id)


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


# ---------------------------------------------------------------- transactions


async def create(tx: AsyncManagedTransaction, creator_id: str, data: CircleInput) -> CircleRecord:
    """A new circle with the creator as OWNER; a merchant's circle needs its staff.
    ``data`` passed ``input_problems(creating=True)``."""
    assert data.name is not None and data.visibility is not None and data.join_policy is not None
    if data.merchant_id is not None:
        staff = await tx.run(
            """
            MATCH (m:Merchant {id: $merchant})
            RETURN EXISTS { (:User {id: $creator})-[:STAFF_OF]->(m) } AS staff
            """,
            merchant=data.merchant_id,
            creator=creator_id,
        )
        row = await staff.single()
        if row is None:
            raise ActionError(Problem(ErrorCode.NOT_FOUND, "merchant not found", "merchantId"))
        if not row["staff"]:
            raise _refused(
                ErrorCode.FORBIDDEN, "only the merchant's staff may host its circles", "merchantId"
            )
    result = await tx.run(
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
        creator=creator_id,
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
    record = await result.single(strict=True)
    return CircleRecord.from_row(record["circle"])


async def join(
    tx: AsyncManagedTransaction, user: UserRecord, circle_id: str, message: str | None
) -> MembershipChange:
    """Join as the circle's policy allows: OPEN at once, APPROVAL as PENDING, INVITE only
    when invited. The gates (ban, trust score, customers only) apply to every policy."""
    found = await lock(tx, circle_id, user.id)
    if found is None:
        raise not_found()
    circle, current = found
    if not access(circle.visibility, current.state, current.role).card:
        raise not_found()
    if current.state in (State.MEMBER, State.PENDING):
        raise _refused(ErrorCode.ALREADY_EXISTS, "already joined or asked")
    if current.state is State.BANNED:
        raise _refused(ErrorCode.BANNED, "you are banned from this circle")
    if user.trust_score < circle.min_trust_score:
        raise _refused(ErrorCode.TRUST_TOO_LOW, "your trust score is below this circle's minimum")
    if circle.customers_only and not await _is_customer(tx, user.id, circle.merchant_id):
        raise _refused(ErrorCode.NOT_A_CUSTOMER, "this circle is for the merchant's customers")
    if current.state is State.INVITED or circle.join_policy is JoinPolicy.OPEN:
        joined = await set_membership(
            tx, circle.id, user.id, State.MEMBER, Role.MEMBER, count_delta=1
        )
    elif circle.join_policy is JoinPolicy.APPROVAL:
        joined = await set_membership(
            tx, circle.id, user.id, State.PENDING, None, count_delta=0, message=message
        )
    else:
        raise _refused(ErrorCode.INVITE_REQUIRED, "this circle is invite only")
    return MembershipChange(current.state, joined)


async def leave(tx: AsyncManagedTransaction, user_id: str, circle_id: str) -> MembershipChange:
    """Leave, withdraw a join request, or decline an invitation. The last owner must hand
    ownership on first; a ban stays."""
    found = await lock(tx, circle_id, user_id)
    if found is None:
        raise not_found()
    circle, current = found
    if current.state is State.NONE:
        raise not_found()  # the same answer whether or not the circle is visible
    if not access(circle.visibility, current.state, current.role).card:
        raise not_found()  # banned from a PRIVATE circle: it is hidden, ban and all
    if current.state is State.BANNED:
        raise _refused(ErrorCode.BANNED, "you are banned from this circle")
    if current.role is Role.OWNER:
        owners = await tx.run(
            "MATCH (:User)-[r:MEMBER_OF {state: 'MEMBER', role: 'OWNER'}]->"
            "(:Circle {id: $circle}) RETURN count(r) AS n",
            circle=circle_id,
        )
        if (await owners.single(strict=True))["n"] <= 1:
            raise ActionError(invalid("circleId", "hand ownership to someone else before leaving"))
    delta = -1 if current.state is State.MEMBER else 0
    left = await remove_membership(tx, circle_id, user_id, count_delta=delta)
    return MembershipChange(current.state, left)


async def invite(
    tx: AsyncManagedTransaction, moderator_id: str, circle_id: str, user_id: str, *, admin: bool
) -> MembershipChange:
    """A moderator invites someone; inviting a user who asked to join admits them."""
    await moderator_gate(tx, circle_id, moderator_id, admin=admin)
    blocked = await tx.run(
        "RETURN EXISTS { (:User {id: $a})-[:BLOCKED]-(:User {id: $b}) } AS blocked",
        a=moderator_id,
        b=user_id,
    )
    if (await blocked.single(strict=True))["blocked"]:
        raise _refused(ErrorCode.BLOCKED, "you cannot invite this user", "userId")
    target = await membership_of(tx, circle_id, user_id)
    if target.state in (State.MEMBER, State.INVITED):
        raise _refused(ErrorCode.ALREADY_EXISTS, "already a member or invited", "userId")
    if target.state is State.BANNED:
        raise _refused(ErrorCode.BANNED, "this user is banned here; unban first", "userId")
    if target.state is State.PENDING:
        admitted = await set_membership(
            tx, circle_id, user_id, State.MEMBER, Role.MEMBER, count_delta=1
        )
        return MembershipChange(target.state, admitted)
    invited = await set_membership(
        tx, circle_id, user_id, State.INVITED, None, count_delta=0, invited_by=moderator_id
    )
    return MembershipChange(target.state, invited)


async def review(
    tx: AsyncManagedTransaction,
    moderator_id: str,
    circle_id: str,
    user_id: str,
    *,
    approve: bool,
    admin: bool,
) -> MembershipChange:
    """Approve (MEMBER) or deny (no membership) a pending request."""
    await moderator_gate(tx, circle_id, moderator_id, admin=admin)
    target = await membership_of(tx, circle_id, user_id)
    if target.state is not State.PENDING:
        raise _refused(ErrorCode.NOT_FOUND, "no pending request from this user", "userId")
    if approve:
        joined = await set_membership(
            tx, circle_id, user_id, State.MEMBER, Role.MEMBER, count_delta=1
        )
        return MembershipChange(State.PENDING, joined)
    denied = await remove_membership(tx, circle_id, user_id, count_delta=0)
    return MembershipChange(State.PENDING, denied)


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


async def update(
    tx: AsyncManagedTransaction, owner_id: str, circle_id: str, data: CircleInput
) -> CircleRecord:
    """Owner only. A circle of LARGE_CIRCLE members or more may only become stricter.
    ``data`` passed ``input_problems(creating=False)``."""
    found = await lock(tx, circle_id, owner_id)
    if found is None:
        raise not_found("id")
    circle, own = found
    if not access(circle.visibility, own.state, own.role).card:
        raise not_found("id")
    if own.role is not Role.OWNER:
        raise _refused(ErrorCode.FORBIDDEN, "only the owner may change a circle", "id")
    visibility = data.visibility or circle.visibility
    policy = data.join_policy or circle.join_policy
    customers_only = circle.customers_only if data.customers_only is None else data.customers_only
    combination = _combination_problems(visibility, policy, customers_only, circle.merchant_id)
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
