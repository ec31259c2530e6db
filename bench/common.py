"""Shared pieces of the feed benchmarks: a clean stack, users and friendships written
straight through Cypher (the fields of ``graph.users.USER_FIELDS``), posts shaped like
``graph.posts.create_post`` writes them, and ``quanzi serve`` / ``quanzi worker``
subprocesses. Everything runs against the stack named by the ``QUANZI_*`` environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from redis.asyncio import Redis

from api.settings import Settings
from graph.driver import Graph
from graph.posts import new_post_id
from workers import keys

logging.getLogger("neo4j").setLevel(logging.ERROR)

RESULTS = Path(__file__).parent / "results"
CLI = Path(sys.executable).parent / "quanzi"


def stats_ms(xs: Sequence[float]) -> dict[str, float]:
    a = np.asarray(xs, dtype=float) * 1000.0
    return {
        "n": len(xs),
        "p50_ms": float(np.percentile(a, 50)),
        "p90_ms": float(np.percentile(a, 90)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
        "mean_ms": float(a.mean()),
    }


def write_result(name: str, out: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    return path


# Rows per transaction when clearing the graph: relationships first (a hub's thousands
# of relationships would otherwise all go in the transaction that deletes the hub), then
# the bare nodes. Each transaction stays far below dbms.memory.transaction.total.max.
CLEAR_BATCH = 10_000


async def clear_graph(graph: Graph, batch: int = CLEAR_BATCH) -> None:
    """Delete every relationship, then every node, ``batch`` rows per transaction."""
    async with graph.driver.session(database=graph.database) as session:
        for q in (
            "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF $batch ROWS",
            "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF $batch ROWS",
        ):
            result = await session.run(q, batch=batch)
            await result.consume()


async def reset(graph: Graph, redis: Redis) -> None:
    """An empty graph and Redis database (cleared in bounded batches)."""
    await clear_graph(graph)
    await redis.flushdb()


async def make_users(
    graph: Graph, count: int, prefix: str, batch: int = 10_000
) -> list[dict[str, str]]:
    """``count`` users a year old with normal trust; returns id, platformId and handle."""
    tag = uuid.uuid4().hex[:6]
    users = [
        {
            "id": f"{prefix}{tag}{i:06d}",
            "platformId": f"bp-{prefix}{tag}{i:06d}",
            "handle": f"{prefix}{tag}{i:06d}",
        }
        for i in range(count)
    ]
    for start in range(0, count, batch):
        await graph.write(
            """
            UNWIND $rows AS r
            CREATE (:User {id: r.id, platformId: r.platformId, handle: r.handle,
                    handleKey: toLower(r.handle), displayName: '用户 ' + r.handle,
                    trustScore: 60, discoverable: true, suspended: false,
                    createdAt: datetime() - duration('P365D'),
                    updatedAt: datetime() - duration('P365D')})
            """,
            rows=users[start : start + batch],
        )
    return users


async def befriend_all(graph: Graph, pairs: Sequence[tuple[str, str]], batch: int = 20_000) -> None:
    """FRIEND relationships, one per pair, from the smaller id to the larger."""
    rows = [{"a": min(a, b), "b": max(a, b)} for a, b in pairs]
    for start in range(0, len(rows), batch):
        await graph.write(
            """
            UNWIND $rows AS r
            MATCH (a:User {id: r.a}), (b:User {id: r.b})
            CREATE (a)-[:FRIEND {since: datetime()}]->(b)
            """,
            rows=rows[start : start + batch],
        )


async def make_posts(
    graph: Graph, author_id: str, count: int, circle_id: str | None = None, *, fanout: str
) -> list[tuple[str, int]]:
    """Posts as ``create_post`` writes them (time-ordered ids, ms scores)."""
    posts = []
    now = int(time.time() * 1000) - count
    for i in range(count):
        posts.append(new_post_id(now + i))
    await graph.write(
        """
        MATCH (a:User {id: $author})
        OPTIONAL MATCH (c:Circle {id: $circle})
        UNWIND $rows AS r
        CREATE (a)-[:POSTED]->(p:Post {id: r.id, body: r.body,
                createdAt: datetime({epochMillis: r.ms}), createdAtMs: r.ms,
                removed: false, deleted: false, reactionCount: 0, commentCount: 0,
                fanout: $fanout})
        FOREACH (_ IN CASE WHEN c IS NULL THEN [] ELSE [1] END | CREATE (p)-[:IN]->(c))
        """,
        author=author_id,
        circle=circle_id,
        fanout=fanout,
        rows=[
            {"id": pid, "ms": ms, "body": f"基准帖子 {i} · bench post"}
            for i, (pid, ms) in enumerate(posts)
        ],
    )
    return posts


async def mark_active(redis: Redis, user_ids: Sequence[str]) -> None:
    """Users who read their feed lately (fan-out skips the others)."""
    now = time.time()
    for start in range(0, len(user_ids), 10_000):
        await redis.zadd(keys.FEED_ACTIVE, {u: now for u in user_ids[start : start + 10_000]})


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "QUANZI_LOG_LEVEL": "warning"}
    env.update(extra)
    return env


def start_worker(name: str, **env: str) -> subprocess.Popen[bytes]:
    # The bench writes its own posts with fanout PENDING; keep the outbox sweeper from
    # queueing them a second time while a long run is still delivering.
    return subprocess.Popen(
        [str(CLI), "worker", "--name", name],
        env=child_env(QUANZI_OUTBOX_SWEEP_SECONDS="3600", **env),
    )


def start_server(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([str(CLI), "serve", "--port", str(port)], env=child_env())


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@contextlib.contextmanager
def running(*procs: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        stop(*procs)


async def wait_http(base: str, path: str = "/readyz", tries: int = 300) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=5.0) as client:
        for _ in range(tries):
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(path)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{base}{path} did not become ready")


async def wait_trusted(base: str, wait_s: float = 60.0) -> None:
    """Until the API process trusts Redis's caches (``/readyz`` says so): a process starts
    with them set aside, and reads served meanwhile come from Neo4j and fill no cache."""
    import httpx

    deadline = time.monotonic() + wait_s
    async with httpx.AsyncClient(base_url=base, timeout=5.0) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError, ValueError):
                if (await client.get("/readyz")).json().get("caches") == "trusted":
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{base} kept its caches set aside")


async def wait_consumers(redis: Redis, count: int, wait_s: float = 60.0) -> None:
    """Until ``count`` worker consumers have joined the job group."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if len(await redis.xinfo_consumers(keys.JOBS_STREAM, keys.JOBS_GROUP)) >= count:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError("workers did not join the job group")


@contextlib.asynccontextmanager
async def open_stack(settings: Settings) -> AsyncIterator[tuple[Graph, Redis]]:
    from graph.driver import open_driver
    from workers.redis import open_redis

    driver = open_driver(settings)
    redis = open_redis(settings)
    try:
        yield Graph(driver, settings.neo4j_database), redis
    finally:
        await redis.aclose()
        await driver.close()
