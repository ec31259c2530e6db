"""The visibility table of product.md, walked cell by cell over every read path.

One world is built once for the module (read-only afterwards): a merchant hosting one
circle per visibility, and one user per viewer state holding that state in all three
circles. Every (read path, visibility, viewer) cell is its own test.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.settings import Settings
from graph.driver import Graph
from tests.conftest import GQL

VISIBILITIES = ("PUBLIC", "SEMI_PUBLIC", "PRIVATE")
POLICIES = {"PUBLIC": "APPROVAL", "SEMI_PUBLIC": "APPROVAL", "PRIVATE": "INVITE"}
VIEWERS = (
    "anonymous",
    "non_member",
    "pending",
    "invited",
    "member",
    "banned",
    "moderator",
    "owner",
)
# What each viewer's membership reads as (state, role).
MEMBERSHIP: dict[str, tuple[str, str | None]] = {
    "anonymous": ("NONE", None),
    "non_member": ("NONE", None),
    "pending": ("PENDING", None),
    "invited": ("INVITED", None),
    "member": ("MEMBER", "MEMBER"),
    "banned": ("BANNED", None),
    "moderator": ("MEMBER", "MODERATOR"),
    "owner": ("MEMBER", "OWNER"),
}
MEMBER_LIKE = {"member", "moderator", "owner"}
MODERATORS = {"moderator", "owner"}
# Every user holding MEMBER state (owners and moderators are members too).
MEMBER_HANDLES = {"mx_owner", "mx_member", "mx_moderator"}


def sees_card(viewer: str, visibility: str) -> bool:
    """product.md: PRIVATE is nothing for anonymous, non-members and the banned."""
    if visibility != "PRIVATE":
        return True
    return viewer not in {"anonymous", "non_member", "banned"}


def internal(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


CARD = """
  id name description visibility joinPolicy minTrustScore customersOnly service memberCount
  merchant { id name } viewerMembership viewerRole
