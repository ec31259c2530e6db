"""Automod rules of a circle, and platform-wide suspension of accounts."""

from __future__ import annotations

from collections.abc import Sequence

from neo4j import AsyncManagedTransaction

from actions import effects
from graph import automod, safety
from graph.automod import AutomodRule, RuleInput
from graph.errors import ActionError
from graph.safety import Suspension
from graph.users import UserRecord
from workers.services import Services


async def set_automod_rules(
    services: Services,
    actor: UserRecord,
    circle_id: str,
    rules: Sequence[RuleInput],
    *,
    admin: bool,
) -> list[AutomodRule]:
    """Replace the circle's rules (whoever moderates it); every process rebuilds its
    matcher on its next check, as the circle's automod version moved."""
    problems = automod.rule_problems(rules)
    if problems:
        raise ActionError(*problems)

    async def work(tx: AsyncManagedTransaction) -> None:
        await automod.set_rules(tx, actor.id, circle_id, rules, admin=admin)

    try:
        await effects.commit(services, work, lambda _: effects.NONE)
    finally:
        automod.forget(circle_id)
    return await automod.rules_of(services.graph, circle_id)


async def suspend_user(services: Services, user_id: str, *, suspended: bool) -> UserRecord:
    """Platform admins suspend a user everywhere (or reinstate them): the token is
    refused at once (the cached card goes), their open websockets close, and the cached
    copies of their posts carry the suspension, so feeds drop them."""

    async def work(tx: AsyncManagedTransaction) -> Suspension:
        return await safety.suspend(tx, user_id, suspended)

    def effects_of(done: Suspension) -> effects.Effects:
        ended = frozenset({done.user.id}) if suspended else frozenset()
        return effects.card_changed(done.user) | effects.Effects(
            authors=frozenset({done.user.id}),
            posts=frozenset(done.commented_posts),
            sockets=ended,
        )

    done = await effects.commit(services, work, effects_of)
    return done.user
