"""Precomputed people-you-may-know lists in Redis, and the job that refreshes them.

A user's list is computed live on a cache miss and stored together with the viewer's
blocks (either way) and the neighbourhood version it was computed under. Every change to
the user's neighbourhood (friend added or removed, block, request, dismissal, new
contact, payment or circle) is an effect of its write: it bumps the version and drops
the list, and a refresh job recomputes it in the background for active users.

Serving a cached page needs no Neo4j round trip when nothing changed:

- the pair rules (friends, blocks, pending requests, dismissals) hold because the list's
  version still equals the viewer's current version — a list computed before such a
  write (even one stored after it, by a slow worker) carries the older version and is
  recomputed instead;
- the candidate's own state (discoverable, suspended, handle, name) comes from the user
  cards (``workers/cards.py``), which every write to a user drops; a candidate without a
  card is checked against Neo4j (and its card stored).

While this process may not trust Redis (``Services.derived``), or when Redis fails,
every candidate is re-checked against Neo4j as before.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, overload

from redis.asyncio import Redis

from graph.social import blocked_either_way
from graph.suggestions import (
    Reason,
    Scored,
    SuggestionConfig,
    compute_suggestions,
    still_suggestible,
)
from graph.users import UserRecord
from workers import cards, jobs, keys
from workers.queue import Job, enqueue
from workers.redis import UNAVAILABLE
from workers.services import Services

LIST_SIZE = 100  # suggestions kept per user
CACHE_TTL_SECONDS = 24 * 3600
ACTIVE_WINDOW_SECONDS = 14 * 24 * 3600
_JOB_CHUNK = 200


class StoredItems(Sequence[Scored]):
    """A cached list's rows as stored, decoded one row when asked for: a page shows ten
    of a hundred, and decoding them all took longer than the rest of the page."""

    def __init__(self, rows: list[list[Any]]) -> None:
        self._rows = rows

    @cached_property
    def user_ids(self) -> list[str]:
        return [str(row[0]) for row in self._rows]

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, at: int) -> Scored: ...
    @overload
    def __getitem__(self, at: slice) -> list[Scored]: ...
    def __getitem__(self, at: int | slice) -> Scored | list[Scored]:
        if isinstance(at, slice):
            return [_scored(row) for row in self._rows[at]]
        return _scored(self._rows[at])

    def __iter__(self) -> Iterator[Scored]:
        return (_scored(row) for row in self._rows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)


def _scored(row: list[Any]) -> Scored:
    uid, score, reasons = row
    return Scored(str(uid), float(score), tuple(Reason(k, c) for k, c in reasons))


def _user_ids(items: Sequence[Scored]) -> list[str]:
    return items.user_ids if isinstance(items, StoredItems) else [s.user_id for s in items]


@dataclass(frozen=True)
class CachedList:
    items: Sequence[Scored]
    computed_at: float
    version: int = 0  # the viewer's neighbourhood version it was computed under
    blocked: frozenset[str] = frozenset()  # users blocked by or blocking the viewer then


@dataclass(frozen=True)
class Page:
    rows: list[Shown]
    # The viewer's blocks, when the page was served from a list still valid for them
    # (so a resolver need not ask Neo4j); None when unknown.
    blocked: frozenset[str] | None


def _encode(entry: CachedList) -> str:
    return json.dumps(
        {
            "at": entry.computed_at,
            "v": entry.version,
            "blocked": sorted(entry.blocked),
            "items": [
                [s.user_id, s.score, [[r.kind, r.count] for r in s.reasons]] for s in entry.items
            ],
        },
        separators=(",", ":"),
    )


def _decode(raw: str) -> CachedList:
    data = json.loads(raw)
    return CachedList(
        items=StoredItems(data["items"]),
        computed_at=float(data["at"]),
        version=int(data.get("v", -1)),  # lists from before versions never match
        blocked=frozenset(data.get("blocked", ())),
    )


def _version(raw: object) -> int:
    return int(str(raw)) if raw is not None else 0


async def current_version(redis: Redis, user_id: str) -> int:
    return _version(await redis.get(keys.suggestions_version(user_id)))


async def compute_entry(
    services: Services, user_id: str, version: int, config: SuggestionConfig | None = None
) -> CachedList:
    """The list computed now; ``version`` must have been read before computing."""
    items = await compute_suggestions(
        services.graph, user_id, limit=LIST_SIZE, config=config, model=services.pymk_model
    )
    blocked = await blocked_either_way(services.graph, user_id)
    return CachedList(items, time.time(), version, blocked)


async def store(redis: Redis, user_id: str, entry: CachedList) -> None:
    await redis.set(keys.suggestions(user_id), _encode(entry), ex=CACHE_TTL_SECONDS)


async def cached_or_live(
    services: Services, user_id: str, config: SuggestionConfig | None = None
) -> tuple[CachedList, bool]:
    """The user's ranked list, and whether it is known valid for the pair rules now
    (served from a list of the current version while Redis is trusted).

    Reading also marks the user active, so background refreshes keep their list warm.
    """
    redis = services.redis
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.suggestions(user_id))
            pipe.get(keys.suggestions_version(user_id))
            pipe.zadd(keys.SUGGESTIONS_ACTIVE, {user_id: time.time()})
            raw, raw_version, _ = await pipe.execute()
    except UNAVAILABLE as exc:
        services.derived.mark_stale(f"suggestions: {exc!r}")
        return await compute_entry(services, user_id, -1, config), False
    version = _version(raw_version)
    if raw is not None:
        entry = _decode(raw)
        if entry.version == version:
            return entry, not services.derived.stale
    entry = await compute_entry(services, user_id, version, config)
    try:
        await store(redis, user_id, entry)
    except UNAVAILABLE as exc:
        services.derived.mark_stale(f"suggestions: {exc!r}")
    return entry, False


async def neighbourhood_changed(
    redis: Redis, user_ids: Iterable[str], *, bookmarks: Sequence[str] = ()
) -> None:
    """Bump these users' versions, drop their lists now and queue their recomputation
    (after the write the ``bookmarks`` stand for)."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for uid in ids:
            pipe.incr(keys.suggestions_version(uid))
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
            version = await current_version(redis, uid)  # before reading the graph
            await store(redis, uid, await compute_entry(services, uid, version))


