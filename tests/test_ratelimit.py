"""Token buckets in Redis: bursts, refill, stricter policies, isolation, atomicity."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from graph.errors import ErrorCode
from graph.users import UserRecord
from workers import keys, ratelimit
from workers.ratelimit import Decision, Policy, policy_for, take

pytestmark = pytest.mark.usefixtures("clean")

ACTIONS = {"friend_request", "post", "comment", "join", "report", "contacts_upload"}


def user(trust: int = 500, age: timedelta = timedelta(days=30)) -> UserRecord:
    return UserRecord(
        id=uuid.uuid4().hex,
        platform_id=f"p-{uuid.uuid4().hex[:8]}",
        handle="someone",
        display_name="Someone",
        trust_score=trust,
        discoverable=True,
        created_at=datetime.now(UTC) - age,
    )


async def allowed_count(
    redis: Redis, action: str, who: UserRecord, attempts: int, policies: dict[str, Policy]
) -> int:
    count = 0
    for _ in range(attempts):
        if (await take(redis, action, who, policies=policies)).allowed:
            count += 1
    return count


def test_every_action_has_a_policy() -> None:
    assert set(ratelimit.POLICIES) == ACTIONS
    fr = ratelimit.POLICIES["friend_request"]
    assert fr.capacity == 20
    assert fr.refill_per_second == pytest.approx(1 / 180)


async def test_burst_up_to_capacity_then_denied(redis: Redis) -> None:
    slow = {"post": Policy(capacity=5, refill_per_second=0.001)}
    who = user()
    for _ in range(5):
        assert await take(redis, "post", who, policies=slow) == Decision(True, 0.0)
    denied = await take(redis, "post", who, policies=slow)
    assert not denied.allowed
    # one token at 0.001/s is about 1000 s away
    assert 900 < denied.retry_after_seconds <= 1000


async def test_denied_attempts_spend_nothing(redis: Redis) -> None:
    fast = {"post": Policy(capacity=1, refill_per_second=5.0)}
    who = user()
    assert (await take(redis, "post", who, policies=fast)).allowed
    for _ in range(5):
        assert not (await take(redis, "post", who, policies=fast)).allowed
    await asyncio.sleep(0.25)  # one token back at 5/s, however many denials came first
    assert (await take(redis, "post", who, policies=fast)).allowed


async def test_refill_over_time(redis: Redis) -> None:
    fast = {"comment": Policy(capacity=2, refill_per_second=20.0)}
    who = user()
    assert await allowed_count(redis, "comment", who, 3, fast) == 2
    denied = await take(redis, "comment", who, policies=fast)
    assert not denied.allowed
    assert 0 < denied.retry_after_seconds <= 0.05 + 1e-6
    await asyncio.sleep(0.12)  # 2.4 tokens' worth, capped at the capacity of 2
    assert await allowed_count(redis, "comment", who, 3, fast) == 2


async def test_cost_spends_several_tokens(redis: Redis) -> None:
    slow = {"report": Policy(capacity=5, refill_per_second=0.001)}
    who = user()
    assert (await take(redis, "report", who, cost=3, policies=slow)).allowed
    denied = await take(redis, "report", who, cost=3, policies=slow)
    assert not denied.allowed
    assert (await take(redis, "report", who, cost=2, policies=slow)).allowed
    too_big = await take(redis, "report", user(), cost=6, policies=slow)
    assert not too_big.allowed and math.isinf(too_big.retry_after_seconds)


async def test_low_trust_and_new_accounts_are_stricter(redis: Redis) -> None:
    table = {"join": Policy(capacity=8, refill_per_second=0.001)}
    assert await allowed_count(redis, "join", user(), 10, table) == 8
    assert await allowed_count(redis, "join", user(trust=299), 10, table) == 4
    assert await allowed_count(redis, "join", user(trust=300), 10, table) == 8
    assert await allowed_count(redis, "join", user(age=timedelta(hours=23)), 10, table) == 4
    assert await allowed_count(redis, "join", user(age=timedelta(days=2)), 10, table) == 8
    both = user(trust=100, age=timedelta(minutes=5))
    assert await allowed_count(redis, "join", both, 10, table) == 2


def test_stricter_policies_also_refill_slower() -> None:
    base = ratelimit.POLICIES["friend_request"]
    low = policy_for("friend_request", user(trust=10))
    new = policy_for("friend_request", user(age=timedelta(0)))
    both = policy_for("friend_request", user(trust=10, age=timedelta(0)))
    for stricter in (low, new):
        assert stricter.capacity == 10
        assert stricter.refill_per_second == pytest.approx(base.refill_per_second / 2)
    assert both.capacity == 5
    assert both.refill_per_second == pytest.approx(base.refill_per_second / 4)
    # never below one token
    tiny = policy_for("x", user(trust=0, age=timedelta(0)), policies={"x": Policy(1, 1.0)})
    assert tiny.capacity == 1


async def test_buckets_are_per_user_and_per_action(redis: Redis) -> None:
    table = {
        "post": Policy(capacity=2, refill_per_second=0.001),
        "comment": Policy(capacity=2, refill_per_second=0.001),
    }
    alice, bob = user(), user()
    assert await allowed_count(redis, "post", alice, 3, table) == 2
    assert await allowed_count(redis, "comment", alice, 3, table) == 2
    assert await allowed_count(redis, "post", bob, 3, table) == 2
    assert await redis.exists(keys.rate_bucket("post", alice.id)) == 1
    assert await redis.exists(keys.rate_bucket("post", bob.id)) == 1


async def test_concurrent_takes_never_overspend(redis: Redis) -> None:
    table = {"friend_request": Policy(capacity=10, refill_per_second=0.0001)}
    who = user()
    decisions = await asyncio.gather(
        *(take(redis, "friend_request", who, policies=table) for _ in range(50))
    )
    assert sum(d.allowed for d in decisions) == 10
    assert all(d.retry_after_seconds > 0 for d in decisions if not d.allowed)


async def test_idle_bucket_expires_when_it_would_be_full(redis: Redis) -> None:
    table = {"post": Policy(capacity=4, refill_per_second=2.0)}
    who = user()
    key = keys.rate_bucket("post", who.id)
    assert (await take(redis, "post", who, policies=table)).allowed
    # one token missing at 2/s: full again in 0.5 s, plus a second of slack
    ttl_ms = await redis.pttl(key)
    assert 0 < ttl_ms <= 1500
    await asyncio.sleep(1.6)
    assert await redis.exists(key) == 0


async def test_module_table_is_the_default_and_may_be_overridden(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ratelimit.POLICIES, "post", Policy(capacity=1, refill_per_second=0.001))
    who = user()
    assert (await take(redis, "post", who)).allowed
    assert not (await take(redis, "post", who)).allowed
    with pytest.raises(ValueError, match="no rate-limit policy"):
        await take(redis, "no_such_action", who)


def test_denied_decision_becomes_a_rate_limited_problem() -> None:
    problem = ratelimit.rate_limited(Decision(False, 12.2))
    assert problem.code is ErrorCode.RATE_LIMITED
    assert problem.retry_after_seconds == 12.2
    assert "13 seconds" in problem.message
    never = ratelimit.rate_limited(Decision(False, math.inf))
    assert never.code is ErrorCode.RATE_LIMITED and never.retry_after_seconds is None
