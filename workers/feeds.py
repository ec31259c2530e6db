"""Home feeds: fan-out on write into capped per-user timelines in Redis.

The path of a post: ``graph.posts.create_post`` commits it to Neo4j with
``fanout = 'PENDING'`` and calls ``post_created``, which queues a fan-out job; a worker
runs ``fan_out`` (audience in pages, timeline inserts, live notices) and marks the post
``DONE``. If Redis or the workers were down, ``sweep_outbox`` finds posts still pending and
queues them again, so nothing committed is lost between the two stores.

Timelines are derived state: a missing one (Redis lost, new or returning user) is rebuilt
from Neo4j on the first read, by one reader while the others wait. Circles larger than
``fanout_max_audience`` are not fanned out; their posts go to the circle's own timeline,
merged into members' feeds at read time. Every read filters by the viewer's feed view
(friends, blocks, circles), so nothing they may no longer see appears, however it got in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from api.settings import Settings
from graph import feeds as graph_feeds
from graph.driver import Graph
from graph.feeds import FeedView
from workers import keys
from workers.queue import enqueue

log = logging.getLogger(__name__)

FANOUT_JOB = "feed.fanout"
CLEAN_JOB = "feed.clean"
AUDIENCE_PAGE = 1000
POST_CACHE_SECONDS = 3600  # refreshed on every change we make; an hour bounds the rest
VIEW_CACHE_SECONDS = 24 * 3600
REBUILD_LOCK_SECONDS = 30

# Insert and trim in one round trip; one key, so it stays inside one cluster slot.
# Insert and trim each timeline in the same script call. Under Redis Cluster a script may
# only touch one slot, so it gets one key per call; on a single server one call serves a
# whole batch of timelines, which is what makes fan-out cheap (one command per 500 users).
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
MEMBERS_CACHE_SECONDS = 300
SWEEP_WINDOW_SECONDS = 60
MAX_SWEEPS = 5
_scripts: dict[Redis, AsyncScript] = {}


@dataclass(frozen=True)
class FeedPost:
    """A post as the feed caches it in Redis."""

    id: str
    author_id: str
    circle_id: str | None
    circle_visibility: str | None
    body: str
    created_at_ms: int
    created_at: str
    reaction_count: int
    comment_count: int
    removed: bool
    deleted: bool
    # Defaults: copies cached before these fields existed read as visible.
    hidden: bool = False  # held or reported pending review
    author_suspended: bool = False

    @classmethod
    def from_graph(cls, row: dict[str, Any]) -> FeedPost:
        return cls(
            id=row["id"],
            author_id=row["authorId"],
            circle_id=row["circleId"],
            circle_visibility=row["circleVisibility"],
            body=row["body"],
            created_at_ms=int(row["createdAtMs"]),
            created_at=row["createdAt"],
            reaction_count=int(row["reactionCount"] or 0),
            comment_count=int(row["commentCount"] or 0),
            removed=bool(row["removed"]),
            deleted=bool(row["deleted"]),
            hidden=bool(row.get("hidden")),
            author_suspended=bool(row.get("authorSuspended")),
        )


def visible_in_feed(post: FeedPost, viewer_id: str, view: FeedView) -> bool:
    """Whether a timeline entry may be shown to the viewer now."""
    if post.deleted or post.removed or post.author_id in view.blocked:
        return False
    if post.hidden or post.author_suspended:
        return False
    if post.circle_id is not None:
        return post.circle_id in view.circles
    return post.author_id == viewer_id or post.author_id in view.friends


# ---------------------------------------------------------------- write side


async def post_created(redis: Redis, post_id: str, post: FeedPost | None = None) -> None:
    """Queue the post's delivery, carrying the post itself when the caller has it (the
    worker then needs no Neo4j read). Failing here is safe: the sweeper retries it."""
    payload: dict[str, Any] = {"post": post_id}
    if post is not None:
        payload["data"] = asdict(post)
    await enqueue(redis, FANOUT_JOB, payload)


async def post_changed(redis: Redis, graph: Graph, post_ids: Iterable[str]) -> None:
    """Refresh cached posts after counts, removal or deletion changed."""
    found = await graph_feeds.feed_posts(graph, list(post_ids))
    await cache_posts(redis, [FeedPost.from_graph(row) for row in found.values()])


async def relationships_changed(redis: Redis, user_ids: Iterable[str]) -> None:
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
    await enqueue(redis, CLEAN_JOB, {"users": ids})


async def reaction_changed(redis: Redis, user_id: str, post_id: str, reacted: bool) -> None:
    if reacted:
        await redis.sadd(keys.reacted(user_id), post_id)
    else:
        await redis.srem(keys.reacted(user_id), post_id)


async def cache_posts(redis: Redis, posts: Sequence[FeedPost], *, only_new: bool = False) -> None:
    """Cache posts for feed reads; ``only_new`` never overwrites a copy (a job's copy of a
    post may be older than a deletion that refreshed the cache meanwhile)."""
    if not posts:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for post in posts:
            pipe.set(
                keys.post_cache(post.id),
                json.dumps(asdict(post)),
                ex=POST_CACHE_SECONDS,
                nx=only_new,
            )
        await pipe.execute()


_UNREAD = object()  # load_view: the caller has not read the view yet

# Posts delivered by this process, marked DONE in Neo4j in batches (``flush_delivered``):
# a mark lost with a dying worker only means the sweeper delivers the post again, which
# changes nothing.
_delivered: list[str] = []
DELIVERED_BATCH = 64


async def flush_delivered(graph: Graph) -> None:
    batch = _delivered[:]
    del _delivered[: len(batch)]
    if batch:
        await graph_feeds.mark_delivered(graph, batch)


async def _insert(redis: Redis, settings: Settings, targets: Sequence[str], post: FeedPost) -> None:
    script = _scripts.get(redis)
    if script is None:
        script = _scripts[redis] = redis.register_script(_INSERT_LUA)
    size = 1 if settings.redis_cluster else _BATCH
    args: list[int | str] = [post.created_at_ms, post.id, settings.timeline_length]
    async with redis.pipeline(transaction=False) as pipe:
        for start in range(0, len(targets), size):
            await script(keys=list(targets[start : start + size]), args=args, client=pipe)
        await pipe.execute()


async def fan_out(
    graph: Graph,
    redis: Redis,
    settings: Settings,
    post_id: str,
    data: dict[str, Any] | None = None,
) -> int:
    """Deliver one post to every timeline it belongs in; idempotent (ZADD of the same
    member and score changes nothing). Returns how many timelines it went to."""
    if data is not None:
        post = FeedPost(**data)
        await cache_posts(redis, [post], only_new=True)
    else:  # re-queued by the sweeper: read the post as it is now
        found = await graph_feeds.feed_posts(graph, [post_id])
        if post_id not in found or found[post_id].get("fanout") == "DONE":
            return 0  # gone, or a duplicate job (a backlog was re-queued): done already
        post = FeedPost.from_graph(found[post_id])
        await cache_posts(redis, [post])
    delivered = 0
    members = (
        await circle_members(graph, redis, settings, post.circle_id)
        if post.circle_id is not None
        else None
    )
    if post.deleted or post.removed:
        pass
    elif post.circle_id is not None and members is None:
        await _insert(redis, settings, [keys.circle_timeline(post.circle_id)], post)
        delivered = 1
    else:
        cutoff = time.time() - settings.feed_active_days * 86400
        audience = await _audience(graph, redis, settings, post, members)
        # Few users have a live subscription open: read them all once, not per recipient.
        online = {u for u, n in (await redis.hgetall(keys.LIVE_USERS)).items() if int(n) > 0}
        for start in range(0, len(audience), AUDIENCE_PAGE):
            page = audience[start : start + AUDIENCE_PAGE]
            seen = await redis.zmscore(keys.FEED_ACTIVE, page)
            targets = [
                uid
                for uid, last in zip(page, seen, strict=True)
                if uid == post.author_id or (last is not None and last >= cutoff)
            ]
            await _insert(redis, settings, [keys.timeline(u) for u in targets], post)
            await _announce(redis, [u for u in targets if u in online], post.id)
            delivered += len(targets)
    _delivered.append(post.id)
    if len(_delivered) >= DELIVERED_BATCH:
        await flush_delivered(graph)
    return delivered


async def _audience(
    graph: Graph, redis: Redis, settings: Settings, post: FeedPost, members: list[str] | None
) -> list[str]:
    """Who a post goes to, from Redis when it can: the author and their friends (the
    author's feed view), or the circle's members (cached); never anyone blocked either
    way with the author. Neo4j answers on a miss."""
    author = await load_view(graph, redis, settings, post.author_id)
    if post.circle_id is None or members is None:
        members = [post.author_id, *sorted(author.friends)]
    return [u for u in members if u not in author.blocked]


async def circle_members(
    graph: Graph, redis: Redis, settings: Settings, circle_id: str
) -> list[str] | None:
    """A circle's MEMBER ids, or None when it is too large to fan out to (cached)."""
    raw = await redis.get(keys.circle_members(circle_id))
    if raw is not None:
        cached: list[str] | None = json.loads(raw)
        return cached
    members = await graph_feeds.circle_member_ids(
        graph, circle_id, at_most=settings.fanout_max_audience
    )
    await redis.set(keys.circle_members(circle_id), json.dumps(members), ex=MEMBERS_CACHE_SECONDS)
    return members


async def members_changed(redis: Redis, circle_id: str) -> None:
    """A circle's membership changed: its cached member list goes."""
    await redis.delete(keys.circle_members(circle_id))


async def _announce(redis: Redis, listening: Sequence[str], post_id: str) -> None:
    """Tell open homeFeedUpdates subscriptions (only users who have one)."""
    if listening:
        async with redis.pipeline(transaction=False) as pipe:
            for uid in listening:
                pipe.publish(keys.live_channel(uid), post_id)
            await pipe.execute()


async def sweep_outbox(graph: Graph, redis: Redis, settings: Settings) -> int:
    """Queue again the posts committed but not delivered (Redis or workers were down).

    A post is re-queued at most once per ``SWEEP_WINDOW_SECONDS`` (its job may simply be
    waiting behind a backlog); after ``MAX_SWEEPS`` tries it is marked FAILED and logged,
    so a post that can never be delivered does not hold up the ones behind it.
    """
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


async def clean_timelines(
    graph: Graph, redis: Redis, settings: Settings, user_ids: Sequence[str]
) -> None:
    """Remove entries the users may no longer see (the read filter hides them already)."""
    for uid in user_ids:
        view = await load_view(graph, redis, settings, uid)
        entries = [str(e) for e in await redis.zrange(keys.timeline(uid), 0, -1)]
        posts = await load_posts(graph, redis, entries)
        gone = [
            pid for pid in entries if pid not in posts or not visible_in_feed(posts[pid], uid, view)
        ]
        if gone:
            await redis.zrem(keys.timeline(uid), *gone)


@dataclass(frozen=True)
class RebuildResult:
    """What ``rebuild_timelines`` did: timelines rebuilt now, and timelines of inactive
    users only dropped (rebuilt on their next read)."""

    rebuilt: int = 0
    dropped: int = 0


async def rebuild_timelines(
    graph: Graph, redis: Redis, settings: Settings, user_ids: Sequence[str]
) -> RebuildResult:
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
    cutoff = time.time() - settings.feed_active_days * 86400
    seen = await redis.zmscore(keys.FEED_ACTIVE, ids)
    rebuilt = dropped = 0
    for uid, last in zip(ids, seen, strict=True):
        async with redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.timeline_ready(uid))
            pipe.delete(keys.timeline(uid))
            await pipe.execute()
        if last is not None and last >= cutoff:
            await ensure_timeline(graph, redis, settings, uid)
            rebuilt += 1
        else:
            dropped += 1
    return RebuildResult(rebuilt=rebuilt, dropped=dropped)


