"""Reports into a circle's moderation queue, and appeals against bans and mutes.

Reports. Members of a circle report its posts and its members (never themselves), once per
reporter and subject (``Report.dedupeKey`` is unique). A post reported by
``report_hide_threshold`` distinct members with OPEN reports gets ``hidden = true``: it
reads like a removed post (moderators only) until reviewed. Resolving a report keeps the
post hidden (the moderator acts on it with ``moderate``); dismissing un-hides it once no
OPEN or RESOLVED report about it is left. Held posts (automod, cross-posting) come with a
system report, which has no reporter (see ``graph.safety``).

Appeals. A member banned or muted by a ``ModAction`` may appeal it once
(``Appeal.actionId`` is unique) while the ban or mute stands. Moderators decide; accepting
lifts the ban (the BANNED membership is deleted, as if it had expired) or the mute, and
writes the matching UNBAN or UNMUTE ``ModAction`` in the same transaction, so the mod log
shows the outcome.

Report, appeal and mod action ids come from ``new_post_id``: they sort by creation time,
so queues page by id alone.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from neo4j import AsyncManagedTransaction

from graph import posts
from graph.circles import (
    State,
    access,
    effective_state,
    is_muted,
    lock,
    membership_of,
    moderator_gate,
)
from graph.driver import Graph
from graph.errors import ActionError, ErrorCode, Problem, invalid
from graph.validation import check_text

REASON_MAX = 500
MESSAGE_MAX = 1000


class ReportState(enum.StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"
    DISMISSED = "DISMISSED"


class AppealState(enum.StrEnum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"


REPORT_FIELDS: LiteralString = """
    r {.id, .reason, .state, .createdAt,
       reporterId: [(u:User)-[:FILED]->(r) | u.id][0],
       postId: [(r)-[:ABOUT_POST]->(p:Post) | p.id][0],
       subjectId: [(r)-[:ABOUT_USER]->(s:User) | s.id][0],
       circleId: [(r)-[:IN]->(c:Circle) | c.id][0]} AS report
"""

APPEAL_FIELDS: LiteralString = """
    ap {.id, .message, .state, .createdAt, .decidedAt,
        userId: [(u:User)-[:APPEALED]->(ap) | u.id][0],
        actionId: a.id, kind: a.kind,
        circleId: [(a)-[:IN]->(c:Circle) | c.id][0]} AS appeal
"""


@dataclass(frozen=True)
class ReportRecord:
    id: str
    reporter_id: str | None  # None: filed by the system (a held post)
    post_id: str | None
    subject_id: str | None
    circle_id: str
    reason: str
    state: ReportState
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ReportRecord:
        return cls(
            id=row["id"],
            reporter_id=row["reporterId"],
            post_id=row["postId"],
            subject_id=row["subjectId"],
            circle_id=row["circleId"],
            reason=row["reason"],
            state=ReportState(row["state"]),
            created_at=row["createdAt"].to_native(),
        )


@dataclass(frozen=True)
class AppealRecord:
    id: str
    action_id: str
    kind: str
    user_id: str
    circle_id: str
    message: str
    state: AppealState
    created_at: datetime
    decided_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AppealRecord:
        decided = row.get("decidedAt")
        return cls(
            id=row["id"],
            action_id=row["actionId"],
            kind=row["kind"],
            user_id=row["userId"],
            circle_id=row["circleId"],
            message=row["message"],
            state=AppealState(row["state"]),
            created_at=row["createdAt"].to_native(),
            decided_at=decided.to_native() if decided is not None else None,
        )


# ---------------------------------------------------------------- reads


async def reports_by_ids(graph: Graph, ids: Sequence[str]) -> dict[str, ReportRecord]:
    result = await graph.read(
        "UNWIND $ids AS rid MATCH (r:Report {id: rid}) RETURN " + REPORT_FIELDS, ids=list(ids)
    )
    return {r["report"]["id"]: ReportRecord.from_row(r["report"]) for r in result.records}


async def queue_page(
    graph: Graph, circle_id: str, *, first: int, after: str | None
) -> list[ReportRecord]:
    """The circle's OPEN reports, oldest first (the caller checked the viewer moderates)."""
    result = await graph.read(
        """
        MATCH (r:Report {state: 'OPEN'})-[:IN]->(:Circle {id: $circle})
        WHERE $after IS NULL OR r.id > $after
        WITH r ORDER BY r.id LIMIT $limit
        RETURN """
        + REPORT_FIELDS,
        circle=circle_id,
        after=after,
        limit=first,
    )
    return [ReportRecord.from_row(r["report"]) for r in result.records]


