"""Address-book uploads: matched, then kept only as keyed hashes (``graph/contacts.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from neo4j import AsyncManagedTransaction

from actions import effects
from graph import contacts
from graph.errors import Problem
from graph.users import UserRecord
from workers.services import Services


@dataclass(frozen=True)
class UploadResult:
    matched: int
    problems: list[Problem]


async def upload_contacts(
    services: Services, user: UserRecord, phone_numbers: Sequence[str]
) -> UploadResult:
    """Validate, rate-limit, store the hashes, refresh both sides' suggestions. Invalid
    numbers do not fail the rest; they come back as one problem with examples."""
    prepared = contacts.prepare_upload(phone_numbers, pepper=services.settings.pepper)
    await effects.rate_limit(services, "contacts_upload", user, contacts.FIELD)

    async def work(tx: AsyncManagedTransaction) -> list[str]:
        return await contacts.store(tx, user.id, prepared.hashes)

    matched = await effects.commit(
        services,
        work,
        lambda found: (
            effects.neighbourhood_changed((user.id, *found)) if prepared.hashes else effects.NONE
        ),
    )
    return UploadResult(matched=len(matched), problems=prepared.problems())