# ---------------------------------------------------------------- read side


async def load_view(
    graph: Graph, redis: Redis, settings: Settings, user_id: str, raw: Any = _UNREAD
) -> FeedView:
    """The user's feed view from Redis (``raw``: its value when the caller already read
    it), rebuilt from Neo4j when missing."""
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
    view = await graph_feeds.feed_view(graph, user_id, large_above=settings.fanout_max_audience)
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


async def load_posts(graph: Graph, redis: Redis, post_ids: Sequence[str]) -> dict[str, FeedPost]:
    """Posts from the Redis cache, falling back to one Neo4j query for the misses."""
    if not post_ids:
        return {}
    raw = await redis.mget([keys.post_cache(pid) for pid in post_ids])
    posts = {pid: FeedPost(**json.loads(r)) for pid, r in zip(post_ids, raw, strict=True) if r}
    missing = [pid for pid in post_ids if pid not in posts]
    if missing:
        found = [
            FeedPost.from_graph(row)
            for row in (await graph_feeds.feed_posts(graph, missing)).values()
        ]
        await cache_posts(redis, found)
        posts.update({p.id: p for p in found})
    return posts


async def _rebuild(
    graph: Graph, redis: Redis, settings: Settings, key: str, ready: str, lock: str, entries_of: Any
) -> None:
    """Rebuild one timeline from Neo4j, once even under concurrent readers: the lock holder
    rebuilds, the others wait for the ready marker (or take over if the holder died)."""
    deadline = time.monotonic() + REBUILD_LOCK_SECONDS
    while True:
        if await redis.set(lock, "1", nx=True, ex=REBUILD_LOCK_SECONDS):
            try:
                entries = await entries_of()
                async with redis.pipeline(transaction=True) as pipe:
                    if entries:
                        pipe.zadd(key, {pid: score for pid, score in entries})
                        pipe.zremrangebyrank(key, 0, -(settings.timeline_length + 1))
                    pipe.set(ready, "1")
                    await pipe.execute()
            finally:
                await redis.delete(lock)
            return
        if await redis.exists(ready) or time.monotonic() > deadline:
            return
        await asyncio.sleep(0.02)


