"""The home feed as a request reads it: a page of the timelines, and the live stream.

``home_page`` reads the user's timeline and the timelines of their large circles, keeps
what ``visible_in_feed`` allows by the user's feed view, and returns posts from the post
cache: a warm page costs no Neo4j round trip. ``live_posts`` follows the user's pub/sub
channel while a ``homeFeedUpdates`` subscription is open. When Redis cannot be trusted
the schema reads the page from Neo4j instead (``graph.feeds.home_page``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager

from graph.feeds import FeedView
from graph.posts import PostRecord
from graph.users import UserRecord
from workers import cards, keys, timelines
from workers.redis import is_cluster, mget
from workers.services import Services


async def home_page(
    services: Services, user_id: str, *, first: int, after: tuple[int, str] | None
) -> tuple[list[PostRecord], FeedView]:
    """Up to ``first + 1`` posts of the user's home feed after the cursor, newest first,
    with the feed view that admitted them.

    Order is (createdAtMs desc, id desc); ids are time-ordered, so a cursor keeps its
    place however many posts arrive above it.
    """
    redis = services.redis
    max_score: float | str = after[0] if after else "+inf"
    batch = first + 1
    # The first range of the user's own timeline rides with the readiness check.
    raw_view, peeked = await timelines.ensure_timeline_peek(services, user_id, (max_score, batch))
    view = await timelines.load_view(services, user_id, raw_view)
    large = sorted(view.large_circles)
    await timelines.ensure_circle_timelines(services, large)
    sources = [keys.timeline(user_id), *(keys.circle_timeline(c) for c in large)]
    shown: list[PostRecord] = []
    offset = 0
    while len(shown) < first + 1:
        if offset == 0 and peeked is not None and not large:
            ranges = [peeked]
        else:
            async with redis.pipeline(transaction=False) as pipe:
                for key in sources:
                    pipe.zrange(
                        key,
                        max_score,
                        "-inf",
                        byscore=True,
                        desc=True,
                        offset=offset,
                        num=batch,
                        withscores=True,
                    )
                ranges = await pipe.execute()
        candidates = sorted(
            {(int(score), pid) for rows in ranges for pid, score in rows},
            key=lambda e: (e[0], e[1]),
            reverse=True,
        )
        if after:
            candidates = [c for c in candidates if (c[0], c[1]) < (after[0], after[1])]
        already = {p.id for p in shown}
        candidates = [c for c in candidates if c[1] not in already]
        posts = await timelines.load_posts(services, [pid for _, pid in candidates])
        for _, pid in candidates:
            post = posts.get(pid)
            if post is not None and timelines.visible_in_feed(post, user_id, view):
                shown.append(post)
        if all(len(rows) < batch for rows in ranges):
            break  # every source is exhausted
        offset += batch
    shown.sort(key=lambda p: (p.created_at_ms, p.id), reverse=True)
    return shown[: first + 1], view


async def page_extras(
    services: Services, user_id: str, post_ids: Sequence[str], author_ids: Sequence[str]
) -> tuple[list[bool], dict[str, UserRecord]]:
    """In one round trip, what hydrating a page needs beside the posts: whether the user
    reacted to each, and the authors' cached cards (missing ones are left out)."""
    if not post_ids:
        return [], {}
    redis = services.redis
    if is_cluster(redis):  # a cluster pipeline refuses MGET: the cards go slot by slot
        reacted = await redis.smismember(keys.reacted(user_id), list(post_ids))
        names = [keys.user_card(a) for a in author_ids]
        raw = await mget(redis, names) if author_ids else []
        found = cards.decode_cards(author_ids, raw) if author_ids else {}
        return [bool(f) for f in reacted], found
    async with redis.pipeline(transaction=False) as pipe:
        pipe.smismember(keys.reacted(user_id), list(post_ids))
        if author_ids:
            pipe.mget([keys.user_card(a) for a in author_ids])
        replies = await pipe.execute()
    flags = [bool(f) for f in replies[0]]
    found = cards.decode_cards(author_ids, replies[1]) if author_ids else {}
    return flags, found


def live_posts(services: Services, user_id: str) -> AbstractAsyncContextManager[AsyncIterator[str]]:
    """Ids of posts as they land in the user's timeline, while the context lasts (fan-out
    publishes only to channels someone listens to). The caller decides what of each the
    user may see."""
    return services.live.listen(keys.live_channel(user_id))


async def visible_post(
    services: Services, user_id: str, post_id: str
) -> tuple[PostRecord, FeedView] | None:
    """One post announced on the user's channel, with their feed view, if they may see it
    (from the caches, as ``home_page`` decides)."""
    found = await timelines.load_posts(services, [post_id])
    view = await timelines.load_view(services, user_id)
    post = found.get(post_id)
    if post is None or not timelines.visible_in_feed(post, user_id, view):
        return None
    return post, view
