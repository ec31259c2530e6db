"""Moderation: who may do what to whom (the whole matrix), each action's effect, the mod
log, and expiry without jobs."""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import pytest

from graph.driver import Graph
from graph.posts import new_post_id
from tests.conftest import GQL
from tests.test_feeds import feed, post

pytestmark = pytest.mark.usefixtures("generous_post_limit")

MODERATE = """mutation($input: ModerateInput!) { moderate(input: $input) {
  action { id kind reason expiresAt createdAt moderator { handle } circle { id }
           targetUser { handle } targetPost { id removed } }
  userErrors { code field message } } }"""
MOD_LOG = """query($c: ID!, $first: Int, $after: String) {
  modLog(circleId: $c, first: $first, after: $after) {
    edges { cursor node { id kind reason moderator { handle } targetUser { handle }
            targetPost { id removed } expiresAt } }
    pageInfo { hasNextPage endCursor } } }"""
CIRCLE = """query($id: ID!) { circle(id: $id) { memberCount viewerMembership viewerRole } }"""
POST = "query($id: ID!) { post(id: $id) { id removed } }"
NODE = "query($id: ID!) { node(id: $id) { id ... on ModAction { moderator { handle } } } }"
CREATE_POST = """mutation($input: CreatePostInput!) { createPost(input: $input) {
  post { id } userErrors { code } } }"""
JOIN = """mutation($id: ID!) { joinCircle(circleId: $id) {
  membership { state } userErrors { code } } }"""


def gid(type_name: str, internal_id: str) -> str:
    return base64.b64encode(f"{type_name}:{internal_id}".encode()).decode()


