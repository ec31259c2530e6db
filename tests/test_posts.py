"""Posts, reactions and comments through the public API: every visibility rule, the
participation rules, exact counters under concurrency, batching and the outbox."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.app import create_app
from api.settings import Settings
from graph import posts as domain
from graph.driver import Graph
from tests.conftest import GQL, RoundTrips
from tests.test_circle_joins import ban, create, gid, internal, invite, join, make_moderator
from tests.test_friends import befriend
from workers import keys, ratelimit
from workers.jobs import FANOUT

CREATE_POST = """mutation($input: CreatePostInput!) { createPost(input: $input) {
  post { id body reactionCount commentCount viewerReacted removed author { handle }
         circle { id } }
  userErrors { code field message } } }"""
DELETE_POST = """mutation($id: ID!) { deletePost(postId: $id) {
  ok userErrors { code field } } }"""
REACT = """mutation($id: ID!) { reactToPost(postId: $id) {
  post { id reactionCount viewerReacted } userErrors { code field } } }"""
COMMENT = """mutation($id: ID!, $body: String!) { commentOnPost(postId: $id, body: $body) {
  comment { id body author { handle } } userErrors { code field } } }"""
POST = """query($id: ID!) { post(id: $id) { id body reactionCount commentCount viewerReacted
  removed author { handle } circle { id }
  comments(first: 100) { edges { node { body author { handle } } } } } }"""
NODE = "query($id: ID!) { node(id: $id) { id } }"
CIRCLE_POSTS = """query($id: ID!, $first: Int, $after: String) { circle(id: $id) {
  posts(first: $first, after: $after) { edges { cursor node { id body removed } }
  pageInfo { hasNextPage endCursor } } } }"""


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def person(client: GQL, handle: str) -> dict[str, Any]:
    return await client.make_user(handle, trustScore=600)


async def post(
    client: GQL, who: dict[str, Any], body: str = "hello", circle: str | None = None
) -> dict[str, Any]:
    data = await client(
        CREATE_POST, {"input": {"circleId": circle, "body": body}}, token=who["token"]
    )
    assert "errors" not in data, data
    payload: dict[str, Any] = data["data"]["createPost"]
    return payload


async def posted(
    client: GQL, who: dict[str, Any], body: str = "hello", circle: str | None = None
) -> str:
    payload = await post(client, who, body, circle)
    assert payload["userErrors"] == [], payload
    pid: str = payload["post"]["id"]
    return pid


async def mutate(client: GQL, query: str, name: str, who: dict[str, Any], **v: Any) -> Any:
    data = await client(query, v, token=who["token"])
    assert "errors" not in data, data
    return data["data"][name]


async def read(client: GQL, who: dict[str, Any] | None, pid: str) -> dict[str, Any] | None:
    data = await client(POST, {"id": pid}, token=who["token"] if who else None)
    assert "errors" not in data, data
    found: dict[str, Any] | None = data["data"]["post"]
    return found


async def circle_posts(
    client: GQL, who: dict[str, Any] | None, circle: str, **v: Any
) -> dict[str, Any] | None:
    data = await client(CIRCLE_POSTS, {"id": circle, **v}, token=who["token"] if who else None)
    assert "errors" not in data, data
    found = data["data"]["circle"]
    assert found is not None, "the viewer sees the circle's card"
    conn: dict[str, Any] | None = found["posts"]
    return conn


def ids_of(conn: dict[str, Any] | None) -> list[str]:
    assert conn is not None
    return [e["node"]["id"] for e in conn["edges"]]


async def mute(graph: Graph, who: dict[str, Any], circle: str, seconds: int | None) -> None:
    """A mute as moderation will write it: ``seconds`` from now (negative = over);
    None = permanent (far future)."""
    await graph.write(
        """
        MATCH (:User {id: $u})-[r:MEMBER_OF]->(:Circle {id: $c})
        SET r.mutedUntil = CASE WHEN $s IS NULL THEN datetime('9999-12-31T00:00:00Z')
                           ELSE datetime() + duration({seconds: $s}) END
        """,
        u=internal(who["id"]),
        c=internal(circle),
        s=seconds,
    )


async def block(graph: Graph, a: dict[str, Any], b: dict[str, Any]) -> None:
    await graph.write(
        "MATCH (a:User {id: $a}), (b:User {id: $b}) MERGE (a)-[:BLOCKED {at: datetime()}]->(b)",
        a=internal(a["id"]),
        b=internal(b["id"]),
    )


async def set_post(graph: Graph, pid: str, prop: str, value: Any) -> None:
    assert prop in ("removed", "deleted")
    await graph.write(
        "MATCH (p:Post {id: $id}) SET p[$prop] = $value", id=internal(pid), prop=prop, value=value
    )


async def stored(graph: Graph, pid: str) -> dict[str, Any]:
    result = await graph.read(
        """
        MATCH (p:Post {id: $id})
        RETURN p {.*} AS p,
               COUNT { (:User)-[:REACTED]->(p) } AS reactions,
               COUNT { (:User)-[:WROTE]->(:Comment)-[:ON]->(p) } AS comments,
               [(u:User)-[:POSTED]->(p) | u.id][0] AS author,
               [(p)-[:IN]->(c:Circle) | c.id][0] AS circle
        """,
        id=internal(pid),
    )
    row = result.records[0]
    return {
        **row["p"],
        "reactions": row["reactions"],
        "comments": row["comments"],
        "author": row["author"],
        "circle": row["circle"],
    }


# ---------------------------------------------------------------- ids


def test_ids_are_compact_and_time_ordered() -> None:
    made = [domain.new_post_id(now_ms=1_700_000_000_000 + i) for i in range(200)]
    ids = [i for i, _ in made]
    assert all(len(i) == domain.ID_LENGTH for i in ids)
    assert ids == sorted(ids)
    assert all(domain.id_millis(i) == ms for i, ms in made)
    now_id, now_ms = domain.new_post_id()
    assert domain.id_millis(now_id) == now_ms < 2**53
    assert len({domain.new_post_id(now_ms=1)[0] for _ in range(100)}) > 90


# ---------------------------------------------------------------- creating


async def test_member_posts_in_a_public_circle(client: GQL, graph: Graph, redis: Redis) -> None:
    owner, lin, anna = await person(client, "owner"), await person(client, "lin"), None
    circle = await create(client, owner)
    await join(client, lin, circle)
    payload = await post(client, lin, "first!\nsecond line", circle)
    assert payload["userErrors"] == []
    created = payload["post"]
    assert created["body"] == "first!\nsecond line"
    assert created["author"]["handle"] == "lin"
    assert created["circle"]["id"] == circle
    assert (created["reactionCount"], created["commentCount"]) == (0, 0)
    assert created["viewerReacted"] is False and created["removed"] is False

    row = await stored(graph, created["id"])
    assert row["fanout"] == "PENDING"
    assert row["removed"] is False and row["deleted"] is False
    assert row["createdAtMs"] == domain.id_millis(internal(created["id"]))
    assert row["author"] == internal(lin["id"]) and row["circle"] == internal(circle)

    # the feed fan-out job was queued for this post
    jobs: list[tuple[str, dict[str, str]]] = await redis.xrange(keys.JOBS_STREAM)  # type: ignore[assignment]
    queued = [json.loads(f["payload"]) for _, f in jobs if f["kind"] == FANOUT]
    pid = internal(created["id"])
    assert [job["data"]["body"] for job in queued if job["post"] == pid] == ["first!\nsecond line"]

    # PUBLIC: everyone, even anonymous, reads it, in the post and in the circle's list
    for viewer in (owner, lin, await person(client, "stranger"), anna):
        seen = await read(client, viewer, created["id"])
        assert seen is not None and seen["body"] == "first!\nsecond line"
        assert ids_of(await circle_posts(client, viewer, circle)) == [created["id"]]
    node = await client(NODE, {"id": created["id"]})
    assert node["data"]["node"] == {"id": created["id"]}


async def test_only_members_post_in_a_circle(client: GQL, graph: Graph) -> None:
    owner = await person(client, "owner")
    stranger, pending, invited, banned = [
        await person(client, h) for h in ("stranger", "pending", "invited", "banned")
    ]
    circle = await create(client, owner, joinPolicy="APPROVAL")
    await join(client, pending, circle)
    await invite(client, owner, circle, invited)
    await ban(graph, banned, circle, minutes=None)
    for who in (stranger, pending, invited, banned):
        payload = await post(client, who, "let me in", circle)
        assert codes(payload) == ["FORBIDDEN"], who["handle"]
        assert payload["post"] is None
    # an expired ban reads as no membership: still not a member
    expired = await person(client, "expired")
    await ban(graph, expired, circle, minutes=-1)
    assert codes(await post(client, expired, "x", circle)) == ["FORBIDDEN"]
    assert codes(await post(client, owner, "owners post", circle)) == []
    result = await graph.read("MATCH (p:Post) RETURN count(p) AS n")
    assert result.records[0]["n"] == 1


async def test_private_circle_is_hidden_from_non_members(client: GQL) -> None:
    owner, lin, stranger = [await person(client, h) for h in ("owner", "lin", "stranger")]
    circle = await create(client, owner, visibility="PRIVATE", joinPolicy="INVITE")
    await invite(client, owner, circle, lin)
    pid = await posted(client, owner, "secret", circle)
    # the stranger cannot see the circle at all: NOT_FOUND, as if it did not exist
    assert codes(await post(client, stranger, "hi", circle)) == ["NOT_FOUND"]
    missing = gid("Circle", "no-such-circle")
    assert codes(await post(client, stranger, "hi", missing)) == ["NOT_FOUND"]
    # the invitee sees the card but not the posts, and may not post
    assert codes(await post(client, lin, "hi", circle)) == ["FORBIDDEN"]
    assert await circle_posts(client, lin, circle) is None
    for viewer in (stranger, lin, None):
        assert await read(client, viewer, pid) is None
        assert (await client(NODE, {"id": pid}, token=viewer["token"] if viewer else None))["data"][
            "node"
        ] is None
    for who in (stranger, lin):
        react = await mutate(client, REACT, "reactToPost", who, id=pid)
        assert codes(react) == ["NOT_FOUND"]
        comment = await mutate(client, COMMENT, "commentOnPost", who, id=pid, body="hi")
        assert codes(comment) == ["NOT_FOUND"]
        assert codes(await mutate(client, DELETE_POST, "deletePost", who, id=pid)) == ["NOT_FOUND"]
    # once a member, the invitee reads everything
    await join(client, lin, circle)
    assert ids_of(await circle_posts(client, lin, circle)) == [pid]
    assert (await read(client, lin, pid)) is not None


async def test_semi_public_posts_are_for_members(client: GQL) -> None:
    owner, lin, pending = [await person(client, h) for h in ("owner", "lin", "pending")]
    circle = await create(client, owner, visibility="SEMI_PUBLIC")
    pid = await posted(client, owner, "members only", circle)
    assert await circle_posts(client, lin, circle) is None
    assert await circle_posts(client, None, circle) is None
    assert await read(client, lin, pid) is None
    assert await read(client, None, pid) is None
    await join(client, lin, circle)
    assert ids_of(await circle_posts(client, lin, circle)) == [pid]
    # PENDING in a PUBLIC circle reads posts but may not take part
    public = await create(client, owner, joinPolicy="APPROVAL")
    public_pid = await posted(client, owner, "hello all", public)
    await join(client, pending, public)
    assert (await read(client, pending, public_pid)) is not None
    assert codes(await mutate(client, REACT, "reactToPost", pending, id=public_pid)) == [
        "FORBIDDEN"
    ]
    comment = await mutate(client, COMMENT, "commentOnPost", pending, id=public_pid, body="hi")
    assert codes(comment) == ["FORBIDDEN"]


async def test_banned_members_lose_the_posts(client: GQL, graph: Graph) -> None:
    owner, lin = await person(client, "owner"), await person(client, "lin")
    circle = await create(client, owner)
    await join(client, lin, circle)
    pid = await posted(client, owner, "hello", circle)
    await ban(graph, lin, circle, minutes=None)
    assert await circle_posts(client, lin, circle) is None
    assert await read(client, lin, pid) is None
    assert codes(await mutate(client, REACT, "reactToPost", lin, id=pid)) == ["NOT_FOUND"]


async def test_muted_members_read_but_do_not_take_part(client: GQL, graph: Graph) -> None:
    owner, lin = await person(client, "owner"), await person(client, "lin")
    circle = await create(client, owner)
    await join(client, lin, circle)
    pid = await posted(client, owner, "hello", circle)
    for seconds in (600, None):  # a timed mute, then a permanent one
        await mute(graph, lin, circle, seconds)
        payload = await post(client, lin, "can I?", circle)
        assert codes(payload) == ["MUTED"]
        assert codes(await mutate(client, REACT, "reactToPost", lin, id=pid)) == ["MUTED"]
        comment = await mutate(client, COMMENT, "commentOnPost", lin, id=pid, body="hm")
        assert codes(comment) == ["MUTED"]
        assert await read(client, lin, pid) is not None
    # a mute that has run out no longer applies
    await mute(graph, lin, circle, -1)
    assert codes(await post(client, lin, "back", circle)) == []
    assert codes(await mutate(client, REACT, "reactToPost", lin, id=pid)) == []
    # a muted member may still post on their own profile
    await mute(graph, lin, circle, None)
    assert codes(await post(client, lin, "on my profile")) == []


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ("", False),
        ("   \n ", False),
        ("x" * 5000, True),
        ("x" * 5001, False),
        ("bell \x07", False),
        ("zero\u200bwidth? no: \u202e", False),
        ("line one\nline two\ttabbed", True),
        ("你好 圈子 👩\u200d👧", True),
    ],
)
async def test_bodies(client: GQL, body: str, ok: bool) -> None:
    lin = await person(client, "lin")
    payload = await post(client, lin, body)
    if ok:
        assert codes(payload) == [] and payload["post"]["body"] == body.strip()
        comment = await mutate(
            client, COMMENT, "commentOnPost", lin, id=payload["post"]["id"], body=body
        )
        assert codes(comment) == []
    else:
        assert codes(payload) == ["INVALID_INPUT"]
        assert payload["userErrors"][0]["field"] == "body"
        pid = await posted(client, lin, "fine")
        comment = await mutate(client, COMMENT, "commentOnPost", lin, id=pid, body=body)
        assert codes(comment) == ["INVALID_INPUT"]


async def test_signed_out_cannot_write(client: GQL) -> None:
    data = await client(CREATE_POST, {"input": {"body": "hi"}})
    assert codes(data["data"]["createPost"]) == ["UNAUTHENTICATED"]
    data = await client(REACT, {"id": gid("Post", "x")})
    assert codes(data["data"]["reactToPost"]) == ["UNAUTHENTICATED"]


# ---------------------------------------------------------------- profile posts


async def test_profile_posts_are_for_friends(client: GQL) -> None:
    lin, chen, stranger = [await person(client, h) for h in ("lin", "chen", "stranger")]
    await befriend(client, lin, chen)
    payload = await post(client, lin, "weekend photos")
    assert codes(payload) == [] and payload["post"]["circle"] is None
    pid = payload["post"]["id"]
    assert (await read(client, lin, pid)) is not None
    seen = await read(client, chen, pid)
    assert seen is not None and seen["circle"] is None and seen["author"]["handle"] == "lin"
    assert await read(client, stranger, pid) is None
    assert await read(client, None, pid) is None
    assert codes(await mutate(client, REACT, "reactToPost", stranger, id=pid)) == ["NOT_FOUND"]
    assert codes(await mutate(client, REACT, "reactToPost", chen, id=pid)) == []
    comment = await mutate(client, COMMENT, "commentOnPost", chen, id=pid, body="nice")
    assert codes(comment) == [] and comment["comment"]["author"]["handle"] == "chen"
    node = await client(NODE, {"id": comment["comment"]["id"]}, token=lin["token"])
    assert node["data"]["node"] == {"id": comment["comment"]["id"]}
    node = await client(NODE, {"id": comment["comment"]["id"]}, token=stranger["token"])
    assert node["data"]["node"] is None


# ---------------------------------------------------------------- blocks


async def test_blocks_hide_posts_and_comments_both_ways(client: GQL, graph: Graph) -> None:
    owner, lin, chen = [await person(client, h) for h in ("owner", "lin", "chen")]
    circle = await create(client, owner)
    await join(client, lin, circle)
    await join(client, chen, circle)
    by_lin = await posted(client, lin, "lin's post", circle)
    by_chen = await posted(client, chen, "chen's post", circle)
    by_owner = await posted(client, owner, "owner's post", circle)
    comment = await mutate(client, COMMENT, "commentOnPost", chen, id=by_owner, body="chen says")
    assert codes(comment) == []
    await block(graph, chen, lin)  # chen blocked lin: hidden in both directions
    for viewer, hidden, own in ((chen, by_lin, by_chen), (lin, by_chen, by_lin)):
        assert await read(client, viewer, hidden) is None
        assert (await read(client, viewer, own)) is not None
        assert ids_of(await circle_posts(client, viewer, circle)) == [by_owner, own]
        assert codes(await mutate(client, REACT, "reactToPost", viewer, id=hidden)) == ["NOT_FOUND"]
        reply = await mutate(client, COMMENT, "commentOnPost", viewer, id=hidden, body="x")
        assert codes(reply) == ["NOT_FOUND"]
    # lin no longer sees chen's comment on the owner's post; chen and the owner still do
    for viewer, expected in ((lin, []), (chen, ["chen says"]), (owner, ["chen says"])):
        seen = await read(client, viewer, by_owner)
        assert seen is not None
        assert [e["node"]["body"] for e in seen["comments"]["edges"]] == expected
    node = await client(NODE, {"id": comment["comment"]["id"]}, token=lin["token"])
    assert node["data"]["node"] is None
    # the owner, blocked by no one, sees everything
    assert ids_of(await circle_posts(client, owner, circle)) == [by_owner, by_chen, by_lin]


# ---------------------------------------------------------------- delete and remove


async def test_delete_is_for_the_author_and_hides_everywhere(client: GQL, graph: Graph) -> None:
    owner, lin, chen = [await person(client, h) for h in ("owner", "lin", "chen")]
    circle = await create(client, owner)
    await join(client, lin, circle)
    pid = await posted(client, lin, "oops", circle)
    private = await posted(client, lin, "profile")
    # others: FORBIDDEN when they can see the post, NOT_FOUND when they cannot
    assert codes(await mutate(client, DELETE_POST, "deletePost", owner, id=pid)) == ["FORBIDDEN"]
    assert codes(await mutate(client, DELETE_POST, "deletePost", chen, id=private)) == ["NOT_FOUND"]
    assert codes(await mutate(client, DELETE_POST, "deletePost", chen, id=gid("Post", "x"))) == [
        "NOT_FOUND"
    ]
    done = await mutate(client, DELETE_POST, "deletePost", lin, id=pid)
    assert done == {"ok": True, "userErrors": []}
    for viewer in (owner, lin, chen, None):
        assert await read(client, viewer, pid) is None
        assert ids_of(await circle_posts(client, viewer, circle)) == []
    assert codes(await mutate(client, DELETE_POST, "deletePost", lin, id=pid)) == ["NOT_FOUND"]
    assert codes(await mutate(client, REACT, "reactToPost", lin, id=pid)) == ["NOT_FOUND"]
    row = await stored(graph, pid)
    assert row["deleted"] is True and row["body"] == "oops"  # kept for moderation history


async def test_removed_posts_are_for_moderators_only(client: GQL, graph: Graph) -> None:
    owner, mod, lin = [await person(client, h) for h in ("owner", "mod", "lin")]
    circle = await create(client, owner)
    await join(client, mod, circle)
    await join(client, lin, circle)
    await make_moderator(graph, mod, circle)
    kept = await posted(client, lin, "fine", circle)
    pid = await posted(client, lin, "spam", circle)
    await set_post(graph, pid, "removed", True)
    for viewer in (lin, None, await person(client, "stranger")):
        assert await read(client, viewer, pid) is None
        assert ids_of(await circle_posts(client, viewer, circle)) == [kept]
    for viewer in (owner, mod):
        seen = await read(client, viewer, pid)
        assert seen is not None and seen["removed"] is True
        conn = await circle_posts(client, viewer, circle)
        assert conn is not None
        assert [(e["node"]["id"], e["node"]["removed"]) for e in conn["edges"]] == [
            (pid, True),
            (kept, False),
        ]
        # visible to moderators, but closed to new reactions
        assert codes(await mutate(client, REACT, "reactToPost", viewer, id=pid)) == ["FORBIDDEN"]
    assert codes(await mutate(client, REACT, "reactToPost", lin, id=pid)) == ["NOT_FOUND"]
    assert codes(await mutate(client, DELETE_POST, "deletePost", lin, id=pid)) == ["NOT_FOUND"]
    await set_post(graph, pid, "removed", False)  # restored
    seen = await read(client, lin, pid)
    assert seen is not None and seen["removed"] is False


# ---------------------------------------------------------------- reactions and comments


async def test_reacting_twice_removes_the_reaction(client: GQL, graph: Graph) -> None:
    owner, lin = await person(client, "owner"), await person(client, "lin")
    circle = await create(client, owner)
    await join(client, lin, circle)
    pid = await posted(client, owner, "react to me", circle)
    first = await mutate(client, REACT, "reactToPost", lin, id=pid)
    assert codes(first) == []
    assert first["post"] == {"id": pid, "reactionCount": 1, "viewerReacted": True}
    seen = await read(client, owner, pid)
    assert seen is not None and seen["reactionCount"] == 1 and seen["viewerReacted"] is False
    second = await mutate(client, REACT, "reactToPost", lin, id=pid)
    assert second["post"] == {"id": pid, "reactionCount": 0, "viewerReacted": False}
    row = await stored(graph, pid)
    assert (row["reactionCount"], row["reactions"]) == (0, 0)


async def many_members(client: GQL, owner: dict[str, Any], circle: str, n: int) -> list[Any]:
    people = await asyncio.gather(*(person(client, f"member_{i}") for i in range(n)))
    await asyncio.gather(*(join(client, p, circle) for p in people))
    return list(people)


async def test_counts_stay_exact_under_concurrency(client: GQL, graph: Graph) -> None:
    owner = await person(client, "owner")
    circle = await create(client, owner)
    members = await many_members(client, owner, circle, 30)
    pid = await posted(client, owner, "busy post", circle)

    reactions = await asyncio.gather(
        *(mutate(client, REACT, "reactToPost", m, id=pid) for m in members)
    )
    assert all(codes(r) == [] for r in reactions)
    assert sorted(r["post"]["reactionCount"] for r in reactions) == list(range(1, 31))
    comments = await asyncio.gather(
        *(
            mutate(client, COMMENT, "commentOnPost", m, id=pid, body=f"comment {i}")
            for i, m in enumerate(members)
        )
    )
    assert all(codes(c) == [] for c in comments)
    row = await stored(graph, pid)
    assert (row["reactionCount"], row["reactions"]) == (30, 30)
    assert (row["commentCount"], row["comments"]) == (30, 30)
    seen = await read(client, owner, pid)
    assert seen is not None
    assert (seen["reactionCount"], seen["commentCount"]) == (30, 30)
    assert len(seen["comments"]["edges"]) == 30

    # and half of them take their reaction back at once
    undo = await asyncio.gather(
        *(mutate(client, REACT, "reactToPost", m, id=pid) for m in members[:15])
    )
    assert all(r["post"]["viewerReacted"] is False for r in undo)
    row = await stored(graph, pid)
    assert (row["reactionCount"], row["reactions"]) == (15, 15)


async def test_comments_are_oldest_first_and_paginate(client: GQL, graph: Graph) -> None:
    lin, chen = await person(client, "lin"), await person(client, "chen")
    await befriend(client, lin, chen)
    pid = await posted(client, lin, "talk to me")
    made = []
    for i in range(5):
        who = lin if i % 2 else chen
        comment = await mutate(client, COMMENT, "commentOnPost", who, id=pid, body=f"c{i}")
        made.append(comment["comment"]["id"])
    query = """query($id: ID!, $after: String) { post(id: $id) { commentCount
      comments(first: 2, after: $after) { edges { cursor node { id body } }
      pageInfo { hasNextPage endCursor } } } }"""
    bodies, after = [], None
    while True:
        data = await client(query, {"id": pid, "after": after}, token=lin["token"])
        conn = data["data"]["post"]["comments"]
        bodies += [e["node"]["body"] for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert bodies == ["c0", "c1", "c2", "c3", "c4"]
    # a deleted comment disappears
    await graph.write("MATCH (c:Comment {id: $id}) SET c.deleted = true", id=internal(made[2]))
    seen = await read(client, lin, pid)
    assert seen is not None
    assert [e["node"]["body"] for e in seen["comments"]["edges"]] == ["c0", "c1", "c3", "c4"]
    assert (await client(NODE, {"id": made[2]}, token=lin["token"]))["data"]["node"] is None


async def test_circle_posts_newest_first_with_cursor(
    client: GQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(ratelimit.POLICIES, "post", ratelimit.Policy(100, 1))
    owner = await person(client, "owner")
    circle = await create(client, owner)
    made = [await posted(client, owner, f"p{i}", circle) for i in range(7)]
    seen, after = [], None
    while True:
        conn = await circle_posts(client, None, circle, first=3, after=after)
        assert conn is not None
        seen += ids_of(conn)
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert seen == list(reversed(made))
    bad = await client(CIRCLE_POSTS, {"id": circle, "after": "garbage!"})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


# ---------------------------------------------------------------- rate limits


async def test_rate_limits(client: GQL, monkeypatch: pytest.MonkeyPatch) -> None:
    # a new account gets half: 4 -> 2 posts, 6 -> 3 comments
    monkeypatch.setitem(ratelimit.POLICIES, "post", ratelimit.Policy(4, 1 / 3600))
    monkeypatch.setitem(ratelimit.POLICIES, "comment", ratelimit.Policy(6, 1 / 3600))
    lin = await person(client, "lin")
    pid = await posted(client, lin, "one")
    await posted(client, lin, "two")
    payload = await post(client, lin, "three")
    assert codes(payload) == ["RATE_LIMITED"]
    assert payload["userErrors"][0]["field"] == "body"
    for i in range(3):
        ok = await mutate(client, COMMENT, "commentOnPost", lin, id=pid, body=f"c{i}")
        assert codes(ok) == []
    limited = await mutate(client, COMMENT, "commentOnPost", lin, id=pid, body="more")
    assert codes(limited) == ["RATE_LIMITED"]


# ---------------------------------------------------------------- redis down


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_post_is_committed_when_redis_is_unreachable(
    client: GQL, settings: Settings, graph: Graph
) -> None:
    lin = await person(client, "lin")
    app = create_app(
        settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{_closed_port()}/0"})
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.post(
                "/graphql",
                json={"query": CREATE_POST, "variables": {"input": {"body": "still here"}}},
                headers={"authorization": f"Bearer {lin['token']}"},
            )
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["createPost"]
    assert payload["userErrors"] == [] and payload["post"]["body"] == "still here"
    row = await stored(graph, payload["post"]["id"])
    assert row["fanout"] == "PENDING"  # the outbox sweeper will deliver it


# ---------------------------------------------------------------- round trips


Counted = Callable[..., Awaitable[Any]]


async def test_round_trips_do_not_grow_with_the_page(
    client: GQL, graph: Graph, round_trips: RoundTrips
) -> None:
    owner = await person(client, "owner")
    reader = await person(client, "reader")
    small = await create(client, owner, name="small")
    large = await create(client, owner, name="large")
    await join(client, reader, small)
    await join(client, reader, large)
    authors = await many_members(client, owner, large, 5)
    await asyncio.gather(*(join(client, a, small) for a in authors))
    for circle, n in ((small, 5), (large, 50)):
        await graph.write(
            """
            MATCH (c:Circle {id: $c})
            UNWIND range(1, $n) AS i
            MATCH (a:User {id: $authors[i % size($authors)]})
            CREATE (a)-[:POSTED]->(p:Post {id: $c + '-' + toString(i), body: 'b' + i,
                    createdAt: datetime(), createdAtMs: 1700000000000 + i, removed: false,
                    deleted: false, reactionCount: 0, commentCount: 0, fanout: 'DONE'})
                   -[:IN]->(c)
            WITH a, p MATCH (r:User {id: $reader}) CREATE (r)-[:REACTED {at: datetime()}]->(p)
            CREATE (a)-[:WROTE]->(:Comment {id: p.id + '-c', body: 'c', createdAt: datetime(),
                    deleted: false})-[:ON]->(p)
            """,
            c=internal(circle),
            n=n,
            authors=[internal(a["id"]) for a in authors],
            reader=internal(reader["id"]),
        )
    query = """query($id: ID!) { circle(id: $id) { posts(first: 50) { edges { node {
      id body createdAt reactionCount commentCount viewerReacted removed
      author { handle displayName isFriend } circle { id name viewerMembership }
      comments(first: 3) { edges { node { body author { handle } } } } } } } } }"""

    counts = {}
    for circle, n in ((small, 5), (large, 50)):
        with round_trips.counting() as trips:
            data = await client(query, {"id": circle}, token=reader["token"])
        assert "errors" not in data, data
        edges = data["data"]["circle"]["posts"]["edges"]
        assert len(edges) == n
        assert all(e["node"]["viewerReacted"] for e in edges)
        assert all(len(e["node"]["comments"]["edges"]) == 1 for e in edges)
        counts[n] = trips.sessions
    print(f"round trips: 5 posts -> {counts[5]}, 50 posts -> {counts[50]}")
    assert counts[5] == counts[50]


async def test_an_id_collision_is_retried_with_a_fresh_id(
    client: GQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    lin = await person(client, "lin")
    taken = internal(await posted(client, lin, "first"))
    real = domain.new_post_id
    ids = iter([(taken, domain.id_millis(taken))])
    monkeypatch.setattr(domain, "new_post_id", lambda: next(ids, None) or real())
    payload = await post(client, lin, "second")
    assert codes(payload) == []
    assert internal(payload["post"]["id"]) != taken
