"""Creating and changing circles: validation, who may host and who may change what."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from graph.driver import Graph
from tests.conftest import GQL

CREATE = """mutation($input: CreateCircleInput!) { createCircle(input: $input) {
  circle { id name description visibility joinPolicy minTrustScore customersOnly service
           memberCount viewerMembership viewerRole merchant { id name }
           members { edges { node { role state user { handle } } } } }
  userErrors { code field message } } }"""
UPDATE = """mutation($id: ID!, $input: UpdateCircleInput!) { updateCircle(id: $id, input: $input) {
  circle { id name description visibility joinPolicy minTrustScore customersOnly memberCount }
  userErrors { code field message } } }"""
JOIN = """mutation($id: ID!) { joinCircle(circleId: $id) {
  membership { state } userErrors { code } } }"""
INVITE = """mutation($c: ID!, $u: ID!) { inviteToCircle(circleId: $c, userId: $u) {
  membership { state } userErrors { code } } }"""
CIRCLE = """query($id: ID!) { circle(id: $id) { id name description visibility joinPolicy
  minTrustScore customersOnly memberCount } }"""


def internal(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


def gid(type_name: str, internal_id: str) -> str:
    return base64.b64encode(f"{type_name}:{internal_id}".encode()).decode()


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


def fields(payload: dict[str, Any]) -> list[str | None]:
    return [e["field"] for e in payload["userErrors"]]


async def user(client: GQL, handle: str) -> dict[str, Any]:
    return await client.make_user(handle, trustScore=600)


async def merchant(graph: Graph, staff: dict[str, Any] | None) -> str:
    mid = uuid.uuid4().hex
    await graph.write(
        """
        MERGE (m:Merchant {platformId: $platformId})
        SET m.id = $id, m.name = 'Sunrise School', m.category = 'education',
            m.createdAt = datetime()
        WITH m OPTIONAL MATCH (u:User {id: $staff})
        FOREACH (_ IN CASE WHEN u IS NULL THEN [] ELSE [1] END | MERGE (u)-[:STAFF_OF]->(m))
        """,
        platformId=f"m-{mid[:8]}",
        id=mid,
        staff=internal(staff["id"]) if staff else None,
    )
    return gid("Merchant", mid)


async def create_raw(client: GQL, who: dict[str, Any] | None, **data: Any) -> dict[str, Any]:
    base = {"name": "Parents of Class 3", "visibility": "PUBLIC", "joinPolicy": "OPEN"}
    body = await client(CREATE, {"input": {**base, **data}}, token=who["token"] if who else None)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["createCircle"]
    return payload


async def create(client: GQL, who: dict[str, Any], **data: Any) -> str:
    payload = await create_raw(client, who, **data)
    assert payload["userErrors"] == [], payload
    cid: str = payload["circle"]["id"]
    return cid


async def update(
    client: GQL, who: dict[str, Any] | None, circle: str, **data: Any
) -> dict[str, Any]:
    body = await client(UPDATE, {"id": circle, "input": data}, token=who["token"] if who else None)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["updateCircle"]
    return payload


async def stored(graph: Graph, circle: str) -> dict[str, Any]:
    result = await graph.read(
        "MATCH (c:Circle {id: $c}) RETURN c {.name, .description, .visibility, .joinPolicy, "
        ".minTrustScore, .customersOnly, .memberCount} AS c",
        c=internal(circle),
    )
    row: dict[str, Any] = result.records[0]["c"]
    return row


async def circle_count(graph: Graph) -> int:
    result = await graph.read("MATCH (c:Circle) RETURN count(c) AS n")
    n: int = result.records[0]["n"]
    return n


# ---------------------------------------------------------------- createCircle


async def test_community_circle_by_any_user(client: GQL) -> None:
    lin = await user(client, "lin")
    payload = await create_raw(
        client,
        lin,
        name="  Parents of Class 3  ",
        description="Homework help\nand carpools",
        visibility="SEMI_PUBLIC",
        joinPolicy="APPROVAL",
        minTrustScore=300,
        service="education",
    )
    assert payload["userErrors"] == []
    circle = payload["circle"]
    assert circle["name"] == "Parents of Class 3"  # trimmed
    assert circle["description"] == "Homework help\nand carpools"
    assert circle["visibility"] == "SEMI_PUBLIC"
    assert circle["joinPolicy"] == "APPROVAL"
    assert circle["minTrustScore"] == 300
    assert circle["customersOnly"] is False
    assert circle["service"] == "education"
    assert circle["merchant"] is None
    assert circle["memberCount"] == 1
    assert circle["viewerMembership"] == "MEMBER"
    assert circle["viewerRole"] == "OWNER"
    assert [e["node"] for e in circle["members"]["edges"]] == [
        {"role": "OWNER", "state": "MEMBER", "user": {"handle": "lin"}}
    ]


async def test_defaults(client: GQL) -> None:
    lin = await user(client, "lin")
    circle = (await create_raw(client, lin))["circle"]
    assert circle["description"] == ""
    assert circle["minTrustScore"] == 0
    assert circle["customersOnly"] is False
    assert circle["service"] is None


async def test_anonymous_cannot_create(client: GQL, graph: Graph) -> None:
    payload = await create_raw(client, None)
    assert codes(payload) == ["UNAUTHENTICATED"]
    assert payload["circle"] is None
    assert await circle_count(graph) == 0


BAD_INPUTS = [
    ("empty-name", {"name": ""}, "name"),
    ("blank-name", {"name": "   "}, "name"),
    ("long-name", {"name": "x" * 81}, "name"),
    ("long-cjk-name", {"name": "圈" * 81}, "name"),
    ("newline-name", {"name": "two\nlines"}, "name"),
    ("nul-name", {"name": "bad\u0000name"}, "name"),
    ("bidi-name", {"name": "evil\u202ename"}, "name"),
    ("zero-width-name", {"name": "a\u200bb"}, "name"),
    ("long-description", {"description": "d" * 2001}, "description"),
    ("control-description", {"description": "bell\u0007"}, "description"),
    ("long-service", {"service": "s" * 41}, "service"),
    ("negative-trust", {"minTrustScore": -1}, "minTrustScore"),
    ("huge-trust", {"minTrustScore": 1001}, "minTrustScore"),
    ("private-open", {"visibility": "PRIVATE", "joinPolicy": "OPEN"}, "joinPolicy"),
    ("private-approval", {"visibility": "PRIVATE", "joinPolicy": "APPROVAL"}, "joinPolicy"),
    ("customers-without-merchant", {"customersOnly": True}, "customersOnly"),
]


@pytest.mark.parametrize(
    ("data", "field"), [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
async def test_create_validation(
    client: GQL, graph: Graph, data: dict[str, Any], field: str
) -> None:
    lin = await user(client, "lin")
    payload = await create_raw(client, lin, **data)
    assert codes(payload) == ["INVALID_INPUT"]
    assert fields(payload) == [field]
    assert payload["circle"] is None
    assert await circle_count(graph) == 0


GOOD_EDGES = [
    ("name-80", {"name": "x" * 80}),
    ("cjk-name-80", {"name": "圈" * 80}),
    ("name-1", {"name": "x"}),
    ("description-2000", {"description": "d" * 2000}),
    ("description-newlines", {"description": "a\n\tb"}),
    ("trust-0", {"minTrustScore": 0}),
    ("trust-1000", {"minTrustScore": 1000}),
    ("private-invite", {"visibility": "PRIVATE", "joinPolicy": "INVITE"}),
    ("semi-invite", {"visibility": "SEMI_PUBLIC", "joinPolicy": "INVITE"}),
    ("emoji-name", {"name": "Mums 👩 of 3 🎒"}),
]


@pytest.mark.parametrize("data", [c[1] for c in GOOD_EDGES], ids=[c[0] for c in GOOD_EDGES])
async def test_create_accepts_edges(client: GQL, data: dict[str, Any]) -> None:
    lin = await user(client, "lin")
    payload = await create_raw(client, lin, **data)
    assert payload["userErrors"] == [], payload
    for key, value in data.items():
        assert payload["circle"][key] == value


async def test_several_problems_at_once(client: GQL) -> None:
    lin = await user(client, "lin")
    payload = await create_raw(client, lin, name="", minTrustScore=5000, description="x" * 3000)
    assert set(codes(payload)) == {"INVALID_INPUT"}
    assert set(fields(payload)) == {"name", "description", "minTrustScore"}


async def test_merchant_circle_by_staff(client: GQL, graph: Graph) -> None:
    staff = await user(client, "staff")
    shop = await merchant(graph, staff)
    payload = await create_raw(
        client, staff, name="School parents", merchantId=shop, customersOnly=True
    )
    assert payload["userErrors"] == []
    circle = payload["circle"]
    assert circle["merchant"] == {"id": shop, "name": "Sunrise School"}
    assert circle["customersOnly"] is True
    assert circle["viewerRole"] == "OWNER"
    hosted = await graph.read(
        "MATCH (c:Circle {id: $c})-[:HOSTED_BY]->(m:Merchant) RETURN m.id AS m",
        c=internal(circle["id"]),
    )
    assert [r["m"] for r in hosted.records] == [internal(shop)]


async def test_merchant_circle_by_non_staff(client: GQL, graph: Graph) -> None:
    staff, lin = await user(client, "staff"), await user(client, "lin")
    shop = await merchant(graph, staff)
    unstaffed = await merchant(graph, None)
    for target in (shop, unstaffed):
        payload = await create_raw(client, lin, merchantId=target)
        assert codes(payload) == ["FORBIDDEN"]
        assert fields(payload) == ["merchantId"]
    assert await circle_count(graph) == 0


async def test_merchant_circle_unknown_merchant(client: GQL, graph: Graph) -> None:
    lin = await user(client, "lin")
    for target in (
        gid("Merchant", uuid.uuid4().hex),
        "garbage",
        lin["id"],  # a User's id is no merchant id
    ):
        payload = await create_raw(client, lin, merchantId=target)
        assert codes(payload) == ["NOT_FOUND"], target
        assert fields(payload) == ["merchantId"]
    assert await circle_count(graph) == 0


# ---------------------------------------------------------------- updateCircle


async def circle_with_roles(
    client: GQL, graph: Graph, **data: Any
) -> tuple[str, dict[str, dict[str, Any]]]:
    """A circle with an owner, a moderator, a member and an outsider."""
    people = {h: await user(client, h) for h in ("owner", "mod", "member", "outsider")}
    circle = await create(client, people["owner"], **data)
    for h in ("mod", "member"):
        invited = await client(
            INVITE, {"c": circle, "u": people[h]["id"]}, token=people["owner"]["token"]
        )
        assert invited["data"]["inviteToCircle"]["userErrors"] == []
        joined = await client(JOIN, {"id": circle}, token=people[h]["token"])
        assert joined["data"]["joinCircle"]["membership"]["state"] == "MEMBER"
    await graph.write(
        "MATCH (:User {id: $u})-[r:MEMBER_OF]->(:Circle {id: $c}) SET r.role = 'MODERATOR'",
        u=internal(people["mod"]["id"]),
        c=internal(circle),
    )
    return circle, people


async def test_owner_updates(client: GQL, graph: Graph) -> None:
    circle, people = await circle_with_roles(client, graph, joinPolicy="APPROVAL")
    payload = await update(
        client,
        people["owner"],
        circle,
        name=" New name ",
        description="New\ndescription",
        visibility="SEMI_PUBLIC",
        minTrustScore=250,
    )
    assert payload["userErrors"] == []
    assert payload["circle"] == {
        "id": circle,
        "name": "New name",
        "description": "New\ndescription",
        "visibility": "SEMI_PUBLIC",
        "joinPolicy": "APPROVAL",  # unchanged
        "minTrustScore": 250,
        "customersOnly": False,
        "memberCount": 3,
    }
    assert (await stored(graph, circle))["name"] == "New name"
    # an empty input changes nothing
    same = await update(client, people["owner"], circle)
    assert same["userErrors"] == []
    assert same["circle"] == payload["circle"]


@pytest.mark.parametrize("visibility", ["PUBLIC", "SEMI_PUBLIC", "PRIVATE"])
async def test_only_the_owner_updates(client: GQL, graph: Graph, visibility: str) -> None:
    circle, people = await circle_with_roles(
        client, graph, visibility=visibility, joinPolicy="INVITE"
    )
    before = await stored(graph, circle)
    for h in ("mod", "member"):
        payload = await update(client, people[h], circle, name="Hijacked")
        assert codes(payload) == ["FORBIDDEN"], h
        assert fields(payload) == ["id"]
        assert payload["circle"] is None
    outsider = await update(client, people["outsider"], circle, name="Hijacked")
    if visibility == "PRIVATE":
        assert codes(outsider) == ["NOT_FOUND"]
        missing = await update(
            client, people["outsider"], gid("Circle", uuid.uuid4().hex), name="Hijacked"
        )
        assert outsider == missing  # indistinguishable from a missing circle
    else:
        assert codes(outsider) == ["FORBIDDEN"]
    anonymous = await update(client, None, circle, name="Hijacked")
    assert codes(anonymous) == ["UNAUTHENTICATED"]
    assert await stored(graph, circle) == before


async def test_update_unknown_or_garbage_id(client: GQL) -> None:
    lin = await user(client, "lin")
    for target in (gid("Circle", uuid.uuid4().hex), "garbage", lin["id"]):
        payload = await update(client, lin, target, name="x")
        assert codes(payload) == ["NOT_FOUND"], target
        assert fields(payload) == ["id"]


UPDATE_BAD = [
    ("empty-name", {"name": ""}, "name"),
    ("long-name", {"name": "x" * 81}, "name"),
    ("control-name", {"name": "tab\there"}, "name"),
    ("long-description", {"description": "d" * 2001}, "description"),
    ("control-description", {"description": "esc\u001b"}, "description"),
    ("negative-trust", {"minTrustScore": -5}, "minTrustScore"),
    ("huge-trust", {"minTrustScore": 1001}, "minTrustScore"),
    ("customers-without-merchant", {"customersOnly": True}, "customersOnly"),
    ("private-while-open", {"visibility": "PRIVATE"}, "joinPolicy"),
    ("private-with-approval", {"visibility": "PRIVATE", "joinPolicy": "APPROVAL"}, "joinPolicy"),
]


@pytest.mark.parametrize(
    ("data", "field"), [c[1:] for c in UPDATE_BAD], ids=[c[0] for c in UPDATE_BAD]
)
async def test_update_validation(
    client: GQL, graph: Graph, data: dict[str, Any], field: str
) -> None:
    owner = await user(client, "owner")
    circle = await create(client, owner)
    before = await stored(graph, circle)
    payload = await update(client, owner, circle, **data)
    assert codes(payload) == ["INVALID_INPUT"]
    assert fields(payload) == [field]
    assert await stored(graph, circle) == before


async def test_private_circle_keeps_invite_only(client: GQL, graph: Graph) -> None:
    owner = await user(client, "owner")
    circle = await create(client, owner, visibility="PRIVATE", joinPolicy="INVITE")
    for policy in ("OPEN", "APPROVAL"):
        payload = await update(client, owner, circle, joinPolicy=policy)
        assert codes(payload) == ["INVALID_INPUT"]
        assert fields(payload) == ["joinPolicy"]
    # loosening both together is fine for a small circle
    both = await update(client, owner, circle, visibility="SEMI_PUBLIC", joinPolicy="OPEN")
    assert both["userErrors"] == []
    assert (both["circle"]["visibility"], both["circle"]["joinPolicy"]) == ("SEMI_PUBLIC", "OPEN")
    # and back: PRIVATE together with INVITE
    back = await update(client, owner, circle, visibility="PRIVATE", joinPolicy="INVITE")
    assert back["userErrors"] == []


async def test_customers_only_on_a_merchant_circle(client: GQL, graph: Graph) -> None:
    staff = await user(client, "staff")
    shop = await merchant(graph, staff)
    circle = await create(client, staff, merchantId=shop)
    on = await update(client, staff, circle, customersOnly=True)
    assert on["userErrors"] == []
    assert on["circle"]["customersOnly"] is True
    off = await update(client, staff, circle, customersOnly=False)
    assert off["circle"]["customersOnly"] is False


async def set_member_count(graph: Graph, circle: str, count: int) -> None:
    await graph.write(
        "MATCH (c:Circle {id: $c}) SET c.memberCount = $n", c=internal(circle), n=count
    )


LOOSER = [
    ("PRIVATE", "SEMI_PUBLIC"),
    ("PRIVATE", "PUBLIC"),
    ("SEMI_PUBLIC", "PUBLIC"),
]


@pytest.mark.parametrize(("start", "target"), LOOSER, ids=[f"{a}->{b}" for a, b in LOOSER])
async def test_large_circle_may_not_loosen_visibility(
    client: GQL, graph: Graph, start: str, target: str
) -> None:
    owner = await user(client, "owner")
    circle = await create(client, owner, visibility=start, joinPolicy="INVITE")
    await set_member_count(graph, circle, 5000)
    before = await stored(graph, circle)
    payload = await update(client, owner, circle, visibility=target)
    assert codes(payload) == ["INVALID_INPUT"]
    assert fields(payload) == ["visibility"]
    assert await stored(graph, circle) == before
    # just under the threshold the same change is allowed
    await set_member_count(graph, circle, 4999)
    allowed = await update(client, owner, circle, visibility=target)
    assert allowed["userErrors"] == []
    assert allowed["circle"]["visibility"] == target


STRICTER = [
    ("PUBLIC", "SEMI_PUBLIC"),
    ("PUBLIC", "PRIVATE"),
    ("SEMI_PUBLIC", "PRIVATE"),
    ("SEMI_PUBLIC", "SEMI_PUBLIC"),
]


@pytest.mark.parametrize(("start", "target"), STRICTER, ids=[f"{a}->{b}" for a, b in STRICTER])
async def test_large_circle_may_become_stricter(
    client: GQL, graph: Graph, start: str, target: str
) -> None:
    owner = await user(client, "owner")
    circle = await create(client, owner, visibility=start, joinPolicy="INVITE")
    await set_member_count(graph, circle, 12000)
    payload = await update(
        client, owner, circle, visibility=target, minTrustScore=700, name="Still big"
    )
    assert payload["userErrors"] == []
    assert payload["circle"]["visibility"] == target
    assert payload["circle"]["minTrustScore"] == 700
    assert payload["circle"]["memberCount"] == 12000


LOOSER_GATES = [
    ("join-policy", {"joinPolicy": "OPEN"}),
    ("trust-gate", {"minTrustScore": 0}),
    ("customers-only", {"customersOnly": False}),
]


@pytest.mark.parametrize("data", [c[1] for c in LOOSER_GATES], ids=[c[0] for c in LOOSER_GATES])
async def test_large_circle_may_not_loosen_its_gates(
    client: GQL, graph: Graph, data: dict[str, Any]
) -> None:
    owner = await user(client, "owner")
    shop = await merchant(graph, owner)
    circle = await create(
        client,
        owner,
        visibility="SEMI_PUBLIC",
        joinPolicy="APPROVAL",
        minTrustScore=800,
        merchantId=shop,
        customersOnly=True,
    )
    await set_member_count(graph, circle, 5000)
    before = await stored(graph, circle)
    payload = await update(client, owner, circle, **data)
    assert codes(payload) == ["INVALID_INPUT"]
    assert await stored(graph, circle) == before
