"""`quanzi demo` loads a small world that `make run` users can explore, idempotently."""

from __future__ import annotations

from actions.demo import load_demo
from graph.demo import DEMO_USER_PLATFORM_ID
from graph.driver import Graph
from tests.conftest import GQL
from workers.services import Services

COUNTS = """
MATCH (n) WITH count(n) AS nodes
MATCH ()-[r]->() RETURN nodes, count(r) AS rels
"""


async def test_demo_loads_once_and_has_suggestions(
    client: GQL, graph: Graph, services: Services
) -> None:
    await load_demo(services)
    first = (await graph.read(COUNTS)).records[0]
    await load_demo(services)
    second = (await graph.read(COUNTS)).records[0]
    assert dict(first) == dict(second)

    body = await client(
        "{ me { handle } peopleYouMayKnow { edges { node { user { handle } } } } }",
        token=client.token(DEMO_USER_PLATFORM_ID),
    )
    assert body["data"]["me"] == {"handle": "lin_xiaoyu"}
    suggested = [e["node"]["user"]["handle"] for e in body["data"]["peopleYouMayKnow"]["edges"]]
    assert suggested[:2] == ["sun_li", "zhao_lei"]
