"""A hidden thing answers exactly like a missing one, on every path, before any rule of
the circle is read; and counts count only what the viewer may see."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from graph.driver import Graph
from tests.conftest import GQL
from tests.test_automod import SET, rule
from tests.test_circle_joins import ban, create, invite, join, leave
from tests.test_feeds import FEED
from tests.test_friends import BLOCK, befriend
from tests.test_posts import COMMENT, codes, mutate, person, post, posted, read

pytestmark = pytest.mark.usefixtures("generous_post_limit")

CREATE = """mutation($input: CreatePostInput!) { createPost(input: $input) {
  post { id } userErrors { code field message } } }"""
COMMENT_ON = """mutation($id: ID!, $body: String!) { commentOnPost(postId: $id, body: $body) {
  comment { id } userErrors { code field message } } }"""
LEAVE = """mutation($id: ID!) { leaveCircle(circleId: $id) {
  membership { state } userErrors { code field message } } }"""
SUSPEND = """mutation($u: ID!, $s: Boolean!) { adminSuspendUser(userId: $u, suspended: $s) {
  userErrors { code } } }"""
CIRCLE = "query($id: ID!) { circle(id: $id) { memberCount } }"
MISSING_CIRCLE = base64.b64encode(b"Circle:no-such-circle").decode()
MISSING_POST = base64.b64encode(b"Post:no-such-post").decode()


def errors(payload: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(e["code"], e["field"], e["message"]) for e in payload["userErrors"]]


async def posting(client: GQL, who: dict[str, Any], body: str, circle: str) -> Any:
    return await mutate(client, CREATE, "createPost", who, input={"body": body, "circleId": circle})


async def leaving(client: GQL, who: dict[str, Any], circle: str) -> Any:
    return await mutate(client, LEAVE, "leaveCircle", who, id=circle)


async def test_posting_where_one_cannot_see_reads_like_no_circle_not_like_its_rules(
    client: GQL,
) -> None:
    owner, outsider = await person(client, "owner"), await person(client, "outsider")
    private = await create(client, owner, visibility="PRIVATE", joinPolicy="INVITE")
    rules = [rule("no scams", "free money", "REFUSE"), rule("ads", "代购", "HOLD")]
    set_rules = await mutate(client, SET, "setAutomodRules", owner, c=private, rules=rules)
    assert set_rules["userErrors"] == []
    # the owner meets the rule: it is there
    assert codes(await post(client, owner, "free money here", private)) == ["INVALID_INPUT"]

    hidden = await posting(client, outsider, "free money here", private)
    missing = await posting(client, outsider, "free money here", MISSING_CIRCLE)
    assert errors(hidden) == errors(missing) == [("NOT_FOUND", "circleId", "circle not found")]
    held = await posting(client, outsider, "代购 cheap", private)
    assert errors(held) == errors(missing)


async def test_commenting_on_a_post_one_cannot_see_reads_like_no_post(client: GQL) -> None:
    owner, member, outsider = (
        await person(client, "owner"),
        await person(client, "member"),
        await person(client, "outsider"),
    )
    semi = await create(client, owner, visibility="SEMI_PUBLIC")
    assert (await join(client, member, semi))["userErrors"] == []
    rules = [rule("no scams", "free money", "REFUSE")]
    assert (await mutate(client, SET, "setAutomodRules", owner, c=semi, rules=rules))[
        "userErrors"
    ] == []
    pid = await posted(client, member, "members only", semi)
    hidden = await mutate(
        client, COMMENT_ON, "commentOnPost", outsider, id=pid, body="free money here"
    )
    missing = await mutate(
        client, COMMENT_ON, "commentOnPost", outsider, id=MISSING_POST, body="free money here"
    )
    assert errors(hidden) == errors(missing) == [("NOT_FOUND", "postId", "post not found")]
    # control: a member meets the rule
    seen = await mutate(client, COMMENT, "commentOnPost", member, id=pid, body="free money")
    assert codes(seen) == ["INVALID_INPUT"]


async def test_a_ban_from_a_private_circle_does_not_show_through_leave(
    client: GQL, graph: Graph
) -> None:
    owner, lin = await person(client, "owner"), await person(client, "lin")
    private = await create(client, owner, visibility="PRIVATE", joinPolicy="INVITE")
    semi = await create(client, owner, visibility="SEMI_PUBLIC")
    assert (await invite(client, owner, private, lin))["userErrors"] == []
    assert (await join(client, lin, private))["userErrors"] == []
    assert (await join(client, lin, semi))["userErrors"] == []
    await ban(graph, lin, private, None)
    await ban(graph, lin, semi, None)

    hidden = await leaving(client, lin, private)
    missing = await leaving(client, lin, MISSING_CIRCLE)
    assert errors(hidden) == errors(missing) == [("NOT_FOUND", "circleId", "circle not found")]
    # control: where the banned user still sees the card, the ban is said
    assert codes(await leave(client, lin, semi)) == ["BANNED"]


async def feed_counts(client: GQL, who: dict[str, Any]) -> dict[str, int]:
    body = await client("{ homeFeed { edges { node { id commentCount } } } }", token=who["token"])
    return {e["node"]["id"]: e["node"]["commentCount"] for e in body["data"]["homeFeed"]["edges"]}


async def test_comment_counts_count_what_the_viewer_sees(client: GQL, drain: Any) -> None:
    author, lin, troll, fan = [await person(client, h) for h in ("author", "lin", "troll", "fan")]
    for friend in (lin, troll, fan):
        await befriend(client, author, friend)
    await client(FEED, token=lin["token"])  # lin reads feeds: fan-out reaches her
    pid = await posted(client, author, "my news")
    await drain()
    for who in (troll, fan, fan):
        assert (await mutate(client, COMMENT, "commentOnPost", who, id=pid, body="hi"))[
            "userErrors"
        ] == []
    assert (await read(client, lin, pid) or {})["commentCount"] == 3
    assert await feed_counts(client, lin) == {pid: 3}

    await client(BLOCK, {"id": troll["id"]}, token=lin["token"])
    assert (await read(client, lin, pid) or {})["commentCount"] == 2
    assert await feed_counts(client, lin) == {pid: 2}  # the warm feed path says the same
    assert (await read(client, fan, pid) or {})["commentCount"] == 3  # others see all

    suspended = await client(SUSPEND, {"u": fan["id"], "s": True}, token=client.admin)
    assert suspended["data"]["adminSuspendUser"]["userErrors"] == []
    assert (await read(client, author, pid) or {})["commentCount"] == 1
    assert await feed_counts(client, author) == {pid: 1}
    assert (await read(client, lin, pid) or {})["commentCount"] == 0
    await client(SUSPEND, {"u": fan["id"], "s": False}, token=client.admin)
    assert (await read(client, author, pid) or {})["commentCount"] == 3


async def test_member_counts_leave_suspended_members_out(client: GQL) -> None:
    owner, lin = await person(client, "owner"), await person(client, "lin")
    circle = await create(client, owner)
    assert (await join(client, lin, circle))["userErrors"] == []

    async def count() -> int:
        body = await client(CIRCLE, {"id": circle}, token=owner["token"])
        found: int = body["data"]["circle"]["memberCount"]
        return found

    assert await count() == 2
    for state, expected in ((True, 1), (True, 1), (False, 2), (False, 2)):  # repeats: no-ops
        await client(SUSPEND, {"u": lin["id"], "s": state}, token=client.admin)
        assert await count() == expected
