"""discoverCircles through the public API: text, location, both, ranking, recommendations,
visibility and pagination."""

from __future__ import annotations

from typing import Any

from graph.driver import Graph
from graph.interactions import upsert_friendships
from tests.conftest import GQL

DISCOVER = """
query($query: String, $near: GeoPointInput, $radius: Int, $first: Int, $after: String) {
  discoverCircles(query: $query, near: $near, radiusMeters: $radius, first: $first,
                  after: $after) {
    edges { cursor node { id name visibility } }
    pageInfo { hasNextPage endCursor }
  }
}"""

UPSERT_MERCHANT = """
mutation($input: AdminUpsertMerchantInput!) {
  adminUpsertMerchant(input: $input) { merchant { id } userErrors { field code } }
}"""

CREATE = """mutation($input: CreateCircleInput!) { createCircle(input: $input) {
  circle { id } userErrors { code field } } }"""

JOIN = """mutation($id: ID!) { joinCircle(circleId: $id) { membership { state }
  userErrors { code } } }"""

INVITE = """mutation($c: ID!, $u: ID!) { inviteToCircle(circleId: $c, userId: $u) {
  membership { state } userErrors { code } } }"""

RECORD = """mutation($input: AdminRecordInteractionsInput!) {
  adminRecordInteractions(input: $input) { accepted userErrors { code } } }"""

WANGJING = {"latitude": 39.9965, "longitude": 116.4700}
GUOMAO = {"latitude": 39.9087, "longitude": 116.4605}  # about 10 km south of Wangjing
SHANGHAI = {"latitude": 31.2304, "longitude": 121.4737}


async def discover(client: GQL, token: str | None = None, **variables: Any) -> dict[str, Any]:
    body = await client(DISCOVER, variables, token=token)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["discoverCircles"]
    return result


async def names(client: GQL, token: str | None = None, **variables: Any) -> list[str]:
    found = await discover(client, token, **variables)
    return [e["node"]["name"] for e in found["edges"]]


async def merchant(client: GQL, platform_id: str, staff: dict[str, Any], **input: Any) -> str:
    body = await client(
        UPSERT_MERCHANT,
        {
            "input": {
                "platformId": platform_id,
                "name": platform_id,
                "category": "x",
                "staffPlatformUserIds": [staff["platformId"]],
                **input,
            }
        },
        token=client.admin,
    )
    payload = body["data"]["adminUpsertMerchant"]
    assert payload["userErrors"] == [], payload
    return str(payload["merchant"]["id"])


async def circle(
    client: GQL,
    owner: dict[str, Any],
    name: str,
    description: str = "",
    visibility: str = "PUBLIC",
    merchant_id: str | None = None,
) -> str:
    input = {
        "name": name,
        "description": description,
        "visibility": visibility,
        "joinPolicy": "INVITE" if visibility == "PRIVATE" else "OPEN",
    }
    if merchant_id:
        input["merchantId"] = merchant_id
    body = await client(CREATE, {"input": input}, token=owner["token"])
    payload = body["data"]["createCircle"]
    assert payload["userErrors"] == [], payload
    return str(payload["circle"]["id"])


async def join(client: GQL, user: dict[str, Any], circle_id: str) -> None:
    body = await client(JOIN, {"id": circle_id}, token=user["token"])
    assert body["data"]["joinCircle"]["userErrors"] == [], body


async def error_code(client: GQL, token: str | None = None, **variables: Any) -> str:
    body = await client(DISCOVER, variables, token=token)
    assert body["data"] is None, body
    return str(body["errors"][0]["extensions"]["code"])


async def test_text_search_in_chinese_and_english(client: GQL) -> None:
    owner = await client.make_user()
    await circle(client, owner, "望京宝妈交流群", "妈妈们一起聊育儿和辅食")
    await circle(client, owner, "Wangjing Runners", "A morning running club in the park")
    await circle(client, owner, "兰州拉面爱好者", "noodles every day")
    viewer = await client.make_user()
    for token in (viewer["token"], None):
        assert await names(client, token, query="宝妈") == ["望京宝妈交流群"]
        assert await names(client, token, query="育儿") == ["望京宝妈交流群"]
        assert await names(client, token, query="runners") == ["Wangjing Runners"]
        assert await names(client, token, query="Running CLUB") == ["Wangjing Runners"]
        assert await names(client, token, query="noodles") == ["兰州拉面爱好者"]
        assert await names(client, token, query="火锅") == []


