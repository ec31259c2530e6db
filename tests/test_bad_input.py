"""Bad input gets a clear answer: a 400 from the transport, or a GraphQL error with
``extensions.code`` INVALID_INPUT; never a 500, never INTERNAL_SERVER_ERROR."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from graphql import GraphQLObjectType, build_schema
from hypothesis import given, settings
from hypothesis import strategies as st

from schema.root import sdl
from tests.conftest import GQL


def b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "body",
    [b"42", b'"hello"', b"null", b"true", b"\xff\xfe{}", b'{"query": "{ me { id } }"\xff}', b"{"],
    ids=["number", "string", "null", "bool", "not-utf8", "not-utf8-inside", "truncated"],
)
async def test_a_body_that_is_not_a_json_object_is_a_400(client: GQL, body: bytes) -> None:
    response = await client.http.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert "JSON" in response.text


# Forged cursors: valid base64 and JSON, wrong shape or kinds of parts.
FORGED = [
    b64('["x","y"]'),
    b64("[1,2]"),
    b64('{"a":1}'),
    b64("[]"),
    b64('[1e999,"x"]'),
    b64('[true,"x"]'),
    b64('["2024-13-45","x"]'),
    "%%%",
    b64("not json"),
]
PAGED = {
    "homeFeed": "{ homeFeed(after: $after) { edges { cursor } } }",
    "peopleYouMayKnow": "{ peopleYouMayKnow(after: $after) { edges { cursor } } }",
    "notifications": "{ notifications(after: $after) { edges { cursor } } }",
    "friendRequests": "{ friendRequests(after: $after) { edges { cursor } } }",
    "myCircles": "{ myCircles(after: $after) { edges { cursor } } }",
    "myMerchants": "{ myMerchants(after: $after) { edges { cursor } } }",
    "discoverCircles": "{ discoverCircles(after: $after) { edges { cursor } } }",
    "friends": "{ me { friends(after: $after) { edges { cursor } } } }",
}


@pytest.mark.parametrize("field", sorted(PAGED))
async def test_forged_cursors_are_invalid_input(
    client: GQL, field: str, caplog: pytest.LogCaptureFixture
) -> None:
    user = await client.make_user("forger")
    query = "query($after: String) " + PAGED[field]
    for cursor in FORGED:
        with caplog.at_level(logging.ERROR, logger="quanzi.graphql"):
            body = await client(query, {"after": cursor}, token=user["token"])
        codes = [e["extensions"]["code"] for e in body.get("errors", [])]
        assert codes == ["INVALID_INPUT"], (field, cursor, body)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def _type_names() -> list[str]:
    schema = build_schema(sdl())
    return sorted(
        name
        for name, t in schema.type_map.items()
        if isinstance(t, GraphQLObjectType) and not name.startswith("__")
    )


async def test_node_of_any_type_name_or_shape_reads_as_missing(
    client: GQL, caplog: pytest.LogCaptureFixture
) -> None:
    user = await client.make_user("prober")
    ids = [f"{name}:x" for name in _type_names()] + ["Nope:1", "User:", ":1", "User"]
    raw = [base64.b64encode(i.encode()).decode() for i in ids] + ["!!!", "", "a" * 300]
    query = "query($id: ID!) { node(id: $id) { id } }"
    for global_id in raw:
        with caplog.at_level(logging.ERROR, logger="quanzi.graphql"):
            body: dict[str, Any] = await client(query, {"id": global_id}, token=user["token"])
        assert body == {"data": {"node": None}}, (global_id, json.dumps(body)[:300])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def _examples(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """Hypothesis's variety, drawn up front (the requests are async)."""
    drawn: list[Any] = []

    @given(strategy)
    @settings(max_examples=count, database=None, deadline=None)
    def draw(value: Any) -> None:
        drawn.append(value)

    draw()
    return drawn


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
# Cursors a hostile client builds: our own encoding around parts of any shape and kind.
CURSORS = st.lists(_JSON, max_size=4).map(lambda parts: b64(json.dumps(parts)))


@pytest.mark.parametrize("field", sorted(PAGED))
async def test_structured_cursors_never_fail_the_server(client: GQL, field: str) -> None:
    user = await client.make_user("forger")
    query = "query($after: String) " + PAGED[field]
    for cursor in _examples(CURSORS, 30):
        body = await client(query, {"after": cursor}, token=user["token"])
        codes = {e["extensions"]["code"] for e in body.get("errors", [])}
        assert codes <= {"INVALID_INPUT"}, (field, cursor, body)


async def test_global_ids_of_any_type_and_shape_never_fail_the_server(client: GQL) -> None:
    user = await client.make_user("prober")
    names = st.sampled_from([*_type_names(), "Nope"])
    ids = st.builds(lambda t, i: f"{t}:{i}", names, st.text(max_size=20)).map(
        lambda raw: base64.b64encode(raw.encode()).decode()
    )
    query = """query($id: ID!) { node(id: $id) { id } user(id: $id) { id }
      circle(id: $id) { id } post(id: $id) { id } merchant(id: $id) { id } }"""
    for global_id in _examples(ids | st.text(max_size=40), 60):
        body = await client(query, {"id": global_id}, token=user["token"])
        assert "errors" not in body, (global_id, body)
