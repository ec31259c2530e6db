"""adminUpsertUser, updateProfile, me, user and node through the public API."""

from __future__ import annotations

import base64

from graph.driver import Graph
from tests.conftest import GQL

UPSERT = """
mutation($input: AdminUpsertUserInput!) {
  adminUpsertUser(input: $input) {
    user { id handle displayName trustScore discoverable }
    userErrors { field code message }
  }
}"""

UPDATE = """
mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) {
    user { id displayName discoverable trustScore }
    userErrors { field code message }
  }
}"""


async def test_upsert_is_idempotent_by_platform_id(client: GQL, graph: Graph) -> None:
    variables = {"input": {"platformId": "p-1", "handle": "lin", "displayName": "林小雨"}}
    first = (await client(UPSERT, variables, token=client.admin))["data"]["adminUpsertUser"]
    second = (await client(UPSERT, variables, token=client.admin))["data"]["adminUpsertUser"]
    assert first["userErrors"] == [] and second["userErrors"] == []
    assert first["user"]["id"] == second["user"]["id"]
    count = await graph.read("MATCH (u:User {platformId: 'p-1'}) RETURN count(u) AS n")
    assert count.records[0]["n"] == 1

    variables["input"]["displayName"] = "小雨"
    third = (await client(UPSERT, variables, token=client.admin))["data"]["adminUpsertUser"]
    assert third["user"] == {**first["user"], "displayName": "小雨"}


async def test_global_id_is_opaque_and_hides_platform_id(client: GQL) -> None:
    user = await client.make_user("opaque_user", platformId="platform-secret-42")
    decoded = base64.b64decode(user["id"]).decode()
    assert decoded.startswith("User:")
    assert "platform-secret-42" not in decoded


async def test_only_admins_may_upsert(client: GQL) -> None:
    member = await client.make_user("member_one")
    variables = {"input": {"platformId": "p-x", "handle": "sneaky", "displayName": "x"}}
    for token in (member["token"], None):
        payload = (await client(UPSERT, variables, token=token))["data"]["adminUpsertUser"]
        assert payload["user"] is None
        assert [e["code"] for e in payload["userErrors"]] == ["FORBIDDEN"]


async def test_upsert_validates_handle_and_lengths(client: GQL) -> None:
    cases = [
        ({"handle": "a b"}, "handle"),
        ({"handle": "ab"}, "handle"),
        ({"handle": "x" * 31}, "handle"),
        ({"displayName": ""}, "displayName"),
        ({"displayName": "x" * 65}, "displayName"),
        ({"displayName": "bad\u0000name"}, "displayName"),
        ({"phone": "12345"}, "phone"),
        ({"trustScore": 1001}, "trustScore"),
        ({"platformId": ""}, "platformId"),
    ]
    for override, field in cases:
        data = {"platformId": "p-v", "handle": "valid_handle", "displayName": "ok", **override}
        payload = (await client(UPSERT, {"input": data}, token=client.admin))["data"][
            "adminUpsertUser"
        ]
        assert payload["user"] is None, override
        assert {(e["field"], e["code"]) for e in payload["userErrors"]} == {
            (field, "INVALID_INPUT")
        }, override


async def test_handle_is_unique_case_insensitively(client: GQL) -> None:
    await client.make_user("Chen_Wei")
    variables = {"input": {"platformId": "p-other", "handle": "chen_wei", "displayName": "x"}}
    payload = (await client(UPSERT, variables, token=client.admin))["data"]["adminUpsertUser"]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        ("handle", "ALREADY_EXISTS")
    ]


async def test_phone_is_stored_only_as_keyed_hash(client: GQL, graph: Graph) -> None:
    await client.make_user("phone_owner", platformId="p-phone", phone="+86 138 0013 8000")
    result = await graph.read("MATCH (u:User {platformId: 'p-phone'}) RETURN properties(u) AS p")
    props = result.records[0]["p"]
    values = " ".join(str(v) for v in props.values())
    assert "13800138000" not in values and "138 0013" not in values
    assert len(props["phoneHash"]) == 64


async def test_me_and_private_fields(client: GQL) -> None:
    lin = await client.make_user("lin_me", trustScore=720)
    chen = await client.make_user("chen_me")
    me = await client("{ me { id handle trustScore discoverable } }", token=lin["token"])
    assert me["data"]["me"] == {
        "id": lin["id"],
        "handle": "lin_me",
        "trustScore": 720,
        "discoverable": True,
    }
    other = await client(
        "query($id: ID!) { user(id: $id) { handle trustScore discoverable } }",
        {"id": lin["id"]},
        token=chen["token"],
    )
    assert other["data"]["user"] == {"handle": "lin_me", "trustScore": None, "discoverable": None}
    assert (await client("{ me { id } }"))["data"]["me"] is None


async def test_node_resolves_users_and_hides_garbage(client: GQL) -> None:
    lin = await client.make_user("node_lin")
    query = "query($id: ID!) { node(id: $id) { id ... on User { handle } } }"
    assert (await client(query, {"id": lin["id"]}))["data"]["node"] == {
        "id": lin["id"],
        "handle": "node_lin",
    }
    missing = base64.b64encode(b"User:does-not-exist").decode()
    unknown_type = base64.b64encode(b"Spaceship:1").decode()
    for bad in (missing, unknown_type, "not base64 at all", ""):
        body = await client(query, {"id": bad})
        assert body["data"]["node"] is None, bad
        assert "errors" not in body, bad


async def test_update_profile(client: GQL) -> None:
    lin = await client.make_user("profile_lin", displayName="Lin")
    payload = (
        await client(
            UPDATE, {"input": {"displayName": " 林 ", "discoverable": False}}, token=lin["token"]
        )
    )["data"]["updateProfile"]
    assert payload["userErrors"] == []
    assert payload["user"]["displayName"] == "林"
    assert payload["user"]["discoverable"] is False
    # fields left out stay as they are
    payload = (await client(UPDATE, {"input": {}}, token=lin["token"]))["data"]["updateProfile"]
    assert payload["user"]["displayName"] == "林" and payload["user"]["discoverable"] is False


async def test_update_profile_validation(client: GQL) -> None:
    lin = await client.make_user("profile_bad")
    for name in ("", "   ", "x" * 65, "tab\u0007bell", "rtl\u202eoverride"):
        payload = (await client(UPDATE, {"input": {"displayName": name}}, token=lin["token"]))[
            "data"
        ]["updateProfile"]
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
            ("displayName", "INVALID_INPUT")
        ], name
        assert payload["user"] is None
    anonymous = (await client(UPDATE, {"input": {"displayName": "x"}}))["data"]["updateProfile"]
    assert [e["code"] for e in anonymous["userErrors"]] == ["UNAUTHENTICATED"]


async def test_emoji_sequences_are_not_control_characters(client: GQL) -> None:
    lin = await client.make_user("emoji_lin")
    payload = (
        await client(UPDATE, {"input": {"displayName": "妈妈 👩‍👧 Lin"}}, token=lin["token"])
    )["data"]["updateProfile"]
    assert payload["userErrors"] == []
    assert payload["user"]["displayName"] == "妈妈 👩‍👧 Lin"