async def test_search_near_a_point(client: GQL) -> None:
    owner = await client.make_user()
    wangjing = await merchant(client, "m-wj", owner, location=WANGJING)
    guomao = await merchant(client, "m-gm", owner, location=GUOMAO)
    shanghai = await merchant(client, "m-sh", owner, location=SHANGHAI)
    await circle(client, owner, "望京拉面", merchant_id=wangjing)
    await circle(client, owner, "国贸健身", merchant_id=guomao)
    await circle(client, owner, "上海读书会", merchant_id=shanghai)
    await circle(client, owner, "没有地点的圈子")
    assert await names(client, near=WANGJING, radius=2000) == ["望京拉面"]
    assert await names(client, near=WANGJING) == ["望京拉面"]  # default 5 km
    assert await names(client, near=WANGJING, radius=20000) == ["望京拉面", "国贸健身"]
    assert await names(client, near=GUOMAO, radius=20000) == ["国贸健身", "望京拉面"]
    assert await names(client, near=SHANGHAI, radius=50000) == ["上海读书会"]
    assert await names(client, near={"latitude": 0, "longitude": 0}, radius=50000) == []


async def test_text_and_point_together(client: GQL) -> None:
    owner = await client.make_user()
    wangjing = await merchant(client, "m-wj", owner, location=WANGJING)
    shanghai = await merchant(client, "m-sh", owner, location=SHANGHAI)
    await circle(client, owner, "望京拉面", merchant_id=wangjing)
    await circle(client, owner, "望京咖啡", merchant_id=wangjing)
    await circle(client, owner, "上海拉面", merchant_id=shanghai)
    await circle(client, owner, "拉面爱好者")
    assert await names(client, query="拉面", near=WANGJING, radius=3000) == ["望京拉面"]
    assert await names(client, query="拉面", near=SHANGHAI, radius=3000) == ["上海拉面"]
    assert sorted(await names(client, query="拉面")) == sorted(
        ["望京拉面", "上海拉面", "拉面爱好者"]
    )


async def test_friends_among_members_rank_a_circle_higher(client: GQL, graph: Graph) -> None:
    owner = await client.make_user()
    viewer = await client.make_user()
    friend = await client.make_user()
    stranger = await client.make_user()
    await upsert_friendships(graph, [(viewer["platformId"], friend["platformId"])])
    ids = {
        name: await circle(client, owner, name, "a club for readers")
        for name in ("Book club north", "Book club south")
    }
    plain = await names(client, viewer["token"], query="book club")
    assert sorted(plain) == sorted(ids)
    # equal text scores: the order is by id; the friend joins the one that came last
    last = plain[-1]
    await join(client, friend, ids[last])
    await join(client, stranger, ids[plain[0]])
    boosted = await names(client, viewer["token"], query="book club")
    assert boosted[0] == last
    # nobody else sees that boost
    other = await client.make_user()
    assert await names(client, other["token"], query="book club") == plain


async def test_recommendations(client: GQL, graph: Graph) -> None:
    owner = await client.make_user()
    viewer = await client.make_user()
    friend = await client.make_user()
    fans = [await client.make_user() for _ in range(3)]
    await upsert_friendships(graph, [(viewer["platformId"], friend["platformId"])])
    shop = await merchant(client, "m-shop", owner, location=WANGJING)
    friends_circle = await circle(client, owner, "朋友的圈子")
    shop_circle = await circle(client, owner, "店铺圈子", merchant_id=shop)
    popular = await circle(client, owner, "热门圈子")
    mine = await circle(client, owner, "我已加入的圈子")
    secret = await circle(client, owner, "私密圈子", visibility="PRIVATE")
    await join(client, friend, friends_circle)
    await join(client, friend, mine)
    await join(client, viewer, mine)
    for fan in fans:
        await join(client, fan, popular)
    # the friend is a member of the private circle; the viewer still never sees it
    body = await client(INVITE, {"c": secret, "u": friend["id"]}, token=owner["token"])
    assert body["data"]["inviteToCircle"]["membership"]["state"] == "INVITED"
    await join(client, friend, secret)
    visit = {
        "platformUserId": viewer["platformId"],
        "platformMerchantId": "m-shop",
        "at": "2026-11-01T12:00:00+08:00",
    }
    body = await client(RECORD, {"input": {"visits": [visit]}}, token=client.admin)
    assert body["data"]["adminRecordInteractions"]["accepted"] == 1

    # friends' circles (social 0.6 * 1/3 = 0.2) after the visited merchant's (0.4)
    assert await names(client, viewer["token"]) == ["店铺圈子", "朋友的圈子"]
    # anonymous: popular public and semi-public circles by member count
    anonymous = await names(client)
    assert anonymous[0] == "热门圈子"
    assert "私密圈子" not in anonymous
    assert set(anonymous) == {"热门圈子", "我已加入的圈子", "朋友的圈子", "店铺圈子"}
    # a viewer with no signal at all gets the popular circles too
    newcomer = await client.make_user()
    assert await names(client, newcomer["token"]) == anonymous
    assert popular and shop_circle


