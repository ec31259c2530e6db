"""Redis stopped for real, and started again: every write still commits and says so, reads
degrade to Neo4j, and nothing a write hid shows afterwards, in any process.

The test stack's own redis-server is stopped (it keeps its AOF, so the caches it had come
back with it, stale, exactly as in production) and started again; a real ``quanzi worker``
runs throughout, and one test reads through a ``quanzi serve`` that never saw Redis fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.settings import Settings
from graph.driver import Graph
from stack import manager
from tests.conftest import GQL, Processes, wait_for
from tests.test_feeds import FEED, circle, feed, post
from tests.test_friends import BLOCK, REMOVE, UNBLOCK, befriend
from workers import keys

pytestmark = pytest.mark.usefixtures("generous_post_limit")

PYMK = "{ peopleYouMayKnow(first: 20) { edges { node { user { handle } } } } }"
JOIN = (
    "mutation($id: ID!) { joinCircle(circleId: $id) { membership { state } userErrors { code } } }"
)
LEAVE = "mutation($id: ID!) { leaveCircle(circleId: $id) { userErrors { code } } }"
REACT = (
    "mutation($id: ID!) { reactToPost(postId: $id) { post { reactionCount } userErrors { code } } }"
)
SEND = """mutation($id: ID!) { sendFriendRequest(userId: $id) {
  request { state } userErrors { code } } }"""
CONTACTS = """mutation($n: [String!]!) { uploadContacts(phoneNumbers: $n) {
  matched userErrors { code } } }"""
REPORT = """mutation($input: ReportInput!) { report(input: $input) {
  report { state } userErrors { code } } }"""
CREATE_POST = """mutation($input: CreatePostInput!) { createPost(input: $input) {
  post { id body } userErrors { code } } }"""


@pytest.fixture
async def outage(settings: Settings) -> AsyncIterator[Any]:
    """Stops and starts the test stack's redis-server; it is running again afterwards."""

    class Outage:
        async def stop(self) -> None:
            await asyncio.to_thread(manager.down, settings, ["redis"], lambda _: None)

        async def start(self) -> None:
            await asyncio.to_thread(manager.up, settings, ["redis"], lambda _: None)

    try:
        yield Outage()
    finally:
        await Outage().start()


def app_services(client: GQL) -> Any:
    return client.http._transport.app.state.services  # type: ignore[attr-defined]


async def ok(client: GQL, query: str, field: str, token: str, **variables: Any) -> Any:
    """A mutation that must succeed: no GraphQL error, no userError."""
    body = await client(query, variables, token=token)
    assert "errors" not in body, body
    payload = body["data"][field]
    assert payload.get("userErrors", []) == [], payload
    return payload


def handles(body: dict[str, Any]) -> list[str]:
    return [e["node"]["user"]["handle"] for e in body["data"]["peopleYouMayKnow"]["edges"]]


def unavailable(what: str) -> float:
    return REGISTRY.get_sample_value("quanzi_redis_unavailable_total", {"what": what}) or 0.0


async def settled(client: GQL, graph: Graph) -> None:
    """Every effect that waited for Redis has run, and the app trusts Redis again."""

    async def done() -> bool:
        left = await graph.read("MATCH (e:Effect) RETURN count(e) AS n")
        return left.records[0]["n"] == 0 and not app_services(client).derived.stale

    await wait_for(done, "the effects that waited for Redis", limit=30, every=0.1)


