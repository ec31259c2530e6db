"""Soak: hostile clients against a real ``quanzi serve`` while ordinary users are served.

The hostile side opens websockets and drops them (in every state: before
``connection_init``, after it, with subscriptions open, in the middle of a stream),
floods subscriptions past the per-socket cap, opens sockets past the per-user cap and
sends costly queries; the ordinary side reads ``me``, ``homeFeed`` and
``peopleYouMayKnow`` and posts. ``run`` reports the ordinary requests' latencies
measured alone and under attack, and every failure an ordinary user saw.

    python -m bench.soak --seconds 120      # against the stack of the QUANZI_* env
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException
from websockets.typing import Subprotocol

COSTLY = (
    "{ me { friends(first: 100) { edges { node { friends(first: 100) { edges { node {"
    " friends(first: 100) { edges { node { handle } } } } } } } } } } }"
)
SUBSCRIBE = "subscription { homeFeedUpdates { id } }"
READS = (
    "{ me { id handle } }",
    "{ homeFeed(first: 20) { edges { node { id body author { handle } } } } }",
    "{ peopleYouMayKnow(first: 10) { edges { node { user { handle } } } } }",
)
POST = "mutation($b: String!) { createPost(input: {body: $b}) { post { id } userErrors { code } } }"


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    hostile_actions: int = 0
    refused_costly: int = 0


async def _ordinary(
    base: str, tokens: list[str], stop: asyncio.Event, out: Outcome, rng: random.Random
) -> None:
    async with httpx.AsyncClient(base_url=f"http://{base}", timeout=30) as http:
        while not stop.is_set():
            token = rng.choice(tokens)
            if rng.random() < 0.1:
                body: dict[str, Any] = {"query": POST, "variables": {"b": f"soak {rng.random()}"}}
            else:
                body = {"query": rng.choice(READS)}
            started = time.perf_counter()
            try:
                response = await http.post(
                    "/graphql", json=body, headers={"authorization": f"Bearer {token}"}
                )
                answer = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                out.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            out.latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or answer.get("errors"):
                out.failures.append(f"{response.status_code} {json.dumps(answer)[:200]}")


async def _socket(base: str) -> Any:
    return await connect(
        f"ws://{base}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=10
    )


async def _hostile(
    base: str, token: str, stop: asyncio.Event, out: Outcome, rng: random.Random
) -> None:
    init = json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    async with httpx.AsyncClient(base_url=f"http://{base}", timeout=30) as http:
        while not stop.is_set():
            out.hostile_actions += 1
            kind = rng.randrange(5)
            try:
                if kind == 0:  # a costly query
                    answer = (
                        await http.post(
                            "/graphql",
                            json={"query": COSTLY},
                            headers={"authorization": f"Bearer {token}"},
                        )
                    ).json()
                    codes = [e["extensions"]["code"] for e in answer.get("errors", [])]
                    out.refused_costly += codes == ["QUERY_TOO_COSTLY"]
                    continue
                ws = await _socket(base)
                if kind == 1:  # dropped before connection_init
                    ws.transport.abort()
                    continue
                await ws.send(init)
                with contextlib.suppress(TimeoutError, WebSocketException):
                    await asyncio.wait_for(ws.recv(), 5)
                if kind >= 3:  # a flood of subscriptions, past the cap
                    for i in range(30):
                        await ws.send(
                            json.dumps(
                                {"id": str(i), "type": "subscribe", "payload": {"query": SUBSCRIBE}}
                            )
                        )
                    await asyncio.sleep(rng.random())
                ws.transport.abort()  # gone without a close frame
            except (OSError, WebSocketException, TimeoutError, httpx.HTTPError, ValueError):
                continue  # the server refusing the hostile is fine


async def run(
    base: str, tokens: list[str], hostile_token: str, seconds: float, *, hostile: int = 6
) -> tuple[Outcome, Outcome]:
    """Ordinary traffic alone for ``seconds / 3``, then under attack for the rest."""
    rng = random.Random(7)
    alone, attacked = Outcome(), Outcome()
    stop = asyncio.Event()
    readers = [asyncio.create_task(_ordinary(base, tokens, stop, alone, rng)) for _ in range(4)]
    await asyncio.sleep(seconds / 3)
    stop.set()
    await asyncio.gather(*readers)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_ordinary(base, tokens, stop, attacked, rng)) for _ in range(4)]
    tasks += [
        asyncio.create_task(_hostile(base, hostile_token, stop, attacked, rng))
        for _ in range(hostile)
    ]
    await asyncio.sleep(seconds * 2 / 3)
    stop.set()
    await asyncio.gather(*tasks)
    return alone, attacked


def _percentile(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


async def _bench(seconds: float, users: int) -> dict[str, Any]:
    from api.auth import mint_token
    from api.settings import Settings
    from bench import common

    settings = Settings()
    async with common.open_stack(settings) as (graph, redis):
        await common.reset(graph, redis)
        made = await common.make_users(graph, users, "soak")
        ids = [u["id"] for u in made]
        await common.befriend_all(graph, list(itertools.pairwise(ids)))
    port = 18000 + random.randrange(1000)
    server, worker = common.start_server(port), common.start_worker("soak")
    with common.running(server, worker):
        base = f"127.0.0.1:{port}"
        await common.wait_http(f"http://{base}")
        tokens = [mint_token(settings, u["platformId"]) for u in made]
        alone, attacked = await run(base, tokens[1:], tokens[0], seconds)
    out: dict[str, Any] = {}
    for name, o in (("alone", alone), ("under_attack", attacked)):
        out[name] = {
            "requests": len(o.latencies),
            "p50_ms": _percentile(o.latencies, 0.5),
            "p99_ms": _percentile(o.latencies, 0.99),
            "failures": len(o.failures),
        }
    out["hostile_actions"] = attacked.hostile_actions
    out["costly_refused"] = attacked.refused_costly
    out["p50_ratio"] = out["under_attack"]["p50_ms"] / max(out["alone"]["p50_ms"], 1e-9)
    out["p99_ratio"] = out["under_attack"]["p99_ms"] / max(out["alone"]["p99_ms"], 1e-9)
    common.write_result("soak", out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_bench(args.seconds, args.users)), indent=2))


if __name__ == "__main__":
    main()
