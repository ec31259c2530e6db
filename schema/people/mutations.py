"""Writes about people: each resolver checks the viewer and calls one action."""

from __future__ import annotations

import strawberry

from actions import social, users
from graph.users import UpsertUser
from schema.core import (
    Info,
    UserError,
    admin,
    mutation,
    require_id,
    signed_in,
    viewer_record,
)
from schema.people.types import FriendRequest, User


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
class FriendRequestPayload:
    request: FriendRequest | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class OkPayload:
    ok: bool = False
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PeopleMutation:
    @strawberry.mutation(description="Platform only: create or update a user by platform id.")
    @mutation(admin)
    async def admin_upsert_user(self, info: Info, input: AdminUpsertUserInput) -> UserPayload:
        record = await users.upsert_user(
            info.context.services,
            UpsertUser(
                platform_id=str(input.platform_id),
                handle=input.handle,
                display_name=input.display_name,
                phone=input.phone,
                trust_score=input.trust_score,
            ),
        )
        return UserPayload(user=User.from_record(record))

    @strawberry.mutation(description="The viewer's own profile.")
    @mutation(signed_in)
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UserPayload:
        record = await users.update_profile(
            info.context.services,
            viewer_record(info),
            display_name=input.display_name,
            discoverable=input.discoverable,
        )
        return UserPayload(user=User.from_record(record))

    @strawberry.mutation(
        description="Ask to be friends; if they already asked you, you are friends at once."
    )
    @mutation(signed_in)
    async def send_friend_request(self, info: Info, user_id: strawberry.ID) -> FriendRequestPayload:
        request = await social.send_friend_request(
            info.context.services, viewer_record(info), require_id(user_id, "User", "userId")
        )
        return FriendRequestPayload(request=FriendRequest.from_record(request))

    @strawberry.mutation
    @mutation(signed_in)
    async def respond_to_friend_request(
        self, info: Info, request_id: strawberry.ID, accept: bool
    ) -> FriendRequestPayload:
        request = await social.respond_to_friend_request(
            info.context.services,
            viewer_record(info),
            require_id(request_id, "FriendRequest", "requestId"),
            accept=accept,
        )
        return FriendRequestPayload(request=FriendRequest.from_record(request))

    @strawberry.mutation(description="The sender withdraws a pending request.")
    @mutation(signed_in)
    async def cancel_friend_request(
        self, info: Info, request_id: strawberry.ID
    ) -> FriendRequestPayload:
        request = await social.cancel_friend_request(
            info.context.services,
            viewer_record(info),
            require_id(request_id, "FriendRequest", "requestId"),
        )
        return FriendRequestPayload(request=FriendRequest.from_record(request))

    @strawberry.mutation
    @mutation(signed_in)
    async def remove_friend(self, info: Info, user_id: strawberry.ID) -> OkPayload:
        await social.remove_friend(
            info.context.services, viewer_record(info), require_id(user_id, "User", "userId")
        )
        return OkPayload(ok=True)

    @strawberry.mutation(
        description="Mutual in effect: the friendship and pending requests end, "
        "neither sees the other's posts or profile beyond id and handle."
    )
    @mutation(signed_in)
    async def block_user(self, info: Info, user_id: strawberry.ID) -> OkPayload:
        await social.block_user(
            info.context.services, viewer_record(info), require_id(user_id, "User", "userId")
        )
        return OkPayload(ok=True)

    @strawberry.mutation
    @mutation(signed_in)
    async def unblock_user(self, info: Info, user_id: strawberry.ID) -> OkPayload:
        await social.unblock_user(
            info.context.services, viewer_record(info), require_id(user_id, "User", "userId")
        )
        return OkPayload(ok=True)

    @strawberry.mutation(description="Never suggest this user to the viewer again.")
    @mutation(signed_in)
    async def dismiss_suggestion(self, info: Info, user_id: strawberry.ID) -> OkPayload:
        await social.dismiss_suggestion(
            info.context.services, viewer_record(info), require_id(user_id, "User", "userId")
        )
        return OkPayload(ok=True)
