"""Feeds' state in Redis, shared by the fan-out jobs and the home-feed read.

A user's timeline is a sorted set of post ids scored by creation time in milliseconds,
capped at ``timeline_length``; circles larger than ``fanout_max_audience`` keep their own
timeline, merged at read time. Beside them Redis caches what a read needs so that a warm
page costs no Neo4j round trip: each user's feed view (friends, blocks, circles), posts
(``PostRecord.to_dict``), the posts a user reacted to, and circles' member lists. Every
write that changes one of them drops or refreshes it (``drop_views``, ``refresh_posts``
...), as an effect of the write (``actions/effects.py``).

Timelines are derived state: a missing one (Redis lost, a new or returning user) is
rebuilt from Neo4j on the first read, by one reader while the others wait.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from api.settings import Settings
from graph import feeds as graph_feeds
from graph import posts as graph_posts
from graph.feeds import FeedView
from graph.posts import PostRecord
from workers import jobs, keys
from workers.queue import enqueue
from workers.redis import is_cluster, mget
from workers.services import Services

POST_CACHE_SECONDS = 3600  # refreshed on every change we make; an hour bounds the rest
VIEW_CACHE_SECONDS = 24 * 3600
MEMBERS_CACHE_SECONDS = 300
REBUILD_LOCK_SECONDS = 30

# Insert and trim each timeline in the same script call. On a single server one call
# serves a whole batch of timelines, which is what makes fan-out cheap (one command per
# 500 users). Under Redis Cluster a script may only touch one slot: the timelines are
# grouped by slot, one call per slot (``_insert_by_slot``).
_INSERT_LUA = """
local cap = tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[1], ARGV[2])
  local extra = redis.call('ZCARD', key) - cap
  if extra > 0 then redis.call('ZREMRANGEBYRANK', key, 0, extra - 1) end
end
return #KEYS
"""
_BATCH = 500
# How long a cluster master's fan-out writes wait for its replica (``_insert_by_slot``).
REPLICA_WAIT_MS = 500
_scripts: weakref.WeakKeyDictionary[Redis, AsyncScript] = weakref.WeakKeyDictionary()


def visible_in_feed(post: PostRecord, viewer_id: str, view: FeedView) -> bool:
    """Whether a timeline entry may be shown to the viewer now (``may_read`` for a feed:
    the view says who the viewer's friends, blocks and circles are)."""
    if post.deleted or post.removed or post.author_id in view.blocked:
        return False
    if post.hidden or post.author_suspended:
        return False
    if post.circle_id is not None:
        return post.circle_id in view.circles
    return post.author_id == viewer_id or post.author_id in view.friends


# ---------------------------------------------------------------- timelines


async def insert(
    redis: Redis, settings: Settings, targets: Sequence[str], post: PostRecord
) -> None:
    """Add the post to each timeline key, trimming each to the configured length."""
    if is_cluster(redis):
        await _insert_by_slot(redis, settings, targets, post)
        return
    script = _scripts.get(redis)
    if script is None:
        script = _scripts[redis] = redis.register_script(_INSERT_LUA)
    size = 1 if settings.redis_cluster else _BATCH
    args: list[int | str] = [post.created_at_ms, post.id, settings.timeline_length]
    async with redis.pipeline(transaction=False) as pipe:
        for start in range(0, len(targets), size):
            await script(keys=list(targets[start : start + size]), args=args, client=pipe)
        await pipe.execute()


async def _insert_by_slot(
    redis: Redis, settings: Settings, targets: Sequence[str], post: PostRecord
) -> None:
    """``insert`` on a cluster: one script call per slot with that slot's timelines, all
    in one pipeline (redis-py sends each node its share at once). EVAL, not EVALSHA:
    a cluster pipeline refuses EVALSHA; the server caches the script by its digest.

    Each master written to then WAITs (on the same connection, after the writes) for its
    replica to have them, so once the job is acknowledged a failover cannot lose them
    (replication is asynchronous otherwise). A master whose replica is gone is not
    waited for; its writes are as safe as that master."""
    cluster: Any = redis
    by_slot: dict[int, list[str]] = {}
    for key in targets:
        by_slot.setdefault(cluster.keyslot(key), []).append(key)
    replicated: dict[str, Any] = {}
    async with redis.pipeline(transaction=False) as pipe:
        for slot, group in by_slot.items():
            for start in range(0, len(group), _BATCH):
                part = group[start : start + _BATCH]
                pipe.eval(
                    _INSERT_LUA,
                    len(part),
                    *part,
                    post.created_at_ms,
                    post.id,
                    settings.timeline_length,
                )
            serving = cluster.nodes_manager.slots_cache.get(slot) or []
            if len(serving) > 1:  # a master and its replicas
                replicated[serving[0].name] = serving[0]
        for node in replicated.values():
            pipe.execute_command("WAIT", 1, REPLICA_WAIT_MS, target_nodes=node)
        await pipe.execute()


async def _rebuild(
    services: Services,
    key: str,
    ready: str,
    lock: str,
    entries_of: Callable[[], Awaitable[list[tuple[str, int]]]],
) -> None:
    """Rebuild one timeline from Neo4j, once even under concurrent readers: the lock holder
    rebuilds, the others wait for the ready marker (or take over if the holder died)."""
    redis, length = services.redis, services.settings.timeline_length
    deadline = time.monotonic() + REBUILD_LOCK_SECONDS
    while True:
        if await redis.set(lock, "1", nx=True, ex=REBUILD_LOCK_SECONDS):
            try:
                entries = await entries_of()
                async with redis.pipeline(transaction=True) as pipe:
                    if entries:
                        pipe.zadd(key, {pid: score for pid, score in entries})
                        pipe.zremrangebyrank(key, 0, -(length + 1))
                    pipe.set(ready, "1")
                    await pipe.execute()
            finally:
                await redis.delete(lock)
            return
        if await redis.exists(ready) or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.02)


