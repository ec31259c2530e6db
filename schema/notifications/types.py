"""The Notification type; what it is about is resolved through the ordinary read rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import strawberry
from strawberry import relay

from graph import notifications as domain
from schema.circles.types import Circle
from schema.core import Info
from schema.people.types import FriendRequest, User
from schema.posts.types import Comment, Post

strawberry.enum(
    domain.Kind,
    name="NotificationKind",
    description="What happened. FRIEND_REQUEST_RECEIVED and FRIEND_REQUEST_ACCEPTED: "
    "friendRequest and actor. JOIN_REQUEST_APPROVED: circle. COMMENT_ON_YOUR_POST: comment, "
    "post and actor. POST_REMOVED: post (null unless the viewer moderates its circle) and "
    "circle.",
)


@strawberry.type(
    name="Notification",
    description="Something that happened to the viewer. Whatever it is about is shown only "
    "while the viewer may see it (null otherwise); notifications from users blocked either "
    "way are left out.",
)
class Notification(relay.Node):
    id: relay.NodeID[str]
    record: strawberry.Private[domain.NotificationRecord]
    # Comments have no per-request loader: lists resolve theirs in one batch up front.
    prefetched: strawberry.Private[dict[str, Comment | None] | None] = None

    @classmethod
    async def build(
        cls, info: Info, records: Sequence[domain.NotificationRecord]
    ) -> list[Notification]:
        comment_ids = [r.comment_id for r in records if r.comment_id]
        comments: dict[str, Comment | None] = {}
        if comment_ids:
            found = await Comment.resolve_nodes(info=info, node_ids=comment_ids)
            comments = dict(zip(comment_ids, found, strict=True))
        return [cls(id=r.id, record=r, prefetched=comments) for r in records]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Notification | None]:
        """Only the recipient sees a notification."""
        ids = list(node_ids)
        viewer = info.context.viewer.id
        if viewer is None:
            return [None for _ in ids]
        found = await domain.notifications_by_ids(info.context.graph, viewer, ids)
        built = {n.id: n for n in await cls.build(info, list(found.values()))}
        return [built.get(i) for i in ids]

    @strawberry.field
    def kind(self) -> domain.Kind:
        return self.record.kind

    @strawberry.field
    def created_at(self) -> datetime:
        return self.record.created_at

    @strawberry.field
    def read(self) -> bool:
        return self.record.read

    @strawberry.field(
        description="Who did it, for friend requests and comments; null for moderation "
        "decisions, which are the circle's."
    )
    async def actor(self, info: Info) -> User | None:
        actor_id = self.record.shown_actor_id
        if actor_id is None:
            return None
        found = await User.resolve_nodes(info=info, node_ids=[actor_id])
        return found[0]

    @strawberry.field
    async def friend_request(self, info: Info) -> FriendRequest | None:
        if self.record.request_id is None:
            return None
        found = await FriendRequest.resolve_nodes(info=info, node_ids=[self.record.request_id])
        return found[0]

    @strawberry.field
    async def circle(self, info: Info) -> Circle | None:
        if self.record.circle_id is None:
            return None
        found = await Circle.visible(info, [self.record.circle_id])
        return found[0] if found else None

    @strawberry.field
    async def post(self, info: Info) -> Post | None:
        if self.record.post_id is None:
            return None
        found = await Post.visible(info, [self.record.post_id])
        return found[0] if found else None

    @strawberry.field
    async def comment(self, info: Info) -> Comment | None:
        comment_id = self.record.comment_id
        if comment_id is None:
            return None
        if self.prefetched is not None and comment_id in self.prefetched:
            return self.prefetched[comment_id]
        found = await Comment.resolve_nodes(info=info, node_ids=[comment_id])
        return found[0]
