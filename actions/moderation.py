"""``moderate``: one action of whoever moderates a circle, with its mod-log entry."""

from __future__ import annotations

from dataclasses import dataclass

from neo4j import AsyncManagedTransaction

from actions import effects
from actions.circles import membership_effects
from graph import moderation, notifications, posts
from graph.circles import MembershipChange
from graph.errors import ActionError
from graph.moderation import Kind, ModerateInput, Outcome
from graph.notifications import Created
from graph.users import UserRecord
from workers.services import Services


@dataclass(frozen=True)
class _Moderated:
    outcome: Outcome
    notice: Created | None


async def moderate(
    services: Services, actor: UserRecord, data: ModerateInput, *, admin: bool
) -> Outcome:
    """One moderation action and its log entry in one transaction (with the notification
    it owes: a join approved, a post removed), then the feeds. Platform admins act as the
    circle's owner."""
    problems = moderation.input_problems(data)
    if problems:
        raise ActionError(*problems)

    async def work(tx: AsyncManagedTransaction) -> _Moderated:
        outcome = await moderation.moderate(tx, actor.id, data, admin=admin)
        notice = None
        if data.kind is Kind.APPROVE_JOIN and data.user_id is not None:
            notice = await notifications.join_approved(tx, data.circle_id, data.user_id, actor.id)
        if data.kind is Kind.REMOVE_POST and data.post_id is not None:
            # the author hears, the moderator stays unnamed
            notice = await notifications.post_removed(tx, data.post_id, action_id=outcome.action.id)
        return _Moderated(outcome, notice)

    def effects_of(done: _Moderated) -> effects.Effects:
        outcome = done.outcome
        changed = effects.notified(done.notice)
        if outcome.membership_before is not None and outcome.membership_after is not None:
            changed |= membership_effects(
                MembershipChange(outcome.membership_before, outcome.membership_after)
            )
        if data.post_id is not None:
            changed |= effects.Effects(posts=frozenset({data.post_id}))
        return changed

    done = await effects.commit(services, work, effects_of, id_attempts=posts.ID_ATTEMPTS)
    return done.outcome
