"""Notifications through the public API: who hears of what, pages, read state, privacy,
and the live subscription (in process, through the schema)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis.asyncio import Redis

from actions import effects
from api.auth import Claims, Viewer
from api.context import Context, Services
from api.settings import Settings
from graph import notifications as domain
from graph.driver import Graph, write_transaction
from graph.users import users_by_ids
from schema.root import make_schema
from tests.conftest import GQL
from tests.test_circle_joins import ban, create, internal, invite, join, review
from tests.test_friends import BLOCK, RESPOND, UNBLOCK, send
from tests.test_posts import COMMENT, DELETE_POST, mutate, person, posted
from workers import keys, live

FIELDS = """id kind createdAt read actor { handle } friendRequest { id state }
  circle { id name } post { id body } comment { id body }"""
NOTIFICATIONS = (
    """query($first: Int, $after: String, $unread: Boolean) {
  notifications(first: $first, after: $after, unreadOnly: $unread) {
    edges { cursor node { """
    + FIELDS
    + """ } } pageInfo { hasNextPage endCursor } }
  unreadNotificationCount }"""
)
MARK = """mutation($ids: [ID!], $all: Boolean) { markNotificationsRead(ids: $ids, all: $all) {
  ok userErrors { code field } } }"""
NODE = "query($id: ID!) { node(id: $id) { ... on Notification { id kind } } }"
SUBSCRIBE = "subscription { notificationAdded { " + FIELDS + " } }"


async def inbox(
    client: GQL, who: dict[str, Any] | None, **variables: Any
) -> tuple[list[dict[str, Any]], dict[str, Any], int]:
    data = await client(NOTIFICATIONS, variables, token=who["token"] if who else None)
    assert "errors" not in data, data
    page = data["data"]["notifications"]
    nodes = [e["node"] for e in page["edges"]]
    return nodes, page["pageInfo"], data["data"]["unreadNotificationCount"]


async def kinds(client: GQL, who: dict[str, Any]) -> list[str]:
    nodes, _, _ = await inbox(client, who, first=100)
    return [n["kind"] for n in nodes]


async def comment(client: GQL, who: dict[str, Any], pid: str, body: str = "nice") -> str:
    payload = await mutate(client, COMMENT, "commentOnPost", who, id=pid, body=body)
    assert payload["userErrors"] == [], payload
    cid: str = payload["comment"]["id"]
    return cid


async def friends(client: GQL, a: dict[str, Any], b: dict[str, Any]) -> None:
    request = (await send(client, a, b["id"]))["request"]
    await client(RESPOND, {"id": request["id"], "accept": True}, token=b["token"])


# ---------------------------------------------------------------- who hears of what


async def test_friend_request_received_then_accepted(client: GQL) -> None:
    lin, chen = await person(client, "lin"), await person(client, "chen")
    request = (await send(client, lin, chen["id"]))["request"]

    nodes, _, unread = await inbox(client, chen)
    assert [n["kind"] for n in nodes] == ["FRIEND_REQUEST_RECEIVED"]
    assert nodes[0]["actor"] == {"handle": "lin"}
    assert nodes[0]["friendRequest"] == {"id": request["id"], "state": "PENDING"}
    assert nodes[0]["read"] is False and unread == 1
    assert await kinds(client, lin) == []  # never for the actor

    await client(RESPOND, {"id": request["id"], "accept": True}, token=chen["token"])
    nodes, _, _ = await inbox(client, lin)
    assert [n["kind"] for n in nodes] == ["FRIEND_REQUEST_ACCEPTED"]
    assert nodes[0]["actor"] == {"handle": "chen"}
    assert nodes[0]["friendRequest"]["state"] == "ACCEPTED"
    assert await kinds(client, chen) == ["FRIEND_REQUEST_RECEIVED"]


async def test_declined_request_tells_nobody(client: GQL) -> None:
    lin, chen = await person(client, "lin"), await person(client, "chen")
    request = (await send(client, lin, chen["id"]))["request"]
    await client(RESPOND, {"id": request["id"], "accept": False}, token=chen["token"])
    assert await kinds(client, lin) == []


async def test_asking_back_accepts_and_tells_the_first_asker(client: GQL) -> None:
    lin, chen = await person(client, "lin"), await person(client, "chen")
    await send(client, lin, chen["id"])
    accepted = await send(client, chen, lin["id"])
    assert accepted["request"]["state"] == "ACCEPTED"
    nodes, _, _ = await inbox(client, lin)
    assert [(n["kind"], n["actor"]["handle"]) for n in nodes] == [
        ("FRIEND_REQUEST_ACCEPTED", "chen")
    ]
    assert await kinds(client, chen) == ["FRIEND_REQUEST_RECEIVED"]


async def test_join_request_approved(client: GQL) -> None:
    owner, mei = await person(client, "owner"), await person(client, "mei")
    circle = await create(client, owner, joinPolicy="APPROVAL")
    assert (await join(client, mei, circle))["membership"]["state"] == "PENDING"
    assert await kinds(client, mei) == []
    await review(client, owner, circle, mei, approve=True)

    nodes, _, _ = await inbox(client, mei)
    assert [n["kind"] for n in nodes] == ["JOIN_REQUEST_APPROVED"]
    assert nodes[0]["circle"]["id"] == circle
    assert nodes[0]["actor"] is None  # a moderation decision is the circle's
    assert await kinds(client, owner) == []

    bo = await person(client, "bobo")
    await join(client, bo, circle)
    await review(client, owner, circle, bo, approve=False)
    assert await kinds(client, bo) == []


async def test_inviting_a_pending_user_approves_them(client: GQL) -> None:
    owner, mei = await person(client, "owner"), await person(client, "mei")
    circle = await create(client, owner, joinPolicy="APPROVAL")
    await join(client, mei, circle)
    assert (await invite(client, owner, circle, mei))["membership"]["state"] == "MEMBER"
    assert await kinds(client, mei) == ["JOIN_REQUEST_APPROVED"]

    bo = await person(client, "bobo")  # a plain invitation is not an approval
    assert (await invite(client, owner, circle, bo))["membership"]["state"] == "INVITED"
    assert await kinds(client, bo) == []


async def test_comment_on_your_post(client: GQL) -> None:
    lin, chen = await person(client, "lin"), await person(client, "chen")
    await friends(client, lin, chen)
    pid = await posted(client, lin, "my post")
    cid = await comment(client, chen, pid, "well said")
    await comment(client, lin, pid, "thanks")  # the author's own comment: nothing

    nodes, _, _ = await inbox(client, lin)
    assert [n["kind"] for n in nodes] == ["COMMENT_ON_YOUR_POST", "FRIEND_REQUEST_ACCEPTED"]
    assert nodes[0]["actor"] == {"handle": "chen"}
    assert nodes[0]["post"] == {"id": pid, "body": "my post"}
    assert nodes[0]["comment"] == {"id": cid, "body": "well said"}
    assert await kinds(client, chen) == ["FRIEND_REQUEST_RECEIVED"]


async def test_post_removed_tells_the_author(client: GQL, graph: Graph, redis: Redis) -> None:
    owner, mei = await person(client, "owner"), await person(client, "mei")
    circle = await create(client, owner)
    await join(client, mei, circle)
    pid = await posted(client, mei, "spam?", circle)
    # The moderation issue removes posts; here the removal is written as it will be.
    await graph.write("MATCH (p:Post {id: $id}) SET p.removed = true", id=internal(pid))
    for _ in range(2):  # a retried call with the same action creates nothing new
        await write_transaction(
            graph, lambda tx: domain.post_removed(tx, internal(pid), action_id="act-1")
        )

    nodes, _, unread = await inbox(client, mei)
    assert [n["kind"] for n in nodes] == ["POST_REMOVED"] and unread == 1
    assert nodes[0]["post"] is None  # removed posts are invisible to their author
    assert nodes[0]["circle"]["id"] == circle
    assert nodes[0]["actor"] is None  # the moderator stays unnamed
    assert await kinds(client, owner) == []


async def test_a_store_being_down_never_fails_the_action(
    client: GQL, graph: Graph, settings: Settings
) -> None:
    lin, chen = await person(client, "lin"), await person(client, "chen")
    await friends(client, lin, chen)
    pid = await posted(client, lin)
    cid = await comment(client, chen, pid)
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    offline = Services(settings, graph, dead)
    try:  # publishing fails: the notification is recorded, its push waits for Redis
        await effects.commit(
            offline,
            lambda tx: domain.post_removed(tx, internal(pid), action_id="act-2"),
            effects.notified,
        )
    finally:
        await dead.aclose()
    assert offline.derived.stale
    waiting = await graph.read("MATCH (e:Effect) RETURN e.stalled AS stalled")
    assert [r["stalled"] for r in waiting.records] == [True]
    await graph.write("MATCH (e:Effect) DELETE e")  # not for the shared test Redis
    assert await kinds(client, lin) == [
        "POST_REMOVED",
        "COMMENT_ON_YOUR_POST",
        "FRIEND_REQUEST_ACCEPTED",
    ]
    assert cid


# ---------------------------------------------------------------- pages and read state


async def test_pages_unread_only_mark_read_and_count(client: GQL) -> None:
    lin, chen = await person(client, "lin"), await person(client, "chen")
    await friends(client, lin, chen)
    pid = await posted(client, lin)
    bodies = [f"c{i}" for i in range(5)]
    for body in bodies:
        await comment(client, chen, pid, body)

    seen: list[dict[str, Any]] = []
    after = None
    while True:
        nodes, info, unread = await inbox(client, lin, first=2, after=after)
        seen += nodes
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert unread == 6
    assert [n["comment"]["body"] for n in seen[:5]] == list(reversed(bodies))  # newest first
    assert seen[5]["kind"] == "FRIEND_REQUEST_ACCEPTED"
    assert len({n["id"] for n in seen}) == 6

    marked = await mutate(client, MARK, "markNotificationsRead", lin, ids=[seen[0]["id"]])
    assert marked == {"ok": True, "userErrors": []}
    nodes, _, unread = await inbox(client, lin, unread=True)
    assert unread == 5 and [n["id"] for n in nodes] == [n["id"] for n in seen[1:]]
    nodes, _, _ = await inbox(client, lin)
    assert nodes[0]["read"] is True and nodes[1]["read"] is False

    # someone else's ids change nothing for them
    others, _, _ = await inbox(client, chen)
    await mutate(client, MARK, "markNotificationsRead", lin, ids=[others[0]["id"]])
    assert (await inbox(client, chen))[2] == 1

    await mutate(client, MARK, "markNotificationsRead", lin, all=True)
    nodes, _, unread = await inbox(client, lin, unread=True)
    assert nodes == [] and unread == 0
    assert len((await inbox(client, lin))[0]) == 6

    empty = await mutate(client, MARK, "markNotificationsRead", lin)
    assert [e["code"] for e in empty["userErrors"]] == ["INVALID_INPUT"]


async def test_anonymous_and_strangers_see_nothing(client: GQL) -> None:
    lin, chen = await person(client, "lin"), await person(client, "chen")
    await send(client, lin, chen["id"])
    nodes, info, unread = await inbox(client, None)
    assert nodes == [] and unread == 0 and info["hasNextPage"] is False
    mine, _, _ = await inbox(client, chen)
    for who in (lin, None):
        data = await client(NODE, {"id": mine[0]["id"]}, token=who["token"] if who else None)
        assert data["data"]["node"] is None
    own = await client(NODE, {"id": mine[0]["id"]}, token=chen["token"])
    assert own["data"]["node"]["kind"] == "FRIEND_REQUEST_RECEIVED"
    anonymous = await client(MARK, {"all": True})
    assert [e["code"] for e in anonymous["data"]["markNotificationsRead"]["userErrors"]] == [
        "UNAUTHENTICATED"
    ]
    bad = await client(NOTIFICATIONS, {"after": "nonsense"}, token=chen["token"])
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


# ---------------------------------------------------------------- privacy


async def test_what_was_hidden_since_reads_as_null(client: GQL, graph: Graph) -> None:
    lin, chen = await person(client, "lin"), await person(client, "chen")
    await friends(client, lin, chen)
    pid = await posted(client, lin)
    await comment(client, chen, pid)
    await mutate(client, DELETE_POST, "deletePost", lin, id=pid)
    nodes, _, _ = await inbox(client, lin)
    assert nodes[0]["kind"] == "COMMENT_ON_YOUR_POST"
    assert nodes[0]["post"] is None and nodes[0]["comment"] is None

    owner, mei = await person(client, "owner"), await person(client, "mei")
    circle = await create(client, owner, visibility="PRIVATE", joinPolicy="INVITE")
    # PRIVATE circles are invite-only; a pending request is written as joinCircle would.
    await graph.write(
        """
        MATCH (u:User {id: $u}), (c:Circle {id: $c})
        CREATE (u)-[:MEMBER_OF {state: 'PENDING', since: datetime(), updatedAt: datetime()}]->(c)
        """,
        u=internal(mei["id"]),
        c=internal(circle),
    )
    await review(client, owner, circle, mei, approve=True)
    assert (await inbox(client, mei))[0][0]["circle"]["id"] == circle
    await ban(graph, mei, circle, None)  # banned from a PRIVATE circle: nothing of it
    nodes, _, _ = await inbox(client, mei)
    assert nodes[0]["kind"] == "JOIN_REQUEST_APPROVED" and nodes[0]["circle"] is None


async def test_blocked_actors_are_hidden_either_way(client: GQL) -> None:
    lin, chen, wang = (
        await person(client, "lin"),
        await person(client, "chen"),
        await person(client, "wang"),
    )
    await friends(client, lin, chen)
    await friends(client, lin, wang)
    pid = await posted(client, lin)
    await comment(client, chen, pid)
    await comment(client, wang, pid)
    nodes, _, unread = await inbox(client, lin)
    assert len(nodes) == 4 and unread == 4

    await client(BLOCK, {"id": chen["id"]}, token=lin["token"])  # lin blocks chen
    await client(BLOCK, {"id": lin["id"]}, token=wang["token"])  # wang blocks lin
    nodes, _, unread = await inbox(client, lin)
    assert nodes == [] and unread == 0

    await client(UNBLOCK, {"id": chen["id"]}, token=lin["token"])
    nodes, _, unread = await inbox(client, lin)
    assert {n["actor"]["handle"] for n in nodes} == {"chen"} and unread == 2


async def test_blocked_or_self_actors_create_nothing(
    graph: Graph, redis: Redis, client: GQL
) -> None:
    lin, chen = await person(client, "lin"), await person(client, "chen")
    await client(BLOCK, {"id": chen["id"]}, token=lin["token"])
    a, b = internal(lin["id"]), internal(chen["id"])
    await write_transaction(graph, lambda tx: domain.friend_request(tx, "r-1", b, a, "PENDING"))
    await write_transaction(graph, lambda tx: domain.friend_request(tx, "r-2", a, a, "PENDING"))
    count = await graph.read("MATCH (n:Notification) RETURN count(n) AS n")
    assert count.records[0]["n"] == 0


# ---------------------------------------------------------------- live


async def _numsub(redis: Redis, channel: str) -> int:
    return (await live.listener_counts(redis, [channel])).get(channel, 0)


async def _until(check: Any, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_notification_added_live_and_nothing_left_behind(
    client: GQL, graph: Graph, redis: Redis, settings: Settings
) -> None:
    lin, chen = await person(client, "lin"), await person(client, "chen")
    record = (await users_by_ids(graph, [internal(chen["id"])]))[internal(chen["id"])]
    context = Context(
        services=Services(settings, graph, redis),
        request=None,  # type: ignore[arg-type]
        response=None,
        request_id="test",
        viewer=Viewer(user=record),
        claims=Claims(subject=record.platform_id),  # as the websocket's connection_init sets
    )
    channel = keys.notification_channel(record.id)
    stream = await make_schema(settings).subscribe(SUBSCRIBE, context_value=context)
    assert hasattr(stream, "__anext__"), stream
    first = asyncio.ensure_future(stream.__anext__())
    try:
        await _until(lambda: _numsub_is(redis, channel, 1))
        request = (await send(client, lin, chen["id"]))["request"]
        result = await asyncio.wait_for(first, 10)
        assert result.errors is None, result.errors
        added = result.data["notificationAdded"]
        assert added["kind"] == "FRIEND_REQUEST_RECEIVED"
        assert added["actor"] == {"handle": "lin"}
        assert added["friendRequest"] == {"id": request["id"], "state": "PENDING"}
        assert added["id"] == (await inbox(client, chen))[0][0]["id"]
    finally:
        if not first.done():
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await first
        await stream.aclose()
    await _until(lambda: _numsub_is(redis, channel, 0))


async def test_anonymous_subscription_ends_at_once(
    graph: Graph, redis: Redis, settings: Settings, clean: None
) -> None:
    context = Context(
        services=Services(settings, graph, redis),
        request=None,  # type: ignore[arg-type]
        response=None,
        request_id="test",
    )
    stream = await make_schema(settings).subscribe(SUBSCRIBE, context_value=context)
    results = [r async for r in stream]  # type: ignore[union-attr]
    assert all(not getattr(r, "data", None) for r in results)


async def _numsub_is(redis: Redis, channel: str, expected: int) -> bool:
    return await _numsub(redis, channel) == expected
