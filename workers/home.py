"""The home feed as a request reads it: a page of the timelines, and the live stream.

``home_page`` reads the user's timeline and the timelines of their large circles, keeps
what ``visible_in_feed`` allows by the user's feed view, and returns posts from the post
cache: a warm page costs no Neo4j round trip. ``live_posts`` follows the user's pub/sub
channel while a ``homeFeedUpdates`` subscription is open. When Redis cannot be trusted
the schema reads the page from Neo4j instead (``graph.feeds.home_page``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from graph.feeds import FeedView
from graph.posts import PostRecord
from workers import keys, timelines
from workers.redis import UNAVAILABLE
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
    raw_view = await timelines.ensure_timeline(services, user_id)
    view = await timelines.load_view(services, user_id, raw_view)
    large = sorted(view.large_circles)
    await timelines.ensure_circle_timelines(services, large)
    sources = [keys.timeline(user_id), *(keys.circle_timeline(c) for c in large)]
    max_score: float | str = after[0] if after else "+inf"
    shown: list[PostRecord] = []
    batch = first + 1
    offset = 0
    while len(shown) < first + 1:
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


@contextlib.asynccontextmanager
async def live_posts(services: Services, user_id: str) -> AsyncIterator[AsyncIterator[str]]:
    """Ids of posts as they land in the user's timeline, until the caller leaves the
    context; the subscription and the online mark (fan-out publishes only to users who
    have one) go with it. The caller decides what of each the user may see."""
    redis = services.redis
    async with services.live.listen(keys.live_channel(user_id)) as stream:
        await redis.hincrby(keys.LIVE_USERS, user_id, 1)
        try:
            yield stream
        finally:
            with contextlib.suppress(*UNAVAILABLE):
                if await redis.hincrby(keys.LIVE_USERS, user_id, -1) <= 0:
                    await redis.hdel(keys.LIVE_USERS, user_id)


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
