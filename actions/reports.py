"""Reports into a circle's moderation queue, and appeals against bans and mutes."""

from __future__ import annotations

from neo4j import AsyncManagedTransaction
from neo4j.exceptions import ConstraintError

from actions import effects
from graph import posts, reports
from graph.errors import ActionError
from graph.reports import AppealRecord, Decided, Filed, ReportRecord, Resolved
from graph.users import UserRecord
from workers.services import Services


def _hid(post_id: str | None) -> effects.Effects:
    """A post hidden or shown again leaves or re-enters feeds: its cached copy changes."""
    return effects.Effects(posts=frozenset({post_id})) if post_id is not None else effects.NONE


async def file_report(
    services: Services,
    reporter: UserRecord,
    *,
    post_id: str | None,
    user_id: str | None,
    circle_id: str | None,
    reason: str,
) -> ReportRecord:
    """A member reports a post of their circle, or a fellow member, once each; enough
    reports from distinct members hide the post pending review."""
    problems = reports.report_problems(
        post_id=post_id, user_id=user_id, circle_id=circle_id, reason=reason
    )
    if problems:
        raise ActionError(*problems)
    await effects.rate_limit(services, "report", reporter, "postId" if post_id else "userId")

    async def work(tx: AsyncManagedTransaction) -> Filed:
        return await reports.file_report(
            tx,
            reporter.id,
            post_id=post_id,
            user_id=user_id,
            circle_id=circle_id,
            reason=reason,
            hide_threshold=services.settings.report_hide_threshold,
        )

    try:
        filed = await effects.commit(
            services,
            work,
            lambda done: _hid(post_id if done.hid_post else None),
            id_attempts=posts.ID_ATTEMPTS,
        )
    except ConstraintError as exc:  # the same report filed twice at once
        raise reports.already_reported() from exc
    return (await reports.reports_by_ids(services.graph, [filed.report_id]))[filed.report_id]


async def resolve_report(
    services: Services, moderator: UserRecord, report_id: str, *, dismiss: bool, admin: bool
) -> ReportRecord:
    """Whoever moderates the circle closes an OPEN report: RESOLVED or DISMISSED."""

    async def work(tx: AsyncManagedTransaction) -> Resolved:
        return await reports.resolve_report(
            tx, moderator.id, report_id, dismiss=dismiss, admin=admin
        )

    await effects.commit(services, work, lambda done: _hid(done.unhid_post))
    return (await reports.reports_by_ids(services.graph, [report_id]))[report_id]


async def appeal(
    services: Services, user: UserRecord, action_id: str, message: str
) -> AppealRecord:
    """The banned or muted member appeals the action, once."""
    problems = reports.appeal_problems(message)
    if problems:
        raise ActionError(*problems)

    async def work(tx: AsyncManagedTransaction) -> str:
        return await reports.file_appeal(tx, user.id, action_id, message)

    try:
        appeal_id = await effects.commit(
            services, work, lambda _: effects.NONE, id_attempts=posts.ID_ATTEMPTS
        )
    except ConstraintError as exc:  # appealed twice at once
        raise reports.already_appealed() from exc
    return (await reports.appeals_by_ids(services.graph, [appeal_id]))[appeal_id]


async def decide_appeal(
    services: Services, moderator: UserRecord, appeal_id: str, *, accept: bool, admin: bool
) -> AppealRecord:
    """Whoever moderates the circle accepts (lifting the ban or mute) or rejects."""

    async def work(tx: AsyncManagedTransaction) -> Decided:
        return await reports.decide_appeal(tx, moderator.id, appeal_id, accept=accept, admin=admin)

    await effects.commit(services, work, lambda _: effects.NONE, id_attempts=posts.ID_ATTEMPTS)
    return (await reports.appeals_by_ids(services.graph, [appeal_id]))[appeal_id]
