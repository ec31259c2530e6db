"""Reports (the moderation queue) and appeals against bans and mutes.

A Report is readable by the circle's moderators and owner, and by its reporter; its
``reporter`` field only by the moderators. Held posts (automod HOLD rules, cross-posting)
appear in the queue as reports filed by the system: ``reporter`` is null for everyone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import strawberry
from strawberry import relay

from actions import reports as actions
from graph import reports as domain
from schema.circles.types import Circle, moderated_circle
from schema.core import (
    Info,
    UserError,
    internal_id,
    mutation,
    page_size,
    require_id,
    signed_in,
    viewer_record,
)
from schema.pagination import Connection, connection, decode_cursor, encode_cursor
from schema.people.types import User
from schema.posts.types import Post

strawberry.enum(domain.ReportState, name="ReportState")
strawberry.enum(domain.AppealState, name="AppealState")


async def _user(info: Info, user_id: str | None) -> User | None:
    if user_id is None:
        return None
    record = await info.context.loaders.users.load(user_id)
    return User.from_record(record) if record is not None and not record.suspended else None


async def _circle(info: Info, circle_id: str) -> Circle | None:
    found = await Circle.visible(info, [circle_id])
    return found[0] if found else None


@strawberry.type(name="Report")
class Report(relay.Node):
    id: relay.NodeID[str]
    record: strawberry.Private[domain.ReportRecord]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Report | None]:
        """Readable by the circle's moderators and by the reporter."""
        ids = list(node_ids)
        viewer = info.context.viewer.id
        found = await domain.reports_by_ids(info.context.graph, ids)
        result: list[Report | None] = []
        for i in ids:
            record = found.get(i)
            readable = record is not None and (
                (viewer is not None and record.reporter_id == viewer)
                or await moderated_circle(info, record.circle_id) is not None
            )
            result.append(cls(id=i, record=record) if record is not None and readable else None)
        return result

    @strawberry.field(description="Reporter is visible to the circle's moderators only.")
    async def reporter(self, info: Info) -> User | None:
        if await moderated_circle(info, self.record.circle_id) is None:
            return None
        return await _user(info, self.record.reporter_id)

    @strawberry.field
    async def post(self, info: Info) -> Post | None:
        if self.record.post_id is None:
            return None
        found = await Post.visible(info, [self.record.post_id])
        return found[0] if found else None

    @strawberry.field
    async def subject(self, info: Info) -> User | None:
        return await _user(info, self.record.subject_id)

    @strawberry.field
    async def circle(self, info: Info) -> Circle | None:
        return await _circle(info, self.record.circle_id)

    @strawberry.field
    def reason(self) -> str:
        return self.record.reason

    @strawberry.field
    def state(self) -> domain.ReportState:
        return self.record.state

    @strawberry.field
    def created_at(self) -> datetime:
        return self.record.created_at


@strawberry.type(name="Appeal", description="A banned or muted member's appeal of a ModAction.")
class Appeal(relay.Node):
    id: relay.NodeID[str]
    record: strawberry.Private[domain.AppealRecord]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Appeal | None]:
        """Readable by the appellant and the circle's moderators."""
        ids = list(node_ids)
        viewer = info.context.viewer.id
        found = await domain.appeals_by_ids(info.context.graph, ids)
        result: list[Appeal | None] = []
        for i in ids:
            record = found.get(i)
            readable = record is not None and (
                record.user_id == viewer
                or await moderated_circle(info, record.circle_id) is not None
            )
            result.append(cls(id=i, record=record) if record is not None and readable else None)
        return result

    @strawberry.field(description="The global id of the ModAction appealed against.")
    def action_id(self) -> strawberry.ID:
        return strawberry.ID(relay.to_base64("ModAction", self.record.action_id))

    @strawberry.field(description="BAN or MUTE.")
    def action_kind(self) -> str:
        return self.record.kind

    @strawberry.field
    async def user(self, info: Info) -> User | None:
        return await _user(info, self.record.user_id)

    @strawberry.field
    async def circle(self, info: Info) -> Circle | None:
        return await _circle(info, self.record.circle_id)

    @strawberry.field
    def message(self) -> str:
        return self.record.message

    @strawberry.field
    def state(self) -> domain.AppealState:
        return self.record.state

    @strawberry.field
    def created_at(self) -> datetime:
        return self.record.created_at

    @strawberry.field
    def decided_at(self) -> datetime | None:
        return self.record.decided_at