async def _visible(
    services: Services, user_id: str, candidate_ids: list[str], trusted: bool
) -> dict[str, UserRecord]:
    """The candidates that may be shown now: from their cards when the list is trusted,
    the rest (and all of them otherwise) checked against Neo4j."""
    found: dict[str, UserRecord] = {}
    if trusted:
        known = await cards.get_cards(services, candidate_ids)
        for uid, record in known.items():
            if record.discoverable and not record.suspended:
                found[uid] = record
        unknown = [u for u in candidate_ids if u not in known]
    else:
        unknown = candidate_ids
    if unknown:
        checked = await still_suggestible(services.graph, user_id, unknown)
        found.update(checked)
        await cards.put_cards(services, checked.values())
    return found


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
) -> Page:
    """Up to ``first + 1`` suggestions after the cursor, each re-checked now.

    The cursor is (position, id) in the ranked list: the page goes on after that id, or
    after that position when a recomputation between pages dropped the id.
    """
    entry, trusted = await cached_or_live(services, user_id)
    items = entry.items
    start = 0
    if after is not None:
        position, last_id = after
        ids = _user_ids(items)
        start = ids.index(last_id) + 1 if last_id in ids else position + 1
    # Re-check only as many as the page needs (usually one chunk, with room for a few
    # candidates gone undiscoverable), not the whole list.
    shown: list[Shown] = []
    chunk = first + 1 + max(4, first // 2)
    for at in range(start, len(items), chunk):
        part = items[at : at + chunk]
        visible = await _visible(services, user_id, [s.user_id for s in part], trusted)
        shown += [
            Shown(s, visible[s.user_id], at + i, band(at + i, len(items)))
            for i, s in enumerate(part)
            if s.user_id in visible
        ]
        if len(shown) > first:
            break
    return Page(shown[: first + 1], entry.blocked if trusted else None)
