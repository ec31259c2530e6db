"""adminUpsertMerchant, merchant staff and hosted circles, through the public API."""

from __future__ import annotations

from typing import Any

from graph.driver import Graph
from tests.conftest import GQL

UPSERT = """
mutation($input: AdminUpsertMerchantInput!) {
  adminUpsertMerchant(input: $input) {
    merchant { id name category location { latitude longitude } }
    userErrors { field code message }
  }
}"""

CREATE = """mutation($input: CreateCircleInput!) { createCircle(input: $input) {
  circle { id name merchant { id name } } userErrors { code field } } }"""

MERCHANT = """query($id: ID!) { merchant(id: $id) { id name
  circles { edges { node { id name visibility } } pageInfo { hasNextPage } } } }"""

CIRCLE = "query($id: ID!) { circle(id: $id) { id name } }"


async def upsert(client: GQL, token: str | None, **input: Any) -> dict[str, Any]:
    body = await client(UPSERT, {"input": input}, token=token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["adminUpsertMerchant"]
    return payload


async def staff_of(graph: Graph, platform_id: str) -> list[str]:
    result = await graph.read(
        """MATCH (u:User)-[:STAFF_OF]->(:Merchant {platformId: $pid})
           RETURN u.platformId AS p ORDER BY p""",
        pid=platform_id,
    )
    return [r["p"] for r in result.records]


async def count_merchants(graph: Graph) -> int:
    return int((await graph.read("MATCH (m:Merchant) RETURN count(m) AS n")).records[0]["n"])


async def create_circle(client: GQL, token: str, **input: Any) -> dict[str, Any]:
    body = await client(CREATE, {"input": input}, token=token)
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["createCircle"]
    return payload


async def test_admin_only(client: GQL, graph: Graph) -> None:
    user = await client.make_user()
    for token in (user["token"], None):
        payload = await upsert(client, token, platformId="m-1", name="Noodles", category="dining")
        assert payload["merchant"] is None
        assert [e["code"] for e in payload["userErrors"]] == ["FORBIDDEN"]
    assert await count_merchants(graph) == 0


async def test_upsert_is_idempotent_by_platform_id(client: GQL, graph: Graph) -> None:
    first = await upsert(
        client,
        client.admin,
        platformId="m-1",
        name="兰州拉面",
        category="dining",
        location={"latitude": 39.99, "longitude": 116.47},
    )
    assert first["userErrors"] == []
    again = await upsert(
        client, client.admin, platformId="m-1", name="兰州拉面 (望京店)", category="dining"
    )
    assert again["merchant"]["id"] == first["merchant"]["id"]
    assert again["merchant"]["name"] == "兰州拉面 (望京店)"
    # a location left out keeps the stored one
    assert again["merchant"]["location"] == {"latitude": 39.99, "longitude": 116.47}
    assert await count_merchants(graph) == 1


async def test_staff_are_replaced_when_given_and_kept_when_omitted(
    client: GQL, graph: Graph
) -> None:
    a = await client.make_user()
    b = await client.make_user()
    c = await client.make_user()
    base = {"platformId": "m-1", "name": "Gym", "category": "fitness"}
    payload = await upsert(
        client, client.admin, **base, staffPlatformUserIds=[a["platformId"], b["platformId"]]
    )
    assert payload["userErrors"] == []
    assert await staff_of(graph, "m-1") == sorted([a["platformId"], b["platformId"]])

    await upsert(client, client.admin, **base)  # omitted: unchanged
    assert await staff_of(graph, "m-1") == sorted([a["platformId"], b["platformId"]])

    await upsert(client, client.admin, **base, staffPlatformUserIds=[c["platformId"]])
    assert await staff_of(graph, "m-1") == [c["platformId"]]

    # repeating (and repeating an id) writes nothing new
    await upsert(
        client, client.admin, **base, staffPlatformUserIds=[c["platformId"], c["platformId"]]
    )
    assert await staff_of(graph, "m-1") == [c["platformId"]]

    await upsert(client, client.admin, **base, staffPlatformUserIds=[])
    assert await staff_of(graph, "m-1") == []


async def test_unknown_staff_is_not_found_and_nothing_is_written(client: GQL, graph: Graph) -> None:
    a = await client.make_user()
    await upsert(
        client,
        client.admin,
        platformId="m-1",
        name="Clinic",
        category="medical",
        staffPlatformUserIds=[a["platformId"]],
    )
    payload = await upsert(
        client,
        client.admin,
        platformId="m-1",
        name="Renamed clinic",
        category="medical",
        staffPlatformUserIds=["nobody-1", a["platformId"], "nobody-2"],
    )
    assert payload["merchant"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", "staffPlatformUserIds[0]"),
        ("NOT_FOUND", "staffPlatformUserIds[2]"),
    ]
    names = await graph.read("MATCH (m:Merchant) RETURN m.name AS name")
    assert [r["name"] for r in names.records] == ["Clinic"]
    assert await staff_of(graph, "m-1") == [a["platformId"]]

    fresh = await upsert(
        client,
        client.admin,
        platformId="m-2",
        name="New",
        category="x",
        staffPlatformUserIds=["nobody"],
    )
    assert [e["code"] for e in fresh["userErrors"]] == ["NOT_FOUND"]
    assert await count_merchants(graph) == 1


async def test_validation(client: GQL, graph: Graph) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": ""}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"name": "   "}, "name"),
        ({"category": ""}, "category"),
        ({"category": "c" * 41}, "category"),
        ({"location": {"latitude": 91, "longitude": 0}}, "location.latitude"),
        ({"location": {"latitude": 0, "longitude": -180.5}}, "location.longitude"),
        ({"platformId": ""}, "platformId"),
        ({"staffPlatformUserIds": [""]}, "staffPlatformUserIds[0]"),
    ]
    for override, field in cases:
        input = {"platformId": "m-1", "name": "Shop", "category": "retail", **override}
        payload = await upsert(client, client.admin, **input)
        assert payload["merchant"] is None, override
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("INVALID_INPUT", field)
        ], override
    assert await count_merchants(graph) == 0
    ok = await upsert(
        client,
        client.admin,
        platformId="m-1",
        name="x" * 80,
        category="c" * 40,
        location={"latitude": -90, "longitude": 180},
    )
    assert ok["userErrors"] == []


