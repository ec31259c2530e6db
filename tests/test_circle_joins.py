"""Joining and leaving circles: every policy, every gate, every error code, concurrency."""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import pytest

from graph.driver import Graph
from tests.conftest import GQL
from workers import ratelimit

CREATE = """mutation($input: CreateCircleInput!) { createCircle(input: $input) {
  circle { id memberCount } userErrors { code field message } } }"""
JOIN = """mutation($id: ID!, $message: String) { joinCircle(circleId: $id, message: $message) {
  membership { state role user { handle } circle { id memberCount viewerMembership } }
  userErrors { code field message } } }"""
LEAVE = """mutation($id: ID!) { leaveCircle(circleId: $id) {
  membership { state role circle { id memberCount viewerMembership } }
  userErrors { code field message } } }"""
INVITE = """mutation($c: ID!, $u: ID!) { inviteToCircle(circleId: $c, userId: $u) {
  membership { state role user { handle } } userErrors { code field message } } }"""
REVIEW = """mutation($c: ID!, $u: ID!, $approve: Boolean!) {
  reviewJoinRequest(circleId: $c, userId: $u, approve: $approve) {
  membership { state role user { handle } } userErrors { code field message } } }"""
CIRCLE = """query($id: ID!) { circle(id: $id) { id memberCount viewerMembership viewerRole
  joinRequests { edges { node { user { handle } state } } } } }"""