def internal(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


# ---------------------------------------------------------------- one circle, built directly

# Every person the matrix needs: (circle membership in C, in D) as (state, role).
PEOPLE: dict[str, tuple[tuple[str, str | None] | None, tuple[str, str | None] | None]] = {
    "owner": (("MEMBER", "OWNER"), None),
    "moderator": (("MEMBER", "MODERATOR"), None),  # the acting moderator
    "moderator2": (("MEMBER", "MODERATOR"), None),  # the moderator acted on
    "member": (("MEMBER", "MEMBER"), None),  # the acting member
    "target": (("MEMBER", "MEMBER"), None),  # the member acted on (state varies by kind)
    "other_mod": (None, ("MEMBER", "OWNER")),  # moderates another circle only
    "admin": (None, None),  # platform admin, no membership
    "banned": (("BANNED", None), None),
    "d_owner": (None, None),
}
ADMINS = {"admin"}


async def build(
    client: GQL,
    graph: Graph,
    *,
    visibility: str = "SEMI_PUBLIC",
    target_state: str = "MEMBER",
    target_muted: bool = False,
    posts_by: tuple[str, ...] = (),
    removed: bool = False,
) -> dict[str, Any]:
    """Circle C (the one acted in) and D (which other_mod moderates), everyone in one write.

    ``target`` holds ``target_state`` in C; ``posts_by`` each get a post in C (removed or
    not). Returns global ids, tokens and post ids by author."""
    people = {}
    for name in PEOPLE:
        uid = uuid.uuid4().hex
        people[name] = {
            "id": uid,
            "platformId": f"p-{uid[:12]}",
            "handle": f"{name}_{uid[:6]}",
        }
    memberships = []
    for name, (in_c, in_d) in PEOPLE.items():
        for circle, spec in (("C", in_c), ("D", in_d)):
            if spec is None:
                continue
            state, role = spec
            if name == "target":
                state, role = target_state, "MEMBER" if target_state == "MEMBER" else None
            memberships.append(
                {
                    "user": people[name]["id"],
                    "circle": circle,
                    "state": state,
                    "role": role,
                    "muted": name == "target" and target_muted,
                }
            )
    posts: list[dict[str, Any]] = []
    for author in posts_by:
        pid, ms = new_post_id()
        posts.append({"id": pid, "ms": ms, "author": people[author]["id"]})
    cids = {"C": uuid.uuid4().hex, "D": uuid.uuid4().hex}
    await graph.write(
        """
        UNWIND $circles AS circle
        CREATE (:Circle {id: circle.id, key: circle.key, name: 'Circle ' + circle.key,
                description: '', visibility: $visibility,
                joinPolicy: CASE WHEN $visibility = 'PRIVATE' THEN 'INVITE' ELSE 'OPEN' END,
                minTrustScore: 0, customersOnly: false, service: null, memberCount: 0,
                createdAt: datetime(), updatedAt: datetime()})
        WITH count(*) AS _
        UNWIND $people AS p
        CREATE (:User {id: p.id, platformId: p.platformId, handle: p.handle,
                handleKey: toLower(p.handle), displayName: p.handle, trustScore: 500,
                discoverable: true, suspended: false, createdAt: datetime(),
                updatedAt: datetime()})
        WITH count(*) AS _
        UNWIND $memberships AS m
        MATCH (u:User {id: m.user}), (c:Circle {key: m.circle})
        CREATE (u)-[:MEMBER_OF {state: m.state, role: m.role, since: datetime(),
                updatedAt: datetime(), bannedUntil: null,
                mutedUntil: CASE WHEN m.muted THEN datetime('9999-12-31T00:00:00Z') END}]->(c)
        SET c.memberCount = c.memberCount + CASE WHEN m.state = 'MEMBER' THEN 1 ELSE 0 END
        WITH count(*) AS _
        UNWIND $posts AS p
        MATCH (a:User {id: p.author}), (c:Circle {key: 'C'})
        CREATE (a)-[:POSTED]->(:Post {id: p.id, body: 'post by ' + a.handle,
                createdAt: datetime({epochMillis: p.ms}), createdAtMs: p.ms, removed: $removed,
                deleted: false, reactionCount: 0, commentCount: 0, fanout: 'DONE'})-[:IN]->(c)
        """,
        circles=[{"id": cid, "key": key} for key, cid in cids.items()],
        visibility=visibility,
        people=list(people.values()),
        memberships=memberships,
        posts=posts,
        removed=removed,
    )
    return {
        "circle": gid("Circle", cids["C"]),
        "other": gid("Circle", cids["D"]),
        "users": {n: gid("User", p["id"]) for n, p in people.items()},
        "tokens": {n: client.token(p["platformId"], admin=n in ADMINS) for n, p in people.items()},
        "handles": {n: p["handle"] for n, p in people.items()},
        "posts": {name: gid("Post", p["id"]) for name, p in zip(posts_by, posts, strict=True)},
    }


async def moderate(client: GQL, token: str, **fields: Any) -> dict[str, Any]:
    body = await client(MODERATE, {"input": fields}, token=token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["moderate"]
    return payload


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def action_count(graph: Graph) -> int:
    result = await graph.read("MATCH (a:ModAction) RETURN count(a) AS n")
    n: int = result.records[0]["n"]
    return n


# ---------------------------------------------------------------- the permission matrix

KINDS = (
    "REMOVE_POST",
    "RESTORE_POST",
    "BAN",
    "UNBAN",
    "MUTE",
    "UNMUTE",
    "KICK",
    "APPROVE_JOIN",
    "DENY_JOIN",
    "SET_ROLE",
)
ACTORS = ("member", "moderator", "other_mod", "owner", "admin", "banned")
TARGETS = ("member", "moderator", "owner")
# The person each target column names (the acting moderator never acts on themselves here;
# "moderator" as a target is a second moderator).
TARGET_PERSON = {"member": "target", "moderator": "moderator2", "owner": "owner"}
# What the member target's state must be for the action to have something to do.
TARGET_STATE = {"UNBAN": "BANNED", "APPROVE_JOIN": "PENDING", "DENY_JOIN": "PENDING"}


def expected(kind: str, actor: str, target: str) -> str:
    """OK or the error code, from the rules of graph/moderation.py."""
    if actor in ("member", "other_mod", "banned"):
        return "FORBIDDEN"  # they do not moderate this (SEMI_PUBLIC) circle
    if kind == "SET_ROLE" and actor == "moderator":
        return "FORBIDDEN"  # owner (and admins) only
    if target == "owner":
        return "FORBIDDEN"  # nobody acts on the owner: themselves, admins as if owner, rank
    if actor == "moderator" and target == "moderator":
        return "FORBIDDEN"  # never on another moderator
    if kind in ("UNBAN", "APPROVE_JOIN", "DENY_JOIN") and target == "moderator":
        return "NOT_FOUND"  # a moderator is neither banned nor asking to join
    return "OK"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("kind", KINDS)
async def test_permission_matrix(
    client: GQL, graph: Graph, kind: str, actor: str, target: str
) -> None:
    person = TARGET_PERSON[target]
    post_kind = kind in ("REMOVE_POST", "RESTORE_POST")
    world = await build(
        client,
        graph,
        target_state=TARGET_STATE.get(kind, "MEMBER"),
        target_muted=kind == "UNMUTE",
        posts_by=(person,) if post_kind else (),
        removed=kind == "RESTORE_POST",
    )
    if kind == "UNMUTE" and person != "target":
        await graph.write(
            "MATCH (:User {id: $u})-[r:MEMBER_OF]->() "
            "SET r.mutedUntil = datetime('9999-12-31T00:00:00Z')",
            u=internal(world["users"][person]),
        )
    fields: dict[str, Any] = {"circleId": world["circle"], "kind": kind, "reason": "rule 3"}
    if post_kind:
        fields["postId"] = world["posts"][person]
    else:
        fields["userId"] = world["users"][person]
    if kind == "SET_ROLE":
        fields["role"] = "MODERATOR" if target == "member" else "MEMBER"
    payload = await moderate(client, world["tokens"][actor], **fields)
    want = expected(kind, actor, target)
    if want == "OK":
        assert payload["userErrors"] == [], payload
        action = payload["action"]
        assert action["kind"] == kind
        assert action["moderator"]["handle"] == world["handles"][actor]
        assert action["reason"] == "rule 3"
        assert await action_count(graph) == 1
    else:
        assert codes(payload) == [want], payload
        assert payload["action"] is None
        assert await action_count(graph) == 0


@pytest.mark.parametrize("actor", ["other_mod", "banned", "member"])
async def test_private_circle_is_not_found_to_outsiders(
    client: GQL, graph: Graph, actor: str
) -> None:
    world = await build(client, graph, visibility="PRIVATE")
    payload = await moderate(
        client,
        world["tokens"][actor],
        circleId=world["circle"],
        kind="KICK",
        userId=world["users"]["target"],
    )
    # a member sees the circle (FORBIDDEN); outsiders and the banned do not (NOT_FOUND)
    assert codes(payload) == ["FORBIDDEN" if actor == "member" else "NOT_FOUND"]
    assert await action_count(graph) == 0


# ---------------------------------------------------------------- input


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "BAN", "reason": "x" * 501}, "reason"),
        ({"kind": "BAN", "reason": "spam\u202eevil"}, "reason"),
        ({"kind": "BAN", "reason": "two\nlines"}, "reason"),
        ({"kind": "BAN", "durationSeconds": 0}, "durationSeconds"),
        ({"kind": "MUTE", "durationSeconds": -5}, "durationSeconds"),
        ({"kind": "MUTE", "durationSeconds": 10 * 366 * 86400}, "durationSeconds"),
        ({"kind": "KICK", "durationSeconds": 60}, "durationSeconds"),
        ({"kind": "SET_ROLE"}, "role"),
        ({"kind": "KICK", "role": "MODERATOR"}, "role"),
        ({"kind": "REMOVE_POST"}, "postId"),
    ],
)
async def test_invalid_input(client: GQL, graph: Graph, fields: dict[str, Any], field: str) -> None:
    world = await build(client, graph)
    fields = {**fields, "userId": world["users"]["target"]}
    payload = await moderate(client, world["tokens"]["owner"], circleId=world["circle"], **fields)
    assert "INVALID_INPUT" in codes(payload), payload
    assert field in [e["field"] for e in payload["userErrors"]]
    assert await action_count(graph) == 0


