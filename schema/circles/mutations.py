"""Writes to circles: each resolver checks the viewer and calls one action."""

from __future__ import annotations

import strawberry

from actions import circles as actions
from graph import circles as domain
from schema.circles.types import Circle, Membership
from schema.core import Info, UserError, mutation, require_id, signed_in, viewer_record
from schema.people.types import User


@strawberry.input
class CreateCircleInput:
    name: str
    description: str | None = None
    visibility: domain.Visibility
    join_policy: domain.JoinPolicy
    min_trust_score: int | None = None
    customers_only: bool | None = None
    merchant_id: strawberry.ID | None = strawberry.field(
        default=None, description="Hosting merchant; the viewer must be its staff."
    )
    service: str | None = None


@strawberry.input
class UpdateCircleInput:
    name: str | None = None
    description: str | None = None
    visibility: domain.Visibility | None = None
    join_policy: domain.JoinPolicy | None = None
    min_trust_score: int | None = None
    customers_only: bool | None = None


@strawberry.type
class CirclePayload:
    circle: Circle | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MembershipPayload:
    membership: Membership | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _circle(info: Info, record: domain.CircleRecord) -> Circle:
    """The circle as the viewer sees it right after their own change."""
    info.context.loaders.forget_circle(record.id)
    info.context.loaders.circles.prime(record.id, record)
    found = await Circle.visible(info, [record.id])
    assert found, "a circle the viewer just changed is visible to them"
    return found[0]


async def _membership(info: Info, record: domain.MembershipRecord) -> MembershipPayload:
    loaders = info.context.loaders
    loaders.forget_circle(record.circle_id)
    user = await loaders.users.load(record.user_id)
    circles = await Circle.visible(info, [record.circle_id])
    if user is None or not circles:  # e.g. declining an invitation to a PRIVATE circle
        return MembershipPayload()
    return MembershipPayload(
        membership=Membership(user=User.from_record(user), circle=circles[0], record=record)
    )


@strawberry.type
class CirclesMutation:
    @strawberry.mutation(description="A new circle; the viewer becomes its OWNER.")
    @mutation(signed_in)
    async def create_circle(self, info: Info, input: CreateCircleInput) -> CirclePayload:
        record = await actions.create_circle(
            info.context.services,
            viewer_record(info),
            domain.CircleInput(
                name=input.name,
                description=input.description,
                visibility=input.visibility,
                join_policy=input.join_policy,
                min_trust_score=input.min_trust_score,
                customers_only=input.customers_only,
                service=input.service,
                merchant_id=(
                    require_id(input.merchant_id, "Merchant", "merchantId")
                    if input.merchant_id
                    else None
                ),
            ),
        )
        return CirclePayload(circle=await _circle(info, record))

    @strawberry.mutation(description="Owner only; a large circle may only become stricter.")
    @mutation(signed_in)
    async def update_circle(
        self, info: Info, id: strawberry.ID, input: UpdateCircleInput
    ) -> CirclePayload:
        record = await actions.update_circle(
            info.context.services,
            viewer_record(info),
            require_id(id, "Circle", "id"),
            domain.CircleInput(
                name=input.name,
                description=input.description,
                visibility=input.visibility,
                join_policy=input.join_policy,
                min_trust_score=input.min_trust_score,
                customers_only=input.customers_only,
            ),
        )
        return CirclePayload(circle=await _circle(info, record))

    @strawberry.mutation
    @mutation(signed_in)
    async def join_circle(
        self, info: Info, circle_id: strawberry.ID, message: str | None = None
    ) -> MembershipPayload:
        record = await actions.join_circle(
            info.context.services,
            viewer_record(info),
            require_id(circle_id, "Circle", "circleId"),
            message,
        )
        return await _membership(info, record)

    @strawberry.mutation(description="Leave, withdraw a join request, or decline an invitation.")
    @mutation(signed_in)
    async def leave_circle(self, info: Info, circle_id: strawberry.ID) -> MembershipPayload:
        record = await actions.leave_circle(
            info.context.services,
            viewer_record(info),
            require_id(circle_id, "Circle", "circleId"),
        )
        return await _membership(info, record)

    @strawberry.mutation(
        description="Moderators, owners and platform admins invite; an invitee may decline."
    )
    @mutation(signed_in)
    async def invite_to_circle(
        self, info: Info, circle_id: strawberry.ID, user_id: strawberry.ID
    ) -> MembershipPayload:
        record = await actions.invite_to_circle(
            info.context.services,
            viewer_record(info),
            require_id(circle_id, "Circle", "circleId"),
            require_id(user_id, "User", "userId"),
            admin=info.context.viewer.is_admin,
        )
        return await _membership(info, record)

    @strawberry.mutation
    @mutation(signed_in)
    async def review_join_request(
        self, info: Info, circle_id: strawberry.ID, user_id: strawberry.ID, approve: bool
    ) -> MembershipPayload:
        record = await actions.review_join_request(
            info.context.services,
            viewer_record(info),
            require_id(circle_id, "Circle", "circleId"),
            require_id(user_id, "User", "userId"),
            approve=approve,
            admin=info.context.viewer.is_admin,
        )
        return await _membership(info, record)
