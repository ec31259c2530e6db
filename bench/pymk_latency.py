"""Latency of "people you may know" on a big graph with hubs.

Over one sample of users (the hubs themselves, users next to hubs, and ordinary users),
in the same run and interleaved user by user:

(a) the live product query ``compute_suggestions(limit=10)`` against
(b) a naive Cypher friends-of-friends query ordered by mutual count
    (target: p99 of (a) <= 1/4 of p99 of (b));

and, when the API serves ``Query.peopleYouMayKnow``, through HTTP GraphQL against a real
``quanzi serve`` subprocess: the cached ``peopleYouMayKnow(first: 10)`` (after a warming
round) against ``{ me { id } }`` (target: p99 ratio <= 2).

    python -m bench.pymk_latency --users 100000 --sample 300

With ``QUANZI_PYMK_MODEL_PATH`` set, the live query and the server rank by that model.
The graph is generated and loaded into the stack named by the ``QUANZI_*`` environment
unless the same dataset is already there. Writes ``bench/results/pymk_latency-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

from api.settings import Settings, get_settings
from bench.common import running, start_server, wait_http, wait_trusted
from bench.load import Dataset, load, make_dataset
from bench.socialgen import GenConfig
from graph.driver import Graph, connect
from graph.pymk_model import configured_model

logging.getLogger("neo4j").setLevel(logging.ERROR)

RESULTS = Path(__file__).parent / "results"

NAIVE = """
MATCH (me:User {id:$id})-[:FRIEND]-(f)-[:FRIEND]-(c)
WHERE c <> me AND NOT (me)-[:FRIEND]-(c)
RETURN c.id, count(*) AS m ORDER BY m DESC LIMIT 10
"""

PYMK_HTTP = (
    "query { peopleYouMayKnow(first: 10) { edges { node { score "
    "user { id handle displayName } reasons { kind count text } } } } }"
)
ME_HTTP = "query { me { id } }"


def pick_sample(ds: Dataset, size: int, seed: int) -> dict[str, list[int]]:
    """Hubs (and the next best connected), friends of hubs, and ordinary users."""
    rnd = random.Random(seed)
    deg = ds.sg.degrees(ds.train)
    top = [int(x) for x in np.argsort(-deg, kind="stable")[: max(10, len(ds.sg.hubs))]]
    hubs = set(ds.sg.hubs.tolist())
    hub_friends = sorted(
        {int(b) for a, b in ds.train.tolist() if a in hubs}
        | {int(a) for a, b in ds.train.tolist() if b in hubs}
    )
    n_adj = min(len(hub_friends), size // 5)
    adjacent = rnd.sample([u for u in hub_friends if u not in top], n_adj)
    taken = set(top) | set(adjacent)
    rest = [u for u in rnd.sample(range(ds.sg.n), size * 2) if u not in taken]
    return {
        "hub": top,
        "hub_adjacent": adjacent,
        "ordinary": rest[: size - len(top) - len(adjacent)],
    }


async def verify_sample(graph: Graph, ds: Dataset, sample: dict[str, list[int]]) -> dict[str, Any]:
    """Every sampled user exists with the degree the dataset gives it; raises otherwise.

    A sample of ids that match no user times nothing (every query returns at once), so
    the benchmark refuses to run on one.
    """
    want = ds.sg.degrees(ds.train)
    idx = [i for ids in sample.values() for i in ids]
    result = await graph.read(
        "UNWIND $ids AS id OPTIONAL MATCH (u:User {id: id}) "
        "RETURN id, u IS NOT NULL AS found, COUNT { (u)-[:FRIEND]-() } AS degree",
        ids=[ds.ids[i] for i in idx],
    )
    got = {r["id"]: (r["found"], r["degree"]) for r in result.records}
    missing = [ds.ids[i] for i in idx if not got.get(ds.ids[i], (False, 0))[0]]
    if missing:
        raise RuntimeError(f"{len(missing)} sampled users are not in the graph, e.g. {missing[:3]}")
    wrong = [
        (ds.ids[i], int(want[i]), got[ds.ids[i]][1])
        for i in idx
        if got[ds.ids[i]][1] != int(want[i])
    ]
    if wrong:
        raise RuntimeError(
            f"{len(wrong)} sampled users have another degree in the graph than in the "
            f"dataset (id, wanted, found), e.g. {wrong[:3]}"
        )
    hub_degrees = sorted((got[ds.ids[i]][1] for i in sample["hub"]), reverse=True)
    if not hub_degrees or hub_degrees[0] < 10 * max(1.0, float(np.median(want))):
        raise RuntimeError(f"the hubs are not hubs in the graph: degrees {hub_degrees}")
    print(f"sample checked: {len(idx)} users found, hub degrees {hub_degrees}", flush=True)
    return {"users_found": len(idx), "hub_degrees": hub_degrees}


def stats(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs) * 1000.0
    return {
        "n": len(xs),
        "p50_ms": float(np.percentile(a, 50)),
        "p90_ms": float(np.percentile(a, 90)),
        "p99_ms": float(np.percentile(a, 99)),
        "max_ms": float(a.max()),
        "mean_ms": float(a.mean()),
    }


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


async def interleaved(
    users: list[str],
    a: Callable[[str], Awaitable[Any]],
    b: Callable[[str], Awaitable[Any]],
    *,
    rounds: int,
    warmup: int,
    seed: int,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per user, both calls back to back, alternating which goes first; seconds by user."""
    for _ in range(warmup):
        for u in users:
            await a(u)
            await b(u)
    ta: dict[str, list[float]] = {u: [] for u in users}
    tb: dict[str, list[float]] = {u: [] for u in users}
    rnd = random.Random(seed)
    for r in range(rounds):
        order = users[:]
        rnd.shuffle(order)
        for i, u in enumerate(order):
            if (i + r) % 2 == 0:
                ta[u].append(await _timed(lambda u=u: a(u)))
                tb[u].append(await _timed(lambda u=u: b(u)))
            else:
                tb[u].append(await _timed(lambda u=u: b(u)))
                ta[u].append(await _timed(lambda u=u: a(u)))
    return ta, tb