async def test_writes_commit_while_redis_is_down_and_nothing_they_hid_shows_after(
    client: GQL, graph: Graph, redis: Redis, procs: Processes, outage: Any
) -> None:
    lin, bo, cai, dan, fei, owner, gao = [
        await client.make_user(h) for h in ("lin", "bob", "cai", "dan", "fei", "owner", "gao")
    ]
    for a, b in ((lin, bo), (lin, cai), (bo, cai), (lin, dan), (dan, cai), (lin, fei)):
        await befriend(client, a, b)
    left_circle, joined_circle = await circle(client, owner, "K"), await circle(client, owner, "L")
    await ok(client, JOIN, "joinCircle", lin["token"], id=left_circle)
    for user in (lin, cai):
        await feed(client, user)  # active: fan-out delivers to them
    procs.worker()
    await post(client, bo, "bo before")
    await post(client, owner, "in K", left_circle)
    in_l = await post(client, owner, "in L", joined_circle)

    async def delivered() -> bool:
        return await feed(client, lin) == ["in K", "bo before"]

    await wait_for(delivered, "the posts to reach lin's timeline")
    assert handles(await client(PYMK, token=lin["token"])) == ["owner"]  # a shared circle

    before = {w: unavailable(f"rate_limit:{w}") for w in ("post", "join", "friend_request")}
    await outage.stop()
    with pytest.raises((RedisError, OSError)):
        await redis.ping()

    # Each write commits and answers success.
    await ok(client, BLOCK, "blockUser", lin["token"], id=fei["id"])
    await ok(client, UNBLOCK, "unblockUser", lin["token"], id=fei["id"])
    await ok(client, BLOCK, "blockUser", lin["token"], id=bo["id"])
    await ok(client, REMOVE, "removeFriend", lin["token"], id=dan["id"])
    joined = await ok(client, JOIN, "joinCircle", lin["token"], id=joined_circle)
    assert joined["membership"]["state"] == "MEMBER"
    await ok(client, LEAVE, "leaveCircle", lin["token"], id=left_circle)
    made = await ok(client, CREATE_POST, "createPost", lin["token"], input={"body": "while down"})
    reacted = await ok(client, REACT, "reactToPost", lin["token"], id=in_l)
    assert reacted["post"]["reactionCount"] == 1
    sent = await ok(client, SEND, "sendFriendRequest", lin["token"], id=gao["id"])
    assert sent["request"]["state"] == "PENDING"
    await ok(client, CONTACTS, "uploadContacts", lin["token"], n=["+8613800138000"])
    filed = await ok(
        client, REPORT, "report", lin["token"], input={"postId": in_l, "reason": "spam?"}
    )
    assert filed["report"]["state"] == "OPEN"
    # Rate limits failed open, and said so.
    for what, count in before.items():
        assert unavailable(f"rate_limit:{what}") > count, what

    # homeFeed answers from Neo4j, already without what the writes hid.
    assert await feed(client, lin) == ["while down", "in L"]
    assert made["post"]["body"] == "while down"
    stalled = await graph.read("MATCH (e:Effect {stalled: true}) RETURN count(e) AS n")
    assert stalled.records[0]["n"] >= 6  # the effects wait, durably, in Neo4j

    await outage.start()  # with the caches it had: lin's view still lists bo and K
    await settled(client, graph)
    assert await feed(client, lin) == ["while down", "in L"]

    # The blocked user's next post never reaches the blocker; it does reach their friend.
    after = await post(client, bo, "bo after")

    async def fanned_out() -> bool:
        found = await graph.read(
            "MATCH (p:Post {body: 'bo after'}) RETURN p.fanout AS f, p.id AS id"
        )
        return found.records[0]["f"] == "DONE"

    await wait_for(fanned_out, "the worker to deliver bo's new post")
    post_id = (await graph.read("MATCH (p:Post {body: 'bo after'}) RETURN p.id AS id")).records[0][
        "id"
    ]
    lin_id, cai_id = [
        (await graph.read("MATCH (u:User {handle: $h}) RETURN u.id AS id", h=h)).records[0]["id"]
        for h in ("lin", "cai")
    ]
    assert await redis.zscore(keys.timeline(cai_id), post_id) is not None
    assert await redis.zscore(keys.timeline(lin_id), post_id) is None
    assert "bo after" not in await feed(client, lin)
    assert "bo after" in await feed(client, cai) and after

    # Suggestions honour the block (bo shares cai with lin) and the unfriending (dan does).
    suggested = handles(await client(PYMK, token=lin["token"]))
    assert "dan" in suggested and "bob" not in suggested


async def test_a_process_that_saw_no_failure_still_hides_what_a_write_hid(
    client: GQL, graph: Graph, settings: Settings, procs: Processes, outage: Any
) -> None:
    lin, bo = await client.make_user("lin"), await client.make_user("bob")
    await befriend(client, lin, bo)
    await feed(client, lin)
    procs.worker()
    await post(client, bo, "bo before")
    reader = await procs.server()  # another API process: it takes no request meanwhile

    async def through_reader(path: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=f"http://{reader}") as http:
            if path == "/graphql":
                response = await http.post(
                    path,
                    json={"query": FEED, "variables": {"first": 20}},
                    headers={"authorization": f"Bearer {lin['token']}"},
                )
            else:
                response = await http.get(path)
        body: dict[str, Any] = response.json()
        return body

    async def reader_shows_bo() -> bool:
        body = await through_reader("/graphql")
        return [e["node"]["body"] for e in body["data"]["homeFeed"]["edges"]] == ["bo before"]

    await wait_for(reader_shows_bo, "bo's post in lin's feed, through the other process")
    assert (await through_reader("/readyz"))["caches"] == "trusted"

    await outage.stop()
    await ok(client, BLOCK, "blockUser", lin["token"], id=bo["id"])  # through this process

    async def reader_sets_caches_aside() -> bool:
        return (await through_reader("/readyz"))["caches"] == "set aside"

    # The other process learns of the waiting effect from Neo4j, without failing itself.
    await wait_for(reader_sets_caches_aside, "the other process to stop trusting Redis")
    await outage.start()
    body = await through_reader("/graphql")
    assert "errors" not in body, body
    assert body["data"]["homeFeed"]["edges"] == []

    async def reader_trusts_again() -> bool:
        return (await through_reader("/readyz"))["caches"] == "trusted"

    await wait_for(reader_trusts_again, "the other process to trust Redis again")
    assert (await through_reader("/graphql"))["data"]["homeFeed"]["edges"] == []
    await settled(client, graph)