async def ensure_timeline(services: Services, user_id: str) -> Any:
    """Rebuild the user's timeline first if it is missing or they were away; returns the
    raw feed view read in the same round trip (for ``load_view``)."""
    raw_view, _ = await ensure_timeline_peek(services, user_id, None)
    return raw_view


async def ensure_timeline_peek(
    services: Services, user_id: str, peek: tuple[float | str, int] | None
) -> tuple[Any, list[tuple[str, float]] | None]:
    """``ensure_timeline``, and in the same round trip (``peek``: a max score and a count)
    the newest entries of the timeline up to that score, which is what a feed page reads
    first. The entries are None when the timeline had to be rebuilt (read it again)."""
    redis, settings = services.redis, services.settings
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(keys.timeline_ready(user_id))
        pipe.zscore(keys.FEED_ACTIVE, user_id)
        pipe.zadd(keys.FEED_ACTIVE, {user_id: time.time()})
        pipe.get(keys.feed_view(user_id))
        if peek is not None:
            pipe.zrange(
                keys.timeline(user_id), peek[0], "-inf",
                byscore=True, desc=True, offset=0, num=peek[1], withscores=True,
            )  # fmt: skip
        ready, last_seen, _, view, *peeked = await pipe.execute()
    returning = (
        last_seen is not None and last_seen < time.time() - settings.feed_active_days * 86400
    )
    if ready and not returning:
        return view, (peeked[0] if peeked else None)
    if returning:
        await redis.delete(keys.timeline_ready(user_id))

    async def entries() -> list[tuple[str, int]]:
        return await graph_feeds.timeline_from_graph(
            services.graph,
            user_id,
            length=settings.timeline_length,
            large_above=settings.fanout_max_audience,
        )

    await _rebuild(
        services,
        keys.timeline(user_id),
        keys.timeline_ready(user_id),
        keys.timeline_lock(user_id),
        entries,
    )
    return view, None


async def ensure_circle_timelines(services: Services, circle_ids: Sequence[str]) -> None:
    if not circle_ids:
        return
    ready = await mget(services.redis, [keys.circle_timeline_ready(c) for c in circle_ids])
    for cid, ok in zip(circle_ids, ready, strict=True):
        if ok:
            continue

        async def entries(cid: str = cid) -> list[tuple[str, int]]:
            return await graph_feeds.circle_timeline_from_graph(
                services.graph, cid, length=services.settings.timeline_length
            )

        await _rebuild(
            services,
            keys.circle_timeline(cid),
            keys.circle_timeline_ready(cid),
            keys.circle_timeline_lock(cid),
            entries,
        )


# ---------------------------------------------------------------- caches

_UNREAD = object()  # load_view: the caller has not read the view yet


