""""People you may know" latency at two sizes (100k and 1M users) in one run.

Both stacks are up (each loaded beforehand, e.g. ``quanzi bulk-import``); the sample is
taken from each graph itself (its best connected users, some of their friends, and
random users by platform id), checked to exist with the degrees read back, and the two
sizes are measured interleaved user by user, so machine load falls on both alike:

(a) live ``compute_suggestions(limit=10)`` (hand weights, or ``--model FILE``'s ranker)
and (b) the naive friends-of-friends Cypher of ``bench/pymk_latency.py`` with a
transaction timeout (a timed-out call counts as the timeout: its figures are then a lower
bound), per size; then, per size, a real ``quanzi serve`` on that stack for cached
``peopleYouMayKnow(first: 10)`` against ``{ me { id } }``
(``bench.pymk_latency.http_latency``).

Goals (issue 14): live p50 at 1M <= 1.5x live p50 at 100k; live p99 <= 0.25x naive p99
at both sizes; cached peopleYouMayKnow p99 <= 2x me p99.

    python -m bench.pymk_scale \\
        --stack 100000,neo4j://127.0.0.1:47687,redis://127.0.0.1:46379/0,/work/qz-100k \\
        --stack 1000000,neo4j://127.0.0.1:57687,redis://127.0.0.1:56379/0,/work/qz-1m

Writes ``bench/results/pymk_scale-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from neo4j import READ_ACCESS, Query
from neo4j.exceptions import Neo4jError

from api.settings import Settings, get_settings
from bench.pymk_latency import NAIVE, grouped, http_latency, interleaved, md_table
from graph.driver import Graph, connect
from graph.pymk_model import load_model
from graph.suggestions import SuggestionConfig, compute_suggestions

logging.getLogger("neo4j").setLevel(logging.ERROR)

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Stack:
    users: int
    neo4j_uri: str
    redis_url: str
    stack_dir: str

    @property
    def env(self) -> dict[str, str]:
        return {
            "QUANZI_NEO4J_URI": self.neo4j_uri,
            "QUANZI_REDIS_URL": self.redis_url,
            "QUANZI_STACK_DIR": self.stack_dir,
        }

    def settings(self, base: Settings) -> Settings:
        return base.model_copy(
            update={
                "neo4j_uri": self.neo4j_uri,
                "redis_url": self.redis_url,
                "stack_dir": Path(self.stack_dir),
            }
        )


def parse_stack(text: str) -> Stack:
    users, uri, redis_url, stack_dir = text.split(",")
    return Stack(int(users), uri, redis_url, stack_dir)


async def pick_sample(
    graph: Graph, users: int, *, hubs: int, adjacent: int, ordinary: int, seed: int
) -> tuple[dict[str, list[str]], dict[str, str], dict[str, Any]]:
    """Groups of internal ids read from the graph, their platform ids, and the check."""
    rnd = random.Random(seed)
    top = await graph.read(
        "MATCH (u:User) WITH u, COUNT { (u)-[:FRIEND]-() } AS d ORDER BY d DESC LIMIT $n "
        "RETURN u.id AS id, u.platformId AS pid, d",
        n=hubs,
    )
    hub_ids = [r["id"] for r in top.records]
    pids = {r["id"]: r["pid"] for r in top.records}
    near: list[tuple[str, str]] = []
    for hub in hub_ids:
        friends = await graph.read(
            "MATCH (:User {id: $id})-[:FRIEND]-(f:User) RETURN f.id AS id, f.platformId AS pid "
            "LIMIT 2000",
            id=hub,
        )
        near += [(r["id"], r["pid"]) for r in friends.records]
    chosen = rnd.sample(sorted(set(near) - {(h, pids[h]) for h in hub_ids}), adjacent)
    wanted = [f"u{i:07d}" for i in rnd.sample(range(users), ordinary * 2)]
    found = await graph.read(
        "UNWIND $pids AS pid MATCH (u:User {platformId: pid}) RETURN u.id AS id, pid",
        pids=wanted,
    )
    taken = set(hub_ids) | {i for i, _ in chosen}
    plain = [(r["id"], r["pid"]) for r in found.records if r["id"] not in taken][:ordinary]
    if len(plain) < ordinary:
        raise RuntimeError(f"only {len(plain)} of {ordinary} random platform ids are users")
    pids.update(chosen)
    pids.update(plain)
    groups = {
        "hub": hub_ids,
        "hub_adjacent": [i for i, _ in chosen],
        "ordinary": [i for i, _ in plain],
    }
    ids = [u for g in groups.values() for u in g]
    degrees = await graph.read(
        "UNWIND $ids AS id OPTIONAL MATCH (u:User {id: id}) "
        "RETURN id, u IS NOT NULL AS found, COUNT { (u)-[:FRIEND]-() } AS d",
        ids=ids,
    )
    deg = {r["id"]: (r["found"], r["d"]) for r in degrees.records}
    missing = [u for u in ids if not deg.get(u, (False, 0))[0]]
    if missing:
        raise RuntimeError(f"{len(missing)} sampled users are not in the graph")
    hub_deg = sorted((deg[u][1] for u in groups["hub"]), reverse=True)
    median = float(np.median([deg[u][1] for u in groups["ordinary"]]))
    if hub_deg[0] < 10 * max(1.0, median):
        raise RuntimeError(f"the hubs are not hubs: {hub_deg}, ordinary median {median}")
    check = {
        "users_found": len(ids),
        "hub_degrees": hub_deg,
        "ordinary_median_degree": median,
        "hub_adjacent_median_degree": float(np.median([deg[u][1] for u in groups["hub_adjacent"]])),
    }
    print(f"{users}: sample checked {check}", flush=True)
    return groups, pids, check


def _query_tables(
    out: dict[str, Any],
    stacks: list[Stack],
    samples: dict[int, Any],
    t_live: dict[str, list[float]],
    t_naive: dict[str, list[float]],
    timed_out: dict[int, set[str]],
) -> None:
    """Per size: live against naive, by group; then the p50 ratio of the two sizes."""
    for st in stacks:
        groups, _, check = samples[st.users]
        keyed = {g: [f"{st.users}:{u}" for u in ids] for g, ids in groups.items()}
        mine = {k for ids in keyed.values() for k in ids}  # this size's keys only
        lv = grouped({k: v for k, v in t_live.items() if k in mine}, keyed)
        nv = grouped({k: v for k, v in t_naive.items() if k in mine}, keyed)
        out["sizes"][str(st.users)] = {
            "sample_check": check,
            "live": lv,
            "naive": nv,
            "naive_timeouts": len(timed_out[st.users]),
            "naive_is_lower_bound": bool(timed_out[st.users]),
            "p99_ratio_live_over_naive": lv["all"]["p99_ms"] / nv["all"]["p99_ms"],
        }
        print()
        print(md_table(f"{st.users} users: live vs naive FoF", "live", lv, "naive", nv))
        print(
            f"p99 live/naive = {lv['all']['p99_ms'] / nv['all']['p99_ms']:.3f} (target <= 0.25)"
            + (
                f"; naive timed out for {len(timed_out[st.users])} users (lower bound)"
                if timed_out[st.users]
                else ""
            ),
            flush=True,
        )
    small, big = (str(st.users) for st in stacks)
    ratio = (
        out["sizes"][big]["live"]["all"]["p50_ms"] / out["sizes"][small]["live"]["all"]["p50_ms"]
    )
    out["p50_ratio_big_over_small"] = ratio
    print(f"\nlive p50 {big}/{small} = {ratio:.3f} (target <= 1.5)", flush=True)


async def _main(args: argparse.Namespace) -> None:
    base = get_settings()
    stacks = [parse_stack(s) for s in args.stack]
    out: dict[str, Any] = {
        "naive_timeout_s": args.naive_timeout,
        "rounds": args.rounds,
        "warmup_rounds": args.warmup,
        "sizes": {},
    }
    t_all = time.perf_counter()
    config = SuggestionConfig()
    model = load_model(Path(args.model)) if args.model else None
    if model is not None:
        out["model"] = {"path": args.model, "kind": model.kind, "features": list(model.features)}
    async with connect(stacks[0].settings(base)) as g0, connect(stacks[1].settings(base)) as g1:
        graphs = {stacks[0].users: g0, stacks[1].users: g1}
        samples = {}
        for st in stacks:
            samples[st.users] = await pick_sample(
                graphs[st.users],
                st.users,
                hubs=args.hubs,
                adjacent=args.adjacent,
                ordinary=args.ordinary,
                seed=args.seed,
            )
        timed_out: dict[int, set[str]] = {st.users: set() for st in stacks}
        size_of = {
            f"{n}:{u}": n for n, (g, _, _) in samples.items() for ids in g.values() for u in ids
        }
        keys = list(size_of)

        async def live(key: str) -> Any:
            n, uid = size_of[key], key.split(":", 1)[1]
            return await compute_suggestions(graphs[n], uid, limit=10, config=config, model=model)

        async def naive(key: str) -> Any:
            n, uid = size_of[key], key.split(":", 1)[1]
            graph = graphs[n]
            async with graph.driver.session(
                database=graph.database, default_access_mode=READ_ACCESS
            ) as session:
                try:
                    result = await session.run(Query(NAIVE, timeout=args.naive_timeout), id=uid)
                    await result.consume()
                except Neo4jError:  # the transaction timeout: counted as the timeout
                    timed_out[n].add(uid)

        if not args.http_only:
            t0 = time.perf_counter()
            t_live, t_naive = await interleaved(
                keys, live, naive, rounds=args.rounds, warmup=args.warmup, seed=args.seed
            )
            out["query_seconds"] = time.perf_counter() - t0
            _query_tables(out, stacks, samples, t_live, t_naive, timed_out)
    if not args.no_http:
        for st in stacks:
            groups, pids, _ = samples[st.users]
            os.environ.update(st.env)  # the server subprocess reads its stack from these
            t0 = time.perf_counter()
            h = await http_latency(
                st.settings(base),
                groups,
                pids,
                port=args.port,
                rounds=args.rounds,
                warmup=args.warmup,
                seed=args.seed,
            )
            h["seconds"] = time.perf_counter() - t0
            out["sizes"].setdefault(str(st.users), {})["http"] = h
            print()
            print(
                md_table(
                    f"{st.users} users: cached peopleYouMayKnow(first: 10) vs me",
                    "pymk",
                    h["pymk_cached"],
                    "me",
                    h["me"],
                )
            )
            print(f"p99 pymk/me = {h['p99_ratio_pymk_over_me']:.3f} (target <= 2)", flush=True)
    out["seconds"] = time.perf_counter() - t_all
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"pymk_scale-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"\nwrote {path} ({out['seconds']:.0f}s)")


def main() -> None:
    parser = argparse.ArgumentParser(description="PYMK latency at two sizes, interleaved")
    parser.add_argument(
        "--stack",
        action="append",
        required=True,
        help="USERS,NEO4J_URI,REDIS_URL,STACK_DIR (twice: the small size first)",
    )
    parser.add_argument("--hubs", type=int, default=10)
    parser.add_argument("--adjacent", type=int, default=20)
    parser.add_argument("--ordinary", type=int, default=70)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--naive-timeout", type=float, default=5.0, help="seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=28090)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--http-only", action="store_true", help="only the cached HTTP part")
    parser.add_argument(
        "--model", help="a model file (quanzi pymk train): live suggestions rank with it"
    )
    args = parser.parse_args()
    if len(args.stack) != 2:
        parser.error("give --stack twice")
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
