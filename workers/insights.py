"""Releases of merchant insights: noised, thresholded, kept, and charged once.

A *question* is one group of numbers asked about one merchant in one snapshot: its
profile (audience size, interests, active hours), its customers served in the last N
days, or an area (a rounded point and a radius). The first time a question is asked in
a snapshot, the exact counts are read from the snapshot (a bounded number of keys),
noised by ``workers/privacy.py``, and stored with the spend of the merchant's daily
budget in one Lua script, so that concurrent askers get one release and one charge.
Every later ask in that snapshot gets the stored release: repeating a question never
averages the noise away and never spends budget again.

Insights fail closed: when Redis cannot answer (the snapshot, the stored release or the
budget), the question is refused with ``Unavailable``, never answered unbudgeted.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from graph.errors import ErrorCode, Problem
from workers import keys
from workers.privacy import Cost, Mechanism
from workers.redis import UNAVAILABLE
from workers.services import Services

MICRO = 1_000_000  # budgets are counted in micro-epsilon (integers in Redis)
RELEASE_GRACE_MS = 3_600_000  # a release outlives its snapshot by this much
OR_CHUNK = 1_000  # bitmaps per BITOP in the area script (Lua's stack stays small)
HOURS = range(24)


class Unavailable(Exception):
    """Redis could not answer, or there is no snapshot yet: nothing may be released."""


class BudgetExhausted(Exception):
    """The merchant's privacy budget for today cannot pay for this release."""

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__("the merchant's privacy budget for today is spent")
        self.retry_after_seconds = retry_after_seconds

    @property
    def problem(self) -> Problem:
        return Problem(
            ErrorCode.RATE_LIMITED,
            "the merchant's privacy budget for today is spent; new questions can be asked "
            "again tomorrow (questions already answered in this snapshot still answer)",
            retry_after_seconds=self.retry_after_seconds,
        )


@dataclass(frozen=True)
class Snapshot:
    id: str
    computed_at: datetime
    expires_ms: int


@dataclass(frozen=True)
class Profile:
    """A released profile: only buckets that cleared the threshold, largest first."""

    audience_size: int | None
    interests: list[tuple[str, int]]
    active_hours: list[tuple[int, int]]

    @classmethod
    def from_release(cls, counts: dict[str, int]) -> Profile:
        interests = [(k[2:], n) for k, n in counts.items() if k.startswith("i:")]
        hours = [(int(k[2:]), n) for k, n in counts.items() if k.startswith("h:")]
        return cls(
            audience_size=counts.get("a"),
            interests=sorted(interests, key=lambda kv: (-kv[1], kv[0])),
            active_hours=sorted(hours),
        )


@dataclass(frozen=True)
class Area:
    latitude: float
    longitude: float
    radius_meters: int

    @classmethod
    def rounded(cls, latitude: float, longitude: float, radius_meters: int) -> Area:
        """Points are rounded to 4 decimals (about 11 m): the question asked is the
        question answered, and nearby repeats are the same question."""
        return cls(round(latitude, 4), round(longitude, 4), radius_meters)

    @property
    def question(self) -> str:
        return f"area:{self.latitude:.4f}:{self.longitude:.4f}:{self.radius_meters}"


def area_problems(
    services: Services, latitude: float, longitude: float, radius_meters: int
) -> list[Problem]:
    """What is wrong with an area question (bounds from the settings)."""
    s = services.settings
    problems = []
    if not (math.isfinite(latitude) and -90.0 <= latitude <= 90.0):
        problems.append(
            Problem(ErrorCode.INVALID_INPUT, "latitude must be between -90 and 90", "near")
        )
    if not (math.isfinite(longitude) and -180.0 <= longitude <= 180.0):
        problems.append(
            Problem(ErrorCode.INVALID_INPUT, "longitude must be between -180 and 180", "near")
        )
    if not s.insights_min_radius_meters <= radius_meters <= s.insights_max_radius_meters:
        problems.append(
            Problem(
                ErrorCode.INVALID_INPUT,
                f"radiusMeters must be between {s.insights_min_radius_meters} and "
                f"{s.insights_max_radius_meters}",
                "radiusMeters",
            )
        )
    return problems


def served_problems(services: Services, days: int) -> list[Problem]:
    window = services.settings.insights_window_days
    if not 1 <= days <= window:
        return [Problem(ErrorCode.INVALID_INPUT, f"days must be between 1 and {window}", "days")]
    return []


def mechanism(services: Services) -> Mechanism:
    return Mechanism.from_settings(services.settings)


