"""``moderate`` and ``modLog``: moderators act in their circle, and read what was done."""

from __future__ import annotations

import strawberry

from actions import moderation as actions
from graph import circles as circles_domain
from graph import moderation as domain
from schema.circles.types import moderated_circle
from schema.core import (
    Info,
    UserError,
    internal_id,
    mutation,
    page_size,
    require_id,
    signed_in,
)
from schema.moderation.types import ModAction
from schema.pagination import Connection, connection, decode_cursor, encode_cursor


@strawberry.input
class ModerateInput:
    circle_id: strawberry.ID
    kind: domain.Kind
    user_id: strawberry.ID | None = None
    post_id: strawberry.ID | None = None
    reason: str | None = None
    duration_seconds: int | None = strawberry.field(
        default=None, description="For BAN and MUTE; omitted = permanent."
    )
    role: circles_domain.Role | None = strawberry.field(default=None, description="For SET_ROLE.")


@strawberry.type
class ModActionPayload:
    action: ModAction | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ModerationActionsQuery:
    @strawberry.field(
        description="The circle's mod log, newest first: its moderators, owner and platform "
        "admins only; null for everyone else."
    )
    async def mod_log(
        self,
        info: Info,
        circle_id: strawberry.ID,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[ModAction] | None:
        cid = internal_id(circle_id, "Circle")
        if cid is None:
            return None
        circle = await moderated_circle(info, cid)
        if circle is None:
            return None
        size = page_size(info, first)
        cursor = decode_cursor(after, str)
        records = await domain.mod_log_page(
            info.context.graph, cid, first=size + 1, after=cursor[0] if cursor else None
        )
        return connection(
            [ModAction(id=r.id, record=r, log_circle=circle) for r in records],
            first=size,
            cursor_of=lambda a: encode_cursor(a.id),
        )


@strawberry.type
class ModerationActionsMutation:
    @strawberry.mutation(
        description="A moderator acts in their circle (the owner and platform admins too); "
        "every action lands in the mod log."
    )
    @mutation(signed_in)
    async def moderate(self, info: Info, input: ModerateInput) -> ModActionPayload:
        viewer = info.context.viewer
        assert viewer.user is not None  # guaranteed by the signed_in requirement
        circle_id = require_id(input.circle_id, "Circle", "circleId")
        outcome = await actions.moderate(
            info.context.services,
            viewer.user,
            domain.ModerateInput(
                circle_id=circle_id,
                kind=input.kind,
                user_id=require_id(input.user_id, "User", "userId") if input.user_id else None,
                post_id=require_id(input.post_id, "Post", "postId") if input.post_id else None,
                reason=input.reason,
                duration_seconds=input.duration_seconds,
                role=input.role,
            ),
            admin=viewer.is_admin,
        )
        loaders = info.context.loaders
        loaders.forget_circle(circle_id)
        if outcome.action.target_post_id is not None:
            loaders.forget_post(outcome.action.target_post_id)
        circle = await moderated_circle(info, circle_id)
        if circle is None:  # e.g. an owner who handed ownership on is a moderator still
            return ModActionPayload()
        return ModActionPayload(
            action=ModAction(id=outcome.action.id, record=outcome.action, log_circle=circle)
        )