async def test_location_change_moves_hosted_circles(client: GQL, graph: Graph) -> None:
    owner = await client.make_user()
    m = await upsert(
        client,
        client.admin,
        platformId="m-1",
        name="School",
        category="education",
        location={"latitude": 39.9, "longitude": 116.4},
        staffPlatformUserIds=[owner["platformId"]],
    )
    created = await create_circle(
        client,
        owner["token"],
        name="家长群",
        visibility="PUBLIC",
        joinPolicy="OPEN",
        merchantId=m["merchant"]["id"],
    )
    assert created["userErrors"] == []
    await upsert(
        client,
        client.admin,
        platformId="m-1",
        name="School",
        category="education",
        location={"latitude": 31.2, "longitude": 121.5},
    )
    result = await graph.read(
        "MATCH (c:Circle) RETURN c.location.latitude AS lat, c.location.longitude AS lon"
    )
    assert [(r["lat"], r["lon"]) for r in result.records] == [(31.2, 121.5)]


async def test_staff_host_circles_and_others_may_not(client: GQL) -> None:
    staff = await client.make_user()
    other = await client.make_user()
    m = await upsert(
        client,
        client.admin,
        platformId="m-1",
        name="兰州拉面",
        category="dining",
        staffPlatformUserIds=[staff["platformId"]],
    )
    merchant_id = m["merchant"]["id"]
    circle = {"name": "拉面爱好者", "visibility": "PUBLIC", "joinPolicy": "OPEN"}
    ok = await create_circle(client, staff["token"], **circle, merchantId=merchant_id)
    assert ok["userErrors"] == []
    assert ok["circle"]["merchant"] == {"id": merchant_id, "name": "兰州拉面"}

    refused = await create_circle(client, other["token"], **circle, merchantId=merchant_id)
    assert refused["circle"] is None
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("FORBIDDEN", "merchantId")]

    # staff removed: no longer allowed
    await upsert(
        client,
        client.admin,
        platformId="m-1",
        name="兰州拉面",
        category="dining",
        staffPlatformUserIds=[],
    )
    again = await create_circle(client, staff["token"], **circle, merchantId=merchant_id)
    assert [e["code"] for e in again["userErrors"]] == ["FORBIDDEN"]


