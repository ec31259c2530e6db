"""homeFeed and homeFeedUpdates: the viewer's timeline, served from Redis."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from graph.circles import Role, State, Visibility
from graph.feeds import FeedView
from graph.posts import PostAccess, PostRecord, ViewerFacts
from schema.core import Info, page_size
from schema.pagination import Connection, connection, decode_cursor, encode_cursor
from schema.posts.types import Post
from workers import feeds


def _as_post(item: feeds.FeedPost, viewer_id: str, role: str | None, friend: bool) -> Post:
    """A feed entry as the Post type, with the facts the read rules need (from the feed
    view, already checked), so hydration needs no Neo4j round trip."""
    record = PostRecord(
        id=item.id,
        author_id=item.author_id,
        circle_id=item.circle_id,
        circle_visibility=Visibility(item.circle_visibility) if item.circle_visibility else None,
        body=item.body,
        created_at=datetime.fromisoformat(item.created_at),
        created_at_ms=item.created_at_ms,
        removed=item.removed,
        deleted=item.deleted,
        reaction_count=item.reaction_count,
        comment_count=item.comment_count,
    )
    facts = ViewerFacts(
        viewer_id=viewer_id,
        state=State.MEMBER if item.circle_id else State.NONE,
        role=Role(role) if role else None,
        friend=friend,
    )
    return Post(id=item.id, item=PostAccess(post=record, facts=facts))


async def _hydrate(
    info: Info, items: list[feeds.FeedPost], view: FeedView | None = None
) -> list[Post]:
    ctx = info.context
    viewer = ctx.viewer.id
    assert viewer is not None
    if view is None:
        view = await feeds.load_view(ctx.graph, ctx.redis, ctx.settings, viewer)
    ctx.loaders.know_blocked(view.blocked)
    flags = await feeds.reacted_to(ctx.redis, viewer, [p.id for p in items])
    posts = []
    for item, flag in zip(items, flags, strict=True):
        post = _as_post(
            item,
            viewer,
            view.circles.get(item.circle_id) if item.circle_id else None,
            item.author_id in view.friends,
        )
        ctx.loaders.posts.prime(post.id, post.item)
        ctx.loaders.reacted.prime(post.id, flag)
        posts.append(post)
    await ctx.loaders.users.load_many(list({p.author_id for p in items}))  # one batch
    return posts


@strawberry.type
class FeedQuery:
    @strawberry.field(
        description="Friends' profile posts and posts of the viewer's circles, newest first."
    )
    async def home_feed(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Post]:
        size = page_size(info, first)
        viewer = info.context.viewer.id
        if viewer is None:
            return connection([], first=size, cursor_of=lambda p: "")
        cursor = decode_cursor(after, 2)
        ctx = info.context
        items, view = await feeds.home_page(
            ctx.graph,
            ctx.redis,
            ctx.settings,
            viewer,
            first=size,
            after=(int(cursor[0]), str(cursor[1])) if cursor else None,
        )
        return connection(
            await _hydrate(info, items, view),
            first=size,
            cursor_of=lambda p: encode_cursor(p.record.created_at_ms, p.id),
        )


@strawberry.type
class FeedSubscription:
    @strawberry.subscription(description="Each post as it lands in the viewer's home feed.")
    async def home_feed_updates(self, info: Info) -> AsyncGenerator[Post, None]:
        ctx = info.context
        viewer = ctx.viewer.id
        if viewer is None:
            return
        async with feeds.live_posts(ctx.graph, ctx.redis, ctx.settings, viewer) as stream:
            async for item in stream:
                posts = await _hydrate(info, [item])
                yield posts[0]