def profile_cost(services: Services) -> Cost:
    """A person adds to the audience, at most k interests and at most h hours."""
    s = services.settings
    return mechanism(services).cost(
        1 + s.insights_interests_per_person + s.insights_hours_per_person
    )


def served_cost(services: Services) -> Cost:
    return mechanism(services).cost(1)


# ---------------------------------------------------------------- snapshots


async def current_snapshot(services: Services) -> Snapshot:
    try:
        raw = await services.redis.get(keys.INSIGHTS_CURRENT)
    except UNAVAILABLE as exc:
        raise Unavailable("insights need Redis, which does not answer") from exc
    if raw is None:
        raise Unavailable("no insights snapshot has been computed yet")
    data = json.loads(raw)
    return Snapshot(
        id=str(data["id"]),
        computed_at=datetime.fromtimestamp(int(data["at"]) / 1000, UTC),
        expires_ms=int(data["expires"]),
    )


_META: OrderedDict[str, dict[str, Any]] = OrderedDict()  # snapshot id -> meta (immutable)


async def _meta(services: Services, snapshot: Snapshot) -> dict[str, Any]:
    if snapshot.id in _META:
        return _META[snapshot.id]
    raw = await services.redis.get(keys.insights_meta(snapshot.id))
    meta: dict[str, Any] = json.loads(raw) if raw else {"categories": [], "hours": []}
    _META[snapshot.id] = meta
    while len(_META) > 4:
        _META.popitem(last=False)
    return meta


# ---------------------------------------------------------------- exact counts


async def _merchant_exact(services: Services, snapshot: Snapshot, merchant_id: str) -> Any:
    raw = await services.redis.get(keys.insights_merchant(snapshot.id, merchant_id))
    return json.loads(raw) if raw else {"a": 0, "i": {}, "h": {}, "s": []}


def _profile_counts(
    audience: int, interests: dict[str, int], hours: dict[str, int]
) -> dict[str, int]:
    counts = {"a": audience}
    counts.update({f"i:{c}": n for c, n in interests.items()})
    counts.update({f"h:{h}": n for h, n in hours.items()})
    return counts


# KEYS[1], KEYS[2] scratch bitmaps; KEYS[3 .. 2+n] the customers of the merchants in the
# area; the remaining KEYS the interest and hour bitmaps. ARGV[1] = n. Returns the
# audience count, then one count per remaining key, in order.
_AREA_LUA = """
local n = tonumber(ARGV[1])
local union, both = KEYS[1], KEYS[2]
local chunk = tonumber(ARGV[2])
local first = 3
while first <= n + 2 do
  local last = math.min(first + chunk - 1, n + 2)
  if first == 3 then
    redis.call('BITOP', 'OR', union, unpack(KEYS, first, last))
  else
    redis.call('BITOP', 'OR', union, union, unpack(KEYS, first, last))
  end
  first = last + 1
end
local out = {redis.call('BITCOUNT', union)}
for i = n + 3, #KEYS do
  redis.call('BITOP', 'AND', both, union, KEYS[i])
  out[#out + 1] = redis.call('BITCOUNT', both)
end
redis.call('DEL', union, both)
return out
"""


async def _area_exact(services: Services, snapshot: Snapshot, area: Area) -> dict[str, int]:
    """Exact counts of the people who visit merchants inside the area: the geo index
    finds the merchants, one script ORs their customer bitmaps and counts."""
    redis = services.redis
    inside = await redis.geosearch(
        keys.insights_places(snapshot.id),
        longitude=area.longitude,
        latitude=area.latitude,
        radius=area.radius_meters,
        unit="m",
    )
    if not inside:
        return {}
    meta = await _meta(services, snapshot)
    categories = [str(c) for c in meta["categories"]]
    hours = [int(h) for h in meta["hours"]]
    bucket_keys = [keys.insights_interest(snapshot.id, c) for c in categories]
    bucket_keys += [keys.insights_hour(snapshot.id, h) for h in hours]
    script_keys = [
        keys.insights_scratch(snapshot.id, "union"),
        keys.insights_scratch(snapshot.id, "and"),
        *(keys.insights_customers(snapshot.id, str(m)) for m in inside),
        *bucket_keys,
    ]
    counts = await redis.eval(_AREA_LUA, len(script_keys), *script_keys, len(inside), OR_CHUNK)
    names = [f"i:{c}" for c in categories] + [f"h:{h}" for h in hours]
    result = {"a": int(counts[0])}
    result.update({name: int(n) for name, n in zip(names, counts[1:], strict=True)})
    return result


