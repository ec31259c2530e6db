"""``quanzi bulk-import``: the offline neo4j-admin path builds the graph the online one does.

The same small socialgen dataset goes (a) through ``quanzi import`` plus each user's
contacts into the test stack, and (b) through ``quanzi bulk-import`` (a subprocess, as
an operator runs it) into a second, stopped Neo4j of its own in a temporary stack dir;
then labels, types, property keys and types, every relationship's ends and times, and a
sample of users are compared, and the public API serves suggestions off (b).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from api.app import create_app
from api.auth import mint_token
from api.cli import main
from api.settings import Settings
from bench.socialgen import GenConfig, generate, write_csv
from graph.contacts import prepare_upload, store
from graph.driver import Graph, open_driver, write_transaction
from stack import manager
from tests.conftest import free_port

# A display name with a comma and a quote, no phone and no trust score; a merchant with no
# location: the empty cells and the quoting the bulk files must get right.
EXTRA_USER = 'zz1,odd_one,"Li, ""Junior""",,\n'
EXTRA_MERCHANT = "mzz1,Nowhere Shop,retail,,\n"
EXTRA_FRIEND = "zz1,u0000001\n"


def dataset(directory: Path) -> Path:
    sg = generate(GenConfig(users=300, seed=5))
    write_csv(sg, directory)
    for name, line in (
        ("users.csv", EXTRA_USER),
        ("merchants.csv", EXTRA_MERCHANT),
        ("friendships.csv", EXTRA_FRIEND),
    ):
        with (directory / name).open("a", encoding="utf-8") as fh:
            fh.write(line)
    # a repeated friendship (either way round) and a repeated payment collapse online
    with (directory / "friendships.csv").open("a", encoding="utf-8") as fh:
        fh.write("u0000001,zz1\n")
    first_payment = (directory / "payments.csv").read_text().splitlines()[1]
    with (directory / "payments.csv").open("a", encoding="utf-8") as fh:
        fh.write(first_payment + "\n")
    return directory


async def online(graph: Graph, settings: Settings, directory: Path) -> None:
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["import", str(directory), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    books: dict[str, list[str]] = {}
    for line in (directory / "contacts.csv").read_text().splitlines()[1:]:
        owner, phone = line.split(",")
        books.setdefault(owner, []).append(phone)
    ids = await graph.read(
        "UNWIND $pids AS pid MATCH (u:User {platformId: pid}) RETURN pid, u.id AS id",
        pids=list(books),
    )
    by_pid = {r["pid"]: r["id"] for r in ids.records}
    for owner, phones in books.items():  # what each user's uploadContacts stores
        hashes = prepare_upload(phones, pepper=settings.pepper).hashes
        await write_transaction(graph, partial(store, user_id=by_pid[owner], hashes=hashes))


@pytest.fixture
async def bulk_graph(
    tmp_path: Path, settings: Settings
) -> AsyncIterator[tuple[Graph, Settings, Path]]:
    """A second Neo4j (own stack dir and port) filled by ``quanzi bulk-import``."""
    src = dataset(tmp_path / "src")
    port = free_port()
    env = {
        **os.environ,
        "QUANZI_STACK_DIR": str(tmp_path / "stack"),
        "QUANZI_NEO4J_URI": f"neo4j://127.0.0.1:{port}",
        "QUANZI_NEO4J_HEAP": "512m",
        "QUANZI_NEO4J_PAGECACHE": "128m",
    }
    bulk_settings = settings.model_copy(
        update={"stack_dir": tmp_path / "stack", "neo4j_uri": env["QUANZI_NEO4J_URI"]}
    )
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "api.cli", "bulk-import", str(src), "--max-off-heap", "256m"],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "migrations applied" in done.stdout, done.stdout
        driver = open_driver(bulk_settings)
        try:
            yield Graph(driver, bulk_settings.neo4j_database), bulk_settings, src
        finally:
            await driver.close()
    finally:
        await asyncio.to_thread(manager.down, bulk_settings, ["neo4j"], lambda _m: None)


