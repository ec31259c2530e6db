"""notificationAdded: the viewer's notifications as they happen."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from graph import notifications as domain
from schema.core import Info, live_subscription, still_signed_in
from schema.notifications.types import Notification
from workers.notifications import live_ids


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
        async with live_subscription(info), live_ids(ctx.services, viewer) as stream:
            async for notification_id in stream:
                if not await still_signed_in(info):
                    return
                # Only the recipient's shown notifications; a socket lives long, so each
                # event reads through fresh loaders: what was hidden since stays hidden.
                found = await domain.notifications_by_ids(ctx.graph, viewer, [notification_id])
                record = found.get(notification_id)
                if record is None:
                    continue
                ctx.fresh_loaders()
                built = await Notification.build(info, [record])
                yield built[0]