async def test_missing_targets_are_not_found(client: GQL, graph: Graph) -> None:
    world = await build(client, graph, posts_by=("target",))
    owner = world["tokens"]["owner"]
    other_post_id, ms = new_post_id()
    await graph.write(
        """
        MATCH (a:User {id: $a}), (d:Circle {id: $d})
        CREATE (a)-[:POSTED]->(:Post {id: $id, body: 'elsewhere', createdAt: datetime(),
                createdAtMs: $ms, removed: false, deleted: false, reactionCount: 0,
                commentCount: 0, fanout: 'DONE'})-[:IN]->(d)
        """,
        a=internal(world["users"]["target"]),
        d=internal(world["other"]),
        id=other_post_id,
        ms=ms,
    )
    cases = [
        ({"kind": "REMOVE_POST", "postId": gid("Post", other_post_id)}, "postId"),
        ({"kind": "REMOVE_POST", "postId": gid("Post", "nope")}, "postId"),
        ({"kind": "BAN", "userId": gid("User", "nope")}, "userId"),
        ({"kind": "KICK", "userId": world["users"]["admin"]}, "userId"),  # not a member
        ({"kind": "UNBAN", "userId": world["users"]["target"]}, "userId"),  # not banned
        ({"kind": "UNMUTE", "userId": world["users"]["target"]}, "userId"),  # not muted
        ({"kind": "RESTORE_POST", "postId": world["posts"]["target"]}, "postId"),
    ]
    for fields, field in cases:
        payload = await moderate(client, owner, circleId=world["circle"], **fields)
        assert codes(payload) == ["NOT_FOUND"], (fields, payload)
        assert payload["userErrors"][0]["field"] == field
    bad_circle = await moderate(
        client, owner, circleId=gid("Circle", "nope"), kind="KICK", userId=world["users"]["target"]
    )
    assert codes(bad_circle) == ["NOT_FOUND"]
    assert await action_count(graph) == 0


