"""Guards: a nested list costs the same Neo4j round trips inside a list of 50 parents as
inside a list of 5 (``Merchant.circles``, ``Circle.members``, ``Circle.joinRequests``,
``Circle.posts``, ``User.friends``), through the public GraphQL API.

Each test builds two worlds, one whose outer list has 5 parents and one whose outer list
has 50, every parent with at least two nested items; the setup is written with Cypher in
the shapes the product writes, and only the measured request goes through the API. Both
requests ask for the same page sizes (the outer ``first`` is 50 in both), so the only
difference is how many parents there are. Redis is flushed before each measured request,
so every loader (user cards included) goes to Neo4j. Round trips are counted at the
driver (``round_trips`` in conftest.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from graph.driver import Graph
from graph.posts import new_post_id
from graph.users import new_id
from tests.conftest import GQL, RoundTrips
from tests.test_circle_joins import internal

SMALL, LARGE = 5, 50
SIZES = (SMALL, LARGE)

Person = dict[str, Any]


# ---------------------------------------------------------------- setup, as the product writes it


@dataclass
class CircleSpec:
    """One circle to write: its owner (MEMBER, OWNER) and further memberships."""

    name: str
    owner: str  # internal user id
    policy: str = "OPEN"
    visibility: str = "PUBLIC"
    merchant: str | None = None  # internal merchant id
    members: list[str] = field(default_factory=list)  # state MEMBER, role MEMBER
    pending: list[str] = field(default_factory=list)  # PENDING join requests
    id: str = field(default_factory=new_id)


async def write_merchants(graph: Graph, staff: str, names: Sequence[str]) -> list[str]:
    """Merchants as ``adminUpsertMerchant`` writes them, with ``staff`` as their staff."""
    rows = [{"id": new_id(), "platformId": f"m-{new_id()[:12]}", "name": n} for n in names]
    await graph.write(
        """
        MATCH (u:User {id: $staff})
        UNWIND $rows AS row
        CREATE (m:Merchant {id: row.id, platformId: row.platformId, name: row.name,
                category: 'dining', createdAt: datetime(), updatedAt: datetime()})
        CREATE (u)-[:STAFF_OF]->(m)
        """,
        staff=staff,
        rows=rows,
    )
    return [r["id"] for r in rows]


async def write_circles(graph: Graph, specs: Sequence[CircleSpec]) -> None:
    """Circles as ``graph.circles.create`` writes them, memberships as ``set_membership``
    does (``memberCount`` counts the MEMBERs)."""
    await graph.write(
        """
        UNWIND $rows AS row
        MATCH (o:User {id: row.owner})
        OPTIONAL MATCH (m:Merchant {id: row.merchant})
        CREATE (c:Circle {id: row.id, name: row.name, description: '',
                visibility: row.visibility, joinPolicy: row.policy, minTrustScore: 0,
                customersOnly: false, service: null, memberCount: row.memberCount,
                location: m.location, createdAt: datetime(), updatedAt: datetime()})
        CREATE (o)-[:MEMBER_OF {state: 'MEMBER', role: 'OWNER', since: datetime(),
                updatedAt: datetime()}]->(c)
        FOREACH (_ IN CASE WHEN m IS NULL THEN [] ELSE [1] END | CREATE (c)-[:HOSTED_BY]->(m))
        """,
        rows=[
            {
                "id": s.id,
                "name": s.name,
                "owner": s.owner,
                "policy": s.policy,
                "visibility": s.visibility,
                "merchant": s.merchant,
                "memberCount": 1 + len(s.members),
            }
            for s in specs
        ],
    )
    memberships = [
        {"user": u, "circle": s.id, "state": "MEMBER", "role": "MEMBER"}
        for s in specs
        for u in s.members
    ] + [
        {"user": u, "circle": s.id, "state": "PENDING", "role": None}
        for s in specs
        for u in s.pending
    ]
    await graph.write(
        """
        UNWIND $rows AS row
        MATCH (u:User {id: row.user}), (c:Circle {id: row.circle})
        CREATE (u)-[:MEMBER_OF {state: row.state, role: row.role, since: datetime(),
                updatedAt: datetime()}]->(c)
        """,
        rows=memberships,
    )


async def write_posts(graph: Graph, posts: Sequence[tuple[str, str, str]]) -> None:
    """``(author, circle, body)`` posts as ``graph.posts.create`` writes them, fanned out."""
    rows = []
    for k, (author, circle, body) in enumerate(posts):
        post_id, ms = new_post_id(1_700_000_000_000 + k)
        rows.append({"id": post_id, "ms": ms, "author": author, "circle": circle, "body": body})
    await graph.write(
        """
        UNWIND $rows AS row
        MATCH (a:User {id: row.author}), (c:Circle {id: row.circle})
        CREATE (a)-[:POSTED]->(p:Post {id: row.id, body: row.body,
                createdAt: datetime({epochMillis: row.ms}), createdAtMs: row.ms,
                removed: false, deleted: false, reactionCount: 0, commentCount: 0,
                fanout: 'DONE', hidden: false})-[:IN]->(c)
        """,
        rows=rows,
    )


async def write_friendships(graph: Graph, pairs: Sequence[tuple[str, str]]) -> None:
    """Friendships as ``graph.social._befriend`` writes them: lower id to higher id."""
    await graph.write(
        """
        UNWIND $pairs AS pair
        MATCH (l:User {id: pair[0]}), (h:User {id: pair[1]})
        MERGE (l)-[f:FRIEND]->(h) ON CREATE SET f.since = datetime()
        """,
        pairs=[sorted(p) for p in pairs],
    )


async def people(client: GQL, *handles: str) -> list[Person]:
    """Users provisioned through the API, with their internal ids under ``key``."""
    made = await asyncio.gather(*(client.make_user(h) for h in handles))
    return [{**u, "key": internal(u["id"])} for u in made]


# ---------------------------------------------------------------- measuring


@dataclass
class Cost:
    """Measures one request per outer-list size and compares their Neo4j sessions."""

    client: GQL
    redis: Redis
    round_trips: RoundTrips
    sessions: dict[int, int] = field(default_factory=dict)
    calls: dict[int, list[str]] = field(default_factory=dict)

    async def measure(self, n: int, query: str, viewer: Person) -> dict[str, Any]:
        """The request, cold (Redis flushed), its sessions recorded under ``n`` parents."""
        await self.redis.flushdb()
        with self.round_trips.counting() as trips:
            body = await self.client(query, token=viewer["token"])
        assert "errors" not in body, body
        self.sessions[n], self.calls[n] = trips.sessions, list(trips.calls)
        data: dict[str, Any] = body["data"]
        return data

    def assert_flat(self, what: str) -> None:
        small, large = self.sessions[SMALL], self.sessions[LARGE]
        print(f"{what} round trips: {SMALL} parents -> {small}, {LARGE} parents -> {large}")
        assert small > 0, "the counter saw no Neo4j session"
        assert small == large, (
            f"{what}: {small} sessions for {SMALL} parents, {large} for {LARGE}; "
            f"calls for {LARGE}:\n" + "\n".join(self.calls[LARGE])
        )


def nodes(connection: dict[str, Any] | None) -> list[dict[str, Any]]:
    assert connection is not None, "the nested list is null"
    return [e["node"] for e in connection["edges"]]


# ---------------------------------------------------------------- Merchant.circles

MERCHANT_CIRCLES = """{ myCircles(first: 50) { edges { node { name
  merchant { name circles(first: 5) { edges { node { name } } } } } } } }"""


async def test_merchant_circles_cost_the_same_for_5_or_50_merchants(
    client: GQL, graph: Graph, redis: Redis, round_trips: RoundTrips
) -> None:
    """A viewer in n circles, each at a different merchant that hosts one more circle."""
    (staff,) = await people(client, "staff")
    viewers = dict(zip(SIZES, await people(client, *(f"viewer{n}" for n in SIZES)), strict=True))
    for n, viewer in viewers.items():
        merchants = await write_merchants(graph, staff["key"], [f"shop{n}_{i}" for i in range(n)])
        await write_circles(
            graph,
            [
                CircleSpec(
                    f"c{n}_{i}_{kind}",
                    staff["key"],
                    merchant=m,
                    members=[viewer["key"]] if kind == "joined" else [],
                )
                for i, m in enumerate(merchants)
                for kind in ("joined", "other")
            ],
        )
    cost = Cost(client, redis, round_trips)
    for n, viewer in viewers.items():
        data = await cost.measure(n, MERCHANT_CIRCLES, viewer)
        circles = nodes(data["myCircles"])
        assert sorted(c["name"] for c in circles) == sorted(f"c{n}_{i}_joined" for i in range(n))
        for c in circles:
            i = c["name"].split("_")[1]
            assert c["merchant"]["name"] == f"shop{n}_{i}"
            assert sorted(h["name"] for h in nodes(c["merchant"]["circles"])) == [
                f"c{n}_{i}_joined",
                f"c{n}_{i}_other",
            ]
    cost.assert_flat("Merchant.circles")


# ---------------------------------------------------------------- Circle.members, Circle.posts

CIRCLE_MEMBERS = """{ myCircles(first: 50) { edges { node { name memberCount
  members(first: 5) { edges { node { role user { handle } } } } } } } }"""
CIRCLE_POSTS = """{ myCircles(first: 50) { edges { node { name
  posts(first: 5) { edges { node { body author { handle } } } } } } } }"""


async def member_world(client: GQL, graph: Graph) -> dict[int, Person]:
    """For each size n a viewer who is a MEMBER of n circles ``c{n}_{i}``; each circle has
    the owner, the viewer and a member of its own, ``m{n}_{i}``, who wrote two of its three
    posts (the owner the first)."""
    (owner,) = await people(client, "owner")
    viewers = dict(zip(SIZES, await people(client, *(f"viewer{n}" for n in SIZES)), strict=True))
    for n, viewer in viewers.items():
        own = await people(client, *(f"m{n}_{i}" for i in range(n)))
        specs = [
            CircleSpec(f"c{n}_{i}", owner["key"], members=[m["key"], viewer["key"]])
            for i, m in enumerate(own)
        ]
        await write_circles(graph, specs)
        await write_posts(
            graph,
            [
                (author["key"], s.id, f"{s.name} {k} by {author['handle']}")
                for s, m in zip(specs, own, strict=True)
                for k, author in enumerate((owner, m, m))
            ],
        )
    return viewers


async def test_circle_members_cost_the_same_for_5_or_50_circles(
    client: GQL, graph: Graph, redis: Redis, round_trips: RoundTrips
) -> None:
    viewers = await member_world(client, graph)
    cost = Cost(client, redis, round_trips)
    for n, viewer in viewers.items():
        data = await cost.measure(n, CIRCLE_MEMBERS, viewer)
        circles = nodes(data["myCircles"])
        assert sorted(c["name"] for c in circles) == sorted(f"c{n}_{i}" for i in range(n))
        for c in circles:
            assert c["memberCount"] == 3
            members = {m["user"]["handle"]: m["role"] for m in nodes(c["members"])}
            assert members == {
                "owner": "OWNER",
                "m" + c["name"][1:]: "MEMBER",
                viewer["handle"]: "MEMBER",
            }
    cost.assert_flat("Circle.members")


async def test_circle_posts_cost_the_same_for_5_or_50_circles(
    client: GQL, graph: Graph, redis: Redis, round_trips: RoundTrips
) -> None:
    viewers = await member_world(client, graph)
    cost = Cost(client, redis, round_trips)
    for n, viewer in viewers.items():
        data = await cost.measure(n, CIRCLE_POSTS, viewer)
        circles = nodes(data["myCircles"])
        assert sorted(c["name"] for c in circles) == sorted(f"c{n}_{i}" for i in range(n))
        for c in circles:
            name, member = c["name"], "m" + c["name"][1:]
            authors = [(2, member), (1, member), (0, "owner")]  # newest first
            assert [(p["body"], p["author"]["handle"]) for p in nodes(c["posts"])] == [
                (f"{name} {k} by {h}", h) for k, h in authors
            ]
    cost.assert_flat("Circle.posts")


# ---------------------------------------------------------------- Circle.joinRequests

JOIN_REQUESTS = """{ myCircles(first: 50) { edges { node { name viewerRole
  joinRequests(first: 5) { edges { node { state user { handle } } } } } } } }"""


async def test_join_requests_cost_the_same_for_5_or_50_circles(
    client: GQL, graph: Graph, redis: Redis, round_trips: RoundTrips
) -> None:
    """A viewer who owns n APPROVAL circles ``c{n}_{i}``, each with a member (not a
    request) and two pending requests: from ``sam`` and from ``r{n}_{i}``, its own."""
    member, sam = await people(client, "member", "sam")
    owners = dict(zip(SIZES, await people(client, *(f"owner{n}" for n in SIZES)), strict=True))
    for n, owner in owners.items():
        own = await people(client, *(f"r{n}_{i}" for i in range(n)))
        await write_circles(
            graph,
            [
                CircleSpec(
                    f"c{n}_{i}",
                    owner["key"],
                    policy="APPROVAL",
                    visibility="SEMI_PUBLIC",
                    members=[member["key"]],
                    pending=[r["key"], sam["key"]],
                )
                for i, r in enumerate(own)
            ],
        )
    cost = Cost(client, redis, round_trips)
    for n, owner in owners.items():
        data = await cost.measure(n, JOIN_REQUESTS, owner)
        circles = nodes(data["myCircles"])
        assert sorted(c["name"] for c in circles) == sorted(f"c{n}_{i}" for i in range(n))
        for c in circles:
            assert c["viewerRole"] == "OWNER"
            requests = nodes(c["joinRequests"])
            assert sorted((r["user"]["handle"], r["state"]) for r in requests) == [
                ("r" + c["name"][1:], "PENDING"),
                ("sam", "PENDING"),
            ]
    cost.assert_flat("Circle.joinRequests")


# ---------------------------------------------------------------- User.friends

FRIENDS = """{ me { friends(first: 50) { edges { node { handle
  friends(first: 5) { edges { node { handle } } } } } } } }"""


async def test_friends_of_friends_cost_the_same_for_5_or_50_friends(
    client: GQL, graph: Graph, redis: Redis, round_trips: RoundTrips
) -> None:
    """A viewer with n friends ``f{n}_{i}`` in a ring: each friend's friends are the
    viewer, the two neighbours in the ring and a friend of their own, ``g{n}_{i}``."""
    viewers = dict(zip(SIZES, await people(client, *(f"viewer{n}" for n in SIZES)), strict=True))
    for n, viewer in viewers.items():
        ring = await people(client, *(f"f{n}_{i:02}" for i in range(n)))
        own = await people(client, *(f"g{n}_{i:02}" for i in range(n)))
        await write_friendships(
            graph,
            [(viewer["key"], f["key"]) for f in ring]
            + [(ring[i]["key"], ring[(i + 1) % n]["key"]) for i in range(n)]
            + [(f["key"], g["key"]) for f, g in zip(ring, own, strict=True)],
        )
    cost = Cost(client, redis, round_trips)
    for n, viewer in viewers.items():
        data = await cost.measure(n, FRIENDS, viewer)
        friends = nodes(data["me"]["friends"])
        assert [f["handle"] for f in friends] == [f"f{n}_{i:02}" for i in range(n)]
        for i, f in enumerate(friends):
            neighbours = {f"f{n}_{(i - 1) % n:02}", f"f{n}_{(i + 1) % n:02}"}
            expected = {viewer["handle"], f"g{n}_{i:02}", *neighbours}
            assert {g["handle"] for g in nodes(f["friends"])} == expected
    cost.assert_flat("User.friends")