# ---------------------------------------------------------------- releasing


# KEYS[1] release, KEYS[2] today's budget. ARGV: release JSON, cost and budget (micro-
# epsilon), release ttl (ms), budget ttl (s). Returns {1, stored} when the question was
# answered before (nothing spent), {2, stored} when it is answered and charged now,
# {0, spent} when today's budget cannot pay for it.
_SPEND_LUA = """
local stored = redis.call('GET', KEYS[1])
if stored then return {1, stored} end
local spent = tonumber(redis.call('GET', KEYS[2]) or '0')
local cost = tonumber(ARGV[2])
if spent + cost > tonumber(ARGV[3]) then return {0, tostring(spent)} end
redis.call('INCRBY', KEYS[2], cost)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]))
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[4]))
return {2, ARGV[1]}
"""


def budget_day(services: Services, now: datetime | None = None) -> tuple[str, float]:
    """Today's budget key suffix in the configured zone, and seconds until tomorrow."""
    zone = ZoneInfo(services.settings.insights_timezone)
    local = (now or datetime.now(UTC)).astimezone(zone)
    tomorrow = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return local.date().isoformat(), (tomorrow - local).total_seconds()


def _digest(question: str) -> str:
    return hashlib.sha256(question.encode()).hexdigest()[:24]


async def spent_today(services: Services, merchant_id: str) -> float:
    """Epsilon the merchant spent today (for operators and tests)."""
    day, _ = budget_day(services)
    raw = await services.redis.get(keys.insights_budget(merchant_id, day))
    return int(raw or 0) / MICRO


async def _release(
    services: Services,
    merchant_id: str,
    snapshot: Snapshot,
    question: str,
    cost: Cost,
    compute: Callable[[], Awaitable[dict[str, int]]],
) -> dict[str, int]:
    """The stored release of this question, or a new one charged to today's budget."""
    redis = services.redis
    release_key = keys.insights_release(merchant_id, snapshot.id, _digest(question))
    stored = await redis.get(release_key)
    if stored is not None:
        return dict(json.loads(stored))
    counts = await compute()
    noised = mechanism(services).release(counts)
    day, until_tomorrow = budget_day(services)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    ttl_ms = max(snapshot.expires_ms - now_ms, 0) + RELEASE_GRACE_MS
    outcome, value = await redis.eval(
        _SPEND_LUA,
        2,
        release_key,
        keys.insights_budget(merchant_id, day),
        json.dumps(noised, separators=(",", ":"), sort_keys=True),
        math.ceil(cost.epsilon * MICRO),
        math.floor(services.settings.insights_daily_epsilon * MICRO),
        ttl_ms,
        2 * 86_400,
    )
    if int(outcome) == 0:
        raise BudgetExhausted(until_tomorrow)
    return dict(json.loads(value))


async def merchant_profile(services: Services, merchant_id: str, snapshot: Snapshot) -> Profile:
    """The merchant's own audience: size, interests, active hours."""

    async def compute() -> dict[str, int]:
        agg = await _merchant_exact(services, snapshot, merchant_id)
        return _profile_counts(int(agg["a"]), agg["i"], agg["h"])

    try:
        released = await _release(
            services, merchant_id, snapshot, "profile", profile_cost(services), compute
        )
    except UNAVAILABLE as exc:
        raise Unavailable("insights need Redis, which does not answer") from exc
    return Profile.from_release(released)


async def customers_served(
    services: Services, merchant_id: str, snapshot: Snapshot, days: int
) -> int | None:
    """Distinct customers whose last visit falls in the last ``days`` days; None below
    the threshold."""

    async def compute() -> dict[str, int]:
        agg = await _merchant_exact(services, snapshot, merchant_id)
        return {"n": sum(int(n) for n in agg["s"][:days])}

    try:
        released = await _release(
            services, merchant_id, snapshot, f"served:{days}", served_cost(services), compute
        )
    except UNAVAILABLE as exc:
        raise Unavailable("insights need Redis, which does not answer") from exc
    return released.get("n")


async def area_profile(
    services: Services, merchant_id: str, snapshot: Snapshot, area: Area
) -> Profile:
    """The people who visit merchants inside the area, charged to ``merchant_id``."""

    async def compute() -> dict[str, int]:
        return await _area_exact(services, snapshot, area)

    try:
        released = await _release(
            services, merchant_id, snapshot, area.question, profile_cost(services), compute
        )
    except UNAVAILABLE as exc:
        raise Unavailable("insights need Redis, which does not answer") from exc
    return Profile.from_release(released)