# ---------------------------------------------------------------- effects


async def circle_view(client: GQL, token: str, circle: str) -> dict[str, Any] | None:
    body = await client(CIRCLE, {"id": circle}, token=token)
    found: dict[str, Any] | None = body["data"]["circle"]
    return found


async def test_ban_removes_the_circle_from_the_banned_users_feed(
    client: GQL, graph: Graph, drain: Any
) -> None:
    world = await build(client, graph, visibility="PUBLIC")
    target = {"token": world["tokens"]["target"]}
    owner = {"token": world["tokens"]["owner"]}
    await post(client, owner, "circle news", world["circle"])
    await drain()
    assert await feed(client, target) == ["circle news"]
    before = await circle_view(client, world["tokens"]["owner"], world["circle"])
    assert before is not None
    payload = await moderate(
        client,
        world["tokens"]["moderator"],
        circleId=world["circle"],
        kind="BAN",
        userId=world["users"]["target"],
        reason="spam",
    )
    assert payload["userErrors"] == [], payload
    assert payload["action"]["expiresAt"] is None  # permanent
    assert payload["action"]["targetUser"]["handle"] == world["handles"]["target"]
    # at once, before any worker ran
    assert await feed(client, target) == []
    after = await circle_view(client, world["tokens"]["owner"], world["circle"])
    assert after is not None and after["memberCount"] == before["memberCount"] - 1
    mine = await circle_view(client, world["tokens"]["target"], world["circle"])
    assert mine is not None and mine["viewerMembership"] == "BANNED"
    refused = await client(
        CREATE_POST, {"input": {"circleId": world["circle"], "body": "hi"}}, token=target["token"]
    )
    assert [e["code"] for e in refused["data"]["createPost"]["userErrors"]] == ["FORBIDDEN"]
    await drain()
    assert await feed(client, target) == []
    # UNBAN: no membership at all, and joining works again
    unban = await moderate(
        client,
        world["tokens"]["owner"],
        circleId=world["circle"],
        kind="UNBAN",
        userId=world["users"]["target"],
    )
    assert unban["userErrors"] == []
    mine = await circle_view(client, world["tokens"]["target"], world["circle"])
    assert mine is not None and mine["viewerMembership"] == "NONE"
    joined = await client(JOIN, {"id": world["circle"]}, token=target["token"])
    assert joined["data"]["joinCircle"]["membership"]["state"] == "MEMBER"


async def test_pre_emptive_ban_of_a_non_member(client: GQL, graph: Graph) -> None:
    world = await build(client, graph)
    outsider = await client.make_user("outsider")
    payload = await moderate(
        client,
        world["tokens"]["moderator"],
        circleId=world["circle"],
        kind="BAN",
        userId=outsider["id"],
        durationSeconds=3600,
    )
    assert payload["userErrors"] == [], payload
    assert payload["action"]["expiresAt"] is not None
    before = await circle_view(client, world["tokens"]["owner"], world["circle"])
    joined = await client(JOIN, {"id": world["circle"]}, token=outsider["token"])
    assert [e["code"] for e in joined["data"]["joinCircle"]["userErrors"]] == ["BANNED"]
    after = await circle_view(client, world["tokens"]["owner"], world["circle"])
    assert before == after  # the count did not move


