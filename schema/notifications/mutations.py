"""Marking the viewer's notifications read."""

from __future__ import annotations

import strawberry

from actions import notifications as actions
from graph.errors import ActionError, invalid
from schema.core import Info, internal_id, mutation, signed_in, viewer_record
from schema.people.mutations import OkPayload

MARK_MAX = 100


@strawberry.type
class NotificationsMutation:
    @strawberry.mutation(
        description="Mark the given notifications read, or all of them with `all: true`. "
        "Ids that are not the viewer's unread notifications are ignored."
    )
    @mutation(signed_in)
    async def mark_notifications_read(
        self, info: Info, ids: list[strawberry.ID] | None = None, all: bool | None = None
    ) -> OkPayload:
        viewer = viewer_record(info)
        if all:
            await actions.mark_read(info.context.services, viewer, None)
            return OkPayload(ok=True)
        if not ids:
            raise ActionError(invalid("ids", "give the ids to mark, or all: true"))
        if len(ids) > MARK_MAX:
            raise ActionError(invalid("ids", f"at most {MARK_MAX} ids at a time"))
        internal = [internal_id(str(i), "Notification") for i in ids]
        await actions.mark_read(
            info.context.services, viewer, [i for i in internal if i is not None]
        )
        return OkPayload(ok=True)
