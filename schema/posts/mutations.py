"""Writes to posts: each resolver checks the viewer and calls one action."""

from __future__ import annotations

from dataclasses import replace

import strawberry

from actions import posts as actions
from graph.posts import PostRecord
from schema.core import Info, UserError, mutation, require_id, signed_in, viewer_record
from schema.people.mutations import OkPayload
from schema.posts.types import Comment, Post


@strawberry.input
class CreatePostInput:
    circle_id: strawberry.ID | None = strawberry.field(
        default=None, description="Null for a profile post to friends."
    )
    body: str


@strawberry.type
class PostPayload:
    post: Post | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CommentPayload:
    comment: Comment | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _post(info: Info, post_id: str, written: PostRecord | None = None) -> Post | None:
    """The post as the viewer sees it right after their own change (with the counts their
    own transaction wrote, not whatever later writers have made of them since)."""
    info.context.loaders.forget_post(post_id)
    found = await Post.visible(info, [post_id])
    if not found:
        return None
    if written is None:
        return found[0]
    item = replace(found[0].item, post=written)
    info.context.loaders.posts.prime(post_id, item, force=True)
    return Post.of(item)


@strawberry.type
class PostsMutation:
    @strawberry.mutation(
        description="A post in a circle (MEMBERs who are not muted) or, without circleId, "
        "on the viewer's profile for their friends."
    )
    @mutation(signed_in)
    async def create_post(self, info: Info, input: CreatePostInput) -> PostPayload:
        circle_id = require_id(input.circle_id, "Circle", "circleId") if input.circle_id else None
        record = await actions.create_post(
            info.context.services, viewer_record(info), circle_id, input.body
        )
        return PostPayload(post=await _post(info, record.id))

    @strawberry.mutation(description="The author deletes their post; it is gone for everyone.")
    @mutation(signed_in)
    async def delete_post(self, info: Info, post_id: strawberry.ID) -> OkPayload:
        internal = require_id(post_id, "Post", "postId")
        await actions.delete_post(info.context.services, viewer_record(info), internal)
        info.context.loaders.forget_post(internal)
        return OkPayload(ok=True)

    @strawberry.mutation(description="Toggles the viewer's reaction: a second call removes it.")
    @mutation(signed_in)
    async def react_to_post(self, info: Info, post_id: strawberry.ID) -> PostPayload:
        record = await actions.react_to_post(
            info.context.services,
            viewer_record(info),
            require_id(post_id, "Post", "postId"),
        )
        return PostPayload(post=await _post(info, record.id, record))

    @strawberry.mutation
    @mutation(signed_in)
    async def comment_on_post(
        self, info: Info, post_id: strawberry.ID, body: str
    ) -> CommentPayload:
        record = await actions.comment_on_post(
            info.context.services,
            viewer_record(info),
            require_id(post_id, "Post", "postId"),
            body,
        )
        return CommentPayload(comment=Comment.from_record(record))