@strawberry.input
class ReportInput:
    post_id: strawberry.ID | None = None
    user_id: strawberry.ID | None = None
    circle_id: strawberry.ID | None = None
    reason: str


@strawberry.type
class ReportPayload:
    report: Report | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AppealPayload:
    appeal: Appeal | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _id(global_id: str | None, type_name: str, field: str) -> str | None:
    return require_id(global_id, type_name, field) if global_id is not None else None


@strawberry.type
class ReportsQuery:
    @strawberry.field(
        description="OPEN reports, oldest first; moderators, owner and platform admins only, "
        "else null."
    )
    async def moderation_queue(
        self, info: Info, circle_id: strawberry.ID, first: int | None = 20, after: str | None = None
    ) -> Connection[Report] | None:
        circle = internal_id(circle_id, "Circle")
        if circle is None or await moderated_circle(info, circle) is None:
            return None
        size = page_size(info, first)
        cursor = decode_cursor(after, str)
        records = await domain.queue_page(
            info.context.graph, circle, first=size + 1, after=cursor[0] if cursor else None
        )
        return connection(
            [Report(id=r.id, record=r) for r in records],
            first=size,
            cursor_of=lambda r: encode_cursor(r.id),
        )

    @strawberry.field(
        description="PENDING appeals, oldest first; moderators, owner and platform admins only."
    )
    async def appeals(
        self, info: Info, circle_id: strawberry.ID, first: int | None = 20, after: str | None = None
    ) -> Connection[Appeal] | None:
        circle = internal_id(circle_id, "Circle")
        if circle is None or await moderated_circle(info, circle) is None:
            return None
        size = page_size(info, first)
        cursor = decode_cursor(after, str)
        records = await domain.appeals_page(
            info.context.graph, circle, first=size + 1, after=cursor[0] if cursor else None
        )
        return connection(
            [Appeal(id=r.id, record=r) for r in records],
            first=size,
            cursor_of=lambda a: encode_cursor(a.id),
        )


@strawberry.type
class ReportsMutation:
    @strawberry.mutation(
        description="A member reports a post of the circle or a fellow member, once each."
    )
    @mutation(signed_in)
    async def report(self, info: Info, input: ReportInput) -> ReportPayload:
        record = await actions.file_report(
            info.context.services,
            viewer_record(info),
            post_id=_id(input.post_id, "Post", "postId"),
            user_id=_id(input.user_id, "User", "userId"),
            circle_id=_id(input.circle_id, "Circle", "circleId"),
            reason=input.reason,
        )
        return ReportPayload(report=Report(id=record.id, record=record))

    @strawberry.mutation(description="Moderators close an OPEN report: RESOLVED or DISMISSED.")
    @mutation(signed_in)
    async def resolve_report(
        self, info: Info, report_id: strawberry.ID, dismiss: bool
    ) -> ReportPayload:
        ctx = info.context
        record = await actions.resolve_report(
            ctx.services,
            viewer_record(info),
            require_id(report_id, "Report", "reportId"),
            dismiss=dismiss,
            admin=ctx.viewer.is_admin,
        )
        if record.post_id is not None:
            ctx.loaders.forget_post(record.post_id)
        return ReportPayload(report=Report(id=record.id, record=record))

    @strawberry.mutation(description="A banned or muted member appeals the action, once.")
    @mutation(signed_in)
    async def appeal(self, info: Info, action_id: strawberry.ID, message: str) -> AppealPayload:
        record = await actions.appeal(
            info.context.services,
            viewer_record(info),
            require_id(action_id, "ModAction", "actionId"),
            message,
        )
        return AppealPayload(appeal=Appeal(id=record.id, record=record))

    @strawberry.mutation(
        description="Moderators decide an appeal; accepting lifts the ban or mute."
    )
    @mutation(signed_in)
    async def decide_appeal(
        self, info: Info, appeal_id: strawberry.ID, accept: bool
    ) -> AppealPayload:
        ctx = info.context
        record = await actions.decide_appeal(
            ctx.services,
            viewer_record(info),
            require_id(appeal_id, "Appeal", "appealId"),
            accept=accept,
            admin=ctx.viewer.is_admin,
        )
        return AppealPayload(appeal=Appeal(id=record.id, record=record))
