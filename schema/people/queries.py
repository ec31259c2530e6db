"""Reads about people."""

from __future__ import annotations

import strawberry

from schema.core import Info, resolve_node
from schema.people.types import User


@strawberry.type
class PeopleQuery:
    @strawberry.field(description="The signed-in user; null when anonymous.")
    def me(self, info: Info) -> User | None:
        record = info.context.viewer.user
        return User.from_record(record) if record else None

    @strawberry.field
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        node = await resolve_node(info, id)
        return node if isinstance(node, User) else None
