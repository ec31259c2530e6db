"""CPU per request with and without ``schema/direct.py``, in one process, interleaved.

Two apps over the same stack, one built with the direct resolver calls and one with
Strawberry's own wrapper, answer the same requests through ``httpx.ASGITransport``
(no sockets: CPU is what differs) in alternating blocks; the responses must be equal.
The ratio of each pair of blocks is taken, so the machine's drift falls on both.
Run it after ``python -m bench.feeds_read`` on the same stack: it uses that run's
viewers (users ``rv…``), their warm timelines and their suggestions.

    python -m bench.direct_resolvers --query feed --requests 100 --rounds 40
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

import httpx

import schema.root as root
from api.app import create_app
from api.auth import mint_token
from api.settings import get_settings
from bench.feeds_read import FEED

QUERIES = {
    "feed": FEED,
    "pymk": "query { peopleYouMayKnow(first: 10) { edges { node { score "
    "user { id handle displayName } reasons { kind count text } } } } }",
    "me": "query { me { id } }",
}


async def _main(args: argparse.Namespace) -> None:
    settings = get_settings()
    direct = create_app(settings)
    real = root.resolve_directly
    root.resolve_directly = lambda schema: 0  # the second app keeps Strawberry's wrapper
    try:
        wrapped = create_app(settings)
    finally:
        root.resolve_directly = real
    query = QUERIES[args.query]
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}
        for name, app in (("direct", direct), ("strawberry", wrapped)):
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients[name] = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x")
            )
        graph = direct.state.services.graph
        found = await graph.read(
            "MATCH (u:User) WHERE u.id STARTS WITH 'rv' RETURN u.platformId AS p LIMIT 64"
        )
        if not found.records:
            raise SystemExit("no viewers: run python -m bench.feeds_read on this stack first")
        headers = [
            {"authorization": f"Bearer {mint_token(settings, r['p'])}"} for r in found.records
        ]
        for app in (direct, wrapped):
            while app.state.services.derived.stale:  # noqa: ASYNC110 (until Redis is trusted)
                await asyncio.sleep(0.1)
        answers: dict[str, list[object]] = {}
        for name, client in clients.items():
            for i in range(2 * len(headers)):
                r = await client.post("/graphql", json={"query": query}, headers=headers[i % 64])
                body = r.json()
                assert r.status_code == 200 and "errors" not in body, body
                answers.setdefault(name, []).append(body)
        assert answers["direct"] == answers["strawberry"], "the two apps answered differently"
        cpu: dict[str, list[float]] = {name: [] for name in clients}
        for r in range(args.rounds):
            order = list(clients.items())
            for name, client in order if r % 2 == 0 else reversed(order):
                t0 = time.process_time()
                for i in range(args.requests):
                    await client.post(
                        "/graphql", json={"query": query}, headers=headers[i % len(headers)]
                    )
                cpu[name].append(1000 * (time.process_time() - t0) / args.requests)
    ratios = sorted(a / b for a, b in zip(cpu["direct"], cpu["strawberry"], strict=True))
    n = len(ratios)
    print(f"{args.query}: CPU ms per request (server and client), median of {n} blocks:")
    for name, values in cpu.items():
        print(f"  {name}: {sorted(values)[n // 2]:.2f}")
    print(
        f"  direct / strawberry, paired: median {ratios[n // 2]:.3f} "
        f"(quartiles {ratios[n // 4]:.3f}, {ratios[3 * n // 4]:.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="direct resolver calls vs Strawberry's")
    parser.add_argument("--query", choices=sorted(QUERIES), default="feed")
    parser.add_argument("--requests", type=int, default=100, help="per block")
    parser.add_argument("--rounds", type=int, default=40)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
