"""Persisted queries: Apollo's automatic protocol for the mobile app, and the allow-list
mode where only registered operations run (``quanzi queries register``)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from api.app import create_app
from api.cli import main
from api.settings import Settings
from tests.conftest import GQL
from workers import keys

ME = "query Me { me { handle } }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(query_id: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": query_id}}


async def gql(http: httpx.AsyncClient, token: str | None, **body: Any) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


async def test_automatic_persisted_queries(client: GQL, redis: Any) -> None:
    lin = await client.make_user("lin")
    http, token = client.http, lin["token"]
    first = await gql(http, token, extensions=persisted(sha(ME)))
    assert code(first) == "PERSISTED_QUERY_NOT_FOUND"
    assert first["errors"][0]["message"] == "PersistedQueryNotFound"  # what Apollo links read
    sent = await gql(http, token, query=ME, extensions=persisted(sha(ME)))
    assert sent == {"data": {"me": {"handle": "lin"}}}
    assert await redis.get(keys.persisted_query(sha(ME))) == ME
    by_hash = await gql(http, token, extensions=persisted(sha(ME)), operationName="Me")
    assert by_hash == {"data": {"me": {"handle": "lin"}}}
    # GET, as a CDN-friendly client does
    params = {"extensions": json.dumps(persisted(sha(ME)))}
    got = await http.get(
        "/graphql",
        params=params,
        headers={"authorization": f"Bearer {token}", "accept": "application/json"},
    )
    assert got.json() == {"data": {"me": {"handle": "lin"}}}


async def test_bad_hashes_and_documents_are_not_kept(client: GQL, redis: Any) -> None:
    lin = await client.make_user("lin")
    http, token = client.http, lin["token"]
    wrong = await gql(http, token, query=ME, extensions=persisted(sha("something else")))
    assert code(wrong) == "PERSISTED_QUERY_HASH_MISMATCH"
    for bad in ({"version": 2, "sha256Hash": sha(ME)}, {"version": 1, "sha256Hash": "abc"}, 7):
        body = await gql(http, token, query=ME, extensions={"persistedQuery": bad})
        assert code(body) == "INVALID_INPUT", bad
    invalid = "{ me { nosuchfield } }"
    refused = await gql(http, token, query=invalid, extensions=persisted(sha(invalid)))
    assert refused["errors"]  # it does not validate ...
    assert await redis.get(keys.persisted_query(sha(invalid))) is None  # ... so is not kept


@pytest.fixture
async def allowlist(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"persisted_queries": "allowlist"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http


async def cli(*args: str) -> Any:
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


async def test_the_allow_list_runs_only_registered_operations(
    client: GQL, allowlist: httpx.AsyncClient, tmp_path: Path
) -> None:
    lin = await client.make_user("lin")
    source = tmp_path / "app.graphql"
    source.write_text(
        "query Me { me { ...Card } }\n"
        "fragment Card on User { handle displayName }\n"
        "query Feed($first: Int) { homeFeed(first: $first) { edges { cursor } } }\n",
        encoding="utf-8",
    )
    registered = await cli("queries", "register", str(source))
    assert registered.exit_code == 0, registered.output
    lines = registered.output.strip().splitlines()
    assert lines[-1] == "2 operations, 2 new"
    ids = {name: qid for qid, name in (line.split() for line in lines[:-1])}
    again = await cli("queries", "register", str(source))
    assert again.output.strip().splitlines()[-1] == "2 operations, 0 new"
    listed = await cli("queries", "list")
    assert sorted(listed.output.split()) == sorted([ids["Me"], "Me", ids["Feed"], "Feed"])

    token = lin["token"]
    ok = await gql(allowlist, token, extensions=persisted(ids["Me"]))
    assert ok == {"data": {"me": {"handle": "lin", "displayName": "Test User"}}}
    feed = await gql(allowlist, token, extensions=persisted(ids["Feed"]), variables={"first": 5})
    assert feed == {"data": {"homeFeed": {"edges": []}}}
    unknown = await gql(allowlist, token, query=ME)  # not registered in this form
    assert code(unknown) == "OPERATION_NOT_ALLOWED"
    stranger = await gql(allowlist, token, extensions=persisted(sha("query X { me { id } }")))
    assert code(stranger) == "OPERATION_NOT_ALLOWED"
    # control: the same request in the default mode is simply run
    assert (await gql(client.http, token, query=ME))["data"] == {"me": {"handle": "lin"}}


async def test_a_manifest_registers_and_bad_files_are_refused(tmp_path: Path) -> None:
    body = "query Hello { me { id } }"
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": sha(body), "name": "Hello", "type": "query", "body": body}],
            }
        ),
        encoding="utf-8",
    )
    done = await cli("queries", "register", str(manifest))
    assert done.exit_code == 0 and done.output.startswith(f"{sha(body)}  Hello"), done.output

    forged = tmp_path / "forged.json"
    forged.write_text(
        json.dumps({"operations": [{"id": sha("x"), "name": "Hello", "body": body}]}),
        encoding="utf-8",
    )
    refused = await cli("queries", "register", str(forged))
    assert refused.exit_code != 0 and "not the SHA-256 of its body" in refused.output
    invalid = tmp_path / "bad.graphql"
    invalid.write_text("query Bad { me { nosuchfield } }", encoding="utf-8")
    refused = await cli("queries", "register", str(invalid))
    assert refused.exit_code != 0 and "nosuchfield" in refused.output
