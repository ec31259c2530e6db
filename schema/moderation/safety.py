"""Automod rules of a circle, and platform-wide suspension of accounts."""

from __future__ import annotations

import strawberry

from actions import safety as actions
from graph import automod as domain
from graph.errors import ActionError, ErrorCode, Problem
from schema.circles.types import moderated_circle
from schema.core import (
    Info,
    UserError,
    admin,
    internal_id,
    mutation,
    require_id,
    signed_in,
    viewer_record,
)
from schema.people.mutations import UserPayload
from schema.people.types import User

strawberry.enum(domain.AutomodAction, name="AutomodAction")


@strawberry.type(name="AutomodRule")
class AutomodRule:
    label: str
    pattern: str = strawberry.field(description="Stored normalised: case-folded, spaces collapsed.")
    action: domain.AutomodAction


@strawberry.input(
    description="A word or phrase (Chinese or English), matched as a case-insensitive "
    "substring, never as a regular expression."
)
class AutomodRuleInput:
    label: str
    pattern: str
    action: domain.AutomodAction


@strawberry.type
class AutomodRulesPayload:
    rules: list[AutomodRule] | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _rule(r: domain.AutomodRule) -> AutomodRule:
    return AutomodRule(label=r.label, pattern=r.pattern, action=r.action)


def _circle(global_id: str) -> str:
    return require_id(global_id, "Circle", "circleId")


@strawberry.type
class SafetyQuery:
    @strawberry.field(
        description="The circle's automod rules; moderators, owner and platform admins only."
    )
    async def automod_rules(self, info: Info, circle_id: strawberry.ID) -> list[AutomodRule] | None:
        circle = internal_id(circle_id, "Circle")
        if circle is None or await moderated_circle(info, circle) is None:
            return None
        return [_rule(r) for r in await domain.rules_of(info.context.graph, circle)]


@strawberry.type
class SafetyMutation:
    @strawberry.mutation(
        description="Replace the circle's automod rules (owner and moderators; at most 1,000; "
        "patterns of 1-100 characters). REFUSE rejects a post or comment naming the rule; "
        "HOLD hides a post for review (it appears in the moderation queue)."
    )
    @mutation(signed_in)
    async def set_automod_rules(
        self, info: Info, circle_id: strawberry.ID, rules: list[AutomodRuleInput]
    ) -> AutomodRulesPayload:
        saved = await actions.set_automod_rules(
            info.context.services,
            viewer_record(info),
            _circle(circle_id),
            [domain.RuleInput(r.label, r.pattern, r.action) for r in rules],
            admin=info.context.viewer.is_admin,
        )
        return AutomodRulesPayload(rules=[_rule(r) for r in saved])

    @strawberry.mutation(
        description="Platform admins suspend a user everywhere (or reinstate them): their "
        "token is refused and their posts, comments and suggestions disappear."
    )
    @mutation(admin)
    async def admin_suspend_user(
        self, info: Info, user_id: strawberry.ID, suspended: bool
    ) -> UserPayload:
        internal = internal_id(user_id, "User")
        if internal is None:
            raise ActionError(Problem(ErrorCode.NOT_FOUND, "user not found", "userId"))
        record = await actions.suspend_user(info.context.services, internal, suspended=suspended)
        return UserPayload(user=User.from_record(record))