async def test_removed_post_vanishes_from_feeds_at_once(
    client: GQL, graph: Graph, drain: Any
) -> None:
    world = await build(client, graph)
    author = {"token": world["tokens"]["target"]}
    reader = {"token": world["tokens"]["member"]}
    pid = await post(client, author, "buy my stuff", world["circle"])
    await post(client, author, "a fine post", world["circle"])
    await drain()
    assert await feed(client, reader) == ["a fine post", "buy my stuff"]
    payload = await moderate(
        client,
        world["tokens"]["moderator"],
        circleId=world["circle"],
        kind="REMOVE_POST",
        postId=pid,
        reason="advertising",
    )
    assert payload["userErrors"] == [], payload
    assert payload["action"]["targetPost"] == {"id": pid, "removed": True}
    assert payload["action"]["targetUser"]["handle"] == world["handles"]["target"]
    # gone from the feed without a worker run, and hidden from members and the author
    assert await feed(client, reader) == ["a fine post"]
    assert await feed(client, author) == ["a fine post"]
    for who in ("member", "target"):
        body = await client(POST, {"id": pid}, token=world["tokens"][who])
        assert body["data"]["post"] is None
    # the circle's moderators, owner and admins still see it, marked removed
    for who in ("moderator", "owner"):
        body = await client(POST, {"id": pid}, token=world["tokens"][who])
        assert body["data"]["post"] == {"id": pid, "removed": True}
    again = await moderate(
        client, world["tokens"]["owner"], circleId=world["circle"], kind="REMOVE_POST", postId=pid
    )
    assert codes(again) == ["ALREADY_EXISTS"]
    restored = await moderate(
        client, world["tokens"]["owner"], circleId=world["circle"], kind="RESTORE_POST", postId=pid
    )
    assert restored["userErrors"] == []
    assert await feed(client, reader) == ["a fine post", "buy my stuff"]
    body = await client(POST, {"id": pid}, token=world["tokens"]["member"])
    assert body["data"]["post"] == {"id": pid, "removed": False}
    assert await action_count(graph) == 2


async def test_kick_mute_and_join_reviews(client: GQL, graph: Graph) -> None:
    world = await build(client, graph, target_state="PENDING")
    owner, mod = world["tokens"]["owner"], world["tokens"]["moderator"]
    circle = world["circle"]
    start = await circle_view(client, owner, circle)
    assert start is not None

    async def count() -> int:
        view = await circle_view(client, owner, circle)
        assert view is not None
        n: int = view["memberCount"]
        return n

    approve = await moderate(
        client, mod, circleId=circle, kind="APPROVE_JOIN", userId=world["users"]["target"]
    )
    assert approve["userErrors"] == [], approve
    assert await count() == start["memberCount"] + 1
    mute = await moderate(
        client, mod, circleId=circle, kind="MUTE", userId=world["users"]["target"]
    )
    assert mute["userErrors"] == [] and mute["action"]["expiresAt"] is None
    body = await client(
        CREATE_POST,
        {"input": {"circleId": circle, "body": "hello"}},
        token=world["tokens"]["target"],
    )
    assert [e["code"] for e in body["data"]["createPost"]["userErrors"]] == ["MUTED"]
    unmute = await moderate(
        client, mod, circleId=circle, kind="UNMUTE", userId=world["users"]["target"]
    )
    assert unmute["userErrors"] == []
    body = await client(
        CREATE_POST,
        {"input": {"circleId": circle, "body": "hello"}},
        token=world["tokens"]["target"],
    )
    assert body["data"]["createPost"]["userErrors"] == []
    kick = await moderate(
        client, mod, circleId=circle, kind="KICK", userId=world["users"]["target"]
    )
    assert kick["userErrors"] == []
    assert await count() == start["memberCount"]
    mine = await circle_view(client, world["tokens"]["target"], circle)
    assert mine is not None and mine["viewerMembership"] == "NONE"
    # not banned: they may come back; then ask again and be denied
    joined = await client(JOIN, {"id": circle}, token=world["tokens"]["target"])
    assert joined["data"]["joinCircle"]["membership"]["state"] == "MEMBER"
    await graph.write(
        "MATCH (:User {id: $u})-[r:MEMBER_OF]->(c:Circle {id: $c}) "
        "SET r.state = 'PENDING', r.role = null, c.memberCount = c.memberCount - 1",
        u=internal(world["users"]["target"]),
        c=internal(circle),
    )
    deny = await moderate(
        client, mod, circleId=circle, kind="DENY_JOIN", userId=world["users"]["target"]
    )
    assert deny["userErrors"] == []
    mine = await circle_view(client, world["tokens"]["target"], circle)
    assert mine is not None and mine["viewerMembership"] == "NONE"
    assert await count() == start["memberCount"]
    assert await action_count(graph) == 5


