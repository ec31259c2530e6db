"""Reading the viewer's notifications."""

from __future__ import annotations

import strawberry

from graph import notifications as domain
from schema.core import Info, page_size
from schema.notifications.types import Notification
from schema.pagination import Connection, connection, decode_cursor, encode_cursor


@strawberry.type
class NotificationsQuery:
    @strawberry.field(
        description="The viewer's notifications, newest first; empty when signed out."
    )
    async def notifications(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        unread_only: bool = False,
    ) -> Connection[Notification]:
        size = page_size(info, first)
        viewer = info.context.viewer.id
        if viewer is None:
            return connection([], first=size, cursor_of=lambda n: "")
        cursor = decode_cursor(after, int, str)
        keyset = (cursor[0], cursor[1]) if cursor else None
        records = await domain.notifications_page(
            info.context.graph, viewer, unread_only=unread_only, first=size + 1, after=keyset
        )
        return connection(
            await Notification.build(info, records),
            first=size,
            cursor_of=lambda n: encode_cursor(n.record.created_at_ms, n.id),
        )

    @strawberry.field(description="How many of the viewer's notifications are unread.")
    async def unread_notification_count(self, info: Info) -> int:
        viewer = info.context.viewer.id
        if viewer is None:
            return 0
        return await domain.unread_count(info.context.graph, viewer)