async def test_private_circles_only_for_members(client: GQL, graph: Graph) -> None:
    owner = await client.make_user()
    member = await client.make_user()
    invited = await client.make_user()
    outsider = await client.make_user()
    await upsert_friendships(graph, [(outsider["platformId"], member["platformId"])])
    shop = await merchant(client, "m-1", owner, location=WANGJING)
    secret = await circle(
        client, owner, "秘密读书会", "members only", visibility="PRIVATE", merchant_id=shop
    )
    await circle(client, owner, "公开读书会", "everyone", visibility="PUBLIC", merchant_id=shop)
    await circle(client, owner, "半公开读书会", visibility="SEMI_PUBLIC", merchant_id=shop)
    for user in (member, invited):
        body = await client(INVITE, {"c": secret, "u": user["id"]}, token=owner["token"])
        assert body["data"]["inviteToCircle"]["userErrors"] == []
    await join(client, member, secret)

    for token in (None, outsider["token"], invited["token"]):
        found = await names(client, token, query="读书会")
        assert sorted(found) == sorted(["公开读书会", "半公开读书会"])
        assert "秘密读书会" not in await names(client, token, near=WANGJING)
        assert "秘密读书会" not in await names(client, token, query="秘密", near=WANGJING)
        assert "秘密读书会" not in await names(client, token)
    for user in (owner, member):
        assert "秘密读书会" in await names(client, user["token"], query="读书会")
        assert "秘密读书会" in await names(client, user["token"], near=WANGJING)


async def test_lucene_syntax_in_the_query_is_plain_text(client: GQL) -> None:
    owner = await client.make_user()
    await circle(client, owner, "C++ 爱好者 (北京)", "talk: templates & more")
    for query in [
        '"',
        "(",
        ")",
        "a:b",
        "AND",
        "OR NOT",
        "\\",
        "*",
        "?",
        "~",
        "/",
        "[1 TO 2]",
        "{x}",
        "+-!",
        "^2",
        "&&",
        "||",
        "宝妈)",
        'name:"x',
        "c++",
        "北京)",
    ]:
        await discover(client, query=query)
    assert await names(client, query="(北京)") == ["C++ 爱好者 (北京)"]
    assert await names(client, query="talk:") == ["C++ 爱好者 (北京)"]


async def test_bad_input_is_invalid_input(client: GQL) -> None:
    bad: list[dict[str, Any]] = [
        {"near": WANGJING, "radius": 49},
        {"near": WANGJING, "radius": 50001},
        {"near": WANGJING, "radius": -5},
        {"radius": 1000},
        {"near": {"latitude": 91, "longitude": 0}},
        {"near": {"latitude": 0, "longitude": -181}},
        {"query": ""},
        {"query": "   "},
        {"query": "x" * 101},
        {"query": "a\u0000b"},
        {"first": -1},
        {"after": "not-a-cursor"},
    ]
    for variables in bad:
        assert await error_code(client, **variables) == "INVALID_INPUT", variables
    await discover(client, near=WANGJING, radius=50)
    await discover(client, near=WANGJING, radius=50000)
    await discover(client, query="x" * 100)


async def test_pagination(client: GQL) -> None:
    owner = await client.make_user()
    wangjing = await merchant(client, "m-wj", owner, location=WANGJING)
    created = {await circle(client, owner, f"跑步团 {i}", merchant_id=wangjing) for i in range(5)}
    for variables in ({"query": "跑步"}, {"near": WANGJING}, {}):
        seen: list[str] = []
        after = None
        pages = []
        while True:
            page = await discover(client, first=2, after=after, **variables)
            seen += [e["node"]["id"] for e in page["edges"]]
            pages.append(page["pageInfo"]["hasNextPage"])
            after = page["pageInfo"]["endCursor"]
            if not page["pageInfo"]["hasNextPage"]:
                break
        assert pages == [True, True, False], variables
        assert len(seen) == len(set(seen)) == 5
        assert set(seen) == created
    big = await discover(client, query="跑步", first=1000)
    assert len(big["edges"]) == 5