async def test_set_role_and_handing_ownership_on(client: GQL, graph: Graph) -> None:
    world = await build(client, graph)
    owner, circle, users = world["tokens"]["owner"], world["circle"], world["users"]
    promote = await moderate(
        client, owner, circleId=circle, kind="SET_ROLE", userId=users["target"], role="MODERATOR"
    )
    assert promote["userErrors"] == []
    mine = await circle_view(client, world["tokens"]["target"], circle)
    assert mine is not None and mine["viewerRole"] == "MODERATOR"
    same = await moderate(
        client, owner, circleId=circle, kind="SET_ROLE", userId=users["target"], role="MODERATOR"
    )
    assert codes(same) == ["ALREADY_EXISTS"]
    hand_on = await moderate(
        client, owner, circleId=circle, kind="SET_ROLE", userId=users["member"], role="OWNER"
    )
    assert hand_on["userErrors"] == [], hand_on
    roles = {}
    for who in ("owner", "member"):
        view = await circle_view(client, world["tokens"][who], circle)
        assert view is not None
        roles[who] = view["viewerRole"]
    assert roles == {"owner": "MODERATOR", "member": "OWNER"}
    # the old owner is a moderator now: no more roles, and the new owner is out of reach
    again = await moderate(
        client, owner, circleId=circle, kind="SET_ROLE", userId=users["target"], role="MEMBER"
    )
    assert codes(again) == ["FORBIDDEN"]
    kick = await moderate(client, owner, circleId=circle, kind="KICK", userId=users["member"])
    assert codes(kick) == ["FORBIDDEN"]
    # an admin hands ownership on for a circle whose owner went rogue
    rescue = await moderate(
        client,
        world["tokens"]["admin"],
        circleId=circle,
        kind="SET_ROLE",
        userId=users["moderator"],
        role="OWNER",
    )
    assert rescue["userErrors"] == []
    view = await circle_view(client, world["tokens"]["member"], circle)
    assert view is not None and view["viewerRole"] == "MODERATOR"
    owners = await graph.read(
        "MATCH (:User)-[r:MEMBER_OF {role: 'OWNER'}]->(:Circle {id: $c}) RETURN count(r) AS n",
        c=internal(circle),
    )
    assert owners.records[0]["n"] == 1
    assert await action_count(graph) == 3


# ---------------------------------------------------------------- expiry without jobs


async def test_ban_and_mute_expire_at_read_time(client: GQL, graph: Graph) -> None:
    world = await build(client, graph)
    mod, circle, users = world["tokens"]["moderator"], world["circle"], world["users"]
    ban = await moderate(
        client, mod, circleId=circle, kind="BAN", userId=users["target"], durationSeconds=1
    )
    assert ban["userErrors"] == [] and ban["action"]["expiresAt"] is not None
    mute = await moderate(
        client, mod, circleId=circle, kind="MUTE", userId=users["member"], durationSeconds=1
    )
    assert mute["userErrors"] == [] and mute["action"]["expiresAt"] is not None
    post_input = {"input": {"circleId": circle, "body": "hello"}}
    body = await client(CREATE_POST, post_input, token=world["tokens"]["member"])
    assert [e["code"] for e in body["data"]["createPost"]["userErrors"]] == ["MUTED"]
    mine = await circle_view(client, world["tokens"]["target"], circle)
    assert mine is not None and mine["viewerMembership"] == "BANNED"
    await asyncio.sleep(1.5)
    body = await client(CREATE_POST, post_input, token=world["tokens"]["member"])
    assert body["data"]["createPost"]["userErrors"] == []
    mine = await circle_view(client, world["tokens"]["target"], circle)
    assert mine is not None and mine["viewerMembership"] == "NONE"
    joined = await client(JOIN, {"id": circle}, token=world["tokens"]["target"])
    assert joined["data"]["joinCircle"]["membership"]["state"] == "MEMBER"
    # an expired ban is no ban to lift, an expired mute no mute
    for kind, who in (("UNMUTE", "member"),):
        payload = await moderate(client, mod, circleId=circle, kind=kind, userId=users[who])
        assert codes(payload) == ["NOT_FOUND"]


