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
from collections.abc import Iterable
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


async def neighbourhood_changed(redis: Redis, user_ids: Iterable[str]) -> None:
    """Drop these users' lists now and queue their recomputation."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for uid in ids:
            pipe.delete(keys.suggestions(uid))
        await pipe.execute()
    for start in range(0, len(ids), _JOB_CHUNK):
        await enqueue(redis, jobs.PYMK_REFRESH, {"users": ids[start : start + _JOB_CHUNK]})


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


@dataclass(frozen=True)
class Shown:
    """A suggestion as the viewer sees it: a coarse band and a place, never the score."""

    scored: Scored
    record: UserRecord
    position: int  # in the viewer's ranked list; the cursor carries it with the id
    band: float


def band(position: int, total: int) -> float:
    """1.0, 0.75, 0.5 or 0.25: the quarter of the viewer's list a suggestion is in.

    The raw score would let a viewer derive how often two people paid each other.
    """
    return 1.0 - 0.25 * min(3, (4 * position) // max(total, 1))


async def suggestions_page(
    services: Services,
    user_id: str,
    *,
    first: int,
    after: tuple[int, str] | None,
) -> list[Shown]:
    """Up to ``first + 1`` suggestions after the cursor, each re-checked now.

    The cursor is (position, id) in the ranked list: the page goes on after that id, or
    after that position when a recomputation between pages dropped the id.
    """
    items = await cached_or_live(services, user_id)
    start = 0
    if after is not None:
        position, last_id = after
        ids = [s.user_id for s in items]
        start = ids.index(last_id) + 1 if last_id in ids else position + 1
    # Re-check only as many as the page needs (usually one chunk), not the whole list.
    shown: list[Shown] = []
    chunk = 2 * (first + 1)
    for at in range(start, len(items), chunk):
        part = items[at : at + chunk]
        visible = await still_suggestible(services.graph, user_id, [s.user_id for s in part])
        shown += [
            Shown(s, visible[s.user_id], at + i, band(at + i, len(items)))
            for i, s in enumerate(part)
            if s.user_id in visible
        ]
        if len(shown) > first:
            break
    return shown[: first + 1]