async def appeals_by_ids(graph: Graph, ids: Sequence[str]) -> dict[str, AppealRecord]:
    result = await graph.read(
        """
        UNWIND $ids AS aid
        MATCH (ap:Appeal {id: aid})-[:AGAINST]->(a:ModAction)
        RETURN """
        + APPEAL_FIELDS,
        ids=list(ids),
    )
    return {r["appeal"]["id"]: AppealRecord.from_row(r["appeal"]) for r in result.records}


async def appeals_page(
    graph: Graph, circle_id: str, *, first: int, after: str | None
) -> list[AppealRecord]:
    """The circle's PENDING appeals, oldest first (the caller checked the viewer moderates)."""
    result = await graph.read(
        """
        MATCH (ap:Appeal {state: 'PENDING'})-[:AGAINST]->(a:ModAction)
              -[:IN]->(:Circle {id: $circle})
        WHERE $after IS NULL OR ap.id > $after
        WITH ap, a ORDER BY ap.id LIMIT $limit
        RETURN """
        + APPEAL_FIELDS,
        circle=circle_id,
        after=after,
        limit=first,
    )
    return [AppealRecord.from_row(r["appeal"]) for r in result.records]


# ---------------------------------------------------------------- reports


def already_reported() -> ActionError:
    return ActionError(Problem(ErrorCode.ALREADY_EXISTS, "you reported this already", None))


def already_appealed() -> ActionError:
    return ActionError(
        Problem(ErrorCode.ALREADY_EXISTS, "this action was appealed already", "actionId")
    )


def report_problems(
    *, post_id: str | None, user_id: str | None, circle_id: str | None, reason: str
) -> list[Problem]:
    if (post_id is None) == (user_id is None):
        return [invalid("postId", "report either a post or a user")]
    if user_id is not None and circle_id is None:
        return [invalid("circleId", "a user is reported in a circle")]
    return check_text("reason", reason, min_len=1, max_len=REASON_MAX, allow_newlines=True)


@dataclass(frozen=True)
class Filed:
    """A report just filed, and whether it hid the post it is about."""

    report_id: str
    hid_post: bool


async def file_report(
    tx: AsyncManagedTransaction,
    reporter_id: str,
    *,
    post_id: str | None,
    user_id: str | None,
    circle_id: str | None,
    reason: str,
    hide_threshold: int,
) -> Filed:
    """A member reports a post of their circle, or a fellow member (``report_problems``
    passed). Ids are made here: run with ``id_attempts``."""
    report_id, ms = posts.new_post_id()
    if post_id is not None:
        found = await posts.lock(tx, post_id, reporter_id)
        if found is None or not posts.may_read(found):
            raise ActionError(Problem(ErrorCode.NOT_FOUND, "post not found", "postId"))
        cid = found.post.circle_id
        if cid is None:
            raise ActionError(invalid("postId", "only posts in circles are reported"))
        if circle_id is not None and circle_id != cid:
            raise ActionError(invalid("circleId", "the post is not in this circle"))
        if found.facts.state is not State.MEMBER:
            raise ActionError(
                Problem(ErrorCode.FORBIDDEN, "only members of the circle report", "postId")
            )
        key = f"{reporter_id}|post:{post_id}"
    else:
        assert circle_id is not None and user_id is not None
        locked = await lock(tx, circle_id, reporter_id)
        if locked is None:
            raise ActionError(Problem(ErrorCode.NOT_FOUND, "circle not found", "circleId"))
        circle, own = locked
        if not access(circle.visibility, own.state, own.role).card:
            raise ActionError(Problem(ErrorCode.NOT_FOUND, "circle not found", "circleId"))
        if own.state is not State.MEMBER:
            raise ActionError(
                Problem(ErrorCode.FORBIDDEN, "only members of the circle report", "circleId")
            )
        if user_id == reporter_id:
            raise ActionError(invalid("userId", "you cannot report yourself"))
        target = await membership_of(tx, circle_id, user_id)
        if target.state is not State.MEMBER:
            raise ActionError(Problem(ErrorCode.NOT_FOUND, "not a member of this circle", "userId"))
        cid = circle_id
        key = f"{reporter_id}|user:{user_id}|circle:{circle_id}"
    dup = await tx.run("MATCH (r:Report {dedupeKey: $key}) RETURN r.id AS id", key=key)
    if await dup.single() is not None:
        raise already_reported()
    await tx.run(
        """
        MATCH (me:User {id: $reporter}), (c:Circle {id: $circle})
        CREATE (me)-[:FILED]->(r:Report {id: $id, reason: $reason, state: 'OPEN',
                createdAt: datetime({epochMillis: $ms}), dedupeKey: $key})-[:IN]->(c)
        WITH r
        OPTIONAL MATCH (p:Post {id: $post})
        OPTIONAL MATCH (s:User {id: $subject})
        FOREACH (_ IN CASE WHEN p IS NULL THEN [] ELSE [1] END |
                 CREATE (r)-[:ABOUT_POST]->(p))
        FOREACH (_ IN CASE WHEN s IS NULL THEN [] ELSE [1] END |
                 CREATE (r)-[:ABOUT_USER]->(s))
        """,
        reporter=reporter_id,
        circle=cid,
        id=report_id,
        reason=reason.strip(),
        ms=ms,
        key=key,
        post=post_id,
        subject=user_id,
    )
    hid = False
    if post_id is not None:
        counted = await tx.run(
            """
            MATCH (p:Post {id: $post})
            WHERE NOT coalesce(p.hidden, false)
              AND COUNT { MATCH (u:User)-[:FILED]->(:Report {state: 'OPEN'})-[:ABOUT_POST]->(p)
                          RETURN DISTINCT u } >= $threshold
            SET p.hidden = true
            RETURN p.id AS id
            """,
            post=post_id,
            threshold=hide_threshold,
        )
        hid = await counted.single() is not None
    return Filed(report_id, hid)


