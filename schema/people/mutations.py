"""Writes about people: each resolver checks the viewer and calls one action."""

from __future__ import annotations

import strawberry

from graph import users
from schema.core import Info, UserError, admin, mutation, signed_in
from schema.people.types import User


@strawberry.input
class AdminUpsertUserInput:
    platform_id: strawberry.ID = strawberry.field(
        description="The platform's id for this user (the JWT `sub`)."
    )
    handle: str
    display_name: str
    phone: str | None = strawberry.field(
        default=None,
        description="E.164 phone number; stored only as a keyed hash, used for contact matching.",
    )
    trust_score: int | None = None


@strawberry.input
class UpdateProfileInput:
    display_name: str | None = None
    discoverable: bool | None = None


@strawberry.type
class UserPayload:
    user: User | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PeopleMutation:
    @strawberry.mutation(description="Platform only: create or update a user by platform id.")
    @mutation(admin)
    async def admin_upsert_user(self, info: Info, input: AdminUpsertUserInput) -> UserPayload:
        settings = info.context.settings
        record = await users.upsert_user(
            info.context.graph,
            users.UpsertUser(
                platform_id=str(input.platform_id),
                handle=input.handle,
                display_name=input.display_name,
                phone=input.phone,
                trust_score=input.trust_score,
            ),
            pepper=settings.pepper,
            default_trust_score=settings.default_trust_score,
        )
        return UserPayload(user=User.from_record(record))

    @strawberry.mutation(description="The viewer's own profile.")
    @mutation(signed_in)
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UserPayload:
        viewer = info.context.viewer
        assert viewer.user is not None  # guaranteed by signed_in
        record = await users.update_profile(
            info.context.graph,
            viewer.user.id,
            display_name=input.display_name,
            discoverable=input.discoverable,
        )
        return UserPayload(user=User.from_record(record))
