"""Platform events on the Redis stream, consumed into the graph."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from actions.users import upsert_user
from graph.driver import Graph
from graph.merchants import UpsertMerchant, upsert_merchants
from graph.users import UpsertUser
from workers import keys
from workers.events import EVENTS_DEAD_LETTER_STREAM, EventConsumer, publish_event
from workers.services import Services


async def make_users(services: Services, *platform_ids: str) -> None:
    for pid in platform_ids:
        await upsert_user(services, UpsertUser(pid, f"h_{pid}", pid))


def consumer(services: Services, **limits: int) -> EventConsumer:
    return EventConsumer(
        services,
        "test-consumer",
        block_ms=10,
        claim_idle_ms=limits.get("idle", 30_000),
        max_deliveries=limits.get("max", 5),
    )


async def rels(graph: Graph) -> tuple[int, int]:
    result = await graph.read(
        "CALL () { MATCH ()-[r:PAID]->() RETURN count(r) AS paid } "
        "CALL () { MATCH ()-[r:VISITED]->() RETURN count(r) AS visited } "
        "RETURN paid, visited"
    )
    return result.records[0]["paid"], result.records[0]["visited"]


async def dead(redis: Redis) -> list[dict[str, str]]:
    rows = await redis.xrange(EVENTS_DEAD_LETTER_STREAM, "-", "+")
    return [dict(fields) for _, fields in rows]


async def test_events_become_relationships(
    graph: Graph, redis: Redis, services: Services, clean: None
) -> None:
    await make_users(services, "ea", "eb")
    await upsert_merchants(graph, [UpsertMerchant("em", "Tea House", "cafe")])
    payment = {"type": "payment", "from": "ea", "to": "eb", "at": "2024-05-01T12:00:00+08:00"}
    visit = {"type": "visit", "user": "eb", "merchant": "em", "at": "2024-05-01T13:00:00Z"}
    await publish_event(redis, payment)
    await publish_event(redis, visit)
    await publish_event(redis, payment)  # delivered twice: recorded once

    events = consumer(services)
    assert await events.run_once() == 3
    assert await rels(graph) == (1, 1)
    assert await events.pending_count() == 0
    assert await dead(redis) == []
    # The users' suggestions are queued for a refresh.
    assert await redis.xlen(keys.JOBS_STREAM) >= 1


async def test_malformed_events_are_dead_lettered(
    graph: Graph, redis: Redis, services: Services, clean: None
) -> None:
    await make_users(services, "ea", "eb")
    bad = [
        {"type": "refund", "from": "ea", "to": "eb", "at": "2024-05-01T12:00:00Z"},
        {"type": "payment", "from": "ea", "at": "2024-05-01T12:00:00Z"},
        {"type": "payment", "from": "ea", "to": "eb", "at": "yesterday"},
        {"type": "payment", "from": "ea", "to": "eb", "at": "2024-05-01T12:00:00"},
        {"type": "payment", "from": "ea", "to": "ea", "at": "2024-05-01T12:00:00Z"},
    ]
    for fields in bad:
        await publish_event(redis, fields)
    good = {"type": "payment", "from": "eb", "to": "ea", "at": "2024-05-01T12:00:00Z"}
    await publish_event(redis, good)

    events = consumer(services)
    assert await events.run_once() == 6
    assert await rels(graph) == (1, 0)
    letters = await dead(redis)
    assert [json.loads(d["payload"]) for d in letters] == bad
    assert all(d["error"].startswith("invalid event") for d in letters)
    assert await events.pending_count() == 0


async def test_unknown_user_is_retried_then_dead_lettered(
    graph: Graph, redis: Redis, services: Services, clean: None
) -> None:
    await make_users(services, "ea")
    await publish_event(
        redis, {"type": "payment", "from": "ea", "to": "late", "at": "2024-05-01T12:00:00Z"}
    )
    events = EventConsumer(
        services, "test-consumer", block_ms=10, claim_idle_ms=1, max_deliveries=2
    )
    assert await events.run_once() == 1
    assert await events.pending_count() == 1  # kept for a retry
    assert await dead(redis) == []

    # Retried (claimed again once idle); still unknown on the last delivery: dead letter.
    for _ in range(3):
        await events.run_once()
    assert await events.pending_count() == 0
    letters = await dead(redis)
    assert len(letters) == 1 and "unknown to" in letters[0]["error"]
    assert await rels(graph) == (0, 0)


async def test_unknown_user_provisioned_before_the_retry(
    graph: Graph, redis: Redis, services: Services, clean: None
) -> None:
    await make_users(services, "ea")
    await publish_event(
        redis, {"type": "payment", "from": "ea", "to": "late", "at": "2024-05-01T12:00:00Z"}
    )
    events = EventConsumer(
        services, "test-consumer", block_ms=10, claim_idle_ms=1, max_deliveries=5
    )
    await events.run_once()
    await make_users(services, "late")
    for _ in range(3):
        await events.run_once()
    assert await rels(graph) == (1, 0)
    assert await events.pending_count() == 0
    assert await dead(redis) == []