async def ensure_timeline(graph: Graph, redis: Redis, settings: Settings, user_id: str) -> Any:
    """Rebuild the user's timeline first if it is missing or they were away; returns the
    raw feed view read in the same round trip (for ``load_view``)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(keys.timeline_ready(user_id))
        pipe.zscore(keys.FEED_ACTIVE, user_id)
        pipe.zadd(keys.FEED_ACTIVE, {user_id: time.time()})
        pipe.get(keys.feed_view(user_id))
        ready, last_seen, _, view = await pipe.execute()
    returning = (
        last_seen is not None and last_seen < time.time() - settings.feed_active_days * 86400
    )
    if ready and not returning:
        return view
    if returning:
        await redis.delete(keys.timeline_ready(user_id))

    async def entries() -> list[tuple[str, int]]:
        return await graph_feeds.timeline_from_graph(
            graph,
            user_id,
            length=settings.timeline_length,
            large_above=settings.fanout_max_audience,
        )

    await _rebuild(
        graph,
        redis,
        settings,
        keys.timeline(user_id),
        keys.timeline_ready(user_id),
        keys.timeline_lock(user_id),
        entries,
    )
    return view


async def _ensure_circle_timelines(
    graph: Graph, redis: Redis, settings: Settings, circle_ids: Sequence[str]
) -> None:
    if not circle_ids:
        return
    ready = await redis.mget([keys.circle_timeline_ready(c) for c in circle_ids])
    for cid, ok in zip(circle_ids, ready, strict=True):
        if ok:
            continue

        async def entries(cid: str = cid) -> list[tuple[str, int]]:
            return await graph_feeds.circle_timeline_from_graph(
                graph, cid, length=settings.timeline_length
            )

        await _rebuild(
            graph,
            redis,
            settings,
            keys.circle_timeline(cid),
            keys.circle_timeline_ready(cid),
            keys.circle_timeline(cid) + ":lock",
            entries,
        )


async def home_page(
    graph: Graph,
    redis: Redis,
    settings: Settings,
    user_id: str,
    *,
    first: int,
    after: tuple[int, str] | None,
) -> tuple[list[FeedPost], FeedView]:
    """Up to ``first + 1`` posts of the user's home feed after the cursor, newest first.

    Order is (createdAtMs desc, id desc); ids are time-ordered, so a cursor keeps its
    place however many posts arrive above it.
    """
    raw_view = await ensure_timeline(graph, redis, settings, user_id)
    view = await load_view(graph, redis, settings, user_id, raw_view)
    large = sorted(view.large_circles)
    await _ensure_circle_timelines(graph, redis, settings, large)
    sources = [keys.timeline(user_id), *(keys.circle_timeline(c) for c in large)]
    max_score: float | str = after[0] if after else "+inf"
    shown: list[FeedPost] = []
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
        posts = await load_posts(graph, redis, [pid for _, pid in candidates])
        for _, pid in candidates:
            post = posts.get(pid)
            if post is not None and visible_in_feed(post, user_id, view):
                shown.append(post)
        if all(len(rows) < batch for rows in ranges):
            break  # every source is exhausted
        offset += batch
    shown.sort(key=lambda p: (p.created_at_ms, p.id), reverse=True)
    return shown[: first + 1], view


async def reacted_to(redis: Redis, user_id: str, post_ids: Sequence[str]) -> list[bool]:
    if not post_ids:
        return []
    flags = await redis.smismember(keys.reacted(user_id), list(post_ids))
    return [bool(f) for f in flags]


@contextlib.asynccontextmanager
async def live_posts(
    graph: Graph, redis: Redis, settings: Settings, user_id: str
) -> AsyncIterator[AsyncIterator[FeedPost]]:
    """Posts as they land in the user's timeline (visible ones only), until the caller
    leaves the context; the pub/sub connection and the online mark go with it."""
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.live_channel(user_id))
    await redis.hincrby(keys.LIVE_USERS, user_id, 1)

    async def stream() -> AsyncIterator[FeedPost]:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            post_id = str(message["data"])
            found = await load_posts(graph, redis, [post_id])
            view = await load_view(graph, redis, settings, user_id)
            post = found.get(post_id)
            if post is not None and visible_in_feed(post, user_id, view):
                yield post

    try:
        yield stream()
    finally:
        with contextlib.suppress(RedisError, OSError):
            if await redis.hincrby(keys.LIVE_USERS, user_id, -1) <= 0:
                await redis.hdel(keys.LIVE_USERS, user_id)
        with contextlib.suppress(RedisError, OSError):
            await pubsub.unsubscribe()
        await pubsub.aclose()  # type: ignore[no-untyped-call]
