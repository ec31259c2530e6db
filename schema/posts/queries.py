"""Reads of posts."""

from __future__ import annotations

import strawberry

from schema.core import Info, resolve_node
from schema.posts.types import Post


@strawberry.type
class PostsQuery:
    @strawberry.field(description="A post the viewer may read; null when hidden or missing.")
    async def post(self, info: Info, id: strawberry.ID) -> Post | None:
        node = await resolve_node(info, id)
        return node if isinstance(node, Post) else None
