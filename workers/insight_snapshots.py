"""Snapshots of exact insight aggregates, computed from Neo4j into Redis.

A snapshot is derived state (rebuilt from the graph at any time), so it lives in Redis
under its own id (``workers/keys.py``, hash tag ``{is:ID}``) and is published by pointing
``qz:ins:current`` at it once every key is written. Per merchant it stores the exact
counts a release noises (``insights_merchant``); for areas, a bitmap of each merchant's
customers, a geo set of the merchants, and one bitmap per interest and per hour (the
people who carry it), so an area question ORs the bitmaps of the merchants inside the
circle and counts: its cost follows the area, never the graph.

Contributions are bounded here, which is what the privacy analysis relies on
(docs/insights.md): each person counts once in a merchant's (or area's) audience, adds
to at most ``insights_interests_per_person`` interest buckets (their strongest, sensitive
categories never) and at most ``insights_hours_per_person`` hours, and lands in exactly
one day of "last served". Suspended accounts are left out entirely.

Every key of a snapshot expires together with the pointer, after ``retention_ms``; a
release (``workers/insights.py``) is kept at least as long as its snapshot, so the same
question is never answered twice with fresh noise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from graph import insights as graph_insights
from workers import keys
from workers.services import Services

log = logging.getLogger(__name__)

PAGE = 5_000  # users per Neo4j read
WRITE_BATCH = 500  # Redis commands per pipeline round trip
DAY_SECONDS = 86_400
LOCK_MS = 3_600_000  # a refresh that takes longer than this loses its lock


def retention_ms(refresh_seconds: float) -> int:
    """How long a snapshot (and so each of its releases) is kept: three refresh periods,
    at least an hour, so a late worker never leaves the API without one."""
    return int(max(3 * refresh_seconds, 3_600) * 1000)


def normalise(category: str | None) -> str | None:
    """A category as it becomes a bucket key; None for none and for sensitive ones."""
    if category is None:
        return None
    text = " ".join(category.split()).lower()
    if not text or text in graph_insights.SENSITIVE_CATEGORIES:
        return None
    return text


def strongest(weights: Mapping[str, int], limit: int) -> list[str]:
    """The ``limit`` heaviest keys, ties broken by name (deterministic)."""
    ranked = sorted((k for k, w in weights.items() if w > 0), key=lambda k: (-weights[k], k))
    return ranked[:limit]


def busiest_hours(hours: Mapping[int, int], limit: int) -> list[int]:
    ranked = sorted((h for h, n in hours.items() if n > 0), key=lambda h: (-hours[h], h))
    return ranked[:limit]


@dataclass
class MerchantAggregate:
    """Exact counts over one merchant's audience (customers and circle members)."""

    audience: int = 0
    interests: Counter[str] = field(default_factory=Counter)
    hours: Counter[int] = field(default_factory=Counter)
    served: Counter[int] = field(default_factory=Counter)  # days since the last visit

    def to_json(self, window_days: int) -> str:
        served = [self.served.get(d, 0) for d in range(window_days)]
        while served and served[-1] == 0:
            served.pop()
        return json.dumps(
            {
                "a": self.audience,
                "i": dict(self.interests),
                "h": {str(h): n for h, n in self.hours.items()},
                "s": served,
            },
            separators=(",", ":"),
        )


