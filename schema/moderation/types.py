"""The ModAction type: an entry of a circle's mod log, readable by its moderators only.

Who moderated is never shown to anyone else: ``modLog`` is null for them, and ``node``
resolves a ModAction only for the circle's moderators, its owner and platform admins.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

import strawberry
from strawberry import relay

from graph import circles as circles_domain
from graph import moderation as domain
from graph import posts as posts_domain
from schema.circles.types import Circle
from schema.core import Info
from schema.people.types import User
from schema.posts.types import Post

strawberry.enum(domain.Kind, name="ModActionKind")


async def reads_log(info: Info, circle_id: str) -> Circle | None:
    """The circle when the viewer may read its mod log (moderators, owner, admins), else
    None. Admins get the circle whatever their own membership."""
    viewer = info.context.viewer
    if viewer.user is None:
        return None
    loaders = info.context.loaders
    record = await loaders.circles.load(circle_id)
    if record is None:
        return None
    membership = await loaders.memberships.load(circle_id)
    if (
        not viewer.is_admin
        and not circles_domain.access(record.visibility, membership.state, membership.role).moderate
    ):
        return None
    return Circle(id=record.id, record=record, membership=membership)


@strawberry.type(name="ModAction")
class ModAction(relay.Node):
    id: relay.NodeID[str]
    record: strawberry.Private[domain.ModActionRecord]
    # the circle as the (verified) log reader sees it
    log_circle: strawberry.Private[Circle]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[ModAction | None]:
        ids = list(node_ids)
        found = await domain.actions_by_ids(info.context.graph, ids)
        result: list[ModAction | None] = []
        for i in ids:
            record = found.get(i)
            circle = await reads_log(info, record.circle_id) if record is not None else None
            result.append(
                cls(id=record.id, record=record, log_circle=circle)
                if record is not None and circle is not None
                else None
            )
        return result

    @strawberry.field
    def kind(self) -> domain.Kind:
        return self.record.kind

    @strawberry.field
    async def moderator(self, info: Info) -> User:
        record = await info.context.loaders.users.load(self.record.moderator_id)
        if record is None:  # the graph guarantees a moderator; fail loudly if not
            raise LookupError(f"moderator {self.record.moderator_id} is missing")
        return User.from_record(record)

    @strawberry.field
    def circle(self) -> Circle:
        return self.log_circle

    @strawberry.field
    async def target_user(self, info: Info) -> User | None:
        if self.record.target_user_id is None:
            return None
        record = await info.context.loaders.users.load(self.record.target_user_id)
        return User.from_record(record) if record is not None else None

    @strawberry.field(
        description="The post acted on, removed or not (null once its author deleted it)."
    )
    async def target_post(self, info: Info) -> Post | None:
        if self.record.target_post_id is None:
            return None
        item = await info.context.loaders.posts.load(self.record.target_post_id)
        if item is None:
            return None
        if info.context.viewer.is_admin:
            # admins read the log as if they owned the circle, so they see what it moderates
            item = dataclasses.replace(
                item,
                facts=dataclasses.replace(
                    item.facts,
                    state=circles_domain.State.MEMBER,
                    role=circles_domain.Role.OWNER,
                    blocked=False,
                ),
            )
        if not posts_domain.may_read(item):
            return None
        return Post(id=item.post.id, item=item)

    @strawberry.field
    def reason(self) -> str | None:
        return self.record.reason

    @strawberry.field(description="When a BAN or MUTE ends; null = permanent.")
    def expires_at(self) -> datetime | None:
        return self.record.expires_at

    @strawberry.field
    def created_at(self) -> datetime:
        return self.record.created_at
