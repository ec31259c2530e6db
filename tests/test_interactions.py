"""adminRecordInteractions through the public API."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from graph.driver import Graph
from graph.merchants import UpsertMerchant, upsert_merchants
from tests.conftest import GQL
from workers import keys

RECORD = """
mutation($input: AdminRecordInteractionsInput!) {
  adminRecordInteractions(input: $input) { accepted userErrors { field code message } }
}"""

AT = "2024-05-01T12:00:00+08:00"


async def record(client: GQL, token: str | None, **input: Any) -> dict[str, Any]:
    body = await client(RECORD, {"input": input}, token=token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["adminRecordInteractions"]
    return payload


async def count(graph: Graph, rel: str) -> int:
    queries = {
        "PAID": "MATCH ()-[r:PAID]->() RETURN count(r) AS n",
        "VISITED": "MATCH ()-[r:VISITED]->() RETURN count(r) AS n",
    }
    result = await graph.read(queries[rel])
    return int(result.records[0]["n"])


async def test_admin_only(client: GQL, graph: Graph) -> None:
    a = await client.make_user()
    b = await client.make_user()
    payment = {"fromPlatformUserId": a["platformId"], "toPlatformUserId": b["platformId"], "at": AT}
    for token in (a["token"], None):
        payload = await record(client, token, payments=[payment])
        assert payload["accepted"] == 0
        assert [e["code"] for e in payload["userErrors"]] == ["FORBIDDEN"]
    assert await count(graph, "PAID") == 0


async def test_payments_and_visits_are_recorded_idempotently(client: GQL, graph: Graph) -> None:
    a = await client.make_user()
    b = await client.make_user()
    await upsert_merchants(graph, [UpsertMerchant("m-1", "Noodle Bar", "restaurant", 31.2, 121.4)])
    payments = [
        {"fromPlatformUserId": a["platformId"], "toPlatformUserId": b["platformId"], "at": AT},
        {
            "fromPlatformUserId": b["platformId"],
            "toPlatformUserId": a["platformId"],
            "at": "2024-05-02T09:30:00Z",
        },
    ]
    visits = [{"platformUserId": a["platformId"], "platformMerchantId": "m-1", "at": AT}]
    first = await record(client, client.admin, payments=payments, visits=visits)
    assert first == {"accepted": 3, "userErrors": []}
    assert (await count(graph, "PAID"), await count(graph, "VISITED")) == (2, 1)

    second = await record(client, client.admin, payments=payments, visits=visits)
    assert second == {"accepted": 3, "userErrors": []}
    assert (await count(graph, "PAID"), await count(graph, "VISITED")) == (2, 1)

    # The same instant written with another offset is the same event.
    same_instant = {**payments[0], "at": "2024-05-01T04:00:00Z"}
    third = await record(client, client.admin, payments=[same_instant])
    assert third["accepted"] == 1
    assert await count(graph, "PAID") == 2

    stored = await graph.read(
        "MATCH (:User {platformId: $a})-[r:PAID]->(:User {platformId: $b}) RETURN r.at AS at",
        a=a["platformId"],
        b=b["platformId"],
    )
    assert stored.records[0]["at"].to_native().isoformat() == "2024-05-01T04:00:00+00:00"


async def test_unknown_ids_are_reported_and_valid_rows_accepted(client: GQL, graph: Graph) -> None:
    a = await client.make_user()
    b = await client.make_user()
    await upsert_merchants(graph, [UpsertMerchant("m-1", "Gym", "fitness")])
    payload = await record(
        client,
        client.admin,
        payments=[
            {"fromPlatformUserId": a["platformId"], "toPlatformUserId": b["platformId"], "at": AT},
            {"fromPlatformUserId": a["platformId"], "toPlatformUserId": "nobody", "at": AT},
        ],
        visits=[
            {"platformUserId": "ghost", "platformMerchantId": "m-1", "at": AT},
            {"platformUserId": b["platformId"], "platformMerchantId": "no-shop", "at": AT},
            {"platformUserId": b["platformId"], "platformMerchantId": "m-1", "at": AT},
        ],
    )
    assert payload["accepted"] == 2
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        ("payments[1].toPlatformUserId", "NOT_FOUND"),
        ("visits[0].platformUserId", "NOT_FOUND"),
        ("visits[1].platformMerchantId", "NOT_FOUND"),
    ]
    assert (await count(graph, "PAID"), await count(graph, "VISITED")) == (1, 1)


async def test_invalid_rows_are_refused_one_by_one(client: GQL, graph: Graph) -> None:
    a = await client.make_user()
    b = await client.make_user()
    payload = await record(
        client,
        client.admin,
        payments=[
            {"fromPlatformUserId": a["platformId"], "toPlatformUserId": a["platformId"], "at": AT},
            {
                "fromPlatformUserId": a["platformId"],
                "toPlatformUserId": b["platformId"],
                "at": "2024-05-01T12:00:00",
            },
            {"fromPlatformUserId": " ", "toPlatformUserId": b["platformId"], "at": AT},
            {"fromPlatformUserId": b["platformId"], "toPlatformUserId": a["platformId"], "at": AT},
        ],
        visits=[{"platformUserId": a["platformId"], "platformMerchantId": "", "at": AT}],
    )
    assert payload["accepted"] == 1
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        ("payments[0].toPlatformUserId", "INVALID_INPUT"),
        ("payments[1].at", "INVALID_INPUT"),
        ("payments[2].fromPlatformUserId", "INVALID_INPUT"),
        ("visits[0].platformMerchantId", "INVALID_INPUT"),
    ]
    assert await count(graph, "PAID") == 1
    self_paid = await graph.read("MATCH (u)-[r:PAID]->(u) RETURN count(r) AS n")
    assert self_paid.records[0]["n"] == 0


async def test_more_than_1000_rows_are_refused_whole(client: GQL, graph: Graph) -> None:
    a = await client.make_user()
    b = await client.make_user()
    payments = [
        {
            "fromPlatformUserId": a["platformId"],
            "toPlatformUserId": b["platformId"],
            "at": f"2024-05-01T12:{i // 60:02d}:{i % 60:02d}+08:00",
        }
        for i in range(1000)
    ]
    visits = [{"platformUserId": a["platformId"], "platformMerchantId": "m", "at": AT}]
    payload = await record(client, client.admin, payments=payments, visits=visits)
    assert payload["accepted"] == 0
    assert [e["code"] for e in payload["userErrors"]] == ["INVALID_INPUT"]
    assert await count(graph, "PAID") == 0

    exactly = await record(client, client.admin, payments=payments)
    assert exactly == {"accepted": 1000, "userErrors": []}
    assert await count(graph, "PAID") == 1000


async def test_recording_clears_cached_suggestions(client: GQL, graph: Graph, redis: Redis) -> None:
    a = await client.make_user()
    b = await client.make_user()
    for user in (a, b):
        await redis.set(keys.suggestions(await internal_id(graph, user["platformId"])), "[]")
    payment = {"fromPlatformUserId": a["platformId"], "toPlatformUserId": b["platformId"], "at": AT}
    assert (await record(client, client.admin, payments=[payment]))["accepted"] == 1
    for user in (a, b):
        key = keys.suggestions(await internal_id(graph, user["platformId"]))
        assert await redis.exists(key) == 0


async def internal_id(graph: Graph, platform_id: str) -> str:
    result = await graph.read("MATCH (u:User {platformId: $p}) RETURN u.id AS id", p=platform_id)
    return str(result.records[0]["id"])