class Bitmap:
    """A growable bitmap in Redis's bit order (bit 0 is the high bit of byte 0)."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = bytearray()

    def set(self, index: int) -> None:
        byte = index >> 3
        if byte >= len(self.data):
            self.data.extend(bytes(byte + 1 - len(self.data)))
        self.data[byte] |= 0x80 >> (index & 7)


@dataclass
class Builder:
    """Folds people's activity into exact aggregates, one person at a time, keeping
    nothing about a person once they have been counted."""

    categories: Mapping[str, str | None]  # merchant id -> bucket category (None: none)
    located: frozenset[str]  # merchants with a location (area units)
    now_s: int
    interests_per_person: int
    hours_per_person: int
    window_days: int
    merchants: dict[str, MerchantAggregate] = field(default_factory=dict)
    customers: dict[str, Bitmap] = field(default_factory=dict)
    interest_people: dict[str, Bitmap] = field(default_factory=dict)
    hour_people: dict[int, Bitmap] = field(default_factory=dict)
    people: int = 0  # people with a bit (a visit at a located merchant)
    counted: int = 0  # people in at least one audience

    def add_all(self, people: Iterable[graph_insights.Activity]) -> None:
        for person in people:
            self.add(person)

    def add(self, person: graph_insights.Activity) -> None:
        if person.suspended:
            return
        visits = [(m, n, last) for m, n, last in person.visits if m in self.categories]
        circles = [(normalise(s), host) for s, host in person.circles]
        weights: Counter[str] = Counter()
        own: dict[str, Counter[str]] = {}
        for merchant, n, _ in visits:
            category = self.categories[merchant]
            if category is not None:
                weights[category] += n
                own.setdefault(merchant, Counter())[category] += n
        for service, host in circles:
            if service is not None:
                weights[service] += 1
                if host is not None:
                    own.setdefault(host, Counter())[service] += 1
        hours = busiest_hours(person.hours, self.hours_per_person)
        last_visit = {m: last for m, _, last in visits}
        audience_of = set(last_visit) | {
            h for _, h in circles if h is not None and h in self.categories
        }
        if not audience_of:
            return
        self.counted += 1
        for audience in audience_of:
            agg = self.merchants.setdefault(audience, MerchantAggregate())
            agg.audience += 1
            # "Other" circles and merchants: what this merchant itself adds is taken out.
            mine = own.get(audience)
            others = weights - mine if mine else weights
            agg.interests.update(strongest(others, self.interests_per_person))
            agg.hours.update(hours)
            if audience in last_visit:
                days = max(0, (self.now_s - last_visit[audience]) // DAY_SECONDS)
                if days < self.window_days:
                    agg.served[int(days)] += 1
        places = [m for m in last_visit if m in self.located]
        if not places:
            return
        bit = self.people
        self.people += 1
        for merchant in places:
            self.customers.setdefault(merchant, Bitmap()).set(bit)
        for category in strongest(weights, self.interests_per_person):
            self.interest_people.setdefault(category, Bitmap()).set(bit)
        for hour in hours:
            self.hour_people.setdefault(hour, Bitmap()).set(bit)


@dataclass(frozen=True)
class SnapshotReport:
    id: str
    computed_at: datetime
    people: int  # people in at least one audience
    merchants: int  # merchants with an audience
    places: int  # merchants in the area index
    seconds: float


def new_snapshot_id(now_ms: int) -> str:
    """Time-ordered and unique even when two refreshes start in one millisecond."""
    return f"{now_ms:013d}{secrets.token_hex(3)}"


async def compute(services: Services) -> SnapshotReport:
    """Read the graph, fold it into a new snapshot, write it to Redis and publish it."""
    settings = services.settings
    started = time.perf_counter()
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    snapshot_id = new_snapshot_id(now_ms)
    places = await graph_insights.places(services.graph)
    builder = Builder(
        categories={p.id: normalise(p.category) for p in places},
        located=frozenset(p.id for p in places if p.latitude is not None),
        now_s=now_ms // 1000,
        interests_per_person=settings.insights_interests_per_person,
        hours_per_person=settings.insights_hours_per_person,
        window_days=settings.insights_window_days,
    )
    since = now - timedelta(days=settings.insights_window_days)
    after = ""
    while page := await graph_insights.activity_page(
        services.graph,
        after=after,
        limit=PAGE,
        since=since,
        timezone=settings.insights_timezone,
    ):
        # Folding is CPU work: off the event loop, so a worker keeps taking jobs meanwhile.
        await asyncio.to_thread(builder.add_all, page)
        after = page[-1].user_id
    keep_ms = retention_ms(settings.insights_refresh_seconds)
    located = [p for p in places if p.latitude is not None and p.id in builder.customers]
    await _write(services, snapshot_id, builder, located, keep_ms)
    await _publish(services, snapshot_id, now_ms, keep_ms)
    report = SnapshotReport(
        id=snapshot_id,
        computed_at=datetime.fromtimestamp(now_ms / 1000, UTC),
        people=builder.counted,
        merchants=len(builder.merchants),
        places=len(located),
        seconds=time.perf_counter() - started,
    )
    log.info(
        "insights snapshot %s: %d people, %d merchants, %d places in %.1fs",
        report.id,
        report.people,
        report.merchants,
        report.places,
        report.seconds,
    )
    return report


async def _write(
    services: Services,
    snapshot_id: str,
    builder: Builder,
    located: Iterable[graph_insights.Place],
    keep_ms: int,
) -> None:
    redis = services.redis
    window = services.settings.insights_window_days
    writes: list[tuple[str, str | bytes]] = [
        (keys.insights_merchant(snapshot_id, m), agg.to_json(window))
        for m, agg in builder.merchants.items()
    ]
    writes += [
        (keys.insights_customers(snapshot_id, m), bytes(b.data))
        for m, b in builder.customers.items()
    ]
    writes += [
        (keys.insights_interest(snapshot_id, c), bytes(b.data))
        for c, b in builder.interest_people.items()
    ]
    writes += [
        (keys.insights_hour(snapshot_id, h), bytes(b.data)) for h, b in builder.hour_people.items()
    ]
    meta = {
        "categories": sorted(builder.interest_people),
        "hours": sorted(builder.hour_people),
        "people": builder.people,
    }
    writes.append((keys.insights_meta(snapshot_id), json.dumps(meta, separators=(",", ":"))))
    for start in range(0, len(writes), WRITE_BATCH):
        async with redis.pipeline(transaction=False) as pipe:
            for key, value in writes[start : start + WRITE_BATCH]:
                pipe.set(key, value, px=keep_ms)
            await pipe.execute()
    geo = keys.insights_places(snapshot_id)
    points: list[float | str] = []
    for place in located:
        assert place.latitude is not None and place.longitude is not None
        points += [place.longitude, place.latitude, place.id]
    for start in range(0, len(points), 3 * WRITE_BATCH):
        await redis.geoadd(geo, points[start : start + 3 * WRITE_BATCH])
    if points:
        await redis.pexpire(geo, keep_ms)


async def _publish(services: Services, snapshot_id: str, at_ms: int, keep_ms: int) -> None:
    """Point ``current`` at the snapshot, unless a newer one was published meanwhile
    (two refreshes at once: the later computation wins)."""
    pointer = json.dumps(
        {"id": snapshot_id, "at": at_ms, "expires": at_ms + keep_ms}, separators=(",", ":")
    )
    await services.redis.eval(
        _PUBLISH_LUA, 1, keys.INSIGHTS_CURRENT, pointer, snapshot_id, str(keep_ms)
    )


# KEYS[1] current; ARGV pointer JSON, snapshot id, time to live (ms).
_PUBLISH_LUA = """
local now = redis.call('GET', KEYS[1])
if now then
  local ok, current = pcall(cjson.decode, now)
  if ok and current['id'] and current['id'] > ARGV[2] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""


async def due(services: Services) -> bool:
    """No snapshot, or the current one is older than the refresh interval."""
    raw = await services.redis.get(keys.INSIGHTS_CURRENT)
    if raw is None:
        return True
    try:
        at_ms = int(json.loads(raw)["at"])
    except (ValueError, KeyError, TypeError):
        return True
    return time.time() * 1000 - at_ms >= services.settings.insights_refresh_seconds * 1000


async def refresh_if_due(services: Services) -> SnapshotReport | None:
    """What each worker runs periodically: one of them (the lock holder) computes a due
    snapshot; the others see it published and skip."""
    if not await due(services):
        return None
    token = secrets.token_hex(8)
    redis = services.redis
    if not await redis.set(keys.INSIGHTS_REFRESH_LOCK, token, nx=True, px=LOCK_MS):
        return None
    try:
        if not await due(services):  # another worker finished one just now
            return None
        return await compute(services)
    finally:
        await redis.eval(_UNLOCK_LUA, 1, keys.INSIGHTS_REFRESH_LOCK, token)


_UNLOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