@dataclass(frozen=True)
class Resolved:
    """A report just closed, and the post it un-hid, if it did."""

    report_id: str
    unhid_post: str | None


async def resolve_report(
    tx: AsyncManagedTransaction, moderator_id: str, report_id: str, *, dismiss: bool, admin: bool
) -> Resolved:
    """Whoever moderates the circle closes an OPEN report: RESOLVED or DISMISSED."""
    found = await tx.run(
        "MATCH (r:Report {id: $id})-[:IN]->(c:Circle) RETURN c.id AS circle", id=report_id
    )
    record = await found.single()
    if record is None:
        raise ActionError(Problem(ErrorCode.NOT_FOUND, "report not found", "reportId"))
    await moderator_gate(tx, record["circle"], moderator_id, admin=admin)  # locks the circle
    closed = await tx.run(
        """
        MATCH (r:Report {id: $id}) WHERE r.state = 'OPEN'
        SET r.state = $state, r.resolvedAt = datetime(), r.resolvedBy = $moderator
        WITH r
        OPTIONAL MATCH (r)-[:ABOUT_POST]->(p:Post)
        FOREACH (_ IN CASE WHEN p IS NULL THEN [] ELSE [1] END |
                 SET p.lockToken = 1 REMOVE p.lockToken)
        RETURN p.id AS post
        """,
        id=report_id,
        state=(ReportState.DISMISSED if dismiss else ReportState.RESOLVED).value,
        moderator=moderator_id,
    )
    row = await closed.single()
    if row is None:
        raise ActionError(invalid("reportId", "the report is closed already"))
    if not dismiss or row["post"] is None:
        return Resolved(report_id, None)
    unhidden = await tx.run(
        """
        MATCH (p:Post {id: $post}) WHERE coalesce(p.hidden, false)
          AND NOT EXISTS { MATCH (o:Report)-[:ABOUT_POST]->(p)
                           WHERE o.state IN ['OPEN', 'RESOLVED'] }
        SET p.hidden = false
        RETURN p.id AS id
        """,
        post=row["post"],
    )
    return Resolved(report_id, row["post"] if await unhidden.single() is not None else None)


# ---------------------------------------------------------------- appeals


def appeal_problems(message: str) -> list[Problem]:
    return check_text("message", message, min_len=1, max_len=MESSAGE_MAX, allow_newlines=True)


