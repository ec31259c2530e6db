"""Guard: a warm homeFeed page is served from Redis alone, and a cold one (Redis flushed)
costs a small number of Neo4j round trips that does not grow with the page size.

Round trips are counted at the driver (``round_trips`` in conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from tests.conftest import GQL, RoundTrips
from tests.test_friends import befriend

pytestmark = pytest.mark.usefixtures("generous_post_limit")

POST = """mutation($input: CreatePostInput!) { createPost(input: $input) {
  post { id } userErrors { code } } }"""
# The hydrated first page a client shows.
FEED = """query($first: Int) { homeFeed(first: $first) {
  edges { cursor node { id body createdAt reactionCount commentCount viewerReacted
  author { id handle displayName } } } pageInfo { hasNextPage endCursor } } }"""

COLD_ROUND_TRIPS_MAX = 8


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
