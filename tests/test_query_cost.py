"""Query cost analysis: a costly query is refused with its cost before anything runs;
an allowed nested query stays cheap because nested lists are batched."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from schema import dataloaders
from tests.conftest import GQL, RoundTrips
from tests.test_friends import befriend

LEVEL = "friends(first: {n}) {{ edges {{ node {{ handle {inner} }} }} }}"


def nested(levels: int, n: int) -> str:
    inner = ""
    for _ in range(levels):
        inner = LEVEL.format(n=n, inner=inner)
    return "{ me { " + inner + " } }"


async def ring(client: GQL, size: int) -> list[dict[str, Any]]:
    """Users each friends with the next two: every friends list is non-empty."""
    users = [await client.make_user(f"ring{i}") for i in range(size)]
    for i, user in enumerate(users):
        for j in (1, 2):
            await befriend(client, user, users[(i + j) % size])
    return users


async def test_three_levels_of_friends_are_refused_before_any_cypher(
    client: GQL, round_trips: RoundTrips
) -> None:
    lin = await client.make_user("lin")
    query = nested(3, 100)
    with round_trips.counting() as trips:
        body = await client(query, token=lin["token"])
    assert body.get("data") is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["budget"] == client.settings.max_query_cost
    # each friends level: 1, plus 100 times (edges 1 + node 1 + the level inside it)
    innermost = 1 + 100 * 2
    middle = 1 + 100 * (2 + innermost)
    outer = 1 + 100 * (2 + middle)
    assert error["extensions"]["cost"] == 1 + outer  # and `me`
    assert str(error["extensions"]["cost"]) in error["message"]
    # refused before it ran: nothing was read but who the token names
    assert all("{platformId: $pid}" in call for call in trips.calls), trips.calls


async def test_variables_and_fragments_count_too(client: GQL) -> None:
    lin = await client.make_user("lin")
    query = """
      query($n: Int) { me { ...F } }
      fragment F on User { friends(first: $n) { edges { node { ...G } } } }
      fragment G on User { friends(first: $n) { edges { node {
        friends(first: $n) { edges { node { handle } } } } } } }
    """
    refused = await client(query, {"n": 100}, token=lin["token"])
    assert refused["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    allowed = await client(query, {"n": 5}, token=lin["token"])
    assert "errors" not in allowed, allowed


async def test_an_allowed_nested_query_is_cheap(client: GQL, round_trips: RoundTrips) -> None:
    users = await ring(client, 8)
    query = nested(2, 50)
    with round_trips.counting() as trips:
        body = await client(query, token=users[0]["token"])
    assert "errors" not in body, body
    friends = body["data"]["me"]["friends"]["edges"]
    assert sorted(e["node"]["handle"] for e in friends) == ["ring1", "ring2", "ring6", "ring7"]
    assert all(e["node"]["friends"]["edges"] for e in friends)
    assert trips.sessions <= 8, trips.calls  # batched: not one query per friend


async def test_a_failing_list_is_logged_once_per_request(
    client: GQL, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    users = await ring(client, 6)

    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the friends store broke")

    # every nested friends list fails at once (they share one batched load)
    monkeypatch.setattr(dataloaders, "friends_pages", broken)
    with caplog.at_level(logging.DEBUG, logger="quanzi.graphql"):
        body = await client(nested(2, 10), token=users[0]["token"])
    assert len(body["errors"]) == 1  # the outer list fails: its siblings never run
    with caplog.at_level(logging.DEBUG, logger="quanzi.graphql"):
        many = await client(
            "{ me { "
            + " ".join(f"f{i}: friends {{ edges {{ cursor }} }}" for i in range(20))
            + " } }",
            token=users[0]["token"],
        )
    assert len(many["errors"]) == 20
    assert all(e["extensions"]["code"] == "INTERNAL_SERVER_ERROR" for e in many["errors"])
    lines = [r for r in caplog.records if r.name == "quanzi.graphql"]
    assert [r.levelname for r in lines] == ["ERROR", "ERROR"], [r.getMessage() for r in lines]
    assert "20 field errors" in lines[1].getMessage()
