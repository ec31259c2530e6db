"""uploadContacts through the public API: matching, hashing only, limits and rate limits."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from redis.asyncio import Redis

from api.logs import QUIET
from graph.driver import Graph
from tests.conftest import GQL
from workers import keys, ratelimit
from workers.ratelimit import Policy

UPLOAD = """
mutation($numbers: [String!]!) {
  uploadContacts(phoneNumbers: $numbers) {
    matched
    userErrors { field code message retryAfterSeconds }
  }
}"""

# E.164 numbers and, for scanning, the digits that must never be stored or logged.
OWN = "+8613800138000"
FRIENDS = ["+8613800138001", "+8613800138002", "+8613800138003", "+8613800138004"]
STRANGER = "+14155550123"  # nobody on Quanzi has it
ALL_NUMBERS = [OWN, *FRIENDS, STRANGER]
DIGITS = [n.lstrip("+")[-10:] for n in ALL_NUMBERS]


@pytest.fixture(autouse=True)
def generous_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests upload freely unless they set their own policy."""
    monkeypatch.setitem(
        ratelimit.POLICIES, "contacts_upload", Policy(capacity=100, refill_per_second=1.0)
    )


async def internal_id(graph: Graph, platform_id: str) -> str:
    result = await graph.read("MATCH (u:User {platformId: $p}) RETURN u.id AS id", p=platform_id)
    return str(result.records[0]["id"])