def internal(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


def gid(type_name: str, internal_id: str) -> str:
    return base64.b64encode(f"{type_name}:{internal_id}".encode()).decode()


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def user(client: GQL, handle: str, trust: int = 600) -> dict[str, Any]:
    return await client.make_user(handle, trustScore=trust)


async def merchant(graph: Graph, staff: dict[str, Any]) -> str:
    """A merchant with ``staff`` as its staff; returns its global id."""
    mid = uuid.uuid4().hex
    await graph.write(
        """
        MERGE (m:Merchant {platformId: $platformId})
        SET m.id = $id, m.name = 'Tea Shop', m.category = 'dining', m.createdAt = datetime()
        WITH m MATCH (u:User {id: $staff}) MERGE (u)-[:STAFF_OF]->(m)
        """,
        platformId=f"m-{mid[:8]}",
        id=mid,
        staff=internal(staff["id"]),
    )
    return gid("Merchant", mid)


async def visit(graph: Graph, who: dict[str, Any], merchant_gid: str) -> None:
    await graph.write(
        """
        MATCH (u:User {id: $u}), (m:Merchant {id: $m})
        CREATE (u)-[:VISITED {at: datetime()}]->(m)
        """,
        u=internal(who["id"]),
        m=internal(merchant_gid),
    )


async def ban(graph: Graph, who: dict[str, Any], circle: str, minutes: int | None) -> None:
    """A ban as moderation will write it: permanent (None) or ending in ``minutes``."""
    await graph.write(
        """
        MATCH (u:User {id: $u}), (c:Circle {id: $c})
        MERGE (u)-[r:MEMBER_OF]->(c)
        SET c.memberCount = c.memberCount - CASE WHEN r.state = 'MEMBER' THEN 1 ELSE 0 END,
            r.state = 'BANNED', r.role = null, r.updatedAt = datetime(),
            r.since = coalesce(r.since, datetime()),
            r.bannedUntil = CASE WHEN $minutes IS NULL THEN null
                            ELSE datetime() + duration({minutes: $minutes}) END
        """,
        u=internal(who["id"]),
        c=internal(circle),
        minutes=minutes,
    )


async def create(client: GQL, owner: dict[str, Any], **fields: Any) -> str:
    data = {"name": "Parents of Class 3", "visibility": "PUBLIC", "joinPolicy": "OPEN", **fields}
    body = await client(CREATE, {"input": data}, token=owner["token"])
    payload = body["data"]["createCircle"]
    assert payload["userErrors"] == [], payload
    cid: str = payload["circle"]["id"]
    return cid


async def join(
    client: GQL, who: dict[str, Any], circle: str, message: str | None = None
) -> dict[str, Any]:
    body = await client(JOIN, {"id": circle, "message": message}, token=who["token"])
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["joinCircle"]
    return payload


async def leave(client: GQL, who: dict[str, Any], circle: str) -> dict[str, Any]:
    body = await client(LEAVE, {"id": circle}, token=who["token"])
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["leaveCircle"]
    return payload


async def invite(
    client: GQL, by: dict[str, Any], circle: str, who: dict[str, Any]
) -> dict[str, Any]:
    body = await client(INVITE, {"c": circle, "u": who["id"]}, token=by["token"])
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["inviteToCircle"]
    return payload


async def review(
    client: GQL, by: dict[str, Any], circle: str, who: dict[str, Any], approve: bool
) -> dict[str, Any]:
    body = await client(
        REVIEW, {"c": circle, "u": who["id"], "approve": approve}, token=by["token"]
    )
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["reviewJoinRequest"]
    return payload


async def view(client: GQL, who: dict[str, Any] | None, circle: str) -> dict[str, Any] | None:
    body = await client(CIRCLE, {"id": circle}, token=who["token"] if who else None)
    assert "errors" not in body, body
    found: dict[str, Any] | None = body["data"]["circle"]
    return found


async def member_count(client: GQL, owner: dict[str, Any], circle: str) -> int:
    seen = await view(client, owner, circle)
    assert seen is not None
    count: int = seen["memberCount"]
    return count


async def stored_members(graph: Graph, circle: str) -> tuple[int, int]:
    """(memberCount property, number of MEMBER relationships) straight from Neo4j."""
    result = await graph.read(
        """
        MATCH (c:Circle {id: $c})
        RETURN c.memberCount AS count,
               COUNT { (:User)-[:MEMBER_OF {state: 'MEMBER'}]->(c) } AS members
        """,
        c=internal(circle),
    )
    row = result.records[0]
    return row["count"], row["members"]


async def make_moderator(graph: Graph, who: dict[str, Any], circle: str) -> None:
    await graph.write(
        "MATCH (:User {id: $u})-[r:MEMBER_OF {state: 'MEMBER'}]->(:Circle {id: $c}) "
        "SET r.role = 'MODERATOR'",
        u=internal(who["id"]),
        c=internal(circle),
    )


# ---------------------------------------------------------------- policies


async def test_open_joins_at_once(client: GQL, graph: Graph) -> None:
    owner, lin = await user(client, "owner"), await user(client, "lin")
    circle = await create(client, owner)
    payload = await join(client, lin, circle)
    assert payload["userErrors"] == []
    assert payload["membership"]["state"] == "MEMBER"
    assert payload["membership"]["role"] == "MEMBER"
    assert payload["membership"]["user"]["handle"] == "lin"
    assert payload["membership"]["circle"]["memberCount"] == 2
    assert payload["membership"]["circle"]["viewerMembership"] == "MEMBER"
    assert await member_count(client, owner, circle) == 2
    assert await stored_members(graph, circle) == (2, 2)


async def test_approval_pending_then_approved(client: GQL, graph: Graph) -> None:
    owner, lin = await user(client, "owner"), await user(client, "lin")
    circle = await create(client, owner, joinPolicy="APPROVAL")
    payload = await join(client, lin, circle, message="my kid is in class 3")
    assert payload["userErrors"] == []
    assert payload["membership"]["state"] == "PENDING"
    assert payload["membership"]["role"] is None
    assert payload["membership"]["circle"]["memberCount"] == 1
    stored = await graph.read(
        "MATCH (:User {id: $u})-[r:MEMBER_OF]->(:Circle {id: $c}) RETURN r.message AS m",
        u=internal(lin["id"]),
        c=internal(circle),
    )
    assert stored.records[0]["m"] == "my kid is in class 3"
    seen = await view(client, owner, circle)
    assert seen is not None
    assert [e["node"]["user"]["handle"] for e in seen["joinRequests"]["edges"]] == ["lin"]

    approved = await review(client, owner, circle, lin, approve=True)
    assert approved["userErrors"] == []
    assert approved["membership"]["state"] == "MEMBER"
    assert approved["membership"]["role"] == "MEMBER"
    mine = await view(client, lin, circle)
    assert mine is not None and mine["viewerMembership"] == "MEMBER"
    assert mine["viewerRole"] == "MEMBER"
    assert await stored_members(graph, circle) == (2, 2)
    seen = await view(client, owner, circle)
    assert seen is not None and seen["joinRequests"]["edges"] == []
    # nothing left to review
    again = await review(client, owner, circle, lin, approve=True)
    assert codes(again) == ["NOT_FOUND"]


async def test_approval_denied(client: GQL, graph: Graph) -> None:
    owner, lin = await user(client, "owner"), await user(client, "lin")
    circle = await create(client, owner, joinPolicy="APPROVAL")
    assert (await join(client, lin, circle))["membership"]["state"] == "PENDING"
    denied = await review(client, owner, circle, lin, approve=False)
    assert denied["userErrors"] == []
    assert denied["membership"]["state"] == "NONE"
    seen = await view(client, lin, circle)
    assert seen is not None and seen["viewerMembership"] == "NONE"
    assert await stored_members(graph, circle) == (1, 1)
    # denied is not banned: they may ask again
    assert (await join(client, lin, circle))["membership"]["state"] == "PENDING"


async def test_only_moderators_review(client: GQL, graph: Graph) -> None:
    owner, mod, member, lin = (
        await user(client, "owner"),
        await user(client, "mod"),
        await user(client, "member"),
        await user(client, "lin"),
    )
    circle = await create(client, owner, joinPolicy="APPROVAL")
    for who in (mod, member):
        await invite(client, owner, circle, who)
        await join(client, who, circle)
    await make_moderator(graph, mod, circle)
    await join(client, lin, circle)
    assert codes(await review(client, member, circle, lin, approve=True)) == ["FORBIDDEN"]
    assert codes(await review(client, lin, circle, lin, approve=True)) == ["FORBIDDEN"]
    approved = await review(client, mod, circle, lin, approve=True)
    assert approved["membership"]["state"] == "MEMBER"


async def test_invite_policy_requires_invitation(client: GQL, graph: Graph) -> None:
    owner, lin = await user(client, "owner"), await user(client, "lin")
    for visibility in ("PUBLIC", "SEMI_PUBLIC"):
        circle = await create(client, owner, visibility=visibility, joinPolicy="INVITE")
        refused = await join(client, lin, circle)
        assert codes(refused) == ["INVITE_REQUIRED"]
        assert refused["membership"] is None
        assert await stored_members(graph, circle) == (1, 1)


@pytest.mark.parametrize("visibility", ["PUBLIC", "SEMI_PUBLIC", "PRIVATE"])
async def test_invitee_joins(client: GQL, graph: Graph, visibility: str) -> None:
    owner, lin = await user(client, "owner"), await user(client, "lin")
    circle = await create(client, owner, visibility=visibility, joinPolicy="INVITE")
    invited = await invite(client, owner, circle, lin)
    assert invited["userErrors"] == []
    assert invited["membership"]["state"] == "INVITED"
    assert invited["membership"]["user"]["handle"] == "lin"
    seen = await view(client, lin, circle)
    assert seen is not None and seen["viewerMembership"] == "INVITED"
    assert codes(await invite(client, owner, circle, lin)) == ["ALREADY_EXISTS"]
    joined = await join(client, lin, circle)
    assert joined["userErrors"] == []
    assert joined["membership"]["state"] == "MEMBER"
    assert joined["membership"]["circle"]["memberCount"] == 2
    assert await stored_members(graph, circle) == (2, 2)
    assert codes(await invite(client, owner, circle, lin)) == ["ALREADY_EXISTS"]


@pytest.mark.parametrize("visibility", ["PUBLIC", "PRIVATE"])
async def test_invitee_declines(client: GQL, graph: Graph, visibility: str) -> None:
    owner, lin = await user(client, "owner"), await user(client, "lin")
    circle = await create(client, owner, visibility=visibility, joinPolicy="INVITE")
    await invite(client, owner, circle, lin)
    declined = await leave(client, lin, circle)
    assert declined["userErrors"] == []
    if visibility == "PRIVATE":
        # declining makes the circle invisible again: nothing to show
        assert declined["membership"] is None
        assert await view(client, lin, circle) is None
    else:
        assert declined["membership"]["state"] == "NONE"
        seen = await view(client, lin, circle)
        assert seen is not None and seen["viewerMembership"] == "NONE"
    assert await stored_members(graph, circle) == (1, 1)
    assert codes(await join(client, lin, circle)) == (
        ["NOT_FOUND"] if visibility == "PRIVATE" else ["INVITE_REQUIRED"]
    )


async def test_who_may_invite(client: GQL, graph: Graph) -> None:
    owner, mod, member, outsider, lin = (
        await user(client, "owner"),
        await user(client, "mod"),
        await user(client, "member"),
        await user(client, "outsider"),
        await user(client, "lin"),
    )
    circle = await create(client, owner, visibility="SEMI_PUBLIC", joinPolicy="INVITE")
    for who in (mod, member):
        await invite(client, owner, circle, who)
        await join(client, who, circle)
    await make_moderator(graph, mod, circle)
    assert codes(await invite(client, member, circle, lin)) == ["FORBIDDEN"]
    assert codes(await invite(client, outsider, circle, lin)) == ["FORBIDDEN"]
    by_mod = await invite(client, mod, circle, lin)
    assert by_mod["userErrors"] == []
    assert by_mod["membership"]["state"] == "INVITED"
    stored = await graph.read(
        "MATCH (:User {id: $u})-[r:MEMBER_OF]->(:Circle {id: $c}) RETURN r.invitedBy AS by",
        u=internal(lin["id"]),
        c=internal(circle),
    )
    assert stored.records[0]["by"] == internal(mod["id"])
    # unknown invitee
    missing = await client(
        INVITE, {"c": circle, "u": gid("User", uuid.uuid4().hex)}, token=owner["token"]
    )
    assert codes(missing["data"]["inviteToCircle"]) == ["NOT_FOUND"]


async def test_private_invite_by_outsider_is_not_found(client: GQL) -> None:
    owner, outsider, lin = (
        await user(client, "owner"),
        await user(client, "outsider"),
        await user(client, "lin"),
    )
    circle = await create(client, owner, visibility="PRIVATE", joinPolicy="INVITE")
    hidden = await invite(client, outsider, circle, lin)
    assert codes(hidden) == ["NOT_FOUND"]


async def test_inviting_a_pending_user_admits_them(client: GQL, graph: Graph) -> None:
    owner, lin = await user(client, "owner"), await user(client, "lin")
    circle = await create(client, owner, joinPolicy="APPROVAL")
    assert (await join(client, lin, circle))["membership"]["state"] == "PENDING"
    admitted = await invite(client, owner, circle, lin)
    assert admitted["userErrors"] == []
    assert admitted["membership"]["state"] == "MEMBER"
    assert admitted["membership"]["role"] == "MEMBER"
    assert await stored_members(graph, circle) == (2, 2)


# ---------------------------------------------------------------- gates


POLICY_CASES = [
    ("PUBLIC", "OPEN"),
    ("SEMI_PUBLIC", "APPROVAL"),
    ("PUBLIC", "INVITE"),
    ("PRIVATE", "INVITE"),
]


def success_state(policy: str) -> str:
    return "PENDING" if policy == "APPROVAL" else "MEMBER"


async def open_door(
    client: GQL, owner: dict[str, Any], circle: str, policy: str, who: dict[str, Any]
) -> None:
    """Invite where the policy (or visibility) needs it, so only the gate decides."""
    if policy == "INVITE":
        assert (await invite(client, owner, circle, who))["userErrors"] == []


@pytest.mark.parametrize(("visibility", "policy"), POLICY_CASES)
async def test_trust_gate(client: GQL, graph: Graph, visibility: str, policy: str) -> None:
    owner = await user(client, "owner")
    low, exact = await user(client, "low", trust=399), await user(client, "exact", trust=400)
    circle = await create(
        client, owner, visibility=visibility, joinPolicy=policy, minTrustScore=400
    )
    for who in (low, exact):
        await open_door(client, owner, circle, policy, who)
    refused = await join(client, low, circle)
    assert codes(refused) == ["TRUST_TOO_LOW"]
    assert refused["membership"] is None
    admitted = await join(client, exact, circle)
    assert admitted["userErrors"] == []
    assert admitted["membership"]["state"] == success_state(policy)


@pytest.mark.parametrize(("visibility", "policy"), POLICY_CASES)
async def test_customers_only_gate(client: GQL, graph: Graph, visibility: str, policy: str) -> None:
    owner, stranger, regular = (
        await user(client, "owner"),
        await user(client, "stranger"),
        await user(client, "regular"),
    )
    shop = await merchant(graph, owner)
    circle = await create(
        client,
        owner,
        visibility=visibility,
        joinPolicy=policy,
        merchantId=shop,
        customersOnly=True,
    )
    await visit(graph, regular, shop)
    # a visit to another merchant does not count
    other = await merchant(graph, owner)
    await visit(graph, stranger, other)
    for who in (stranger, regular):
        await open_door(client, owner, circle, policy, who)
    refused = await join(client, stranger, circle)
    assert codes(refused) == ["NOT_A_CUSTOMER"]
    admitted = await join(client, regular, circle)
    assert admitted["userErrors"] == []
    assert admitted["membership"]["state"] == success_state(policy)


@pytest.mark.parametrize(("visibility", "policy"), POLICY_CASES)
async def test_ban_gate(client: GQL, graph: Graph, visibility: str, policy: str) -> None:
    owner = await user(client, "owner")
    banned, expired = await user(client, "banned"), await user(client, "expired")
    circle = await create(client, owner, visibility=visibility, joinPolicy=policy)
    await ban(graph, banned, circle, None)
    await ban(graph, expired, circle, -1)
    refused = await join(client, banned, circle)
    if visibility == "PRIVATE":
        # a banned user sees nothing of a PRIVATE circle: it is missing to them
        assert codes(refused) == ["NOT_FOUND"]
    else:
        assert codes(refused) == ["BANNED"]
    # a ban with an expiry in the future still holds
    await ban(graph, banned, circle, 60)
    assert codes(await join(client, banned, circle)) == codes(refused)
    # an expired ban is no ban: the ordinary policy applies
    await open_door(client, owner, circle, policy, expired)
    admitted = await join(client, expired, circle)
    assert admitted["userErrors"] == []
    assert admitted["membership"]["state"] == success_state(policy)


async def test_ban_is_checked_before_other_gates(client: GQL, graph: Graph) -> None:
    owner, banned = await user(client, "owner"), await user(client, "banned", trust=10)
    circle = await create(client, owner, minTrustScore=500)
    await ban(graph, banned, circle, None)
    assert codes(await join(client, banned, circle)) == ["BANNED"]


# ---------------------------------------------------------------- errors


async def test_already_member_or_pending(client: GQL, graph: Graph) -> None:
    owner, lin, chen = (
        await user(client, "owner"),
        await user(client, "lin"),
        await user(client, "chen"),
    )
    open_circle = await create(client, owner)
    await join(client, lin, open_circle)
    assert codes(await join(client, lin, open_circle)) == ["ALREADY_EXISTS"]
    assert codes(await join(client, owner, open_circle)) == ["ALREADY_EXISTS"]
    assert await stored_members(graph, open_circle) == (2, 2)
    approval = await create(client, owner, joinPolicy="APPROVAL")
    await join(client, chen, approval)
    assert codes(await join(client, chen, approval)) == ["ALREADY_EXISTS"]


async def test_unknown_garbage_and_hidden_circle_ids(client: GQL) -> None:
    owner, lin = await user(client, "owner"), await user(client, "lin")
    private = await create(client, owner, visibility="PRIVATE", joinPolicy="INVITE")
    random_circle = gid("Circle", uuid.uuid4().hex)
    missing = await join(client, lin, random_circle)
    assert codes(missing) == ["NOT_FOUND"]
    assert missing["membership"] is None
    hidden = await join(client, lin, private)
    assert hidden == missing  # indistinguishable, message and field included
    for garbage in ("not-an-id", "", gid("User", internal(private)), "Q2lyY2xlOg=="):
        assert codes(await join(client, lin, garbage)) == ["NOT_FOUND"], garbage
    # leaving a circle you are not in: the same answer, visible or not
    public = await create(client, owner)
    assert (await leave(client, lin, private)) == (await leave(client, lin, random_circle))
    assert codes(await leave(client, lin, public)) == ["NOT_FOUND"]


async def test_message_validation(client: GQL) -> None:
    owner, lin = await user(client, "owner"), await user(client, "lin")
    circle = await create(client, owner, joinPolicy="APPROVAL")
    assert codes(await join(client, lin, circle, message="x" * 501)) == ["INVALID_INPUT"]
    assert codes(await join(client, lin, circle, message="hi\u202e")) == ["INVALID_INPUT"]
    ok = await join(client, lin, circle, message="line one\nline two")
    assert ok["membership"]["state"] == "PENDING"


async def test_blocked_either_way_cannot_be_invited(client: GQL) -> None:
    owner, lin, chen = (
        await user(client, "owner"),
        await user(client, "lin"),
        await user(client, "chen"),
    )
    circle = await create(client, owner, joinPolicy="INVITE")
    block = "mutation($id: ID!) { blockUser(userId: $id) { ok userErrors { code } } }"
    await client(block, {"id": lin["id"]}, token=owner["token"])
    await client(block, {"id": owner["id"]}, token=chen["token"])
    for who in (lin, chen):
        refused = await invite(client, owner, circle, who)
        assert codes(refused) == ["BLOCKED"], who["handle"]
        assert refused["membership"] is None


async def test_joins_are_rate_limited(client: GQL, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        ratelimit.POLICIES, "join", ratelimit.Policy(capacity=8, refill_per_second=1 / 600)
    )
    owner, lin = await user(client, "owner"), await user(client, "lin")
    circles = [await create(client, owner, name=f"Circle {i}") for i in range(3)]
    # a new account gets half the bucket: 4 attempts, failed ones included
    assert codes(await join(client, lin, circles[0])) == []
    assert codes(await join(client, lin, circles[0])) == ["ALREADY_EXISTS"]
    assert codes(await join(client, lin, circles[1])) == []
    assert codes(await join(client, lin, circles[1])) == ["ALREADY_EXISTS"]
    body = await client(
        """mutation($id: ID!) { joinCircle(circleId: $id) { membership { state }
           userErrors { code field retryAfterSeconds } } }""",
        {"id": circles[2]},
        token=lin["token"],
    )
    payload = body["data"]["joinCircle"]
    assert codes(payload) == ["RATE_LIMITED"]
    assert payload["userErrors"][0]["field"] == "circleId"
    assert payload["userErrors"][0]["retryAfterSeconds"] >= 1
    assert payload["membership"] is None


async def test_anonymous_is_unauthenticated(client: GQL) -> None:
    owner, lin = await user(client, "owner"), await user(client, "lin")
    circle = await create(client, owner)
    for query, variables, name in (
        (JOIN, {"id": circle}, "joinCircle"),
        (LEAVE, {"id": circle}, "leaveCircle"),
        (INVITE, {"c": circle, "u": lin["id"]}, "inviteToCircle"),
        (REVIEW, {"c": circle, "u": lin["id"], "approve": True}, "reviewJoinRequest"),
    ):
        body = await client(query, variables)
        assert codes(body["data"][name]) == ["UNAUTHENTICATED"], name
        assert body["data"][name]["membership"] is None


# ---------------------------------------------------------------- leaving


async def test_member_leaves(client: GQL, graph: Graph) -> None:
    owner, lin = await user(client, "owner"), await user(client, "lin")
    circle = await create(client, owner)
    await join(client, lin, circle)
    assert await stored_members(graph, circle) == (2, 2)
    left = await leave(client, lin, circle)
    assert left["userErrors"] == []
    assert left["membership"]["state"] == "NONE"
    assert left["membership"]["role"] is None
    assert left["membership"]["circle"]["memberCount"] == 1
    assert await stored_members(graph, circle) == (1, 1)
    assert codes(await leave(client, lin, circle)) == ["NOT_FOUND"]


async def test_pending_withdraws(client: GQL, graph: Graph) -> None:
    owner, lin = await user(client, "owner"), await user(client, "lin")
    circle = await create(client, owner, joinPolicy="APPROVAL")
    await join(client, lin, circle)
    withdrawn = await leave(client, lin, circle)
    assert withdrawn["membership"]["state"] == "NONE"
    assert await stored_members(graph, circle) == (1, 1)
    seen = await view(client, owner, circle)
    assert seen is not None and seen["joinRequests"]["edges"] == []


async def test_last_owner_cannot_leave(client: GQL, graph: Graph) -> None:
    owner, other = await user(client, "owner"), await user(client, "other")
    circle = await create(client, owner)
    refused = await leave(client, owner, circle)
    assert codes(refused) == ["INVALID_INPUT"]
    assert refused["userErrors"][0]["field"] == "circleId"
    assert await stored_members(graph, circle) == (1, 1)
    # with a second owner, one of them may go
    await join(client, other, circle)
    await graph.write(
        "MATCH (:User {id: $u})-[r:MEMBER_OF]->(:Circle {id: $c}) SET r.role = 'OWNER'",
        u=internal(other["id"]),
        c=internal(circle),
    )
    left = await leave(client, owner, circle)
    assert left["userErrors"] == []
    assert await stored_members(graph, circle) == (1, 1)
    assert codes(await leave(client, other, circle)) == ["INVALID_INPUT"]


@pytest.mark.parametrize("minutes", [None, 60])
async def test_banned_cannot_erase_the_ban_by_leaving(
    client: GQL, graph: Graph, minutes: int | None
) -> None:
    owner, lin = await user(client, "owner"), await user(client, "lin")
    circle = await create(client, owner)
    await join(client, lin, circle)
    await ban(graph, lin, circle, minutes)
    assert codes(await leave(client, lin, circle)) == ["BANNED"]
    assert codes(await join(client, lin, circle)) == ["BANNED"]
    stored = await graph.read(
        "MATCH (:User {id: $u})-[r:MEMBER_OF]->(:Circle {id: $c}) RETURN r.state AS s",
        u=internal(lin["id"]),
        c=internal(circle),
    )
    assert [r["s"] for r in stored.records] == ["BANNED"]
    assert await stored_members(graph, circle) == (1, 1)


# ---------------------------------------------------------------- concurrency


async def test_parallel_joins_and_leaves_keep_the_count_exact(client: GQL, graph: Graph) -> None:
    owner = await user(client, "owner")
    circle = await create(client, owner)
    crowd = await asyncio.gather(*(user(client, f"crowd_{i:02d}") for i in range(50)))
    joined = await asyncio.gather(*(join(client, who, circle) for who in crowd))
    assert all(p["userErrors"] == [] for p in joined), [p["userErrors"] for p in joined]
    assert all(p["membership"]["state"] == "MEMBER" for p in joined)
    assert await stored_members(graph, circle) == (51, 51)
    assert await member_count(client, owner, circle) == 51

    left = await asyncio.gather(*(leave(client, who, circle) for who in crowd[:25]))
    assert all(p["userErrors"] == [] for p in left), [p["userErrors"] for p in left]
    assert await stored_members(graph, circle) == (26, 26)
    assert await member_count(client, owner, circle) == 26