def grouped(
    times: dict[str, list[float]], groups: dict[str, list[str]]
) -> dict[str, dict[str, float]]:
    out = {"all": stats([x for v in times.values() for x in v])}
    for name, ids in groups.items():
        out[name] = stats([x for u in ids for x in times[u]])
    return out


async def query_latency(
    graph: Graph, groups: dict[str, list[str]], *, rounds: int, warmup: int, seed: int
) -> dict[str, Any]:
    from graph.suggestions import SuggestionConfig, compute_suggestions

    config = SuggestionConfig()
    users = [u for ids in groups.values() for u in ids]
    model = configured_model(get_settings().pymk_model_path)

    async def live(uid: str) -> Any:
        return await compute_suggestions(graph, uid, limit=10, config=config, model=model)

    async def naive(uid: str) -> Any:
        return (await graph.read(NAIVE, id=uid)).records

    t_live, t_naive = await interleaved(users, live, naive, rounds=rounds, warmup=warmup, seed=seed)
    live_s, naive_s = grouped(t_live, groups), grouped(t_naive, groups)
    return {
        "live": live_s,
        "naive": naive_s,
        "p99_ratio_live_over_naive": live_s["all"]["p99_ms"] / naive_s["all"]["p99_ms"],
        "p50_ratio_live_over_naive": live_s["all"]["p50_ms"] / naive_s["all"]["p50_ms"],
        "target": "live p99 <= 0.25 x naive p99",
    }


def _api_has_pymk() -> bool:
    try:
        from schema.root import sdl

        return "peopleYouMayKnow" in sdl()
    except Exception:  # the API may be mid-edit; then there is nothing to measure
        return False


async def http_latency(
    settings: Settings,
    groups: dict[str, list[str]],
    platform_ids: dict[str, str],
    *,
    port: int,
    rounds: int,
    warmup: int,
    seed: int,
) -> dict[str, Any]:
    import httpx

    from api.auth import mint_token

    base = f"http://127.0.0.1:{port}"
    with running(start_server(port)):
        await wait_http(base)
        # until then every page is re-checked against Neo4j: that is not the cached path
        await wait_trusted(base, wait_s=300.0)
        async with httpx.AsyncClient(base_url=base, timeout=60.0) as client:
            tokens = {
                u: {"Authorization": f"Bearer {mint_token(settings, platform_ids[u])}"}
                for ids in groups.values()
                for u in ids
            }

            async def post(uid: str, query: str) -> Any:
                r = await client.post("/graphql", json={"query": query}, headers=tokens[uid])
                body = r.json()
                if r.status_code != 200 or body.get("errors"):
                    raise RuntimeError(f"{r.status_code}: {body}")
                return body

            async def pymk(uid: str) -> Any:
                return await post(uid, PYMK_HTTP)

            async def me(uid: str) -> Any:
                return await post(uid, ME_HTTP)

            users = [u for ids in groups.values() for u in ids]
            t0 = time.perf_counter()
            for u in users:  # fill the cache (a miss computes and stores the list)
                await pymk(u)
            warm_s = time.perf_counter() - t0
            t_pymk, t_me = await interleaved(
                users, pymk, me, rounds=rounds, warmup=warmup, seed=seed
            )
    p, m = grouped(t_pymk, groups), grouped(t_me, groups)
    return {
        "pymk_cached": p,
        "me": m,
        "cache_fill_seconds": warm_s,
        "p99_ratio_pymk_over_me": p["all"]["p99_ms"] / m["all"]["p99_ms"],
        "p50_ratio_pymk_over_me": p["all"]["p50_ms"] / m["all"]["p50_ms"],
        "target": "cached pymk p99 <= 2 x me p99",
    }


