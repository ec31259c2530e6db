"""Circles: creating and changing them, and every way into or out of one.

Becoming or ceasing to be a MEMBER changes the user's feed and suggestions and the
circle's fan-out audience (``membership_effects``); moderation uses the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from neo4j import AsyncManagedTransaction

from actions import effects
from graph import circles, notifications
from graph.circles import CircleInput, CircleRecord, MembershipChange, MembershipRecord, State
from graph.errors import ActionError
from graph.notifications import Created
from graph.users import UserRecord
from workers.services import Services


def membership_effects(change: MembershipChange) -> effects.Effects:
    if not change.membership_changed:
        return effects.NONE
    user = change.after.user_id
    return effects.Effects(
        feed_views=frozenset({user}),
        suggestions=frozenset({user}),
        circle_members=frozenset({change.after.circle_id}),
    )


@dataclass(frozen=True)
class _Admitted:
    change: MembershipChange
    notice: Created | None = None


def _admitted_effects(done: _Admitted) -> effects.Effects:
    return membership_effects(done.change) | effects.notified(done.notice)


async def _notify_if_admitted(
    tx: AsyncManagedTransaction, change: MembershipChange, moderator_id: str
) -> _Admitted:
    """Someone who had asked to join and is a MEMBER now hears so."""
    after = change.after
    if change.before is State.PENDING and after.state is State.MEMBER:
        notice = await notifications.join_approved(tx, after.circle_id, after.user_id, moderator_id)
        return _Admitted(change, notice)
    return _Admitted(change)


async def create_circle(services: Services, creator: UserRecord, data: CircleInput) -> CircleRecord:
    """A new circle with the creator as OWNER; a merchant's circle needs its staff."""
    problems = circles.input_problems(data, creating=True)
    if problems:
        raise ActionError(*problems)

    async def work(tx: AsyncManagedTransaction) -> CircleRecord:
        return await circles.create(tx, creator.id, data)

    return await effects.commit(services, work, lambda _: effects.NONE)


async def update_circle(
    services: Services, owner: UserRecord, circle_id: str, data: CircleInput
) -> CircleRecord:
    """Owner only. A circle of 5,000 members or more may only become stricter."""
    problems = circles.input_problems(data, creating=False)
    if problems:
        raise ActionError(*problems)

    async def work(tx: AsyncManagedTransaction) -> CircleRecord:
        return await circles.update(tx, owner.id, circle_id, data)

    return await effects.commit(services, work, lambda _: effects.NONE)


async def join_circle(
    services: Services, user: UserRecord, circle_id: str, message: str | None = None
) -> MembershipRecord:
    """Join as the circle's policy allows; the gates apply to every policy."""
    problems = circles.message_problems(message)
    if problems:
        raise ActionError(*problems)
    await effects.rate_limit(services, "join", user, "circleId")

    async def work(tx: AsyncManagedTransaction) -> MembershipChange:
        return await circles.join(tx, user, circle_id, message)

    change = await effects.commit(services, work, membership_effects)
    return change.after


async def leave_circle(services: Services, user: UserRecord, circle_id: str) -> MembershipRecord:
    """Leave, withdraw a join request, or decline an invitation."""

    async def work(tx: AsyncManagedTransaction) -> MembershipChange:
        return await circles.leave(tx, user.id, circle_id)

    change = await effects.commit(services, work, membership_effects)
    return change.after


async def invite_to_circle(
    services: Services, moderator: UserRecord, circle_id: str, user_id: str, *, admin: bool
) -> MembershipRecord:
    """Whoever moderates the circle invites someone; inviting a user who asked to join
    admits them (and they hear so)."""

    async def work(tx: AsyncManagedTransaction) -> _Admitted:
        change = await circles.invite(tx, moderator.id, circle_id, user_id, admin=admin)
        return await _notify_if_admitted(tx, change, moderator.id)

    done = await effects.commit(services, work, _admitted_effects)
    return done.change.after


async def review_join_request(
    services: Services,
    moderator: UserRecord,
    circle_id: str,
    user_id: str,
    *,
    approve: bool,
    admin: bool,
) -> MembershipRecord:
    """Approve (MEMBER, notified) or deny (no membership) a pending request."""

    async def work(tx: AsyncManagedTransaction) -> _Admitted:
        change = await circles.review(
            tx, moderator.id, circle_id, user_id, approve=approve, admin=admin
        )
        return await _notify_if_admitted(tx, change, moderator.id)

    done = await effects.commit(services, work, _admitted_effects)
    return done.change.after
