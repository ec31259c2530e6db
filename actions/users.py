"""Users: the platform's provisioning and each user's own profile."""

from __future__ import annotations

from neo4j import AsyncManagedTransaction
from neo4j.exceptions import ConstraintError

from actions import effects
from graph import users
from graph.errors import ActionError
from graph.users import UpsertUser, UserRecord
from workers.services import Services


async def upsert_user(services: Services, data: UpsertUser) -> UserRecord:
    """Create or update a user by platform id (the platform's admin token); repeating the
    call changes nothing. A handle someone else holds is ALREADY_EXISTS."""
    settings = services.settings
    problems, hashed = users.upsert_problems(data, settings.pepper)
    if problems:
        raise ActionError(*problems)

    async def work(tx: AsyncManagedTransaction) -> UserRecord:
        return await users.upsert(
            tx, data, hashed, default_trust_score=settings.default_trust_score
        )

    try:
        return await effects.commit(services, work, effects.card_changed)
    except ConstraintError as exc:
        taken = users.handle_taken(exc)
        if taken is None:
            raise
        raise taken from exc


async def update_profile(
    services: Services, user: UserRecord, *, display_name: str | None, discoverable: bool | None
) -> UserRecord:
    """The user's own edits; fields left out stay as they are."""
    problems = users.profile_problems(display_name)
    if problems:
        raise ActionError(*problems)

    async def work(tx: AsyncManagedTransaction) -> UserRecord:
        return await users.update_profile(
            tx, user.id, display_name=display_name, discoverable=discoverable
        )

    return await effects.commit(services, work, effects.card_changed)
