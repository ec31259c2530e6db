"""Reads of circles and merchants."""

from __future__ import annotations

import strawberry

from graph import circles as domain
from graph import merchants
from schema.circles.types import Circle, Merchant
from schema.core import Info, page_size, resolve_node
from schema.pagination import Connection, Instant, connection, decode_cursor, encode_cursor


@strawberry.type
class CirclesQuery:
    @strawberry.field(description="A circle the viewer may see; null otherwise.")
    async def circle(self, info: Info, id: strawberry.ID) -> Circle | None:
        node = await resolve_node(info, id)
        return node if isinstance(node, Circle) else None

    @strawberry.field
    async def merchant(self, info: Info, id: strawberry.ID) -> Merchant | None:
        node = await resolve_node(info, id)
        return node if isinstance(node, Merchant) else None

    @strawberry.field(description="Circles the viewer is a member of, most recently joined first.")
    async def my_circles(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Circle]:
        size = page_size(info, first)
        viewer = info.context.viewer.id
        if viewer is None:
            return connection([], first=size, cursor_of=lambda c: "")
        cursor = decode_cursor(after, Instant, str)
        ids = await domain.my_circles_page(
            info.context.graph,
            viewer,
            first=size + 1,
            after=(cursor[0], cursor[1]) if cursor else None,
        )
        found = await Circle.visible(info, ids)
        return connection(
            found,
            first=size,
            cursor_of=lambda c: encode_cursor(
                c.membership.since.isoformat() if c.membership.since else "", c.id
            ),
        )

    @strawberry.field(
        description="Merchants the viewer is staff of (creates their circles, reads their "
        "insights), by id; empty when signed out."
    )
    async def my_merchants(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Merchant]:
        size = page_size(info, first)
        viewer = info.context.viewer.id
        if viewer is None:
            return connection([], first=size, cursor_of=lambda m: "")
        cursor = decode_cursor(after, str)
        records = await merchants.staff_merchants_page(
            info.context.graph, viewer, first=size + 1, after=cursor[0] if cursor else None
        )
        for record in records:
            info.context.loaders.merchants.prime(record.id, record)
        return connection(
            [Merchant.from_record(r) for r in records],
            first=size,
            cursor_of=lambda m: encode_cursor(m.id),
        )
