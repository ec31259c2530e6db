"""The viewer's address book: uploaded, matched, kept only as keyed hashes."""

from __future__ import annotations

import strawberry

from actions import contacts
from schema.core import Info, UserError, mutation, signed_in, viewer_record


@strawberry.type
class UploadContactsPayload:
    matched: int = strawberry.field(
        default=0,
        description="How many of the uploaded numbers belong to people who have the viewer's "
        "number too (and may be found): nothing about whether any other number is on Quanzi.",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ContactsMutation:
    @strawberry.mutation(
        description=(
            "E.164 numbers from the viewer's address book (at most 5,000 per call); "
            "matched, then only keyed hashes are kept."
        )
    )
    @mutation(signed_in)
    async def upload_contacts(self, info: Info, phone_numbers: list[str]) -> UploadContactsPayload:
        result = await contacts.upload_contacts(
            info.context.services, viewer_record(info), phone_numbers
        )
        return UploadContactsPayload(
            matched=result.matched,
            user_errors=[UserError.from_problem(p) for p in result.problems],
        )