# ---------------------------------------------------------------- the mod log


async def test_mod_log_is_for_moderators_only_newest_first(client: GQL, graph: Graph) -> None:
    world = await build(client, graph, posts_by=("target",))
    owner, mod, circle, users = (
        world["tokens"]["owner"],
        world["tokens"]["moderator"],
        world["circle"],
        world["users"],
    )
    steps: list[tuple[str, dict[str, Any]]] = [
        (mod, {"kind": "REMOVE_POST", "postId": world["posts"]["target"], "reason": "spam"}),
        (mod, {"kind": "MUTE", "userId": users["target"], "durationSeconds": 600}),
        (owner, {"kind": "SET_ROLE", "userId": users["member"], "role": "MODERATOR"}),
        (owner, {"kind": "BAN", "userId": users["target"]}),
        (world["tokens"]["admin"], {"kind": "KICK", "userId": users["member"]}),
    ]
    ids = []
    for token, fields in steps:
        payload = await moderate(client, token, circleId=circle, **fields)
        assert payload["userErrors"] == [], (fields, payload)
        ids.append(payload["action"]["id"])
    assert await action_count(graph) == len(steps)
    # a failed action writes nothing
    failed = await moderate(client, mod, circleId=circle, kind="KICK", userId=users["owner"])
    assert codes(failed) == ["FORBIDDEN"]
    assert await action_count(graph) == len(steps)

    for reader in ("moderator", "owner", "admin"):
        seen: list[str] = []
        after = None
        while True:
            body = await client(
                MOD_LOG, {"c": circle, "first": 2, "after": after}, token=world["tokens"][reader]
            )
            assert "errors" not in body, body
            page = body["data"]["modLog"]
            seen += [e["node"]["id"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert seen == list(reversed(ids)), reader
    body = await client(MOD_LOG, {"c": circle, "first": 10}, token=mod)
    nodes = [e["node"] for e in body["data"]["modLog"]["edges"]]
    assert [n["kind"] for n in nodes] == ["KICK", "BAN", "SET_ROLE", "MUTE", "REMOVE_POST"]
    assert nodes[-1]["moderator"]["handle"] == world["handles"]["moderator"]
    assert nodes[-1]["reason"] == "spam"
    assert nodes[-1]["targetPost"]["removed"] is True  # visible to moderators though removed
    assert nodes[-2]["expiresAt"] is not None and nodes[1]["expiresAt"] is None
    assert nodes[0]["moderator"]["handle"] == world["handles"]["admin"]

    # everyone else: null, and the actions cannot be reached by id either
    readers: tuple[str | None, ...] = (
        None,
        world["tokens"]["target"],  # banned now
        world["tokens"]["other_mod"],
        world["tokens"]["d_owner"],
        client.token("nobody"),  # signed in as no one
    )
    for reader_token in readers:
        body = await client(MOD_LOG, {"c": circle}, token=reader_token)
        assert body["data"]["modLog"] is None
        body = await client(NODE, {"id": ids[0]}, token=reader_token)
        assert body["data"]["node"] is None
    # a plain member (the kicked one rejoins as a member first)
    joined = await client(JOIN, {"id": circle}, token=world["tokens"]["member"])
    assert joined["data"]["joinCircle"]["membership"]["state"] == "MEMBER"
    body = await client(MOD_LOG, {"c": circle}, token=world["tokens"]["member"])
    assert body["data"]["modLog"] is None
    body = await client(NODE, {"id": ids[0]}, token=mod)
    assert body["data"]["node"]["moderator"]["handle"] == world["handles"]["moderator"]