def md_table(title: str, a_name: str, a: dict[str, Any], b_name: str, b: dict[str, Any]) -> str:
    lines = [
        f"**{title}**",
        "",
        "| group | n | "
        + " | ".join(f"{x} {s}" for x in (a_name, b_name) for s in ("p50 ms", "p99 ms", "max ms"))
        + " |",
        "|---|---|" + "---|" * 6,
    ]
    for g in a:
        lines.append(
            f"| {g} | {a[g]['n']} | "
            + " | ".join(f"{d[g][k]:.1f}" for d in (a, b) for k in ("p50_ms", "p99_ms", "max_ms"))
            + " |"
        )
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> None:
    settings = get_settings()
    t_all = time.perf_counter()
    ds = make_dataset(GenConfig(users=args.users, seed=args.seed), 0.0)
    deg = ds.sg.degrees()
    print(
        f"{ds.sg.n} users, {len(ds.train)} friendships, hub degrees "
        f"{sorted(deg[ds.sg.hubs].tolist(), reverse=True)}",
        flush=True,
    )
    sample = pick_sample(ds, args.sample, args.seed)
    out: dict[str, Any] = {
        "users": ds.sg.n,
        "friendships": len(ds.train),
        "sample": {g: len(v) for g, v in sample.items()},
        "sample_degrees": {
            g: {
                "median": float(np.median(deg[idx])),
                "max": int(deg[idx].max()),
            }
            for g, idx in sample.items()
        },
        "rounds": args.rounds,
        "warmup_rounds": args.warmup,
    }
    async with connect(settings) as graph:
        t0 = time.perf_counter()
        await load(graph, ds, settings, direct=args.direct_load)
        out["load_seconds"] = time.perf_counter() - t0
        # Only now: load() replaces ds.ids by the ids the import stored.
        groups = {g: [ds.ids[i] for i in idx] for g, idx in sample.items()}
        platform_ids = {ds.ids[i]: ds.sg.platform_ids[i] for idx in sample.values() for i in idx}
        out["sample_check"] = await verify_sample(graph, ds, sample)
        t0 = time.perf_counter()
        out["query"] = await query_latency(
            graph, groups, rounds=args.rounds, warmup=args.warmup, seed=args.seed
        )
        out["query_seconds"] = time.perf_counter() - t0
    q = out["query"]
    print()
    print(
        md_table(
            "live compute_suggestions vs naive FoF (Cypher)", "live", q["live"], "naive", q["naive"]
        )
    )
    print(
        f"\np99 live/naive = {q['p99_ratio_live_over_naive']:.3f} (target <= 0.25); "
        f"p50 live/naive = {q['p50_ratio_live_over_naive']:.3f}"
    )
    if args.no_http:
        out["http"] = "skipped (--no-http)"
    elif not _api_has_pymk():
        out["http"] = "skipped: the API has no Query.peopleYouMayKnow yet"
        print(out["http"])
    else:
        t0 = time.perf_counter()
        h = await http_latency(
            settings,
            groups,
            platform_ids,
            port=args.port,
            rounds=args.rounds,
            warmup=args.warmup,
            seed=args.seed,
        )
        h["seconds"] = time.perf_counter() - t0
        out["http"] = h
        print()
        print(
            md_table(
                "HTTP GraphQL: cached peopleYouMayKnow(first: 10) vs { me { id } }",
                "pymk",
                h["pymk_cached"],
                "me",
                h["me"],
            )
        )
        print(
            f"\np99 pymk/me = {h['p99_ratio_pymk_over_me']:.3f} (target <= 2); "
            f"p50 pymk/me = {h['p50_ratio_pymk_over_me']:.3f}"
        )
    out["model"] = str(settings.pymk_model_path) if settings.pymk_model_path else None
    out["seconds"] = time.perf_counter() - t_all
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"pymk_latency-{args.users}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"\nwrote {path} ({out['seconds']:.0f}s)")


def main() -> None:
    parser = argparse.ArgumentParser(description="PYMK latency: live vs naive, cached vs me")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=1, help="measured rounds per user")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first")
    parser.add_argument("--port", type=int, default=28080, help="port for quanzi serve")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--direct-load", action="store_true", help="load without quanzi import")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