async def test_merchant_circles_hide_private_from_non_members(client: GQL) -> None:
    staff = await client.make_user()
    outsider = await client.make_user()
    m = await upsert(
        client,
        client.admin,
        platformId="m-1",
        name="朝阳实验小学",
        category="education",
        staffPlatformUserIds=[staff["platformId"]],
    )
    merchant_id = m["merchant"]["id"]
    public = await create_circle(
        client,
        staff["token"],
        name="家长群",
        visibility="PUBLIC",
        joinPolicy="OPEN",
        merchantId=merchant_id,
    )
    private = await create_circle(
        client,
        staff["token"],
        name="家委会",
        visibility="PRIVATE",
        joinPolicy="INVITE",
        merchantId=merchant_id,
    )
    for token in (outsider["token"], None):
        body = await client(MERCHANT, {"id": merchant_id}, token=token)
        names = [e["node"]["name"] for e in body["data"]["merchant"]["circles"]["edges"]]
        assert names == ["家长群"]
        hidden = await client(CIRCLE, {"id": private["circle"]["id"]}, token=token)
        assert hidden["data"]["circle"] is None
    body = await client(MERCHANT, {"id": merchant_id}, token=staff["token"])
    names = sorted(e["node"]["name"] for e in body["data"]["merchant"]["circles"]["edges"])
    assert names == sorted(["家长群", "家委会"])
    assert public["circle"]["id"] != private["circle"]["id"]


MY_MERCHANTS = """query($first: Int, $after: String) { myMerchants(first: $first, after: $after) {
  edges { cursor node { id name } } pageInfo { hasNextPage endCursor } } }"""


async def test_my_merchants_are_the_ones_the_viewer_is_staff_of(client: GQL) -> None:
    staff = await client.make_user("staff_mm")
    other = await client.make_user("other_mm")
    made = []
    for i in range(3):
        payload = await upsert(
            client,
            client.admin,
            platformId=f"m-mm-{i}",
            name=f"Shop {i}",
            category="dining",
            staffPlatformUserIds=[staff["platformId"]],
        )
        made.append(payload["merchant"]["id"])
    await upsert(
        client,
        client.admin,
        platformId="m-mm-other",
        name="Not theirs",
        category="dining",
        staffPlatformUserIds=[other["platformId"]],
    )

    seen: list[str] = []
    after = None
    while True:
        body = await client(MY_MERCHANTS, {"first": 2, "after": after}, token=staff["token"])
        page = body["data"]["myMerchants"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == sorted(made) and len(seen) == 3

    theirs = await client(MY_MERCHANTS, {"first": 10}, token=other["token"])
    assert [e["node"]["name"] for e in theirs["data"]["myMerchants"]["edges"]] == ["Not theirs"]
    nobody = await client(MY_MERCHANTS, {"first": 10})
    assert nobody["data"]["myMerchants"]["edges"] == []

    # staff replaced: the merchant leaves the old staff member's list
    await upsert(
        client,
        client.admin,
        platformId="m-mm-0",
        name="Shop 0",
        category="dining",
        staffPlatformUserIds=[other["platformId"]],
    )
    body = await client(MY_MERCHANTS, {"first": 10}, token=staff["token"])
    assert len(body["data"]["myMerchants"]["edges"]) == 2
