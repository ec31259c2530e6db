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
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from neo4j import AsyncManagedTransaction
from neo4j.exceptions import ConstraintError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from graph import posts
from graph.circles import State, _lock, _moderator_gate, _target, access, effective_state
from graph.driver import Graph, write_transaction
from graph.errors import ActionError, ErrorCode, Problem, invalid
from graph.users import UserRecord
from graph.validation import check_text
from workers.feeds import post_changed
from workers.ratelimit import rate_limited, take

log = logging.getLogger(__name__)

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


async def moderates_circle(graph: Graph, viewer_id: str | None, circle_id: str) -> bool:
    """Whether the viewer is the circle's owner or one of its moderators."""
    if viewer_id is None:
        return False
    result = await graph.read(
        """
        MATCH (:User {id: $viewer})-[r:MEMBER_OF {state: 'MEMBER'}]->(:Circle {id: $circle})
        RETURN r.role AS role
        """,
        viewer=viewer_id,
        circle=circle_id,
    )
    return bool(result.records) and result.records[0]["role"] in ("OWNER", "MODERATOR")


async def moderated_circles(graph: Graph, viewer_id: str | None, ids: Sequence[str]) -> set[str]:
    """Of these circles, the ones the viewer moderates (one query)."""
    if viewer_id is None or not ids:
        return set()
    result = await graph.read(
        """
        MATCH (:User {id: $viewer})-[r:MEMBER_OF {state: 'MEMBER'}]->(c:Circle)
        WHERE c.id IN $ids AND r.role IN ['OWNER', 'MODERATOR']
        RETURN collect(c.id) AS ids
        """,
        viewer=viewer_id,
        ids=list(set(ids)),
    )
    return set(result.records[0]["ids"]) if result.records else set()


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


async def _limit(redis: Redis, user: UserRecord, field: str) -> None:
    try:
        decision = await take(redis, "report", user)
    except (RedisError, OSError):
        log.warning("rate limit report unavailable for %s; allowing", user.id)
        return
    if not decision.allowed:
        raise ActionError(rate_limited(decision, field))


def _already() -> ActionError:
    return ActionError(Problem(ErrorCode.ALREADY_EXISTS, "you reported this already", None))


async def file_report(
    graph: Graph,
    redis: Redis,
    reporter: UserRecord,
    *,
    post_id: str | None,
    user_id: str | None,
    circle_id: str | None,
    reason: str,
    hide_threshold: int,
) -> ReportRecord:
    """A member reports a post of their circle, or a fellow member."""
    if (post_id is None) == (user_id is None):
        raise ActionError(invalid("postId", "report either a post or a user"))
    if user_id is not None and circle_id is None:
        raise ActionError(invalid("circleId", "a user is reported in a circle"))
    problems = check_text("reason", reason, min_len=1, max_len=REASON_MAX, allow_newlines=True)
    if problems:
        raise ActionError(*problems)
    await _limit(redis, reporter, "postId" if post_id else "userId")

    async def work(tx: AsyncManagedTransaction) -> tuple[str, bool]:
        report_id, ms = posts.new_post_id()
        if post_id is not None:
            found = await posts._lock(tx, post_id, reporter.id)
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
            key = f"{reporter.id}|post:{post_id}"
        else:
            assert circle_id is not None and user_id is not None
            locked = await _lock(tx, circle_id, reporter.id)
            if locked is None:
                raise ActionError(Problem(ErrorCode.NOT_FOUND, "circle not found", "circleId"))
            circle, own = locked
            if not access(circle.visibility, own.state, own.role).card:
                raise ActionError(Problem(ErrorCode.NOT_FOUND, "circle not found", "circleId"))
            if own.state is not State.MEMBER:
                raise ActionError(
                    Problem(ErrorCode.FORBIDDEN, "only members of the circle report", "circleId")
                )
            if user_id == reporter.id:
                raise ActionError(invalid("userId", "you cannot report yourself"))
            target = await _target(tx, circle_id, user_id)
            if target.state is not State.MEMBER:
                raise ActionError(
                    Problem(ErrorCode.NOT_FOUND, "not a member of this circle", "userId")
                )
            cid = circle_id
            key = f"{reporter.id}|user:{user_id}|circle:{circle_id}"
        dup = await tx.run("MATCH (r:Report {dedupeKey: $key}) RETURN r.id AS id", key=key)
        if await dup.single() is not None:
            raise _already()
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
            reporter=reporter.id,
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
        return report_id, hid

    try:
        report_id, hid = await write_transaction(graph, work)
    except ConstraintError as exc:  # the same report filed twice at once
        raise _already() from exc
    if hid and post_id is not None:
        await _refresh(graph, redis, post_id)
    return (await reports_by_ids(graph, [report_id]))[report_id]


