"""Fan-out on write: the jobs that deliver posts into timelines, and the outbox sweeper.

The path of a post: ``actions.posts.create_post`` commits it to Neo4j with
``fanout = 'PENDING'`` and calls ``post_created``, which queues a ``feed.fanout`` job; a
worker runs ``fan_out`` (audience, timeline inserts, live notices) and marks the post
``DONE``. If Redis or the workers were down, ``sweep_outbox`` finds posts still pending
and queues them again, so nothing committed is lost between the two stores. Delivery is
at least once and idempotent (a sorted set holds a post once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from graph import feeds as graph_feeds
from graph import posts as graph_posts
from graph.driver import Graph
from graph.posts import PostRecord
from workers import jobs, keys, live, timelines
from workers.queue import enqueue
from workers.redis import is_cluster, pipe_publish
from workers.services import Services

log = logging.getLogger(__name__)

AUDIENCE_PAGE = 1000
SWEEP_WINDOW_SECONDS = 60
MAX_SWEEPS = 5
# Posts delivered by this process, marked DONE in Neo4j in batches (``flush_delivered``):
# a mark lost with a dying worker only means the sweeper delivers the post again, which
# changes nothing.
_delivered: list[str] = []
DELIVERED_BATCH = 64


async def post_created(
    redis: Redis,
    post_id: str,
    post: PostRecord | None = None,
    *,
    bookmarks: Sequence[str] = (),
) -> None:
    """Queue the post's delivery, carrying the post itself when the caller has it (the
    worker then needs no Neo4j read) and the bookmarks of its write. Failing here is
    safe: the sweeper retries it."""
    payload: dict[str, Any] = {"post": post_id}
    if post is not None:
        payload["data"] = post.to_dict()
    await enqueue(redis, jobs.FANOUT, payload, bookmarks=bookmarks)


async def flush_delivered(graph: Graph) -> None:
    batch = _delivered[:]
    del _delivered[: len(batch)]
    if batch:
        await graph_feeds.mark_delivered(graph, batch)


async def fan_out(services: Services, post_id: str, data: dict[str, Any] | None = None) -> int:
    """Deliver one post to every timeline it belongs in; idempotent (ZADD of the same
    member and score changes nothing). Returns how many timelines it went to."""
    redis, settings = services.redis, services.settings
    if data is not None:
        post = PostRecord.from_dict(data)
        await timelines.cache_posts(redis, [post], only_new=True)
    else:  # re-queued by the sweeper: read the post as it is now
        found = await graph_posts.undelivered_posts(services.graph, [post_id])
        if post_id not in found:
            return 0  # gone, or a duplicate job (a backlog was re-queued): done already
        post = found[post_id]
        await timelines.cache_posts(redis, [post])
    delivered = 0
    members = (
        await timelines.circle_members(services, post.circle_id)
        if post.circle_id is not None
        else None
    )
    if post.deleted or post.removed:
        pass
    elif post.circle_id is not None and members is None:
        await timelines.insert(redis, settings, [keys.circle_timeline(post.circle_id)], post)
        delivered = 1
    else:
        cutoff = time.time() - settings.feed_active_days * 86400
        audience = await _audience(services, post, members)
        for start in range(0, len(audience), AUDIENCE_PAGE):
            page = audience[start : start + AUDIENCE_PAGE]
            channels = [keys.live_channel(uid) for uid in page]
            seen, listening = await _active_and_listening(redis, page, channels)
            targets, live_targets = [], []
            for uid, channel, last in zip(page, channels, seen, strict=True):
                if uid == post.author_id or (last is not None and last >= cutoff):
                    targets.append(uid)
                    if channel in listening:
                        live_targets.append(channel)
            await timelines.insert(redis, settings, [keys.timeline(u) for u in targets], post)
            await _announce(redis, live_targets, post.id)
            delivered += len(targets)
    _delivered.append(post.id)
    if len(_delivered) >= DELIVERED_BATCH:
        await flush_delivered(services.graph)
    return delivered


async def _audience(services: Services, post: PostRecord, members: list[str] | None) -> list[str]:
    """Who a post goes to, from Redis when it can: the author and their friends (the
    author's feed view), or the circle's members (cached); never anyone blocked either
    way with the author. Neo4j answers on a miss."""
    author = await timelines.load_view(services, post.author_id)
    if post.circle_id is None or members is None:
        members = [post.author_id, *sorted(author.friends)]
    return [u for u in members if u not in author.blocked]


async def _active_and_listening(
    redis: Redis, page: list[str], channels: list[str]
) -> tuple[list[float | None], set[str]]:
    """Who of the page read their feed lately, and whose live channel has a listener: one
    round trip on one Redis; on a cluster the counts are asked shard by shard."""
    if is_cluster(redis):
        return await redis.zmscore(keys.FEED_ACTIVE, page), await live.listening(redis, channels)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zmscore(keys.FEED_ACTIVE, page)
        pipe.pubsub_numsub(*channels)
        seen, counts = await pipe.execute()
    return seen, live.listening_of(counts)


async def _announce(redis: Redis, channels: Sequence[str], post_id: str) -> None:
    """Tell open homeFeedUpdates subscriptions: publish only to the channels Redis counted
    a listener on (few users have a stream open)."""
    if channels:
        async with redis.pipeline(transaction=False) as pipe:
            for channel in sorted(channels):
                pipe_publish(pipe, redis, channel, post_id)  # SPUBLISH on a cluster
            await pipe.execute()


async def sweep_outbox(services: Services) -> int:
    """Queue again the posts committed but not delivered (Redis or workers were down).

    A post is re-queued at most once per ``SWEEP_WINDOW_SECONDS`` (its job may simply be
    waiting behind a backlog); after ``MAX_SWEEPS`` tries it is marked FAILED and logged,
    so a post that can never be delivered does not hold up the ones behind it.
    """
    graph, redis, settings = services.graph, services.redis, services.settings
    before = int((time.time() - settings.outbox_sweep_seconds) * 1000)
    pending = await graph_feeds.undelivered(graph, older_than_ms=before)
    window = max(SWEEP_WINDOW_SECONDS, 6 * settings.outbox_sweep_seconds)
    queued = 0
    for post_id in pending:
        if not await redis.set(keys.outbox_swept(post_id), "1", nx=True, ex=int(window)):
            continue  # re-queued lately: give that job time
        tries = await redis.incr(keys.outbox_sweeps(post_id))
        await redis.expire(keys.outbox_sweeps(post_id), 86400)
        if tries > MAX_SWEEPS:
            await graph_feeds.mark_failed(graph, post_id)
            log.error("post %s could not be delivered after %d tries: FAILED", post_id, tries)
            continue
        await post_created(redis, post_id)
        queued += 1
    return queued


async def clean_timelines(services: Services, user_ids: Sequence[str]) -> None:
    """Remove entries the users may no longer see (the read filter hides them already)."""
    redis = services.redis
    for uid in user_ids:
        view = await timelines.load_view(services, uid)
        entries = [str(e) for e in await redis.zrange(keys.timeline(uid), 0, -1)]
        posts = await timelines.load_posts(services, entries)
        gone = [
            pid
            for pid in entries
            if pid not in posts or not timelines.visible_in_feed(posts[pid], uid, view)
        ]
        if gone:
            await redis.zrem(keys.timeline(uid), *gone)


@dataclass(frozen=True)
class RebuildResult:
    """What ``rebuild_timelines`` did: timelines rebuilt now, and timelines of inactive
    users only dropped (rebuilt on their next read)."""

    rebuilt: int = 0
    dropped: int = 0


async def rebuild_timelines(services: Services, user_ids: Sequence[str]) -> RebuildResult:
    """Rebuild the users' home timelines from Neo4j (an operator's repair tool).

    Each timeline and its ready marker go in one transaction (one user's keys share a
    slot), then ``ensure_timeline`` rebuilds it under the usual lock, so a reader meanwhile
    waits for the rebuild instead of seeing an empty feed. Posts fanned out in between are
    in Neo4j already, so the rebuild has them too.

    Only users active within ``feed_active_days`` are rebuilt now: ``ensure_timeline``
    marks the user active, and doing that for everyone would make fan-out deliver to every
    user of the platform; a timeline of an inactive user (which fan-out does not keep up to
    date) is only dropped and gets rebuilt when they next read their feed.
    """
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return RebuildResult()
    redis = services.redis
    cutoff = time.time() - services.settings.feed_active_days * 86400
    seen = await redis.zmscore(keys.FEED_ACTIVE, ids)
    rebuilt = dropped = 0
    for uid, last in zip(ids, seen, strict=True):
        async with redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.timeline_ready(uid))
            pipe.delete(keys.timeline(uid))
            await pipe.execute()
        if last is not None and last >= cutoff:
            await timelines.ensure_timeline(services, uid)
            rebuilt += 1
        else:
            dropped += 1
    return RebuildResult(rebuilt=rebuilt, dropped=dropped)
