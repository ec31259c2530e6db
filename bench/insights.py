"""Merchant insights at 100,000 users and 1,000 merchants: the snapshot's cost, and
``merchantInsights`` / ``areaInsights`` beside ``merchant(id)`` in one run.

World: the synthetic social graph (``bench/socialgen.py``, 100 users per merchant, so
1,000 merchants around Hangzhou with categories incl. medical and adult, about six visits
per user over 180 days), loaded by ``bench/load.py`` unless already there; then, written
here with batched Cypher in the product's shapes: one staff user and one hosted circle
(with a service, members drawn from its customers) per merchant, 300 community circles,
and posts by a third of the users.

Then:

1. ``quanzi insights refresh`` as a subprocess: wall time, the child's peak RSS, and the
   Redis memory the snapshot added;
2. through a ``quanzi serve`` subprocess (daily budget raised so the run is not cut short;
   every release is still charged), interleaved request by request in a random order:
   ``merchant(id)``; ``merchantInsights`` the first time it is asked in the snapshot (a new
   release: exact counts read, noised, budget spent) and asked again (the stored release);
   ``areaInsights`` at a new point and radius (200 m to 5 km: a new release) and asked
   again. Prints p50/p99 and the ratio of each to ``merchant(id)``.

    python -m bench.insights --users 100000 --rounds 400
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import time
from typing import Any

import numpy as np

from api.settings import Settings, get_settings
from bench.common import CLI, child_env, running, wait_http, write_result
from bench.load import Dataset, load, make_dataset
from bench.socialgen import GenConfig
from graph.driver import Graph, connect
from graph.migrations import apply_migrations
from workers.redis import open_redis

SERVICES = (
    "running",
    "parenting",
    "books",
    "coffee",
    "photography",
    "baking",
    "hiking",
    "chess",
    "yoga",
    "badminton",
    "pets",
    "film",
)
MERCHANT_HTTP = "query($id: ID!) { merchant(id: $id) { id name category } }"
INSIGHTS_HTTP = """query($m: ID!) { merchantInsights(merchantId: $m) {
  merchant { id } audienceSize privacyThreshold computedAt customersServed(days: 30)
  interests { key count } activeHours { key count } } }"""
AREA_HTTP = """query($m: ID!, $lat: Float!, $lon: Float!, $r: Int!) {
  areaInsights(merchantId: $m, near: {latitude: $lat, longitude: $lon}, radiusMeters: $r) {
    audienceSize privacyThreshold computedAt interests { key count } activeHours { key count }
  } }"""


async def add_insight_world(graph: Graph, ds: Dataset, seed: int) -> list[dict[str, Any]]:
    """Staff, hosted and community circles, and posts (once per dataset); returns one
    row per merchant: internal id, location, staff platform id."""
    merchants = (
        await graph.read(
            "MATCH (m:Merchant) RETURN m.id AS id, m.location.latitude AS lat, "
            "m.location.longitude AS lon ORDER BY m.id"
        )
    ).records
    rows = [
        {"id": r["id"], "lat": r["lat"], "lon": r["lon"], "staff": f"bench-staff-{i}"}
        for i, r in enumerate(merchants)
    ]
    done = await graph.read("MATCH (m:BenchMeta {key: 'insights'}) RETURN m.value AS v")
    if done.records and done.records[0]["v"] == ds.key:
        return rows
    t0 = time.perf_counter()
    rnd = random.Random(seed)
    await graph.write(
        """
        UNWIND $rows AS r
        MATCH (m:Merchant {id: r.id})
        MERGE (u:User {platformId: r.staff})
        ON CREATE SET u.id = 'staff-' + r.id, u.handle = r.staff, u.handleKey = r.staff,
            u.displayName = 'Staff ' + r.staff, u.trustScore = 600, u.discoverable = false,
            u.suspended = false, u.createdAt = datetime(), u.updatedAt = datetime()
        MERGE (u)-[:STAFF_OF]->(m)
        """,
        rows=rows,
    )
    hosted = [
        {"id": f"bc-host-{i}", "m": r["id"], "service": rnd.choice(SERVICES)}
        for i, r in enumerate(rows)
    ]
    await graph.write(
        """
        UNWIND $rows AS r
        MATCH (m:Merchant {id: r.m})
        MERGE (c:Circle {id: r.id})
        ON CREATE SET c.name = r.service + ' @ ' + m.name, c.description = '',
            c.visibility = 'PUBLIC', c.joinPolicy = 'OPEN', c.minTrustScore = 0,
            c.customersOnly = false, c.service = r.service, c.memberCount = 0,
            c.location = m.location, c.createdAt = datetime(), c.updatedAt = datetime()
        MERGE (c)-[:HOSTED_BY]->(m)
        """,
        rows=hosted,
    )
    # Members of hosted circles: about 30% of each merchant's distinct customers.
    for start in range(0, len(rows), 50):
        await graph.write(
            """
            UNWIND $ids AS mid
            MATCH (c:Circle)-[:HOSTED_BY]->(m:Merchant {id: mid})
            MATCH (u:User)-[:VISITED]->(m)
            WITH c, u, count(*) AS visits WHERE rand() < 0.3
            CREATE (u)-[:MEMBER_OF {state: 'MEMBER', role: 'MEMBER', since: datetime(),
                    updatedAt: datetime()}]->(c)
            """,
            ids=[r["id"] for r in rows[start : start + 50]],
        )
    community = [{"id": f"bc-comm-{i}", "service": rnd.choice(SERVICES)} for i in range(300)]
    await graph.write(
        """
        UNWIND $rows AS r
        MERGE (c:Circle {id: r.id})
        ON CREATE SET c.name = r.service + ' club ' + r.id, c.description = '',
            c.visibility = 'PUBLIC', c.joinPolicy = 'OPEN', c.minTrustScore = 0,
            c.customersOnly = false, c.service = r.service, c.memberCount = 0,
            c.location = null, c.createdAt = datetime(), c.updatedAt = datetime()
        """,
        rows=community,
    )
    n = len(ds.ids)
    members = [
        {"u": ds.ids[rnd.randrange(n)], "c": rnd.choice(community)["id"]} for _ in range(60_000)
    ]
    for start in range(0, len(members), 10_000):
        await graph.write(
            """
            UNWIND $rows AS r
            MATCH (u:User {id: r.u}), (c:Circle {id: r.c})
            MERGE (u)-[m:MEMBER_OF]->(c)
            ON CREATE SET m.state = 'MEMBER', m.role = 'MEMBER', m.since = datetime(),
                m.updatedAt = datetime()
            """,
            rows=members[start : start + 10_000],
        )
    await graph.write(
        "MATCH (c:Circle) WHERE c.id STARTS WITH 'bc-' "
        "SET c.memberCount = COUNT { (:User)-[:MEMBER_OF {state: 'MEMBER'}]->(c) }"
    )
    now_ms = int(time.time() * 1000)
    posts = [
        {
            "id": f"bp-{i}",
            "u": ds.ids[rnd.randrange(n)],
            "ms": now_ms - rnd.randrange(0, 120 * 86_400_000),
        }
        for i in range(40_000)
    ]
    for start in range(0, len(posts), 10_000):
        await graph.write(
            """
            UNWIND $rows AS r
            MATCH (u:User {id: r.u})
            CREATE (u)-[:POSTED]->(:Post {id: r.id, body: 'bench post',
                    createdAt: datetime({epochMillis: r.ms}), createdAtMs: r.ms,
                    removed: false, deleted: false, reactionCount: 0, commentCount: 0,
                    fanout: 'DONE'})
            """,
            rows=posts[start : start + 10_000],
        )
    await graph.write("MERGE (m:BenchMeta {key: 'insights'}) SET m.value = $v", v=ds.key)
    print(f"insight world added in {time.perf_counter() - t0:.0f}s", flush=True)
    return rows


# Started by a small intermediate process: a child forked straight from this (large)
# benchmark process reports this process's RSS as its own peak.
_MEASURE = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:])\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "print(usage.ru_maxrss)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def _refresh() -> tuple[float, int]:
    """Run the CLI and wait for it: seconds, and its peak RSS in KiB (from wait4)."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(CLI), "insights", "refresh"],
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"quanzi insights refresh failed: {done.stderr}")
    lines = done.stdout.strip().splitlines()
    print(lines[0], flush=True)
    return seconds, int(lines[-1])