async def shape(graph: Graph) -> dict[str, Any]:
    """Everything but the generated ids and the import times, keyed by platform ids."""
    nodes = await graph.read("MATCH (n) RETURN labels(n) AS l, count(*) AS n")
    rels = await graph.read("MATCH ()-[r]->() RETURN type(r) AS t, count(*) AS n")
    props = await graph.read(
        """
        MATCH (n) UNWIND keys(n) AS k
        RETURN DISTINCT labels(n) AS l, k, valueType(n[k]) AS t
        """
    )
    rel_props = await graph.read(
        "MATCH ()-[r]->() UNWIND keys(r) AS k RETURN DISTINCT type(r) AS t, k, valueType(r[k]) AS v"
    )
    users = await graph.read(
        """
        MATCH (u:User)
        RETURN u.platformId AS pid, u {.*, id: null, createdAt: null, updatedAt: null} AS p
        """
    )
    merchants = await graph.read(
        """
        MATCH (m:Merchant)
        RETURN m.platformId AS pid, m {.*, id: null, createdAt: null, updatedAt: null} AS p
        """
    )
    friends = await graph.read(
        "MATCH (a:User)-[r:FRIEND]->(b:User) RETURN a.platformId AS a, b.platformId AS b, "
        "a.id < b.id AS ordered, valueType(r.since) AS t"
    )
    paid = await graph.read(
        "MATCH (a:User)-[r:PAID]->(b:User) RETURN a.platformId AS a, b.platformId AS b, "
        "r.at.epochMillis AS at"
    )
    visited = await graph.read(
        "MATCH (a:User)-[r:VISITED]->(m:Merchant) RETURN a.platformId AS a, "
        "m.platformId AS m, r.at.epochMillis AS at"
    )
    contacts = await graph.read(
        "MATCH (a:User)-[:HAS_CONTACT]->(p:Phone) RETURN a.platformId AS a, p.hash AS h"
    )
    return {
        "nodes": sorted((tuple(r["l"]), r["n"]) for r in nodes.records),
        "rels": sorted((r["t"], r["n"]) for r in rels.records),
        "props": sorted((tuple(r["l"]), r["k"], r["t"]) for r in props.records),
        "rel_props": sorted((r["t"], r["k"], r["v"]) for r in rel_props.records),
        "users": {r["pid"]: dict(r["p"]) for r in users.records},
        "merchants": {r["pid"]: dict(r["p"]) for r in merchants.records},
        # the direction follows the (random) internal ids: compare pairs, and the rule
        "friends": sorted((*sorted((r["a"], r["b"])), r["t"]) for r in friends.records),
        "friend_directions": {r["ordered"] for r in friends.records},
        "paid": sorted((r["a"], r["b"], r["at"]) for r in paid.records),
        "visited": sorted((r["a"], r["m"], r["at"]) for r in visited.records),
        "contacts": sorted((r["a"], r["h"]) for r in contacts.records),
    }


async def test_bulk_import_builds_the_online_graph(
    graph: Graph, settings: Settings, clean: None, bulk_graph: tuple[Graph, Settings, Path]
) -> None:
    bulk, bulk_settings, src = bulk_graph
    await online(graph, settings, src)
    want, got = await shape(graph), await shape(bulk)
    assert got["nodes"] == want["nodes"]
    assert got["rels"] == want["rels"]
    assert got["props"] == want["props"]
    assert got["rel_props"] == want["rel_props"]
    assert got["friend_directions"] == want["friend_directions"] == {True}
    for key in ("users", "merchants", "friends", "paid", "visited", "contacts"):
        assert got[key] == want[key], key
    assert got["users"]["zz1"]["displayName"] == 'Li, "Junior"'
    assert got["users"]["zz1"].get("phoneHash") is None
    assert got["merchants"]["mzz1"].get("location") is None
    counts = dict(want["rels"])
    assert counts["FRIEND"] > 1000 and counts["HAS_CONTACT"] > 1000 and counts["PAID"] > 100

    # migrations ran: the unique constraints the app relies on are there
    constraints = await bulk.read("SHOW CONSTRAINTS YIELD labelsOrTypes, properties")
    assert (["User"], ["id"]) in [
        (r["labelsOrTypes"], r["properties"]) for r in constraints.records
    ]

    # the public API over the bulk-imported graph
    viewer = "u0000001"
    app = create_app(bulk_settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://quanzi.test"
        ) as http,
    ):
        response = await http.post(
            "/graphql",
            json={
                "query": "{ me { platformId: id handle } peopleYouMayKnow(first: 10) "
                "{ edges { node { user { id } reasons { kind } } } } }"
            },
            headers={"authorization": f"Bearer {mint_token(bulk_settings, viewer)}"},
        )
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    assert body["data"]["me"]["handle"] == got["users"][viewer]["handle"]
    assert len(body["data"]["peopleYouMayKnow"]["edges"]) == 10
