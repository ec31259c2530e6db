"""Friend requests, friendships and blocks through the public API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from graph.driver import Graph
from tests.conftest import GQL
from workers import ratelimit

SEND = """mutation($id: ID!) { sendFriendRequest(userId: $id) {
  request { id state from { handle } to { handle } } userErrors { code field message } } }"""
RESPOND = """mutation($id: ID!, $accept: Boolean!) { respondToFriendRequest(requestId: $id,
  accept: $accept) { request { id state } userErrors { code } } }"""
CANCEL = """mutation($id: ID!) { cancelFriendRequest(requestId: $id) {
  request { id state } userErrors { code } } }"""
REMOVE = "mutation($id: ID!) { removeFriend(userId: $id) { ok userErrors { code } } }"
BLOCK = "mutation($id: ID!) { blockUser(userId: $id) { ok userErrors { code } } }"
UNBLOCK = "mutation($id: ID!) { unblockUser(userId: $id) { ok userErrors { code } } }"
REQUESTS = """query($outgoing: Boolean) { friendRequests(outgoing: $outgoing) {
  edges { node { id state from { handle } to { handle } } } } }"""
PROFILE = """query($id: ID!) { user(id: $id) { handle displayName isFriend mutualFriendCount
  friends { edges { node { handle } } } } }"""


async def send(client: GQL, sender: dict[str, Any], target_id: str) -> dict[str, Any]:
    body = await client(SEND, {"id": target_id}, token=sender["token"])
    payload: dict[str, Any] = body["data"]["sendFriendRequest"]
    return payload


async def befriend(client: GQL, a: dict[str, Any], b: dict[str, Any]) -> None:
    request = (await send(client, a, b["id"]))["request"]
    accepted = await client(RESPOND, {"id": request["id"], "accept": True}, token=b["token"])
    assert accepted["data"]["respondToFriendRequest"]["request"]["state"] == "ACCEPTED"


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def test_request_accept_makes_friends(client: GQL) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    payload = await send(client, lin, chen["id"])
    assert payload["userErrors"] == []
    assert payload["request"]["state"] == "PENDING"
    assert payload["request"]["from"]["handle"] == "lin"

    incoming = (await client(REQUESTS, token=chen["token"]))["data"]["friendRequests"]["edges"]
    assert [e["node"]["id"] for e in incoming] == [payload["request"]["id"]]
    outgoing = await client(REQUESTS, {"outgoing": True}, token=lin["token"])
    assert len(outgoing["data"]["friendRequests"]["edges"]) == 1

    await client(RESPOND, {"id": payload["request"]["id"], "accept": True}, token=chen["token"])
    profile = (await client(PROFILE, {"id": chen["id"]}, token=lin["token"]))["data"]["user"]
    assert profile["isFriend"] is True
    assert (await client(REQUESTS, token=chen["token"]))["data"]["friendRequests"]["edges"] == []


async def test_decline(client: GQL) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    request = (await send(client, lin, chen["id"]))["request"]
    body = await client(RESPOND, {"id": request["id"], "accept": False}, token=chen["token"])
    assert body["data"]["respondToFriendRequest"]["request"]["state"] == "DECLINED"
    profile = (await client(PROFILE, {"id": chen["id"]}, token=lin["token"]))["data"]["user"]
    assert profile["isFriend"] is False
    again = await client(RESPOND, {"id": request["id"], "accept": True}, token=chen["token"])
    assert codes(again["data"]["respondToFriendRequest"]) == ["INVALID_INPUT"]


async def test_only_the_recipient_responds_and_only_the_sender_cancels(client: GQL) -> None:
    lin = await client.make_user("lin2")
    chen = await client.make_user("chen2")
    wang = await client.make_user("wang2")
    request = (await send(client, lin, chen["id"]))["request"]
    for token in (lin["token"], wang["token"]):
        body = await client(RESPOND, {"id": request["id"], "accept": True}, token=token)
        assert codes(body["data"]["respondToFriendRequest"]) == ["NOT_FOUND"]
    for token in (chen["token"], wang["token"]):
        body = await client(CANCEL, {"id": request["id"]}, token=token)
        assert codes(body["data"]["cancelFriendRequest"]) == ["NOT_FOUND"]
    body = await client(CANCEL, {"id": request["id"]}, token=lin["token"])
    assert body["data"]["cancelFriendRequest"]["request"]["state"] == "CANCELLED"
    # a third party cannot even see the request
    node = await client(
        "query($id: ID!) { node(id: $id) { id } }", {"id": request["id"]}, token=wang["token"]
    )
    assert node["data"]["node"] is None
    mine = await client(
        "query($id: ID!) { node(id: $id) { id } }", {"id": request["id"]}, token=lin["token"]
    )
    assert mine["data"]["node"] == {"id": request["id"]}


async def test_reverse_pending_request_accepts_both(client: GQL) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    first = (await send(client, lin, chen["id"]))["request"]
    second = await send(client, chen, lin["id"])
    assert second["userErrors"] == []
    assert second["request"] == {**first, "state": "ACCEPTED"}
    profile = (await client(PROFILE, {"id": lin["id"]}, token=chen["token"]))["data"]["user"]
    assert profile["isFriend"] is True


async def test_request_error_codes(client: GQL) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    assert codes(await send(client, lin, lin["id"])) == ["INVALID_INPUT"]
    assert codes(await send(client, lin, "VXNlcjpub3BlCg==")) == ["NOT_FOUND"]
    assert codes(await send(client, lin, "garbage")) == ["NOT_FOUND"]
    assert (await send(client, lin, chen["id"]))["userErrors"] == []
    assert codes(await send(client, lin, chen["id"])) == ["ALREADY_EXISTS"]
    request = (await client(REQUESTS, token=chen["token"]))["data"]["friendRequests"]["edges"][0]
    await client(RESPOND, {"id": request["node"]["id"], "accept": True}, token=chen["token"])
    assert codes(await send(client, lin, chen["id"])) == ["ALREADY_EXISTS"]
    assert codes(await send(client, chen, lin["id"])) == ["ALREADY_EXISTS"]
    anonymous = (await client(SEND, {"id": chen["id"]}))["data"]["sendFriendRequest"]
    assert codes(anonymous) == ["UNAUTHENTICATED"]


async def test_blocked_either_way(client: GQL) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    await client(BLOCK, {"id": chen["id"]}, token=lin["token"])
    assert codes(await send(client, lin, chen["id"])) == ["BLOCKED"]
    assert codes(await send(client, chen, lin["id"])) == ["BLOCKED"]


async def test_concurrent_duplicate_requests_create_one(client: GQL, graph: Graph) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    results = await asyncio.gather(*(send(client, lin, chen["id"]) for _ in range(8)))
    assert sorted(codes(r)[0] if codes(r) else "OK" for r in results).count("OK") == 1
    count = await graph.read("MATCH (r:FriendRequest {state: 'PENDING'}) RETURN count(r) AS n")
    assert count.records[0]["n"] == 1


async def test_concurrent_crossing_requests_make_one_friendship(client: GQL, graph: Graph) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    a, b = await asyncio.gather(send(client, lin, chen["id"]), send(client, chen, lin["id"]))
    # whichever came second accepted the first; the first saw its own request still pending
    assert sorted(r["request"]["state"] for r in (a, b)) == ["ACCEPTED", "PENDING"]
    assert a["request"]["id"] == b["request"]["id"]
    friends = await graph.read("MATCH (:User)-[f:FRIEND]->(:User) RETURN count(f) AS n")
    assert friends.records[0]["n"] == 1
    pending = await graph.read("MATCH (r:FriendRequest {state: 'PENDING'}) RETURN count(r) AS n")
    assert pending.records[0]["n"] == 0


async def test_block_ends_friendship_and_pending_requests(client: GQL) -> None:
    lin, chen, wang = (
        await client.make_user("lin"),
        await client.make_user("chen"),
        await client.make_user("wang"),
    )
    await befriend(client, lin, chen)
    await send(client, wang, lin["id"])
    assert (await client(BLOCK, {"id": chen["id"]}, token=lin["token"]))["data"]["blockUser"]["ok"]
    assert (await client(BLOCK, {"id": wang["id"]}, token=lin["token"]))["data"]["blockUser"]["ok"]
    profile = (await client(PROFILE, {"id": chen["id"]}, token=lin["token"]))["data"]["user"]
    assert profile["isFriend"] is False
    assert (await client(REQUESTS, token=lin["token"]))["data"]["friendRequests"]["edges"] == []
    outgoing = await client(REQUESTS, {"outgoing": True}, token=wang["token"])
    assert outgoing["data"]["friendRequests"]["edges"] == []


async def test_blocked_profile_shows_only_id_and_handle(client: GQL) -> None:
    lin = await client.make_user("lin", displayName="林小雨")
    chen = await client.make_user("chen", displayName="陈伟")
    await befriend(client, lin, chen)
    await client(BLOCK, {"id": lin["id"]}, token=chen["token"])
    for viewer, other in ((lin, chen), (chen, lin)):
        profile = (await client(PROFILE, {"id": other["id"]}, token=viewer["token"]))["data"]
        assert profile["user"] == {
            "handle": other["handle"],
            "displayName": other["handle"],
            "isFriend": False,
            "mutualFriendCount": 0,
            "friends": None,
        }


async def test_unblock(client: GQL) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    assert codes(
        (await client(UNBLOCK, {"id": chen["id"]}, token=lin["token"]))["data"]["unblockUser"]
    ) == ["NOT_FOUND"]
    await client(BLOCK, {"id": chen["id"]}, token=lin["token"])
    # only the blocker can lift it
    assert codes(
        (await client(UNBLOCK, {"id": lin["id"]}, token=chen["token"]))["data"]["unblockUser"]
    ) == ["NOT_FOUND"]
    body = await client(UNBLOCK, {"id": chen["id"]}, token=lin["token"])
    assert body["data"]["unblockUser"]["ok"] is True
    assert (await send(client, lin, chen["id"]))["userErrors"] == []


async def test_remove_friend(client: GQL) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    await befriend(client, lin, chen)
    body = await client(REMOVE, {"id": lin["id"]}, token=chen["token"])
    assert body["data"]["removeFriend"]["ok"] is True
    again = await client(REMOVE, {"id": lin["id"]}, token=chen["token"])
    assert codes(again["data"]["removeFriend"]) == ["NOT_FOUND"]
    profile = (await client(PROFILE, {"id": chen["id"]}, token=lin["token"]))["data"]["user"]
    assert profile["isFriend"] is False


async def test_friends_list_visible_to_self_and_friends_only(client: GQL) -> None:
    lin, chen, wang, zhao = (
        await client.make_user("lin"),
        await client.make_user("chen"),
        await client.make_user("wang"),
        await client.make_user("zhao"),
    )
    await befriend(client, lin, chen)
    await befriend(client, lin, wang)
    expected = {"edges": [{"node": {"handle": "chen"}}, {"node": {"handle": "wang"}}]}
    for viewer in (lin, chen):
        profile = (await client(PROFILE, {"id": lin["id"]}, token=viewer["token"]))["data"]
        assert profile["user"]["friends"] == expected
    for token in (zhao["token"], None):
        profile = (await client(PROFILE, {"id": lin["id"]}, token=token))["data"]
        assert profile["user"]["friends"] is None


async def test_friends_list_pages(client: GQL) -> None:
    lin = await client.make_user("lin")
    for i in range(5):
        await befriend(client, lin, await client.make_user(f"friend_{i}"))
    query = """query($id: ID!, $after: String) { user(id: $id) { friends(first: 2, after: $after) {
      edges { cursor node { handle } } pageInfo { hasNextPage endCursor } } } }"""
    seen, after = [], None
    while True:
        page = (await client(query, {"id": lin["id"], "after": after}, token=lin["token"]))["data"][
            "user"
        ]["friends"]
        seen += [e["node"]["handle"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"friend_{i}" for i in range(5)]


async def test_mutual_friend_count(client: GQL) -> None:
    lin, chen, wang, zhao = (
        await client.make_user("lin"),
        await client.make_user("chen"),
        await client.make_user("wang"),
        await client.make_user("zhao"),
    )
    for middle in (chen, wang):
        await befriend(client, lin, middle)
        await befriend(client, zhao, middle)
    profile = (await client(PROFILE, {"id": zhao["id"]}, token=lin["token"]))["data"]["user"]
    assert profile["mutualFriendCount"] == 2
    own = (await client(PROFILE, {"id": lin["id"]}, token=lin["token"]))["data"]["user"]
    assert own["mutualFriendCount"] == 0
    anonymous = (await client(PROFILE, {"id": zhao["id"]}))["data"]["user"]
    assert anonymous["mutualFriendCount"] == 0 and anonymous["isFriend"] is False


async def test_friend_requests_are_rate_limited(
    client: GQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        ratelimit.POLICIES,
        "friend_request",
        ratelimit.Policy(capacity=4, refill_per_second=0.01),  # halved: new accounts
    )
    lin = await client.make_user("lin")
    others = [await client.make_user(f"target_{i}") for i in range(3)]
    assert (await send(client, lin, others[0]["id"]))["userErrors"] == []
    assert (await send(client, lin, others[1]["id"]))["userErrors"] == []
    body = await client.post(SEND, {"id": others[2]["id"]}, token=lin["token"])
    payload = body.json()["data"]["sendFriendRequest"]
    assert codes(payload) == ["RATE_LIMITED"]
    assert payload["request"] is None
    retry = body.json()["extensions"]["rateLimit"]["retryAfterSeconds"]
    assert retry > 0
    assert int(body.headers["retry-after"]) >= 1
