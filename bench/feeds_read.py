"""Warm ``homeFeed(first: 20)`` throughput through ``quanzi serve``, as a ratio of a bare
Starlette endpoint (``bare_app`` below, served by uvicorn in its own process) that reads
the same Redis keys — the timeline ZRANGE, the post cache MGET, the user cards MGET, the
viewer's reacted SMISMEMBER — and returns the same JSON shape. Goal: ratio >= 0.5.

Both servers are single uvicorn processes; the client is one ``httpx.AsyncClient`` with
``--concurrency`` requests in flight, ``--requests`` per measurement, viewers in turn; the
two servers are measured alternately, ``--rounds`` times each, in the same run. The bare
endpoint does not check a token (the API verifies a JWT and reads the viewer's card).

    python -m bench.feeds_read --requests 3000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.auth import mint_token
from api.settings import get_settings
from bench.common import (
    befriend_all,
    child_env,
    make_posts,
    make_users,
    mark_active,
    open_stack,
    reset,
    running,
    start_server,
    wait_http,
    wait_trusted,
    write_result,
)
from graph.driver import Graph
from workers import fanout, keys
from workers.services import Services

FEED = """query { homeFeed(first: 20) {
  edges { cursor node { id body createdAt reactionCount commentCount viewerReacted
  author { id handle displayName } } } pageInfo { hasNextPage endCursor } } }"""


# ---------------------------------------------------------------- the bare endpoint


def _gid(type_name: str, node_id: str) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    from workers.redis import open_redis

    app.state.redis = open_redis(get_settings())
    try:
        yield
    finally:
        await app.state.redis.aclose()


async def _bare_feed(request: Request) -> Response:
    redis = request.app.state.redis
    viewer = request.headers["x-viewer"]
    first = 20
    rows = await redis.zrange(keys.timeline(viewer), 0, first, desc=True, withscores=True)
    ids = [str(pid) for pid, _ in rows]
    raw = await redis.mget([keys.post_cache(pid) for pid in ids]) if ids else []
    posts = [json.loads(r) for r in raw if r]
    authors = sorted({p["author_id"] for p in posts})
    async with redis.pipeline(transaction=False) as pipe:
        pipe.mget([keys.user_card(a) for a in authors])
        pipe.smismember(keys.reacted(viewer), [p["id"] for p in posts])
        cards_raw, reacted = await pipe.execute() if posts else ([], [])
    cards = {a: json.loads(c) for a, c in zip(authors, cards_raw, strict=True) if c}
    edges = []
    for post, flag in zip(posts[:first], reacted, strict=False):
        card = cards[post["author_id"]]
        edges.append(
            {
                "cursor": base64.b64encode(
                    f"{post['created_at_ms']}:{post['id']}".encode()
                ).decode(),
                "node": {
                    "id": _gid("Post", post["id"]),
                    "body": post["body"],
                    "createdAt": post["created_at"],
                    "reactionCount": post["reaction_count"],
                    "commentCount": post["comment_count"],
                    "viewerReacted": bool(flag),
                    "author": {
                        "id": _gid("User", card["id"]),
                        "handle": card["handle"],
                        "displayName": card["display_name"],
                    },
                },
            }
        )
    page = {
        "edges": edges,
        "pageInfo": {
            "hasNextPage": len(posts) > first,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }
    return JSONResponse({"data": {"homeFeed": page}})


bare_app = Starlette(
    routes=[Route("/feed", _bare_feed), Route("/readyz", lambda r: Response("ok"))],
    lifespan=_lifespan,
)


# ---------------------------------------------------------------- the load


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    client: httpx.AsyncClient,
    make_request: Any,
    viewers: list[dict[str, str]],
    requests: int,
    concurrency: int,
) -> float:
    """Requests per second for ``requests`` requests, ``concurrency`` at a time."""
    counter = iter(range(requests))

    async def one_lane() -> None:
        for i in counter:
            r = await make_request(viewers[i % len(viewers)])
            if r.status_code != 200:
                raise RuntimeError(f"{r.status_code}: {r.text[:300]}")

    t0 = time.perf_counter()
    await asyncio.gather(*(one_lane() for _ in range(concurrency)))
    return requests / (time.perf_counter() - t0)


async def _mark_pending(graph: Graph, posts: list[str]) -> None:
    """Deliver again after the flush: ``fan_out`` without the job's copy reads only
    posts still undelivered."""
    await graph.write(
        "UNWIND $ids AS id MATCH (p:Post {id: id}) SET p.fanout = 'PENDING'", ids=posts
    )


async def _main(args: argparse.Namespace) -> None:
    settings = get_settings()
    out: dict[str, Any] = vars(args).copy()
    async with open_stack(settings) as (graph, redis):
        await reset(graph, redis)
        authors = await make_users(graph, args.authors, "ra")
        viewers = await make_users(graph, args.viewers, "rv")
        await befriend_all(graph, [(a["id"], v["id"]) for a in authors for v in viewers])
        await mark_active(redis, [u["id"] for u in authors + viewers])
        posts: list[str] = []
        for a in authors:
            posts += [
                pid for pid, _ in await make_posts(graph, a["id"], args.posts, fanout="PENDING")
            ]
        services = Services(settings, graph, redis)
        for pid in posts:  # delivered as the worker would (in-process here)
            await fanout.fan_out(services, pid)
        await fanout.flush_delivered(graph)
        # every viewer reacted to a few posts, so viewerReacted is not all false
        await graph.write(
            """
            UNWIND $viewers AS vid MATCH (v:User {id: vid})
            UNWIND $posts AS pid MATCH (p:Post {id: pid})
            CREATE (v)-[:REACTED {at: datetime()}]->(p) SET p.reactionCount = p.reactionCount + 1
            """,
            viewers=[v["id"] for v in viewers],
            posts=posts[-25::5],
        )
        await redis.flushdb()  # the caches start cold; the warm-up below fills them
        await mark_active(redis, [u["id"] for u in authors + viewers])
        await _mark_pending(graph, posts)
        for pid in posts:
            await fanout.fan_out(services, pid)
        await fanout.flush_delivered(graph)

    api_port, bare_port = args.port, args.port + 1
    server = start_server(api_port)
    bare = subprocess.Popen(  # noqa: ASYNC220 (a long-lived child)
        [sys.executable, "-m", "uvicorn", "bench.feeds_read:bare_app", "--port", str(bare_port),
         "--log-level", "warning"],
        env=child_env(),
    )  # fmt: skip
    tokens = {
        v["id"]: {"authorization": f"Bearer {mint_token(settings, v['platformId'])}"}
        for v in viewers
    }
    with running(server, bare):
        await wait_http(f"http://127.0.0.1:{api_port}")
        await wait_trusted(f"http://127.0.0.1:{api_port}")
        await wait_http(f"http://127.0.0.1:{bare_port}")
        limits = httpx.Limits(
            max_connections=args.concurrency, max_keepalive_connections=args.concurrency
        )
        async with (
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{api_port}", timeout=60, limits=limits
            ) as api,
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{bare_port}", timeout=60, limits=limits
            ) as raw,
        ):

            async def via_api(v: dict[str, str]) -> httpx.Response:
                return await api.post("/graphql", json={"query": FEED}, headers=tokens[v["id"]])

            async def via_bare(v: dict[str, str]) -> httpx.Response:
                return await raw.get("/feed", headers={"x-viewer": v["id"]})

            # warm both (views, reacted sets, user cards, connections) and check they agree
            for v in viewers:
                a, b = (await via_api(v)).json(), (await via_bare(v)).json()
                assert "errors" not in a, a
                ids_a = [e["node"]["id"] for e in a["data"]["homeFeed"]["edges"]]
                ids_b = [e["node"]["id"] for e in b["data"]["homeFeed"]["edges"]]
                assert ids_a == ids_b and len(ids_a) == 20, (ids_a, ids_b)
                flags_a = [e["node"]["viewerReacted"] for e in a["data"]["homeFeed"]["edges"]]
                flags_b = [e["node"]["viewerReacted"] for e in b["data"]["homeFeed"]["edges"]]
                assert flags_a == flags_b, (flags_a, flags_b)
            out["response_bytes"] = {"api": len((await via_api(viewers[0])).content),
                                     "bare": len((await via_bare(viewers[0])).content)}  # fmt: skip
            await load(api, via_api, viewers, args.requests // 5, args.concurrency)
            await load(raw, via_bare, viewers, args.requests // 5, args.concurrency)
            if args.py_spy:
                spy = subprocess.Popen(  # noqa: ASYNC220 (sampled while the load runs)
                    ["py-spy", "record", "--pid", str(server.pid), "--format", "raw",
                     "--rate", "200", "--output", args.py_spy, "--nonblocking"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                await asyncio.sleep(1.0)
                await load(api, via_api, viewers, args.requests, args.concurrency)
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
                print(f"py-spy samples of the API: {args.py_spy}")
            api_rps: list[float] = []
            bare_rps: list[float] = []
            api_cpu: list[float] = []
            bare_cpu: list[float] = []
            for r in range(args.rounds):
                order = [
                    ("api", api, via_api, api_rps, api_cpu, server.pid),
                    ("bare", raw, via_bare, bare_rps, bare_cpu, bare.pid),
                ]
                if r % 2:
                    order.reverse()
                for name, client, fn, sink, cpu_sink, pid in order:
                    # Cards live 5 minutes: on a slow machine a round outlasts them, and
                    # the bare endpoint has no Neo4j to fall back on. Warm them again.
                    for v in viewers:
                        await via_api(v)
                    cpu0 = cpu_seconds(pid)
                    rps = await load(client, fn, viewers, args.requests, args.concurrency)
                    cpu_ms = 1000 * (cpu_seconds(pid) - cpu0) / args.requests
                    sink.append(rps)
                    cpu_sink.append(cpu_ms)
                    print(f"round {r} {name}: {rps:.0f} req/s, {cpu_ms:.2f} CPU ms/req", flush=True)
    out["api_rps"] = api_rps
    out["bare_rps"] = bare_rps
    out["api_cpu_ms_per_request"] = api_cpu
    out["bare_cpu_ms_per_request"] = bare_cpu
    mean_api, mean_bare = sum(api_rps) / len(api_rps), sum(bare_rps) / len(bare_rps)
    out["ratio"] = mean_api / mean_bare
    cpu_api, cpu_bare = sum(api_cpu) / len(api_cpu), sum(bare_cpu) / len(bare_cpu)
    out["cpu_ratio"] = cpu_bare / cpu_api
    out["ratio_per_round"] = [x / y for x, y in zip(api_rps, bare_rps, strict=True)]
    print(
        f"\n**Warm homeFeed(first: 20), hydrated** ({args.viewers} viewers, "
        f"{args.requests} requests x {args.rounds} rounds, concurrency {args.concurrency})\n"
    )
    print("| server | req/s (mean) | per round |")
    print("|---|---|---|")
    per_api = ", ".join(f"{x:.0f}" for x in api_rps)
    per_bare = ", ".join(f"{x:.0f}" for x in bare_rps)
    per_ratio = ", ".join(f"{x:.3f}" for x in out["ratio_per_round"])
    print(f"| `quanzi serve` GraphQL | {mean_api:.0f} | {per_api} |")
    print(f"| bare Starlette, same Redis reads | {mean_bare:.0f} | {per_bare} |")
    print(f"| **ratio** | **{out['ratio']:.3f}** | {per_ratio} |")
    print(
        f"\nserver CPU per request: API {cpu_api:.2f} ms, bare {cpu_bare:.2f} ms; "
        f"bare/API = **{out['cpu_ratio']:.3f}** (what a busy machine leaves stable)"
    )
    print("\ngoal: >= 0.5")
    print(f"wrote {write_result('feeds_read', out)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="homeFeed throughput vs a bare endpoint")
    parser.add_argument("--authors", type=int, default=10)
    parser.add_argument("--viewers", type=int, default=64)
    parser.add_argument("--posts", type=int, default=30, help="per author")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--port", type=int, default=28281)
    parser.add_argument(
        "--py-spy", default=None, metavar="FILE",
        help="also sample the API under one more load with py-spy (raw stacks to FILE)",
    )  # fmt: skip
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