async def upload(client: GQL, token: str | None, numbers: list[str]) -> dict[str, Any]:
    body = await client(UPLOAD, {"numbers": numbers}, token=token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["uploadContacts"]
    return payload


async def contact_count(graph: Graph, user_id: str) -> int:
    result = await graph.read(
        "MATCH (:User {id: $id})-[:HAS_CONTACT]->(p:Phone) RETURN count(p) AS n", id=user_id
    )
    return int(result.records[0]["n"])


async def phone_count(graph: Graph) -> int:
    result = await graph.read("MATCH (p:Phone) RETURN count(p) AS n")
    return int(result.records[0]["n"])


async def block(graph: Graph, blocker: str, blocked: str) -> None:
    await graph.write(
        "MATCH (a:User {id: $a}), (b:User {id: $b}) CREATE (a)-[:BLOCKED {at: datetime()}]->(b)",
        a=blocker,
        b=blocked,
    )


async def test_matches_other_users_not_blocked_either_way(
    client: GQL, graph: Graph, redis: Redis
) -> None:
    me = await client.make_user(phone=OWN)
    others = [await client.make_user(phone=n) for n in FRIENDS]
    me_id = await internal_id(graph, me["platformId"])
    ids = [await internal_id(graph, o["platformId"]) for o in others]
    await block(graph, me_id, ids[2])  # I blocked them
    await block(graph, ids[3], me_id)  # they blocked me

    payload = await upload(client, me["token"], [*FRIENDS, STRANGER, OWN])
    # none of them has my number: whether theirs are on Quanzi is not told
    assert payload == {"matched": 0, "userErrors": []}
    # every number but my own is kept, as a hash, matched or not
    assert await contact_count(graph, me_id) == 5
    stored = await graph.read(
        "MATCH (:User {id: $id})-[r:HAS_CONTACT]->(p:Phone) "
        "RETURN p.hash AS hash, r.at IS NOT NULL AS dated",
        id=me_id,
    )
    assert all(len(r["hash"]) == 64 and r["dated"] for r in stored.records)

    # the suggestions of me and of the two people matched are due for a refresh
    jobs = await redis.xrange(keys.JOBS_STREAM) or []
    queued = " ".join(str(fields) for _, fields in jobs)
    assert me_id in queued and ids[0] in queued and ids[1] in queued
    assert ids[2] not in queued and ids[3] not in queued

    # a second upload of the same book changes nothing
    assert (await upload(client, me["token"], FRIENDS))["matched"] == 0
    assert await contact_count(graph, me_id) == 5
    assert await phone_count(graph) == 5


async def test_duplicates_count_once(client: GQL, graph: Graph) -> None:
    me = await client.make_user()
    await client.make_user(phone=FRIENDS[0])
    same = [FRIENDS[0], FRIENDS[0], " +86 138 0013 8001 ", "+86-138-0013-8001"]
    payload = await upload(client, me["token"], same)
    assert payload == {"matched": 0, "userErrors": []}
    assert await contact_count(graph, await internal_id(graph, me["platformId"])) == 1
    assert await phone_count(graph) == 1


async def test_own_number_is_ignored(client: GQL, graph: Graph) -> None:
    me = await client.make_user(phone=OWN)
    payload = await upload(client, me["token"], [OWN, "+86 138 0013 8000"])
    assert payload == {"matched": 0, "userErrors": []}
    assert await contact_count(graph, await internal_id(graph, me["platformId"])) == 0
    assert await phone_count(graph) == 0


async def test_invalid_numbers_reported_once_while_valid_ones_stored(
    client: GQL, graph: Graph
) -> None:
    me = await client.make_user()
    await client.make_user(phone=FRIENDS[0])
    bad = ["not a number", "13800138001", "+1", "+999999", "+12"]
    payload = await upload(client, me["token"], [bad[0], FRIENDS[0], *bad[1:], STRANGER])
    assert payload["matched"] == 0
    [error] = payload["userErrors"]
    assert error["code"] == "INVALID_INPUT"
    assert error["field"] == "phoneNumbers"
    assert error["retryAfterSeconds"] is None
    message = error["message"]
    assert "5 entries" in message
    for example in bad[:3]:
        assert f'"{example}"' in message
    for not_shown in bad[3:]:
        assert f'"{not_shown}"' not in message
    assert await contact_count(graph, await internal_id(graph, me["platformId"])) == 2


async def test_more_than_5000_refused_and_nothing_stored(
    client: GQL, graph: Graph, redis: Redis
) -> None:
    me = await client.make_user()
    await client.make_user(phone=FRIENDS[0])
    numbers = [f"+86139{i:08d}" for i in range(5000)] + [FRIENDS[0]]
    payload = await upload(client, me["token"], numbers)
    assert payload["matched"] == 0
    [error] = payload["userErrors"]
    assert error["code"] == "INVALID_INPUT" and error["field"] == "phoneNumbers"
    assert "5000" in error["message"]
    assert await phone_count(graph) == 0
    me_id = await internal_id(graph, me["platformId"])
    # refused before the rate limit: no token spent
    assert await redis.exists(keys.rate_bucket("contacts_upload", me_id)) == 0

    # exactly 5000 is fine, and stored in batches
    payload = await upload(client, me["token"], numbers[1:])
    assert payload == {"matched": 0, "userErrors": []}
    assert await contact_count(graph, me_id) == 5000


async def test_no_raw_number_in_neo4j_redis_or_logs(
    client: GQL, graph: Graph, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # Every logger at DEBUG, the quiet libraries too: no level may be what keeps a number
    # out of the logs.
    caplog.set_level(logging.DEBUG)
    for name in QUIET:
        caplog.set_level(logging.DEBUG, logger=name)
    me = await client.make_user(phone=OWN)
    for number in FRIENDS:
        await client.make_user(phone=number)
    payload = await upload(client, me["token"], [*ALL_NUMBERS, "+86 138 0013 8004", "oops"])
    assert payload["matched"] == 0

    nodes = await graph.read("MATCH (n) RETURN labels(n) AS labels, properties(n) AS props")
    rels = await graph.read("MATCH ()-[r]->() RETURN type(r) AS type, properties(r) AS props")
    stored = " ".join(str(r.data()) for r in [*nodes.records, *rels.records])
    assert "HAS_CONTACT" in stored and "Phone" in stored  # the scan saw the data

    cached: list[str] = []
    async for key in redis.scan_iter(count=1000):
        cached.append(str(key))
        kind = await redis.type(key)
        if kind == "string":
            cached.append(str(await redis.get(key)))
        elif kind == "hash":
            cached.append(str(await redis.hgetall(key)))
        elif kind == "list":
            cached.append(str(await redis.lrange(key, 0, -1)))
        elif kind == "set":
            cached.append(str(await redis.smembers(key)))
        elif kind == "zset":
            cached.append(str(await redis.zrange(key, 0, -1, withscores=True)))
        elif kind == "stream":
            cached.append(str(await redis.xrange(key)))
        else:
            pytest.fail(f"unexpected Redis type {kind!r} at {key!r}")
    in_redis = " ".join(cached)
    assert keys.rate_bucket("contacts_upload", await internal_id(graph, me["platformId"])) in (
        in_redis
    )

    logged = caplog.text + " ".join(
        f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records
    )
    assert caplog.records  # the capture was on
    for digits in DIGITS:
        assert digits not in stored, digits
        assert digits not in in_redis, digits
        assert digits not in logged, digits


async def test_anonymous_is_refused(client: GQL, graph: Graph) -> None:
    payload = await upload(client, None, FRIENDS)
    assert payload["matched"] == 0
    assert [e["code"] for e in payload["userErrors"]] == ["UNAUTHENTICATED"]
    assert await phone_count(graph) == 0


async def test_rate_limited_with_retry_after(
    client: GQL, graph: Graph, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one upload, then one token every 10 minutes (a new account gets half of that)
    monkeypatch.setitem(
        ratelimit.POLICIES, "contacts_upload", Policy(capacity=1, refill_per_second=1 / 600)
    )
    me = await client.make_user()
    assert (await upload(client, me["token"], [FRIENDS[0]]))["userErrors"] == []

    response = await client.post(UPLOAD, {"numbers": [FRIENDS[1]]}, token=me["token"])
    assert response.status_code == 200
    body = response.json()
    payload = body["data"]["uploadContacts"]
    [error] = payload["userErrors"]
    assert error["code"] == "RATE_LIMITED"
    retry = error["retryAfterSeconds"]
    assert isinstance(retry, int) and 600 < retry <= 1200
    assert body["extensions"]["rateLimit"] == {"retryAfterSeconds": retry}
    assert response.headers["retry-after"] == str(retry)
    # nothing of the refused upload was kept
    assert await contact_count(graph, await internal_id(graph, me["platformId"])) == 1

    # other people are not limited by my bucket, and their responses carry no rate limit
    other = await client.make_user()
    response = await client.post(UPLOAD, {"numbers": [FRIENDS[1]]}, token=other["token"])
    assert response.json()["data"]["uploadContacts"]["userErrors"] == []
    assert "rateLimit" not in (response.json().get("extensions") or {})
    assert "retry-after" not in response.headers


async def test_matched_tells_only_of_people_who_have_my_number_too(
    client: GQL, graph: Graph
) -> None:
    """No registration oracle: an upload says how many of its numbers belong to people
    who hold the uploader's number as well (and may be found), nothing about the rest."""
    me = await client.make_user(phone=OWN)
    mutual, hidden, suspended, blocked, one_sided = [
        await client.make_user(phone=n) for n in (*FRIENDS, STRANGER)
    ]
    for them in (mutual, hidden, suspended, blocked):
        assert (await upload(client, them["token"], [OWN]))["matched"] == 0  # I have none yet
    await client(
        "mutation { updateProfile(input: {discoverable: false}) { userErrors { code } } }",
        token=hidden["token"],
    )
    await graph.write(
        "MATCH (u:User {platformId: $p}) SET u.suspended = true", p=suspended["platformId"]
    )
    me_id = await internal_id(graph, me["platformId"])
    await block(graph, await internal_id(graph, blocked["platformId"]), me_id)

    payload = await upload(client, me["token"], [*FRIENDS, STRANGER])
    assert payload == {"matched": 1, "userErrors": []}  # only the mutual, findable one
    assert one_sided  # holds no number of mine: never counted
    # and the mutual one, uploading again, is now told of me
    assert (await upload(client, mutual["token"], [OWN]))["matched"] == 1
