"""The ModAction type: an entry of a circle's mod log, readable by its moderators only.

Who moderated is never shown to anyone else: ``modLog`` is null for them, and ``node``
resolves a ModAction only for those who moderate the circle (``moderated_circle``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import strawberry
from strawberry import relay

from graph import moderation as domain
from schema.circles.types import Circle, moderated_circle
from schema.core import Info
from schema.people.types import User
from schema.posts.types import Post

strawberry.enum(domain.Kind, name="ModActionKind")


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
            circle = await moderated_circle(info, record.circle_id) if record is not None else None
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
        found = await Post.visible(info, [self.record.target_post_id])
        return found[0] if found else None

    @strawberry.field
    def reason(self) -> str | None:
        return self.record.reason

    @strawberry.field(description="When a BAN or MUTE ends; null = permanent.")
    def expires_at(self) -> datetime | None:
        return self.record.expires_at

    @strawberry.field
    def created_at(self) -> datetime:
        return self.record.created_at
