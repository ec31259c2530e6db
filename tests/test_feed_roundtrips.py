"""Guard: a warm homeFeed page is served from Redis alone, and a cold one (Redis flushed)
costs a small number of Neo4j round trips that does not grow with the page size.

Round trips are counted at the driver: every Neo4j session the process opens (each
``Graph.read``/``Graph.write`` is one ``execute_query``, which opens one; so does
``write_transaction``), with the ``Graph`` calls recorded beside them for the message.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from neo4j import AsyncDriver
from redis.asyncio import Redis

from api.settings import Settings
from graph.driver import Graph
from tests.conftest import GQL
from tests.test_friends import befriend
from workers import ratelimit
from workers.handlers import WorkerServices, registry
from workers.queue import Consumer

POST = """mutation($input: CreatePostInput!) { createPost(input: $input) {
  post { id } userErrors { code } } }"""
# The hydrated first page a client shows.
FEED = """query($first: Int) { homeFeed(first: $first) {
  edges { cursor node { id body createdAt reactionCount commentCount viewerReacted
  author { id handle displayName } } } pageInfo { hasNextPage endCursor } } }"""

COLD_ROUND_TRIPS_MAX = 8


@dataclass
class RoundTrips:
    """Neo4j sessions opened (and Graph calls made) while ``counting()`` is active."""

    sessions: int = 0
    calls: list[str] = field(default_factory=list)
    active: bool = False

    def counting(self) -> _Window:
        return _Window(self)


class _Window:
    def __init__(self, trips: RoundTrips) -> None:
        self.trips = trips

    def __enter__(self) -> RoundTrips:
        self.trips.sessions = 0
        self.trips.calls = []
        self.trips.active = True
        return self.trips

    def __exit__(self, *exc: object) -> None:
        self.trips.active = False


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[RoundTrips]:
    trips = RoundTrips()
    real_session = AsyncDriver._session
    real_read, real_write = Graph.read, Graph.write

    def session(self: AsyncDriver, *args: Any, **kwargs: Any) -> Any:
        if trips.active:
            trips.sessions += 1
        return real_session(self, *args, **kwargs)

    async def read(self: Graph, query: Any, **params: Any) -> Any:
        if trips.active:
            trips.calls.append("read: " + " ".join(str(query).split())[:90])
        return await real_read(self, query, **params)

    async def write(self: Graph, query: Any, **params: Any) -> Any:
        if trips.active:
            trips.calls.append("write: " + " ".join(str(query).split())[:90])
        return await real_write(self, query, **params)

    monkeypatch.setattr(AsyncDriver, "_session", session)
    monkeypatch.setattr(Graph, "read", read)
    monkeypatch.setattr(Graph, "write", write)
    yield trips


@pytest.fixture(autouse=True)
def generous_post_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ratelimit.POLICIES, "post", ratelimit.Policy(100, 1.0))


@pytest.fixture
async def drain(graph: Graph, redis: Redis, settings: Settings) -> Any:
    """Run the worker's handlers in-process until the job stream is empty."""
    consumer = Consumer(
        redis, registry(WorkerServices(settings, graph, redis)), "roundtrip-worker", block_ms=1
    )

    async def run() -> None:
        while await consumer.run_once():
            pass

    return run


async def _feed(client: GQL, user: dict[str, Any], first: int) -> list[dict[str, Any]]:
    body = await client(FEED, {"first": first}, token=user["token"])
    assert "errors" not in body, body
    edges: list[dict[str, Any]] = body["data"]["homeFeed"]["edges"]
    return edges


async def _setup(client: GQL, drain: Any, posts: int) -> dict[str, Any]:
    """A viewer with three friends who have posted ``posts`` posts between them, delivered
    by the worker; one post reacted to by the viewer."""
    viewer = await client.make_user("viewer")
    friends = [await client.make_user(f"friend{i}", displayName=f"朋友{i}") for i in range(3)]
    for f in friends:
        await befriend(client, viewer, f)
    await _feed(client, viewer, 20)  # the viewer is active: fan-out reaches them
    ids = []
    for i in range(posts):
        author = friends[i % len(friends)]
        data = await client(POST, {"input": {"body": f"post {i}"}}, token=author["token"])
        assert data["data"]["createPost"]["userErrors"] == [], data
        ids.append(data["data"]["createPost"]["post"]["id"])
    await drain()
    await client(
        "mutation($id: ID!) { reactToPost(postId: $id) { post { id } } }",
        {"id": ids[-1]},
        token=viewer["token"],
    )
    await drain()
    return viewer


async def test_warm_home_feed_page_costs_no_neo4j_round_trip(
    client: GQL, drain: Any, round_trips: RoundTrips
) -> None:
    viewer = await _setup(client, drain, 25)
    first = await _feed(client, viewer, 20)  # warms whatever the reads cache
    with round_trips.counting() as trips:
        second = await _feed(client, viewer, 20)
    assert second == first
    assert len(second) == 20
    assert second[0]["node"]["viewerReacted"] is True
    assert second[0]["node"]["author"]["displayName"].startswith("朋友")
    assert trips.sessions == 0, (trips.sessions, trips.calls)


async def test_cold_home_feed_costs_a_constant_number_of_round_trips(
    client: GQL, drain: Any, redis: Redis, round_trips: RoundTrips
) -> None:
    viewer = await _setup(client, drain, 25)
    cost: dict[int, int] = {}
    calls: dict[int, list[str]] = {}
    for size in (5, 20):
        await redis.flushall()
        with round_trips.counting() as trips:
            page = await _feed(client, viewer, size)
        assert len(page) == size
        cost[size], calls[size] = trips.sessions, trips.calls
    print(f"cold homeFeed round trips: {cost}; {calls[20]}")
    assert cost[5] == cost[20], calls
    assert 0 < cost[20] <= COLD_ROUND_TRIPS_MAX, calls