"""
CIRCLE = "query($id: ID!) { circle(id: $id) {" + CARD + "} }"
NODE = "query($id: ID!) { node(id: $id) { __typename ... on Circle {" + CARD + "} } }"
MY_CIRCLES = """query { myCircles(first: 100) { edges { node { id viewerMembership viewerRole
  } } } }"""
MERCHANT_CIRCLES = """query($id: ID!) { merchant(id: $id) { id circles(first: 100) {
  edges { node { id name viewerMembership } } } } }"""
MEMBERS = """query($id: ID!) { circle(id: $id) { id members(first: 100) {
  edges { node { state role user { handle } } } } } }"""
JOIN_REQUESTS = """query($id: ID!) { circle(id: $id) { id joinRequests(first: 100) {
  edges { node { state role user { handle } } } } } }"""
CREATE = """mutation($input: CreateCircleInput!) { createCircle(input: $input) {
  circle { id } userErrors { code field message } } }"""
JOIN = """mutation($id: ID!, $message: String) { joinCircle(circleId: $id, message: $message) {
  membership { state } userErrors { code field } } }"""
INVITE = """mutation($c: ID!, $u: ID!) { inviteToCircle(circleId: $c, userId: $u) {
  membership { state } userErrors { code field } } }"""


@dataclass
class World:
    gql: GQL
    tokens: dict[str, str | None]  # viewer -> token (None = anonymous)
    users: dict[str, dict[str, Any]]
    circles: dict[str, str]  # visibility -> global id
    merchant: str  # global id
    merchant_name: str


async def ok(gql: GQL, query: str, variables: dict[str, Any], token: str | None) -> Any:
    body = await gql(query, variables, token=token)
    assert "errors" not in body, body
    payload = next(iter(body["data"].values()))
    assert payload["userErrors"] == [], payload
    return payload


@pytest.fixture(scope="module")
async def world(
    app_client: httpx.AsyncClient, settings: Settings, graph: Graph, redis: Redis
) -> AsyncIterator[World]:
    """Built once: nothing in this module writes to it afterwards except new users."""
    await graph.write("MATCH (n) DETACH DELETE n")
    await redis.flushdb()
    gql = GQL(app_client, settings)
    users = {v: await gql.make_user(f"mx_{v}", trustScore=600) for v in VIEWERS if v != "anonymous"}
    tokens: dict[str, str | None] = {v: u["token"] for v, u in users.items()}
    tokens["anonymous"] = None

    merchant_id = uuid.uuid4().hex
    await graph.write(
        """
        MERGE (m:Merchant {platformId: $platformId})
        SET m.id = $id, m.name = 'Noodle House', m.category = 'dining',
            m.createdAt = datetime()
        WITH m MATCH (u:User {id: $owner}) MERGE (u)-[:STAFF_OF]->(m)
        """,
        platformId=f"m-{merchant_id[:8]}",
        id=merchant_id,
        owner=internal(users["owner"]["id"]),
    )
    merchant_gid = base64.b64encode(f"Merchant:{merchant_id}".encode()).decode()

    owner = users["owner"]["token"]
    circles: dict[str, str] = {}
    for vis in VISIBILITIES:
        created = await ok(
            gql,
            CREATE,
            {
                "input": {
                    "name": f"Regulars {vis}",
                    "description": f"The {vis.lower()} circle",
                    "visibility": vis,
                    "joinPolicy": POLICIES[vis],
                    "minTrustScore": 100,
                    "customersOnly": False,
                    "merchantId": merchant_gid,
                    "service": "dining",
                }
            },
            owner,
        )
        cid = created["circle"]["id"]
        circles[vis] = cid
        # member and moderator: invited, then they join
        for v in ("member", "moderator", "invited"):
            await ok(gql, INVITE, {"c": cid, "u": users[v]["id"]}, owner)
        for v in ("member", "moderator"):
            joined = await ok(gql, JOIN, {"id": cid}, users[v]["token"])
            assert joined["membership"]["state"] == "MEMBER"
        # pending: PRIVATE is INVITE only, so that state can only be written directly
        if vis == "PRIVATE":
            await graph.write(
                """
                MATCH (u:User {id: $u}), (c:Circle {id: $c})
                CREATE (u)-[:MEMBER_OF {state: 'PENDING', since: datetime(),
                        updatedAt: datetime(), message: 'let me in'}]->(c)
                """,
                u=internal(users["pending"]["id"]),
                c=internal(cid),
            )
        else:
            asked = await ok(
                gql, JOIN, {"id": cid, "message": "let me in"}, users["pending"]["token"]
            )
            assert asked["membership"]["state"] == "PENDING"

    # moderators and bans as the moderation issue will write them (one ban with an expiry
    # in the future, the others permanent)
    until = {"PUBLIC": None, "SEMI_PUBLIC": datetime.now(UTC) + timedelta(days=1), "PRIVATE": None}
    for vis, cid in circles.items():
        await graph.write(
            """
            MATCH (d:User {id: $mod})-[r:MEMBER_OF]->(c:Circle {id: $c}) SET r.role = 'MODERATOR'
            WITH c MATCH (b:User {id: $banned})
            CREATE (b)-[:MEMBER_OF {state: 'BANNED', role: null, bannedUntil: $until,
                    since: datetime(), updatedAt: datetime()}]->(c)
            """,
            mod=internal(users["moderator"]["id"]),
            banned=internal(users["banned"]["id"]),
            c=internal(cid),
            until=until[vis],
        )
    yield World(gql, tokens, users, circles, merchant_gid, "Noodle House")


CELLS = [(vis, viewer) for vis in VISIBILITIES for viewer in VIEWERS]


def cell_id(cell: tuple[str, str]) -> str:
    return f"{cell[0]}-{cell[1]}"


def expected_card(world: World, vis: str, viewer: str) -> dict[str, Any]:
    state, role = MEMBERSHIP[viewer]
    return {
        "id": world.circles[vis],
        "name": f"Regulars {vis}",
        "description": f"The {vis.lower()} circle",
        "visibility": vis,
        "joinPolicy": POLICIES[vis],
        "minTrustScore": 100,
        "customersOnly": False,
        "service": "dining",
        "memberCount": 3,  # owner, moderator, member
        "merchant": {"id": world.merchant, "name": world.merchant_name},
        "viewerMembership": state,
        "viewerRole": role,
    }


async def read(world: World, query: str, variables: dict[str, Any], viewer: str) -> Any:
    body = await world.gql(query, variables, token=world.tokens[viewer])
    assert "errors" not in body, body
    return body["data"]


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
async def test_circle_by_id(world: World, cell: tuple[str, str]) -> None:
    vis, viewer = cell
    data = await read(world, CIRCLE, {"id": world.circles[vis]}, viewer)
    if sees_card(viewer, vis):
        assert data["circle"] == expected_card(world, vis, viewer)
    else:
        assert data["circle"] is None
        # indistinguishable from a circle that does not exist
        missing = base64.b64encode(f"Circle:{uuid.uuid4().hex}".encode()).decode()
        assert await read(world, CIRCLE, {"id": missing}, viewer) == data


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
async def test_node(world: World, cell: tuple[str, str]) -> None:
    vis, viewer = cell
    data = await read(world, NODE, {"id": world.circles[vis]}, viewer)
    if sees_card(viewer, vis):
        assert data["node"] == {"__typename": "Circle", **expected_card(world, vis, viewer)}
    else:
        assert data["node"] is None


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
async def test_my_circles(world: World, cell: tuple[str, str]) -> None:
    vis, viewer = cell
    edges = (await read(world, MY_CIRCLES, {}, viewer))["myCircles"]["edges"]
    listed = {e["node"]["id"]: e["node"] for e in edges}
    if viewer in MEMBER_LIKE:
        state, role = MEMBERSHIP[viewer]
        assert listed[world.circles[vis]] == {
            "id": world.circles[vis],
            "viewerMembership": state,
            "viewerRole": role,
        }
        assert set(listed) == set(world.circles.values())
    else:
        assert world.circles[vis] not in listed
        assert listed == {}


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
async def test_merchant_circles(world: World, cell: tuple[str, str]) -> None:
    vis, viewer = cell
    data = await read(world, MERCHANT_CIRCLES, {"id": world.merchant}, viewer)
    assert data["merchant"]["id"] == world.merchant
    listed = {e["node"]["id"]: e["node"] for e in data["merchant"]["circles"]["edges"]}
    cid = world.circles[vis]
    if sees_card(viewer, vis):
        assert listed[cid] == {
            "id": cid,
            "name": f"Regulars {vis}",
            "viewerMembership": MEMBERSHIP[viewer][0],
        }
    else:
        assert cid not in listed
    # the list is exactly the circles whose card the viewer sees
    assert set(listed) == {world.circles[v] for v in VISIBILITIES if sees_card(viewer, v)}


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
async def test_members(world: World, cell: tuple[str, str]) -> None:
    vis, viewer = cell
    data = await read(world, MEMBERS, {"id": world.circles[vis]}, viewer)
    if not sees_card(viewer, vis):
        assert data["circle"] is None
        return
    members = data["circle"]["members"]
    if viewer not in MEMBER_LIKE:
        assert members is None
        return
    nodes = [e["node"] for e in members["edges"]]
    assert {n["user"]["handle"] for n in nodes} == MEMBER_HANDLES
    assert all(n["state"] == "MEMBER" for n in nodes)
    roles = {n["user"]["handle"]: n["role"] for n in nodes}
    assert roles == {"mx_owner": "OWNER", "mx_moderator": "MODERATOR", "mx_member": "MEMBER"}


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
async def test_join_requests(world: World, cell: tuple[str, str]) -> None:
    vis, viewer = cell
    data = await read(world, JOIN_REQUESTS, {"id": world.circles[vis]}, viewer)
    if not sees_card(viewer, vis):
        assert data["circle"] is None
        return
    requests = data["circle"]["joinRequests"]
    if viewer not in MODERATORS:
        assert requests is None
        return
    assert [e["node"] for e in requests["edges"]] == [
        {"state": "PENDING", "role": None, "user": {"handle": "mx_pending"}}
    ]


@pytest.mark.parametrize("vis", VISIBILITIES)
async def test_expired_ban_reads_as_none(world: World, graph: Graph, vis: str) -> None:
    """A ban whose time has passed is no membership at all: a non-member's view."""
    user = await world.gql.make_user(f"mx_exp_{vis.lower()}", trustScore=600)
    cid = world.circles[vis]
    await graph.write(
        """
        MATCH (u:User {id: $u}), (c:Circle {id: $c})
        CREATE (u)-[:MEMBER_OF {state: 'BANNED', role: null, since: datetime(),
                updatedAt: datetime(), bannedUntil: datetime() - duration('PT1M')}]->(c)
        """,
        u=internal(user["id"]),
        c=internal(cid),
    )
    body = await world.gql(CIRCLE, {"id": cid}, token=user["token"])
    circle = body["data"]["circle"]
    if vis == "PRIVATE":
        assert circle is None
    else:
        assert circle["viewerMembership"] == "NONE"
        assert circle["viewerRole"] is None
    merchant = await world.gql(MERCHANT_CIRCLES, {"id": world.merchant}, token=user["token"])
    listed = {e["node"]["id"] for e in merchant["data"]["merchant"]["circles"]["edges"]}
    assert listed == {world.circles["PUBLIC"], world.circles["SEMI_PUBLIC"]}
    mine = await world.gql(MY_CIRCLES, {}, token=user["token"])
    assert mine["data"]["myCircles"]["edges"] == []
