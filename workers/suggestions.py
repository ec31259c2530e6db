"""Precomputed people-you-may-know lists in Redis, and the job that refreshes them.

A user's list is computed live on a cache miss and stored; when their neighbourhood
changes (friend added or removed, block, dismissal, new contact or payment) the list is
dropped at once and a refresh job recomputes it in the background for active users.
Reads always re-check the exclusions against Neo4j, so a stale list never leaks; when
Redis fails, the list is computed live.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from graph.suggestions import (
    Reason,
    Scored,
    SuggestionConfig,
    compute_suggestions,
    still_suggestible,
)
from graph.users import UserRecord
from workers import jobs, keys
from workers.queue import Job, enqueue
from workers.redis import UNAVAILABLE
from workers.services import Services

LIST_SIZE = 100  # suggestions kept per user
CACHE_TTL_SECONDS = 24 * 3600
ACTIVE_WINDOW_SECONDS = 14 * 24 * 3600
_JOB_CHUNK = 200


@dataclass(frozen=True)
class CachedList:
    items: list[Scored]
    computed_at: float


def _encode(items: list[Scored]) -> str:
    return json.dumps(
        {
            "at": time.time(),
            "items": [[s.user_id, s.score, [[r.kind, r.count] for r in s.reasons]] for s in items],
        },
        separators=(",", ":"),
    )


def _decode(raw: str) -> CachedList:
    data = json.loads(raw)
    return CachedList(
        items=[
            Scored(uid, float(score), tuple(Reason(k, c) for k, c in reasons))
            for uid, score, reasons in data["items"]
        ],
        computed_at=float(data["at"]),
    )


async def store(redis: Redis, user_id: str, items: list[Scored]) -> None:
    await redis.set(keys.suggestions(user_id), _encode(items), ex=CACHE_TTL_SECONDS)


async def cached_or_live(
    services: Services, user_id: str, config: SuggestionConfig | None = None
) -> list[Scored]:
    """The user's ranked list: from Redis when present, else computed now and stored.

    Reading also marks the user active, so background refreshes keep their list warm.
    """
    redis = services.redis
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.suggestions(user_id))
            pipe.zadd(keys.SUGGESTIONS_ACTIVE, {user_id: time.time()})
            raw, _ = await pipe.execute()
    except UNAVAILABLE as exc:
        services.derived.mark_stale(f"suggestions: {exc!r}")
        return await compute_suggestions(services.graph, user_id, limit=LIST_SIZE, config=config)
    if raw is not None:
        return _decode(raw).items
    items = await compute_suggestions(services.graph, user_id, limit=LIST_SIZE, config=config)
    try:
        await store(redis, user_id, items)
    except UNAVAILABLE as exc:
        services.derived.mark_stale(f"suggestions: {exc!r}")
    return items


async def neighbourhood_changed(
    redis: Redis, user_ids: Iterable[str], *, bookmarks: Sequence[str] = ()
) -> None:
    """Drop these users' lists now and queue their recomputation (after the write the
    ``bookmarks`` stand for)."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for uid in ids:
            pipe.delete(keys.suggestions(uid))
        await pipe.execute()
    for start in range(0, len(ids), _JOB_CHUNK):
        await enqueue(
            redis,
            jobs.PYMK_REFRESH,
            {"users": ids[start : start + _JOB_CHUNK]},
            bookmarks=bookmarks,
        )


async def refresh(services: Services, job: Job) -> None:
    """Recompute the lists of the job's users who were active lately (idempotent)."""
    user_ids = [str(u) for u in job.payload.get("users", [])]
    if not user_ids:
        return
    redis = services.redis
    since = time.time() - ACTIVE_WINDOW_SECONDS
    scores = await redis.zmscore(keys.SUGGESTIONS_ACTIVE, user_ids)
    for uid, seen in zip(user_ids, scores, strict=True):
        if seen is not None and seen >= since:
            items = await compute_suggestions(services.graph, uid, limit=LIST_SIZE)
            await store(redis, uid, items)


async def suggestions_page(
    services: Services,
    user_id: str,
    *,
    first: int,
    after: tuple[float, str] | None,
) -> list[tuple[Scored, UserRecord]]:
    """Up to ``first + 1`` suggestions after the keyset cursor, each re-checked now.

    Ordering is (score desc, id asc), so a cursor keeps its place when the list is
    recomputed between two pages.
    """
    items = await cached_or_live(services, user_id)
    if after is not None:
        score, last_id = after
        items = [s for s in items if (-s.score, s.user_id) > (-score, last_id)]
    # Re-check only as many as the page needs (usually one chunk), not the whole list.
    shown: list[tuple[Scored, UserRecord]] = []
    chunk = 2 * (first + 1)
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        visible = await still_suggestible(services.graph, user_id, [s.user_id for s in part])
        shown += [(s, visible[s.user_id]) for s in part if s.user_id in visible]
        if len(shown) > first:
            break
    return shown[: first + 1]
