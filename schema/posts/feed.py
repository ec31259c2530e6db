"""homeFeed and homeFeedUpdates: the viewer's timeline, served from Redis.

While this process may not trust Redis (it failed, or effects of a committed write still
wait for it: ``Services.derived``) both read from Neo4j instead, through the ordinary
read rules: slower, never wrong.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from graph import feeds as graph_feeds
from graph import posts as graph_posts
from graph.circles import Role, State
from graph.feeds import FeedView
from graph.posts import PostAccess, PostRecord, ViewerFacts
from schema.core import Info, live_subscription, page_size, still_signed_in
from schema.pagination import Connection, connection, decode_cursor, encode_cursor
from schema.posts.types import Post
from workers import home
from workers.redis import UNAVAILABLE


def _as_post(record: PostRecord, viewer_id: str, view: FeedView, hidden_comments: int) -> Post:
    """A feed entry as the Post type, with the facts the read rules need (from the feed
    view, already checked), so hydration needs no Neo4j round trip."""
    role = view.circles.get(record.circle_id) if record.circle_id else None
    facts = ViewerFacts(
        viewer_id=viewer_id,
        state=State.MEMBER if record.circle_id else State.NONE,
        role=Role(role) if role else None,
        friend=record.author_id in view.friends,
        hidden_comments=hidden_comments,
    )
    return Post.of(PostAccess(post=record, facts=facts))


async def _hydrate(info: Info, records: list[PostRecord], view: FeedView) -> list[Post]:
    """Prime the loaders with what the feed view already says: the posts, the viewer's
    reactions and the authors' cards (one Redis round trip for both), the blocks; authors
    with no card load in one batch. Only a viewer who blocks someone (or is blocked)
    needs Neo4j: to leave those people's comments out of the counts."""
    ctx = info.context
    viewer = ctx.viewer.id
    assert viewer is not None
    ctx.loaders.know_blocked(view.blocked)
    ids = [p.id for p in records]
    authors = sorted({p.author_id for p in records})
    flags, found = await home.page_extras(ctx.services, viewer, ids, authors)
    hidden = (
        await graph_posts.hidden_comment_counts(ctx.graph, viewer, ids)
        if view.blocked and ids
        else {}
    )
    posts = []
    for record, flag in zip(records, flags, strict=True):
        post = _as_post(record, viewer, view, hidden.get(record.id, 0))
        ctx.loaders.posts.prime(post.id, post.item)
        ctx.loaders.reacted.prime(post.id, flag)
        posts.append(post)
    ctx.loaders.users.prime_many(found)
    missing = [a for a in authors if a not in found]
    if missing:
        await ctx.loaders.users.load_many(missing)  # one batch, cached for next time
    return posts


async def _from_cache(
    info: Info, viewer: str, size: int, after: tuple[int, str] | None
) -> list[Post] | None:
    """The page from the timelines, or None when Redis cannot be trusted for it."""
    services = info.context.services
    if services.derived.stale:
        return None
    try:
        records, view = await home.home_page(services, viewer, first=size, after=after)
        return await _hydrate(info, records, view)
    except UNAVAILABLE as exc:
        services.derived.mark_stale(f"homeFeed: {exc!r}")
        return None


async def _from_graph(
    info: Info, viewer: str, size: int, after: tuple[int, str] | None
) -> list[Post]:
    ids = await graph_feeds.home_page(info.context.graph, viewer, first=size + 1, after=after)
    return await Post.visible(info, ids)


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
        cursor = decode_cursor(after, int, str)
        keyset = (cursor[0], cursor[1]) if cursor else None
        posts = await _from_cache(info, viewer, size, keyset)
        if posts is None:
            posts = await _from_graph(info, viewer, size, keyset)
        return connection(
            posts,
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
        async with live_subscription(info), home.live_posts(ctx.services, viewer) as stream:
            async for post_id in stream:
                if not await still_signed_in(info):
                    return
                # A socket lives long: each post is judged by what holds now.
                ctx.fresh_loaders()
                found: tuple[PostRecord, FeedView] | None = None
                if not ctx.services.derived.stale:
                    found = await home.visible_post(ctx.services, viewer, post_id)
                    if found is not None:
                        yield (await _hydrate(info, [found[0]], found[1]))[0]
                    continue
                visible = await Post.visible(info, [post_id])
                if visible:
                    yield visible[0]