async def load_view(services: Services, user_id: str, raw: Any = _UNREAD) -> FeedView:
    """The user's feed view from Redis (``raw``: its value when the caller already read
    it), rebuilt from Neo4j when missing, together with the posts they reacted to."""
    redis = services.redis
    if raw is _UNREAD:
        raw = await redis.get(keys.feed_view(user_id))
    if raw is not None:
        data = json.loads(raw)
        return FeedView(
            friends=frozenset(data["friends"]),
            blocked=frozenset(data["blocked"]),
            circles=data["circles"],
            large_circles=frozenset(data["large"]),
        )
    graph = services.graph
    view = await graph_feeds.feed_view(
        graph, user_id, large_above=services.settings.fanout_max_audience
    )
    payload = {
        "friends": sorted(view.friends),
        "blocked": sorted(view.blocked),
        "circles": view.circles,
        "large": sorted(view.large_circles),
    }
    recent = await graph_feeds.recent_reactions(graph, user_id)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.reacted(user_id))
        if recent:
            pipe.sadd(keys.reacted(user_id), *recent)
        pipe.set(keys.feed_view(user_id), json.dumps(payload), ex=VIEW_CACHE_SECONDS)
        await pipe.execute()
    return view


async def cache_posts(redis: Redis, posts: Sequence[PostRecord], *, only_new: bool = False) -> None:
    """Cache posts for feed reads; ``only_new`` never overwrites a copy (a job's copy of a
    post may be older than a deletion that refreshed the cache meanwhile)."""
    if not posts:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for post in posts:
            pipe.set(
                keys.post_cache(post.id),
                json.dumps(post.to_dict(), ensure_ascii=False),
                ex=POST_CACHE_SECONDS,
                nx=only_new,
            )
        await pipe.execute()


def _decode_post(raw: str) -> PostRecord | None:
    try:
        return PostRecord.from_dict(json.loads(raw))
    except (KeyError, TypeError, ValueError):  # a copy in an older shape: a miss
        return None


async def load_posts(services: Services, post_ids: Sequence[str]) -> dict[str, PostRecord]:
    """Posts from the Redis cache, falling back to one Neo4j query for the misses."""
    if not post_ids:
        return {}
    raw = await mget(services.redis, [keys.post_cache(pid) for pid in post_ids])
    posts = {
        pid: post
        for pid, r in zip(post_ids, raw, strict=True)
        if r and (post := _decode_post(str(r))) is not None
    }
    missing = [pid for pid in post_ids if pid not in posts]
    if missing:
        found = await graph_posts.posts_by_ids(services.graph, missing)
        await cache_posts(services.redis, list(found.values()))
        posts.update(found)
    return posts


async def circle_members(services: Services, circle_id: str) -> list[str] | None:
    """A circle's MEMBER ids, or None when it is too large to fan out to (cached)."""
    redis = services.redis
    raw = await redis.get(keys.circle_members(circle_id))
    if raw is not None:
        cached: list[str] | None = json.loads(raw)
        return cached
    members = await graph_feeds.circle_member_ids(
        services.graph, circle_id, at_most=services.settings.fanout_max_audience
    )
    await redis.set(keys.circle_members(circle_id), json.dumps(members), ex=MEMBERS_CACHE_SECONDS)
    return members


async def reacted_to(redis: Redis, user_id: str, post_ids: Sequence[str]) -> list[bool]:
    if not post_ids:
        return []
    flags = await redis.smismember(keys.reacted(user_id), list(post_ids))
    return [bool(f) for f in flags]


# ---------------------------------------------------------------- invalidation


async def drop_views(
    redis: Redis, user_ids: Iterable[str], *, bookmarks: Sequence[str] = ()
) -> None:
    """Friends, blocks or circles changed: drop the users' feed views (rebuilt on the next
    read, which filters at once), have their timelines topped up from Neo4j on that read
    (a new friend's or circle's recent posts appear, as when following on Mastodon), and
    queue a cleanup of what they may no longer see."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for uid in ids:
            pipe.delete(keys.feed_view(uid))
            pipe.delete(keys.timeline_ready(uid))
        await pipe.execute()
    await enqueue(redis, jobs.CLEAN, {"users": ids}, bookmarks=bookmarks)


async def drop_circle_members(redis: Redis, circle_ids: Iterable[str]) -> None:
    """Circles' memberships changed: their cached member lists (fan-out audiences) go."""
    ids = sorted(set(circle_ids))
    if ids:
        await redis.delete(*(keys.circle_members(c) for c in ids))


async def refresh_posts(services: Services, post_ids: Iterable[str]) -> None:
    """Rewrite cached posts from Neo4j after their counts, removal or deletion changed."""
    ids = list(dict.fromkeys(post_ids))
    if ids:
        found = await graph_posts.posts_by_ids(services.graph, ids)
        await cache_posts(services.redis, list(found.values()))


async def set_reacted(redis: Redis, user_id: str, post_id: str, reacted: bool) -> None:
    if reacted:
        await redis.sadd(keys.reacted(user_id), post_id)
    else:
        await redis.srem(keys.reacted(user_id), post_id)
