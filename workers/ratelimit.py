"""Per-user, per-action token buckets in Redis.

Each bucket is one hash (``keys.rate_bucket(action, user_id)``: one key, so one slot in a
cluster) holding the tokens left and when they were counted. A single Lua script refills,
spends and stores atomically, reading the clock of the Redis server (``TIME``) so that the
API processes' own clocks never matter. The key expires once the bucket would be full
again: an idle bucket costs nothing, and a missing key is a full bucket.

Low-trust and new accounts get smaller, slower buckets (see ``policy_for``).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from graph.errors import ErrorCode, Problem
from graph.users import UserRecord
from workers import keys


@dataclass(frozen=True)
class Policy:
    """A bucket of ``capacity`` tokens (the burst) refilled at ``refill_per_second``."""

    capacity: int
    refill_per_second: float

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("capacity must be at least 1")
        if not self.refill_per_second > 0:
            raise ValueError("refill_per_second must be positive")

    def scaled(self, factor: float) -> Policy:
        return Policy(
            capacity=max(1, math.floor(self.capacity * factor)),
            refill_per_second=self.refill_per_second * factor,
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # 0 when allowed; otherwise how long until ``cost`` tokens are back.
    retry_after_seconds: float


def _per(seconds: float) -> float:
    return 1.0 / seconds


MINUTE = 60.0

# Normal-trust, established accounts. Tests may swap entries (e.g. monkeypatch.setitem);
# ``take`` reads this table at call time unless given its own.
POLICIES: dict[str, Policy] = {
    # 20 at once, then one every 3 minutes (20 an hour sustained).
    "friend_request": Policy(capacity=20, refill_per_second=_per(3 * MINUTE)),
    # 10 at once, then one every 2 minutes.
    "post": Policy(capacity=10, refill_per_second=_per(2 * MINUTE)),
    # 30 at once, then one every 20 seconds.
    "comment": Policy(capacity=30, refill_per_second=_per(20)),
    # 10 at once, then one every 5 minutes.
    "join": Policy(capacity=10, refill_per_second=_per(5 * MINUTE)),
    # 10 at once, then one every 5 minutes.
    "report": Policy(capacity=10, refill_per_second=_per(5 * MINUTE)),
    # Address-book sync in calls of up to 5,000 numbers: 10 calls at once (a big book
    # needs several), then one every 10 minutes.
    "contacts_upload": Policy(capacity=10, refill_per_second=_per(10 * MINUTE)),
}

# Accounts below this trust score get half the capacity and half the refill.
LOW_TRUST_BELOW = 300
LOW_TRUST_FACTOR = 0.5
# Accounts younger than this get half again (a new, low-trust account: a quarter).
NEW_ACCOUNT_AGE = timedelta(days=1)
NEW_ACCOUNT_FACTOR = 0.5


def policy_for(
    action: str,
    user: UserRecord,
    *,
    policies: Mapping[str, Policy] | None = None,
    now: datetime | None = None,
) -> Policy:
    """The bucket this user gets for this action; unknown actions are a programming error."""
    table = POLICIES if policies is None else policies
    try:
        policy = table[action]
    except KeyError:
        raise ValueError(f"no rate-limit policy for action {action!r}") from None
    factor = 1.0
    if user.trust_score < LOW_TRUST_BELOW:
        factor *= LOW_TRUST_FACTOR
    if (now or datetime.now(UTC)) - user.created_at < NEW_ACCOUNT_AGE:
        factor *= NEW_ACCOUNT_FACTOR
    return policy if factor == 1.0 else policy.scaled(factor)


# KEYS[1] bucket; ARGV capacity, refill per second, cost.
# Returns {allowed (0/1), retry-after seconds as a string} (Lua numbers returned to Redis
# are truncated to integers, hence the string).
_TAKE_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate)
else
  now = ts
end
if tokens > capacity then
  tokens = capacity
end
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens),
           'ts', string.format('%.6f', now))
local full_in_ms = math.ceil((capacity - tokens) / rate * 1000) + 1000
redis.call('PEXPIRE', KEYS[1], full_in_ms)
return {allowed, string.format('%.6f', retry)}
"""

_scripts: weakref.WeakKeyDictionary[Redis, AsyncScript] = weakref.WeakKeyDictionary()


def _script(redis: Redis) -> AsyncScript:
    """The script registered once per client (redis-py then uses EVALSHA)."""
    script = _scripts.get(redis)
    if script is None:
        script = redis.register_script(_TAKE_LUA)
        _scripts[redis] = script
    return script


async def take(
    redis: Redis,
    action: str,
    user: UserRecord,
    *,
    cost: int = 1,
    policies: Mapping[str, Policy] | None = None,
) -> Decision:
    """Spend ``cost`` tokens of the user's bucket for ``action`` if they are there.

    A denied attempt spends nothing. ``policies`` replaces the module table (tests).
    """
    if cost < 1:
        raise ValueError("cost must be at least 1")
    policy = policy_for(action, user, policies=policies)
    if cost > policy.capacity:
        # Never satisfiable; refuse rather than let the caller wait forever.
        return Decision(allowed=False, retry_after_seconds=math.inf)
    allowed, retry = await _script(redis)(
        keys=[keys.rate_bucket(action, user.id)],
        args=[policy.capacity, policy.refill_per_second, cost],
    )
    if int(allowed) == 1:
        return Decision(allowed=True, retry_after_seconds=0.0)
    return Decision(allowed=False, retry_after_seconds=max(float(retry), 0.001))


def rate_limited(decision: Decision, field: str | None = None) -> Problem:
    """The problem a denied decision becomes; the retry-after travels with it."""
    if math.isinf(decision.retry_after_seconds):
        return Problem(
            ErrorCode.RATE_LIMITED, "this request is too large to ever be allowed", field
        )
    seconds = max(1, math.ceil(decision.retry_after_seconds))
    return Problem(
        ErrorCode.RATE_LIMITED,
        f"too many attempts; try again in {seconds} seconds",
        field,
        retry_after_seconds=decision.retry_after_seconds,
    )
