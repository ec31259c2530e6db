"""Address-book uploads: matched, then kept only as keyed hashes (``graph/contacts.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from neo4j import AsyncManagedTransaction

from actions import effects
from graph import contacts
from graph.contacts import Stored
from graph.errors import Problem
from graph.users import UserRecord
from workers.services import Services


@dataclass(frozen=True)
class UploadResult:
    matched: int  # mutual matches only: whether a number is registered is not told
    problems: list[Problem]


async def upload_contacts(
    services: Services, user: UserRecord, phone_numbers: Sequence[str]
) -> UploadResult:
    """Validate, rate-limit, store the hashes, refresh both sides' suggestions. Invalid
    numbers do not fail the rest; they come back as one problem with examples."""
    prepared = contacts.prepare_upload(phone_numbers, pepper=services.settings.pepper)
    await effects.rate_limit(services, "contacts_upload", user, contacts.FIELD)

    async def work(tx: AsyncManagedTransaction) -> Stored:
        return await contacts.store(tx, user.id, prepared.hashes)

    def effects_of(done: Stored) -> effects.Effects:
        if not prepared.hashes:
            return effects.NONE
        return effects.neighbourhood_changed((user.id, *done.matched))

    stored = await effects.commit(services, work, effects_of)
    return UploadResult(matched=len(stored.mutual), problems=prepared.problems())
