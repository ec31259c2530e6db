"""notificationAdded: the viewer's notifications as they happen."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from graph import notifications as domain
from schema.core import Info
from schema.dataloaders import Loaders
from schema.notifications.types import Notification


@strawberry.type
class NotificationsSubscription:
    @strawberry.subscription(
        description="Each new notification of the viewer (signed in through the connection "
        "params); nothing for anonymous connections."
    )
    async def notification_added(self, info: Info) -> AsyncGenerator[Notification, None]:
        ctx = info.context
        viewer = ctx.viewer.id
        if viewer is None:
            return
        async with domain.live_notifications(ctx.graph, ctx.redis, viewer) as stream:
            async for record in stream:
                # A socket lives long: each event reads through fresh loaders, so what was
                # hidden since the connection opened stays hidden.
                ctx.loaders = Loaders(ctx.graph, viewer, ctx.redis)
                built = await Notification.build(info, [record])
                yield built[0]
