"""Post-to-feed latency, through a real ``quanzi serve`` and one ``quanzi worker``.

Fanned-out audiences (an author with 100, 1,000 or 2,000 active friends; a profile post):
the time from ``createPost`` returning until the LAST audience member's timeline holds the
post (ZSCOREs polled through a pipeline, only for those still missing).

Hybrid circle (50,000 members, written by batched Cypher, so above
``fanout_max_audience``): the post goes to the circle's own timeline and is merged at
read time; the time from ``createPost`` returning until a member's ``homeFeed`` (polled
over HTTP) shows it.

Sizes are interleaved round by round; one warm-up post first.

    python -m bench.feeds_latency --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import time
import uuid
from typing import Any

import httpx

from api.auth import mint_token
from api.settings import Settings, get_settings
from bench.common import (
    befriend_all,
    make_users,
    mark_active,
    open_stack,
    reset,
    running,
    start_server,
    start_worker,
    stats_ms,
    wait_consumers,
    wait_http,
    write_result,
)
from graph.driver import Graph
from workers import keys

POST = """mutation($input: CreatePostInput!) { createPost(input: $input) {
  post { id } userErrors { code message } } }"""
FEED = "query { homeFeed(first: 5) { edges { node { id } } } }"


async def make_circle(graph: Graph, owner: str, members: list[str], batch: int = 10_000) -> str:
    """A SEMI_PUBLIC open circle with ``owner`` and every one of ``members`` as MEMBERs."""
    circle_id = f"bc{uuid.uuid4().hex[:12]}"
    await graph.write(
        """
        MATCH (o:User {id: $owner})
        CREATE (c:Circle {id: $id, name: '基准大圈 ' + $id, description: 'bench',
                visibility: 'SEMI_PUBLIC', joinPolicy: 'OPEN', minTrustScore: 0,
                customersOnly: false, service: false, memberCount: 1,
                createdAt: datetime(), updatedAt: datetime()})
        CREATE (o)-[:MEMBER_OF {state: 'MEMBER', role: 'OWNER', since: datetime(),
                updatedAt: datetime()}]->(c)
        """,
        owner=owner,
        id=circle_id,
    )
    for start in range(0, len(members), batch):
        chunk = members[start : start + batch]
        await graph.write(
            """
            MATCH (c:Circle {id: $id})
            UNWIND $ids AS uid
            MATCH (u:User {id: uid})
            CREATE (u)-[:MEMBER_OF {state: 'MEMBER', role: 'MEMBER', since: datetime(),
                    updatedAt: datetime()}]->(c)
            WITH c, count(*) AS n
            SET c.memberCount = c.memberCount + n
            """,
            id=circle_id,
            ids=chunk,
        )
    return circle_id


class Api:
    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def headers(self, user: dict[str, str]) -> dict[str, str]:
        return {"authorization": f"Bearer {mint_token(self.settings, user['platformId'])}"}

    async def gql(
        self, query: str, user: dict[str, str], variables: dict[str, Any] | None = None
    ) -> Any:
        r = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=self.headers(user),
        )
        body = r.json()
        if r.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"{r.status_code}: {body}")
        return body["data"]

    async def post(self, user: dict[str, str], body: str, circle: str | None = None) -> str:
        circle_gid = base64.b64encode(f"Circle:{circle}".encode()).decode() if circle else None
        data = await self.gql(POST, user, {"input": {"body": body, "circleId": circle_gid}})
        payload = data["createPost"]
        if payload["userErrors"]:
            raise RuntimeError(payload["userErrors"])
        return str(payload["post"]["id"])


def internal_id(global_id: str) -> str:
    """The post id timelines hold, from the Relay global id the API returns."""
    return base64.b64decode(global_id).decode().split(":", 1)[1]


async def until_everywhere(
    redis: Any, global_id: str, audience: list[str], deadline: float
) -> None:
    post_id = internal_id(global_id)
    missing = audience
    while missing:
        async with redis.pipeline(transaction=False) as pipe:
            for uid in missing:
                pipe.zscore(keys.timeline(uid), post_id)
            scores = await pipe.execute()
        missing = [u for u, s in zip(missing, scores, strict=True) if s is None]
        if missing:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{len(missing)} timelines still lack {post_id}")
            await asyncio.sleep(0.002)


async def until_in_feed(api: Api, viewer: dict[str, str], post_id: str, deadline: float) -> None:
    while True:
        data = await api.gql(FEED, viewer)
        if any(e["node"]["id"] == post_id for e in data["homeFeed"]["edges"]):
            return
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{post_id} never reached the member's homeFeed")


async def _main(args: argparse.Namespace) -> None:
    settings = get_settings()
    out: dict[str, Any] = {
        "sizes": args.sizes,
        "circle_members": args.circle,
        "rounds": args.rounds,
    }
    async with open_stack(settings) as (graph, redis):
        t0 = time.perf_counter()
        await reset(graph, redis)
        pool = await make_users(graph, max(args.sizes), "lf")
        authors = await make_users(graph, len(args.sizes) + 1, "la")
        warm_author, size_authors = authors[0], authors[1:]
        pairs = [(warm_author["id"], f["id"]) for f in pool[:100]]
        for author, size in zip(size_authors, args.sizes, strict=True):
            pairs += [(author["id"], f["id"]) for f in pool[:size]]
        await befriend_all(graph, pairs)
        await mark_active(redis, [u["id"] for u in pool + authors])
        members = await make_users(graph, args.circle, "lm")
        circle = await make_circle(graph, members[0]["id"], [m["id"] for m in members[1:]])
        count = await graph.read("MATCH (c:Circle {id: $id}) RETURN c.memberCount AS n", id=circle)
        out["circle_member_count"] = count.records[0]["n"]
        out["setup_seconds"] = time.perf_counter() - t0
        print(
            f"setup {out['setup_seconds']:.0f}s; circle memberCount {out['circle_member_count']}",
            flush=True,
        )

        worker = start_worker("bench-latency")
        server = start_server(args.port)
        with running(worker, server):
            await wait_consumers(redis, 1)
            await wait_http(f"http://127.0.0.1:{args.port}")
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{args.port}", timeout=60.0
            ) as client:
                api = Api(client, settings)
                owner, viewer = members[0], members[1]
                await api.gql(FEED, viewer)  # the member's view: the circle is large
                warm = await api.post(warm_author, "warm-up")
                await until_everywhere(
                    redis,
                    warm,
                    [warm_author["id"]] + [f["id"] for f in pool[:100]],
                    time.perf_counter() + 60,
                )
                times: dict[str, list[float]] = {str(s): [] for s in args.sizes}
                times["circle"] = []
                for r in range(args.rounds):
                    for author, size in zip(size_authors, args.sizes, strict=True):
                        audience = [author["id"]] + [f["id"] for f in pool[:size]]
                        pid = await api.post(author, f"round {r} to {size} friends")
                        t = time.perf_counter()
                        await until_everywhere(redis, pid, audience, t + 120)
                        times[str(size)].append(time.perf_counter() - t)
                    pid = await api.post(owner, f"round {r} to the big circle", circle)
                    t = time.perf_counter()
                    await until_in_feed(api, viewer, pid, t + 120)
                    times["circle"].append(time.perf_counter() - t)
                    print(
                        f"round {r}: "
                        + ", ".join(f"{k} {1000 * v[-1]:.0f} ms" for k, v in times.items()),
                        flush=True,
                    )
                # what one homeFeed poll costs (the resolution of the circle measurement)
                polls = []
                for _ in range(20):
                    t = time.perf_counter()
                    await api.gql(FEED, viewer)
                    polls.append(time.perf_counter() - t)
        out["latency"] = {k: stats_ms(v) for k, v in times.items()}
        out["feed_poll"] = stats_ms(polls)

    print(f"\n**Post-to-feed latency** ({args.rounds} rounds, one `quanzi worker`)\n")
    print("| audience | delivered to | p50 ms | max ms |")
    print("|---|---|---|---|")
    for size in args.sizes:
        s = out["latency"][str(size)]
        label = f"{size:,} active friends (+ author)"
        print(f"| {label} | every timeline (last ZSCORE) | {s['p50_ms']:.0f} | {s['max_ms']:.0f} |")
    s = out["latency"]["circle"]
    print(
        f"| {out['circle_member_count']:,}-member circle (hybrid) | a member's `homeFeed` | "
        f"{s['p50_ms']:.0f} | {s['max_ms']:.0f} |"
    )
    print(f"\none homeFeed poll: p50 {out['feed_poll']['p50_ms']:.1f} ms")
    print(f"wrote {write_result('feeds_latency', out)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Post-to-feed latency")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 2000])
    parser.add_argument("--circle", type=int, default=50_000, help="members of the hybrid circle")
    parser.add_argument("--rounds", type=int, default=5, help="posts per size (<= 9: rate limit)")
    parser.add_argument("--port", type=int, default=28181)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
