"""The GraphQL baseline: depth, alias, token and body limits; masked failures."""

from __future__ import annotations

import logging

import pytest
from graphql import get_introspection_query

from api.settings import Settings
from schema import core
from schema.root import make_schema
from tests.conftest import GQL


async def test_depth_limit(settings: Settings) -> None:
    # The schema is shallow until friends lists arrive; a schema built with a lower
    # limit shows the configured limiter refuses deeper documents before execution.
    shallow = make_schema(settings.model_copy(update={"max_query_depth": 0}))
    result = await shallow.execute("{ me { id } }")
    assert result.errors and "exceeds maximum operation depth" in result.errors[0].message
    result = await make_schema(settings).execute("{ __typename }")
    assert not result.errors


async def test_alias_limit(client: GQL) -> None:
    limit = client.settings.max_aliases
    ok = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(limit)) + " }"
    assert "errors" not in await client(ok)
    too_many = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(limit + 1)) + " }"
    body = await client(too_many)
    assert body["errors"][0]["message"].startswith(f"{limit + 1} aliases found")


async def test_token_limit(client: GQL) -> None:
    query = "{ " + " ".join("me { id }" for _ in range(client.settings.max_tokens)) + " }"
    body = await client(query)
    assert "errors" in body and body.get("data") is None


async def test_introspection_fits_the_limits(client: GQL) -> None:
    body = await client(get_introspection_query(descriptions=True))
    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_body_size_limit(client: GQL) -> None:
    big = "#" + "x" * (client.settings.max_body_bytes + 10) + "\n{ me { id } }"
    response = await client.post(big)
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_unexpected_errors_are_masked_with_request_id(
    client: GQL, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(info: object, node_id: str) -> None:
        raise RuntimeError("secret internals: bolt://10.0.0.5")

    monkeypatch.setattr("schema.root.resolve_node", explode)
    with caplog.at_level(logging.ERROR, logger="quanzi.graphql"):
        response = await client.http.post(
            "/graphql",
            json={"query": '{ node(id: "x") { id } }'},
            headers={"x-request-id": "req-test-12345"},
        )
    body = response.json()
    assert response.status_code == 200
    error = body["errors"][0]
    assert error["message"] == "Internal server error."
    assert "secret" not in response.text
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-test-12345"}
    assert response.headers["x-request-id"] == "req-test-12345"
    assert any("req-test-12345" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_first_is_capped(client: GQL) -> None:
    class _Ctx:
        settings = client.settings

    class _Info:
        context = _Ctx()

    assert core.page_size(_Info(), 1000) == 100  # type: ignore[arg-type]
    assert core.page_size(_Info(), None) == 20  # type: ignore[arg-type]
    with pytest.raises(core.ClientError):
        core.page_size(_Info(), -1)  # type: ignore[arg-type]