def _serve(port: int) -> subprocess.Popen[bytes]:
    # Every release is still charged; the budget is raised only so the run is not cut short.
    return subprocess.Popen(
        [str(CLI), "serve", "--port", str(port)],
        env=child_env(QUANZI_INSIGHTS_DAILY_EPSILON="1000000000"),
    )


async def snapshot(settings: Settings) -> dict[str, float]:
    """``quanzi insights refresh`` once: seconds, the child's peak RSS, Redis memory."""
    redis = open_redis(settings)
    try:
        await redis.flushdb()  # old snapshots and releases of earlier runs
        before = int((await redis.info("memory"))["used_memory"])
        seconds, peak_kb = await asyncio.to_thread(_refresh)
        after = int((await redis.info("memory"))["used_memory"])
    finally:
        await redis.aclose()
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_kb / 1024,
        "redis_mb": (after - before) / 2**20,
    }


def stats(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1000.0
    return {
        "n": len(xs),
        "p50_ms": float(np.percentile(a, 50)),
        "p90_ms": float(np.percentile(a, 90)),
        "p99_ms": float(np.percentile(a, 99)),
    }


async def http_bench(
    settings: Settings, merchants: list[dict[str, Any]], *, port: int, rounds: int, seed: int
) -> dict[str, dict[str, float]]:
    import httpx
    from strawberry.relay import to_base64

    from api.auth import mint_token

    rnd = random.Random(seed)
    server = _serve(port)
    timings: dict[str, list[float]] = {}
    base = f"http://127.0.0.1:{port}"
    order = rnd.sample(merchants, len(merchants))
    with running(server):
        await wait_http(base)
        async with httpx.AsyncClient(base_url=base, timeout=60.0) as http:

            async def call(query: str, variables: dict[str, Any], token: str) -> Any:
                r = await http.post(
                    "/graphql",
                    json={"query": query, "variables": variables},
                    headers={"Authorization": f"Bearer {token}"},
                )
                body = r.json()
                if r.status_code != 200 or body.get("errors"):
                    raise RuntimeError(f"{r.status_code}: {body}")
                return body["data"]

            for i in range(rounds + 20):
                m = order[i % len(order)]
                token = mint_token(settings, m["staff"])
                gid = to_base64("Merchant", m["id"])
                lat = m["lat"] + rnd.uniform(-0.01, 0.01)
                lon = m["lon"] + rnd.uniform(-0.01, 0.01)
                area = {"m": gid, "lat": lat, "lon": lon, "r": rnd.randrange(200, 5001)}
                kinds: dict[str, tuple[str, dict[str, Any]]] = {
                    "merchant(id)": (MERCHANT_HTTP, {"id": gid}),
                    "merchantInsights, new release": (INSIGHTS_HTTP, {"m": gid}),
                    "areaInsights, new release": (AREA_HTTP, area),
                }
                steps = list(kinds)
                rnd.shuffle(steps)
                # a repeat always follows its first ask; its place is otherwise random
                steps.insert(
                    steps.index("merchantInsights, new release") + 1, "merchantInsights, repeat"
                )
                steps.insert(steps.index("areaInsights, new release") + 1, "areaInsights, repeat")
                kinds["merchantInsights, repeat"] = kinds["merchantInsights, new release"]
                kinds["areaInsights, repeat"] = kinds["areaInsights, new release"]
                for name in steps:
                    query, variables = kinds[name]
                    t0 = time.perf_counter()
                    await call(query, variables, token)
                    elapsed = time.perf_counter() - t0
                    if i >= 20:  # warm-up rounds
                        timings.setdefault(name, []).append(elapsed)
    return {k: stats(v) for k, v in timings.items()}


async def main(args: argparse.Namespace) -> None:
    settings = get_settings()
    config = GenConfig(users=args.users, seed=args.seed, users_per_merchant=args.users_per_merchant)
    ds = make_dataset(config)
    async with connect(settings) as graph:
        await apply_migrations(graph)
        await load(graph, ds, settings, direct=True)
        merchants = await add_insight_world(graph, ds, args.seed)
    snap = await snapshot(settings)
    print(
        f"snapshot: {snap['seconds']:.1f}s, peak RSS {snap['peak_rss_mb']:.0f} MB, "
        f"Redis +{snap['redis_mb']:.1f} MB",
        flush=True,
    )
    results = await http_bench(
        settings, merchants, port=args.port, rounds=args.rounds, seed=args.seed
    )
    base = results["merchant(id)"]
    print(
        f"\n{args.users} users, {len(merchants)} merchants, {args.rounds} rounds "
        "(after 20 warm-up), HTTP through `quanzi serve`, interleaved\n"
    )
    print("| request | p50 ms | p99 ms | p50 / merchant(id) | p99 / merchant(id) |")
    print("|---|---|---|---|---|")
    for name, s in results.items():
        print(
            f"| {name} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} | "
            f"{s['p50_ms'] / base['p50_ms']:.2f} | {s['p99_ms'] / base['p99_ms']:.2f} |"
        )
    path = write_result(
        f"insights-{args.users}",
        {"args": vars(args), "snapshot": snap, "results": results, "merchants": len(merchants)},
    )
    print(f"\nwritten {path}", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--users-per-merchant", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=28097)
    asyncio.run(main(parser.parse_args()))
