"""Latency of ``discoverCircles`` by text and by location, beside ``circle(id)``.

Loads (or reuses) a synthetic world into the stack named by the ``QUANZI_*`` environment:
``--circles`` circles (default 10,000) with Chinese and English names from word lists,
hosted by merchants around Beijing and Shanghai (some without a merchant, so without a
location), mixed visibility, plus users with friendships and memberships so that the
ranking's friend count has work to do. Everything is written with batched Cypher and
marked ``bench = 'discover'``; ``--reload`` deletes it and loads it again.

Then, through the real HTTP API (a ``quanzi serve`` subprocess), interleaved request by
request in one run: ``discoverCircles(query:)``, ``discoverCircles(near:)``,
``discoverCircles(query:, near:)``, recommendations (no arguments) and ``circle(id)``,
each as a signed-in bench user. Prints a markdown table of p50/p90/p99.

    python -m bench.discover_circles --circles 10000 --rounds 300
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from api.settings import Settings, get_settings
from bench.common import running, start_server, wait_http
from graph.driver import Graph, connect
from graph.migrations import apply_migrations

logging.getLogger("neo4j").setLevel(logging.ERROR)

RESULTS = Path(__file__).parent / "results"
TAG = "discover"

CITIES: dict[str, tuple[float, float, list[str]]] = {
    "beijing": (39.9042, 116.4074, ["望京", "国贸", "三里屯", "中关村", "朝阳", "海淀", "亦庄"]),
    "shanghai": (31.2304, 121.4737, ["陆家嘴", "徐家汇", "静安", "浦东", "虹桥", "五角场"]),
}
TOPICS_ZH = [
    "宝妈",
    "跑步",
    "读书",
    "拉面",
    "咖啡",
    "健身",
    "摄影",
    "篮球",
    "烘焙",
    "育儿",
    "羽毛球",
    "露营",
    "书法",
    "钢琴",
    "宠物",
    "徒步",
    "美食",
    "电影",
    "编程",
    "围棋",
]
SUFFIX_ZH = ["交流群", "俱乐部", "爱好者", "互助会", "小组", "同城会"]
DISTRICTS_EN = ["Wangjing", "Sanlitun", "Guomao", "Pudong", "Jingan", "Xujiahui"]
TOPICS_EN = [
    "Runners",
    "Book Club",
    "Coffee Lovers",
    "Photography",
    "Basketball",
    "Baking",
    "Parents",
    "Hiking",
    "Chess",
    "Coding",
    "Yoga",
    "Film Society",
]
DESC_ZH = ["欢迎新朋友加入", "每周末线下活动", "分享经验互相帮助", "附近的邻居一起玩"]
DESC_EN = ["weekly meetups", "friendly neighbours", "all levels welcome", "share tips"]

TEXT_QUERIES = [
    "宝妈",
    "跑步",
    "读书",
    "咖啡",
    "健身",
    "望京",
    "陆家嘴",
    "羽毛球",
    "runners",
    "book club",
    "coffee",
    "photography",
    "parents",
    "hiking",
    "yoga",
    "拉面 望京",
]

DISCOVER = (
    "query($q: String, $near: GeoPointInput, $r: Int) { discoverCircles(query: $q, near: $near,"
    " radiusMeters: $r, first: 20) { edges { node { id name visibility memberCount } }"
    " pageInfo { hasNextPage } } }"
)
CIRCLE = "query($id: ID!) { circle(id: $id) { id name visibility memberCount } }"


def _jitter(rnd: random.Random, lat: float, lon: float, km: float) -> tuple[float, float]:
    return lat + rnd.uniform(-km, km) / 111.0, lon + rnd.uniform(-km, km) / 90.0


def make_world(n_circles: int, n_users: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    rnd = random.Random(seed)
    merchants: list[dict[str, Any]] = []
    for i in range(max(1, n_circles // 20)):
        city = rnd.choice(list(CITIES))
        lat, lon, _ = CITIES[city]
        mlat, mlon = _jitter(rnd, lat, lon, 25.0)
        merchants.append(
            {
                "id": f"bm-{i}",
                "platformId": f"bench-m-{i}",
                "name": f"商户 {i}",
                "lat": mlat,
                "lon": mlon,
                "city": city,
            }
        )
    circles = []
    for i in range(n_circles):
        merchant = rnd.choice(merchants) if rnd.random() < 0.85 else None
        city = merchant["city"] if merchant else rnd.choice(list(CITIES))
        if rnd.random() < 0.7:
            name = (
                f"{rnd.choice(CITIES[city][2])}{rnd.choice(TOPICS_ZH)}{rnd.choice(SUFFIX_ZH)} {i}"
            )
            desc = f"{rnd.choice(TOPICS_ZH)}{rnd.choice(DESC_ZH)}"
        else:
            name = f"{rnd.choice(DISTRICTS_EN)} {rnd.choice(TOPICS_EN)} {i}"
            desc = f"{rnd.choice(TOPICS_EN).lower()}: {rnd.choice(DESC_EN)}"
        v = rnd.random()
        visibility = "PUBLIC" if v < 0.6 else "SEMI_PUBLIC" if v < 0.9 else "PRIVATE"
        circles.append(
            {
                "id": f"bc-{i}",
                "name": name,
                "description": desc,
                "visibility": visibility,
                "policy": "INVITE" if visibility == "PRIVATE" else rnd.choice(["OPEN", "APPROVAL"]),
                "merchant": merchant["id"] if merchant else None,
            }
        )
    users = [
        {"id": f"bu-{i}", "platformId": f"bench-u-{i}", "handle": f"bench_u_{i}"}
        for i in range(n_users)
    ]
    friends = set()
    for i in range(n_users):
        for _ in range(10):
            j = rnd.randrange(n_users)
            if j != i:
                friends.add((f"bu-{min(i, j)}", f"bu-{max(i, j)}"))
    members = []
    for c in circles:  # a long tail: most circles small, a few large
        size = min(n_users, int(rnd.paretovariate(1.2)) * 2)
        for u in rnd.sample(range(n_users), size):
            members.append({"u": f"bu-{u}", "c": c["id"]})
    return {
        "merchants": merchants,
        "circles": circles,
        "users": users,
        "friends": [{"a": a, "b": b} for a, b in sorted(friends)],
        "members": members,
    }


async def _batched(graph: Graph, query: Any, rows: list[dict[str, Any]], size: int = 2000) -> None:
    for i in range(0, len(rows), size):
        await graph.write(query, rows=rows[i : i + size], tag=TAG)


async def load_world(graph: Graph, world: dict[str, list[dict[str, Any]]]) -> None:
    t0 = time.perf_counter()
    while True:  # delete in chunks (no implicit transaction needed)
        r = await graph.write(
            "MATCH (n) WHERE n.bench = $tag WITH n LIMIT 5000 DETACH DELETE n RETURN count(*) AS n",
            tag=TAG,
        )
        if r.records[0]["n"] == 0:
            break
    await _batched(
        graph,
        """
        UNWIND $rows AS row
        CREATE (:User {id: row.id, platformId: row.platformId, handle: row.handle,
                handleKey: row.handle, displayName: row.handle, trustScore: 600,
                discoverable: true, createdAt: datetime(), updatedAt: datetime(), bench: $tag})
        """,
        world["users"],
    )
    await _batched(
        graph,
        """
        UNWIND $rows AS row
        CREATE (:Merchant {id: row.id, platformId: row.platformId, name: row.name,
                category: 'bench', location: point({latitude: row.lat, longitude: row.lon}),
                createdAt: datetime(), updatedAt: datetime(), bench: $tag})
        """,
        world["merchants"],
    )
    await _batched(
        graph,
        """
        UNWIND $rows AS row
        OPTIONAL MATCH (m:Merchant {id: row.merchant})
        CREATE (c:Circle {id: row.id, name: row.name, description: row.description,
                visibility: row.visibility, joinPolicy: row.policy, minTrustScore: 0,
                customersOnly: false, service: null, memberCount: 0, location: m.location,
                createdAt: datetime(), updatedAt: datetime(), bench: $tag})
        FOREACH (_ IN CASE WHEN m IS NULL THEN [] ELSE [1] END | CREATE (c)-[:HOSTED_BY]->(m))
        """,
        world["circles"],
    )
    await _batched(
        graph,
        """
        UNWIND $rows AS row
        MATCH (a:User {id: row.a}), (b:User {id: row.b})
        CREATE (a)-[:FRIEND {since: datetime()}]->(b)
        """,
        world["friends"],
        5000,
    )
    await _batched(
        graph,
        """
        UNWIND $rows AS row
        MATCH (u:User {id: row.u}), (c:Circle {id: row.c})
        CREATE (u)-[:MEMBER_OF {state: 'MEMBER', role: 'MEMBER', since: datetime(),
                updatedAt: datetime()}]->(c)
        """,
        world["members"],
        5000,
    )
    await graph.write(
        """
        MATCH (c:Circle) WHERE c.bench = $tag
        SET c.memberCount = COUNT { (:User)-[:MEMBER_OF {state: 'MEMBER'}]->(c) }
        """,
        tag=TAG,
    )
    await graph.write("CALL db.awaitIndexes(300)")
    print(
        f"loaded {len(world['circles'])} circles, {len(world['users'])} users, "
        f"{len(world['friends'])} friendships, {len(world['members'])} memberships "
        f"in {time.perf_counter() - t0:.1f}s",
        file=sys.stderr,
    )


async def loaded_count(graph: Graph) -> int:
    r = await graph.read("MATCH (c:Circle) WHERE c.bench = $tag RETURN count(c) AS n", tag=TAG)
    return int(r.records[0]["n"])


def stats(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1000.0
    return {
        "n": len(xs),
        "p50_ms": float(np.percentile(a, 50)),
        "p90_ms": float(np.percentile(a, 90)),
        "p99_ms": float(np.percentile(a, 99)),
        "mean_ms": float(a.mean()),
    }


async def http_bench(
    settings: Settings,
    world: dict[str, list[dict[str, Any]]],
    *,
    port: int,
    rounds: int,
    warmup: int,
    seed: int,
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    import httpx
    from strawberry.relay import to_base64

    from api.auth import mint_token

    rnd = random.Random(seed)
    timings: dict[str, list[float]] = {}
    sizes: dict[str, list[int]] = {}
    base = f"http://127.0.0.1:{port}"
    with running(start_server(port)):
        await wait_http(base)
        async with httpx.AsyncClient(base_url=base, timeout=60.0) as http:
            users = world["users"]
            circle_ids = [c["id"] for c in world["circles"] if c["visibility"] != "PRIVATE"]

            def point() -> dict[str, float]:
                lat, lon, _ = CITIES[rnd.choice(list(CITIES))]
                la, lo = _jitter(rnd, lat, lon, 15.0)
                return {"latitude": la, "longitude": lo}

            kinds: dict[str, Callable[[], tuple[str, dict[str, Any]]]] = {
                "discoverCircles(query)": lambda: (DISCOVER, {"q": rnd.choice(TEXT_QUERIES)}),
                "discoverCircles(near, 5 km)": lambda: (DISCOVER, {"near": point()}),
                "discoverCircles(query, near 10 km)": lambda: (
                    DISCOVER,
                    {"q": rnd.choice(TEXT_QUERIES), "near": point(), "r": 10000},
                ),
                "discoverCircles() recommendations": lambda: (DISCOVER, {}),
                "circle(id)": lambda: (CIRCLE, {"id": to_base64("Circle", rnd.choice(circle_ids))}),
            }

            async def call(query: str, variables: dict[str, Any], token: str) -> int:
                r = await http.post(
                    "/graphql",
                    json={"query": query, "variables": variables},
                    headers={"Authorization": f"Bearer {token}"},
                )
                body = r.json()
                if r.status_code != 200 or body.get("errors"):
                    raise RuntimeError(f"{r.status_code}: {body}")
                data = body["data"]
                if "discoverCircles" in data:
                    return len(data["discoverCircles"]["edges"])
                return 1 if data["circle"] else 0

            for i in range(warmup + rounds):
                user = rnd.choice(users)
                token = mint_token(settings, user["platformId"])
                order = list(kinds)
                rnd.shuffle(order)  # interleaved, in a random order each round
                for name in order:
                    query, variables = kinds[name]()
                    t0 = time.perf_counter()
                    n = await call(query, variables, token)
                    elapsed = time.perf_counter() - t0
                    if i >= warmup:
                        timings.setdefault(name, []).append(elapsed)
                        sizes.setdefault(name, []).append(n)
    return (
        {k: stats(v) for k, v in timings.items()},
        {k: float(np.mean(v)) for k, v in sizes.items()},
    )


async def main(args: argparse.Namespace) -> None:
    settings = get_settings()
    world = make_world(args.circles, args.users, args.seed)
    async with connect(settings) as graph:
        await apply_migrations(graph)
        if args.reload or await loaded_count(graph) != args.circles:
            await load_world(graph, world)
    results, sizes = await http_bench(
        settings, world, port=args.port, rounds=args.rounds, warmup=args.warmup, seed=args.seed
    )
    print(
        f"\n{args.circles} circles, {args.users} users, {args.rounds} rounds "
        f"(after {args.warmup} warm-up), HTTP through `quanzi serve`, first: 20\n"
    )
    print("| request | n | p50 ms | p90 ms | p99 ms | mean ms | mean results |")
    print("|---|---|---|---|---|---|---|")
    for name, s in results.items():
        print(
            f"| {name} | {s['n']} | {s['p50_ms']:.1f} | {s['p90_ms']:.1f} | "
            f"{s['p99_ms']:.1f} | {s['mean_ms']:.1f} | {sizes[name]:.1f} |"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"discover_circles-{args.circles}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"args": vars(args), "results": results, "sizes": sizes}, indent=2))
    print(f"\nwritten {out}", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--circles", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--port", type=int, default=28091)
    parser.add_argument("--reload", action="store_true", help="delete and load the data again")
    asyncio.run(main(parser.parse_args()))