async def file_appeal(
    tx: AsyncManagedTransaction, user_id: str, action_id: str, message: str
) -> str:
    """The banned or muted member appeals the action, once; returns the appeal's id."""
    appeal_id, ms = posts.new_post_id()
    found = await tx.run(
        """
        MATCH (a:ModAction {id: $action})-[:ON_USER]->(u:User {id: $user}),
              (a)-[:IN]->(c:Circle)
        OPTIONAL MATCH (u)-[m:MEMBER_OF]->(c)
        FOREACH (_ IN CASE WHEN m IS NULL THEN [] ELSE [1] END |
                 SET m.lockToken = 1 REMOVE m.lockToken)
        RETURN a.kind AS kind, m {.state, .bannedUntil, .mutedUntil} AS m,
               EXISTS { (:Appeal)-[:AGAINST]->(a) } AS appealed
        """,
        action=action_id,
        user=user_id,
    )
    record = await found.single()
    if record is None:
        raise ActionError(Problem(ErrorCode.NOT_FOUND, "action not found", "actionId"))
    if record["appealed"]:
        raise already_appealed()
    m = record["m"] or {}
    kind = record["kind"]
    if kind == "BAN":
        standing = effective_state(m.get("state"), m.get("bannedUntil")) is State.BANNED
    elif kind == "MUTE":
        standing = m.get("state") == "MEMBER" and is_muted(m.get("mutedUntil"))
    else:
        raise ActionError(invalid("actionId", "only bans and mutes are appealed"))
    if not standing:
        raise ActionError(invalid("actionId", "the ban or mute is over already"))
    await tx.run(
        """
        MATCH (a:ModAction {id: $action}), (u:User {id: $user})
        CREATE (u)-[:APPEALED]->(:Appeal {id: $id, message: $message, state: 'PENDING',
                createdAt: datetime({epochMillis: $ms}), actionId: $action})-[:AGAINST]->(a)
        """,
        action=action_id,
        user=user_id,
        id=appeal_id,
        message=message.strip(),
        ms=ms,
    )
    return appeal_id


@dataclass(frozen=True)
class Decided:
    """An appeal just decided; when accepted, whose ban or mute in which circle was lifted."""

    appeal_id: str
    lifted_user: str | None
    circle_id: str


async def decide_appeal(
    tx: AsyncManagedTransaction, moderator_id: str, appeal_id: str, *, accept: bool, admin: bool
) -> Decided:
    """Whoever moderates the circle accepts an appeal (lifting the ban or mute, logged as
    UNBAN or UNMUTE) or rejects it. Ids are made here: run with ``id_attempts``."""
    found = await tx.run(
        """
        MATCH (ap:Appeal {id: $id})-[:AGAINST]->(:ModAction)-[:IN]->(c:Circle)
        RETURN c.id AS circle
        """,
        id=appeal_id,
    )
    record = await found.single()
    if record is None:
        raise ActionError(Problem(ErrorCode.NOT_FOUND, "appeal not found", "appealId"))
    circle_id = record["circle"]
    await moderator_gate(tx, circle_id, moderator_id, admin=admin)  # locks the circle
    decided = await tx.run(
        """
        MATCH (u:User)-[:APPEALED]->(ap:Appeal {id: $id})-[:AGAINST]->(a:ModAction)
        WHERE ap.state = 'PENDING'
        SET ap.state = $state, ap.decidedAt = datetime(), ap.decidedBy = $moderator
        RETURN a.kind AS kind, a.id AS action, u.id AS user
        """,
        id=appeal_id,
        state=(AppealState.ACCEPTED if accept else AppealState.REJECTED).value,
        moderator=moderator_id,
    )
    row = await decided.single()
    if row is None:
        raise ActionError(invalid("appealId", "the appeal was decided already"))
    if not accept:
        return Decided(appeal_id, None, circle_id)
    if row["kind"] == "BAN":
        lifted: LiteralString = """
            MATCH (:User {id: $user})-[m:MEMBER_OF {state: 'BANNED'}]->(:Circle {id: $circle})
            DELETE m
        """
        kind = "UNBAN"
    else:
        lifted = """
            MATCH (:User {id: $user})-[m:MEMBER_OF]->(:Circle {id: $circle})
            SET m.mutedUntil = null
        """
        kind = "UNMUTE"
    await tx.run(lifted, user=row["user"], circle=circle_id)
    action_id, ms = posts.new_post_id()
    await tx.run(
        """
        MATCH (mod:User {id: $moderator}), (u:User {id: $user}), (c:Circle {id: $circle})
        CREATE (mod)-[:TOOK]->(a:ModAction {id: $id, kind: $kind, reason: $reason,
                expiresAt: null, createdAt: datetime({epochMillis: $ms})})-[:IN]->(c)
        CREATE (a)-[:ON_USER]->(u)
        """,
        moderator=moderator_id,
        user=row["user"],
        circle=circle_id,
        id=action_id,
        kind=kind,
        reason=f"appeal {appeal_id} accepted",
        ms=ms,
    )
    return Decided(appeal_id, row["user"], circle_id)