async def _refresh(graph: Graph, redis: Redis, post_id: str) -> None:
    try:
        await post_changed(redis, graph, [post_id])
    except (RedisError, OSError) as exc:
        log.warning("post %s hidden state changed; feed copy not refreshed: %s", post_id, exc)


async def resolve_report(
    graph: Graph, redis: Redis, moderator: UserRecord, report_id: str, dismiss: bool
) -> ReportRecord:
    """A moderator closes an OPEN report: RESOLVED (acted upon) or DISMISSED."""

    async def work(tx: AsyncManagedTransaction) -> str | None:
        found = await tx.run(
            "MATCH (r:Report {id: $id})-[:IN]->(c:Circle) RETURN c.id AS circle", id=report_id
        )
        record = await found.single()
        if record is None:
            raise ActionError(Problem(ErrorCode.NOT_FOUND, "report not found", "reportId"))
        await _moderator_gate(tx, record["circle"], moderator.id)  # write-locks the circle
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
            moderator=moderator.id,
        )
        row = await closed.single()
        if row is None:
            raise ActionError(invalid("reportId", "the report is closed already"))
        if not dismiss or row["post"] is None:
            return None
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
        return row["post"] if await unhidden.single() is not None else None

    changed = await write_transaction(graph, work)
    if changed is not None:
        await _refresh(graph, redis, changed)
    return (await reports_by_ids(graph, [report_id]))[report_id]


# ---------------------------------------------------------------- appeals


async def file_appeal(graph: Graph, user: UserRecord, action_id: str, message: str) -> AppealRecord:
    """The banned or muted member appeals the action, once."""
    problems = check_text("message", message, min_len=1, max_len=MESSAGE_MAX, allow_newlines=True)
    if problems:
        raise ActionError(*problems)

    async def work(tx: AsyncManagedTransaction) -> str:
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
            user=user.id,
        )
        record = await found.single()
        if record is None:
            raise ActionError(Problem(ErrorCode.NOT_FOUND, "action not found", "actionId"))
        if record["appealed"]:
            raise ActionError(
                Problem(ErrorCode.ALREADY_EXISTS, "this action was appealed already", "actionId")
            )
        m = record["m"] or {}
        kind = record["kind"]
        if kind == "BAN":
            standing = effective_state(m.get("state"), m.get("bannedUntil")) is State.BANNED
        elif kind == "MUTE":
            standing = m.get("state") == "MEMBER" and posts.is_muted(m.get("mutedUntil"))
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
            user=user.id,
            id=appeal_id,
            message=message.strip(),
            ms=ms,
        )
        return appeal_id

    try:
        appeal_id = await write_transaction(graph, work)
    except ConstraintError as exc:
        raise ActionError(
            Problem(ErrorCode.ALREADY_EXISTS, "this action was appealed already", "actionId")
        ) from exc
    return (await appeals_by_ids(graph, [appeal_id]))[appeal_id]


async def decide_appeal(
    graph: Graph, moderator: UserRecord, appeal_id: str, accept: bool
) -> AppealRecord:
    """A moderator accepts (lifting the ban or mute, logged as UNBAN or UNMUTE) or rejects."""

    async def work(tx: AsyncManagedTransaction) -> None:
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
        await _moderator_gate(tx, record["circle"], moderator.id)  # write-locks the circle
        decided = await tx.run(
            """
            MATCH (u:User)-[:APPEALED]->(ap:Appeal {id: $id})-[:AGAINST]->(a:ModAction)
            WHERE ap.state = 'PENDING'
            SET ap.state = $state, ap.decidedAt = datetime(), ap.decidedBy = $moderator
            RETURN a.kind AS kind, a.id AS action, u.id AS user
            """,
            id=appeal_id,
            state=(AppealState.ACCEPTED if accept else AppealState.REJECTED).value,
            moderator=moderator.id,
        )
        row = await decided.single()
        if row is None:
            raise ActionError(invalid("appealId", "the appeal was decided already"))
        if not accept:
            return
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
        await tx.run(lifted, user=row["user"], circle=record["circle"])
        action_id, ms = posts.new_post_id()
        await tx.run(
            """
            MATCH (mod:User {id: $moderator}), (u:User {id: $user}), (c:Circle {id: $circle})
            CREATE (mod)-[:TOOK]->(a:ModAction {id: $id, kind: $kind, reason: $reason,
                    expiresAt: null, createdAt: datetime({epochMillis: $ms})})-[:IN]->(c)
            CREATE (a)-[:ON_USER]->(u)
            """,
            moderator=moderator.id,
            user=row["user"],
            circle=record["circle"],
            id=action_id,
            kind=kind,
            reason=f"appeal {appeal_id} accepted",
            ms=ms,
        )

    await write_transaction(graph, work)
    return (await appeals_by_ids(graph, [appeal_id]))[appeal_id]
