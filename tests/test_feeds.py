"""Home feeds through the API, with the real worker handlers draining the job stream."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from api.settings import Settings
from graph.driver import Graph
from tests.conftest import GQL
from tests.test_friends import BLOCK, REMOVE, befriend
from workers import fanout, keys
from workers.services import Services

pytestmark = pytest.mark.usefixtures("generous_post_limit")

POST = """mutation($input: CreatePostInput!) { createPost(input: $input) {
  post { id } userErrors { code } } }"""
FEED = """query($first: Int, $after: String) { homeFeed(first: $first, after: $after) {
  edges { cursor node { id body author { handle } reactionCount commentCount viewerReacted
  circle { id } } } pageInfo { hasNextPage endCursor } } }"""
CIRCLE = """mutation($input: CreateCircleInput!) { createCircle(input: $input) {
  circle { id } userErrors { code } } }"""
JOIN = "mutation($id: ID!) { joinCircle(circleId: $id) { userErrors { code } } }"
LEAVE = "mutation($id: ID!) { leaveCircle(circleId: $id) { userErrors { code } } }"


async def post(client: GQL, user: dict[str, Any], body: str, circle: str | None = None) -> str:
    data = await client(POST, {"input": {"body": body, "circleId": circle}}, token=user["token"])
    payload = data["data"]["createPost"]
    assert payload["userErrors"] == [], payload
    post_id: str = payload["post"]["id"]
    return post_id


async def feed(client: GQL, user: dict[str, Any], first: int = 20) -> list[str]:
    body = await client(FEED, {"first": first}, token=user["token"])
    assert "errors" not in body, body
    return [e["node"]["body"] for e in body["data"]["homeFeed"]["edges"]]


async def circle(client: GQL, owner: dict[str, Any], name: str = "读书会") -> str:
    body = await client(
        CIRCLE,
        {"input": {"name": name, "visibility": "SEMI_PUBLIC", "joinPolicy": "OPEN"}},
        token=owner["token"],
    )
    circle_id: str = body["data"]["createCircle"]["circle"]["id"]
    return circle_id


async def test_profile_post_reaches_friends_only(client: GQL, drain: Any) -> None:
    lin, chen, wang = (
        await client.make_user("lin"),
        await client.make_user("chen"),
        await client.make_user("wang"),
    )
    await befriend(client, lin, chen)
    for user in (lin, chen, wang):
        assert await feed(client, user) == []  # each has read once: active
    await post(client, lin, "今天天气不错")
    await drain()
    assert await feed(client, lin) == ["今天天气不错"]
    assert await feed(client, chen) == ["今天天气不错"]
    assert await feed(client, wang) == []


async def test_circle_post_reaches_members_and_leaving_hides_it(client: GQL, drain: Any) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    book = await circle(client, lin)
    await client(JOIN, {"id": book}, token=chen["token"])
    await feed(client, chen)
    await post(client, lin, "本周读《活着》", book)
    await drain()
    assert await feed(client, chen) == ["本周读《活着》"]
    await client(LEAVE, {"id": book}, token=chen["token"])
    assert await feed(client, chen) == []


async def test_unfriend_block_and_delete_hide_at_once(client: GQL, drain: Any) -> None:
    lin, chen, wang = (
        await client.make_user("lin"),
        await client.make_user("chen"),
        await client.make_user("wang"),
    )
    await befriend(client, lin, chen)
    await befriend(client, lin, wang)
    for user in (chen, wang):
        await feed(client, user)
    first = await post(client, lin, "one")
    await post(client, lin, "two")
    await drain()
    assert await feed(client, chen) == ["two", "one"]
    await client(REMOVE, {"id": chen["id"]}, token=lin["token"])
    assert await feed(client, chen) == []
    await client(BLOCK, {"id": wang["id"]}, token=lin["token"])
    assert await feed(client, wang) == []
    deleted = await client(
        "mutation($id: ID!) { deletePost(postId: $id) { ok } }", {"id": first}, token=lin["token"]
    )
    assert deleted["data"]["deletePost"]["ok"] is True
    assert await feed(client, lin) == ["two"]
    # the cleaning job takes them out of the stored timelines too
    await drain()
    assert await feed(client, chen) == []


async def test_flushall_rebuilds_the_same_first_page(client: GQL, drain: Any, redis: Redis) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    await befriend(client, lin, chen)
    book = await circle(client, chen)
    await client(JOIN, {"id": book}, token=lin["token"])
    await feed(client, lin)
    for i in range(5):
        await post(client, chen, f"profile {i}")
        await post(client, chen, f"circle {i}", book)
    await drain()
    before = await client(FEED, {"first": 6}, token=lin["token"])
    await redis.flushall()
    after = await client(FEED, {"first": 6}, token=lin["token"])
    assert after == before
    assert len(before["data"]["homeFeed"]["edges"]) == 6


async def test_posts_committed_before_any_worker_ran_are_rebuilt(client: GQL) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    await befriend(client, lin, chen)
    await post(client, chen, "hello")  # no worker ran; lin never read: rebuilt from Neo4j
    assert await feed(client, lin) == ["hello"]


async def test_large_circles_merge_at_read_time(
    client: GQL, drain: Any, graph: Graph, redis: Redis, settings: Settings
) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    big = await circle(client, chen, "望京跑团")
    await client(JOIN, {"id": big}, token=lin["token"])
    await graph.write(
        "MATCH (c:Circle {name: '望京跑团'}) SET c.memberCount = $n",
        n=settings.fanout_max_audience + 1,
    )
    await redis.flushall()  # views now see it as large
    await feed(client, lin)
    await post(client, chen, "周六晨跑", big)
    await drain()
    lin_internal = (await graph.read("MATCH (u:User {handle: 'lin'}) RETURN u.id AS id")).records[
        0
    ]["id"]
    assert await redis.zcard(keys.timeline(lin_internal)) == 0  # not fanned out
    assert await feed(client, lin) == ["周六晨跑"]  # merged from the circle's timeline


async def test_cursor_is_stable_while_new_posts_arrive(client: GQL, drain: Any) -> None:
    lin = await client.make_user("lin")
    await feed(client, lin)
    for i in range(5):
        await post(client, lin, f"p{i}")
    await drain()
    first = await client(FEED, {"first": 2}, token=lin["token"])
    page = first["data"]["homeFeed"]
    assert [e["node"]["body"] for e in page["edges"]] == ["p4", "p3"]
    await post(client, lin, "newer")
    await drain()
    second = await client(
        FEED, {"first": 2, "after": page["pageInfo"]["endCursor"]}, token=lin["token"]
    )
    assert [e["node"]["body"] for e in second["data"]["homeFeed"]["edges"]] == ["p2", "p1"]


async def test_outbox_sweeper_requeues_undelivered_posts(
    client: GQL, graph: Graph, redis: Redis, services: Services, drain: Any
) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    await befriend(client, lin, chen)
    await feed(client, chen)
    await post(client, lin, "lost job")
    await redis.delete(keys.JOBS_STREAM)  # the queued job is lost (Redis restarted empty)
    await graph.write("MATCH (p:Post) SET p.createdAtMs = p.createdAtMs - 60000")
    assert await fanout.sweep_outbox(services) == 1
    await drain()
    assert await feed(client, chen) == ["lost job"]
    assert await fanout.sweep_outbox(services) == 0  # delivered: DONE


async def test_reactions_and_counts_show_in_the_feed(client: GQL, drain: Any) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    await befriend(client, lin, chen)
    await feed(client, chen)
    post_id = await post(client, lin, "react to me")
    await drain()
    await client(
        "mutation($id: ID!) { reactToPost(postId: $id) { post { id } } }",
        {"id": post_id},
        token=chen["token"],
    )
    body = await client(FEED, token=chen["token"])
    node = body["data"]["homeFeed"]["edges"][0]["node"]
    assert node["viewerReacted"] is True and node["reactionCount"] == 1


async def test_sweeper_gives_a_post_time_then_gives_up(
    client: GQL, graph: Graph, redis: Redis, services: Services
) -> None:
    lin = await client.make_user("lin")
    await post(client, lin, "never delivered")
    await redis.delete(keys.JOBS_STREAM)
    await graph.write("MATCH (p:Post) SET p.createdAtMs = p.createdAtMs - 60000")
    pid = (await graph.read("MATCH (p:Post) RETURN p.id AS id")).records[0]["id"]
    assert await fanout.sweep_outbox(services) == 1
    assert await fanout.sweep_outbox(services) == 0  # its job gets time
    for _ in range(fanout.MAX_SWEEPS - 1):
        await redis.delete(keys.outbox_swept(pid))  # the window passes, still undelivered
        assert await fanout.sweep_outbox(services) == 1
    await redis.delete(keys.outbox_swept(pid))
    assert await fanout.sweep_outbox(services) == 0
    state = await graph.read("MATCH (p:Post {id: $id}) RETURN p.fanout AS f", id=pid)
    assert state.records[0]["f"] == "FAILED"


async def _timeline(graph: Graph, redis: Redis, handle: str) -> list[str]:
    uid = (await graph.read("MATCH (u:User {handle: $h}) RETURN u.id AS id", h=handle)).records[0][
        "id"
    ]
    return [str(p) for p in await redis.zrange(keys.timeline(uid), 0, -1)]


async def test_fan_out_skips_blocked_members_and_follows_new_ones(
    client: GQL, drain: Any, graph: Graph, redis: Redis
) -> None:
    lin, chen, wang = (
        await client.make_user("lin"),
        await client.make_user("chen"),
        await client.make_user("wang"),
    )
    book = await circle(client, lin)
    await client(JOIN, {"id": book}, token=chen["token"])
    for user in (chen, wang):
        await feed(client, user)
    await client(BLOCK, {"id": lin["id"]}, token=chen["token"])
    await post(client, lin, "first", book)
    await drain()
    assert await _timeline(graph, redis, "chen") == []  # blocked the author: not delivered
    # a member who joins after the audience was cached receives the next post
    await client(JOIN, {"id": book}, token=wang["token"])
    await post(client, lin, "second", book)
    await drain()
    assert len(await _timeline(graph, redis, "wang")) == 1
    # joining tops the timeline up with the circle's recent posts
    assert await feed(client, wang) == ["second", "first"]


async def test_post_deleted_before_its_fan_out_never_shows(client: GQL, drain: Any) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    await befriend(client, lin, chen)
    await feed(client, chen)
    post_id = await post(client, lin, "oops")
    await client(
        "mutation($id: ID!) { deletePost(postId: $id) { ok } }", {"id": post_id}, token=lin["token"]
    )
    await drain()  # the job still carries the undeleted copy
    assert await feed(client, chen) == []
    assert await feed(client, lin) == []
