"""Offline quality of "people you may know": hold out friendships, see who gets them back.

For each seed: generate a graph, hold out a share of the friendships at random (seeded),
load only the training friendships plus every side signal into Neo4j, sample users with
at least one held-out friend, and ask each ranker for its top k. Precision@k, recall@k and
MRR against the held-out friends, for the product query (and config variants) beside
networkx baselines on the same training graph (common neighbours, resource allocation,
random friend-of-friend; all restricted to non-friends other than the user).

    python -m bench.pymk_quality --users 20000 --seeds 1 2 --sample 500

Needs the stack named by the ``QUANZI_*`` environment (the database is wiped and
reloaded when its dataset differs). Writes ``bench/results/pymk_quality-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from api.settings import get_settings
from bench.load import Dataset, load, make_dataset
from bench.socialgen import CLOSURE_KEEP_ELSEWHERE, CLOSURE_KEEP_REGION, EPOCH, GenConfig
from graph.driver import Graph, connect
from workers.pymk_train import ranking_metrics

logging.getLogger("neo4j").setLevel(logging.ERROR)

RESULTS = Path(__file__).parent / "results"

# A ranker: (graph, internal user id, k) -> internal ids, best first.
Ranker = Callable[[Graph, str, int], Awaitable[list[str]]]


def configs() -> dict[str, Any]:
    """The default ``SuggestionConfig`` ("product") and its named variants."""
    from graph import suggestions as s

    base = s.SuggestionConfig()
    w = dict(base.weights)

    def weights(**changes: float) -> dict[str, float]:
        return {**w, **changes}

    catalogue: dict[str, Any] = {
        "product": base,
        "mutual_only": replace(
            base, weights={k: (1.0 if k == s.MUTUAL_FRIENDS else 0.0) for k in w}
        ),
        "no_contacts": replace(base, weights=weights(**{s.CONTACT: 0.0})),
        "no_payments": replace(base, weights=weights(**{s.PAYMENT: 0.0})),
        "no_merchants": replace(base, weights=weights(**{s.SHARED_MERCHANT: 0.0})),
        "contacts_x2": replace(base, weights=weights(**{s.CONTACT: 2 * w[s.CONTACT]})),
        "contacts_half": replace(base, weights=weights(**{s.CONTACT: 0.5 * w[s.CONTACT]})),
        "merchants_x4": replace(
            base, weights=weights(**{s.SHARED_MERCHANT: 4 * w[s.SHARED_MERCHANT]})
        ),
        "hubcap_1000": replace(base, hub_degree_cap=1000, max_intermediaries=2000),
        "hubcap_100": replace(base, hub_degree_cap=100),
    }
    return catalogue


def product_rankers(variants: list[str]) -> dict[str, Ranker]:
    """The live product query, with the default config and named variants."""
    from graph import suggestions as s

    catalogue = configs()
    rankers: dict[str, Ranker] = {}
    for name in ["product", *variants]:
        config = catalogue[name]

        async def rank(graph: Graph, user_id: str, k: int, _c: Any = config) -> list[str]:
            got = await s.compute_suggestions(graph, user_id, limit=k, config=_c)
            return [x.user_id for x in got]

        rankers[name] = rank
    return rankers


VARIANTS = (
    "mutual_only",
    "no_contacts",
    "no_payments",
    "no_merchants",
    "contacts_x2",
    "contacts_half",
    "merchants_x4",
    "hubcap_1000",
    "hubcap_100",
)


# --- networkx baselines (on the training graph) -------------------------------------------


def _fof_scores(g: nx.Graph, u: int, weight: Callable[[int], float]) -> dict[int, float]:
    friends = g.adj[u]
    scores: dict[int, float] = {}
    for f in friends:
        wf = weight(f)
        for c in g.adj[f]:
            if c != u and c not in friends:
                scores[c] = scores.get(c, 0.0) + wf
    return scores


def _top(scores: dict[int, float], k: int) -> list[int]:
    return [c for c, _ in sorted(scores.items(), key=lambda x: (-x[1], x[0]))[:k]]


def common_neighbours(g: nx.Graph, u: int, k: int, rnd: random.Random) -> list[int]:
    return _top(_fof_scores(g, u, lambda f: 1.0), k)


def resource_allocation(g: nx.Graph, u: int, k: int, rnd: random.Random) -> list[int]:
    return _top(_fof_scores(g, u, lambda f: 1.0 / g.degree(f)), k)


def adamic_adar(g: nx.Graph, u: int, k: int, rnd: random.Random) -> list[int]:
    return _top(_fof_scores(g, u, lambda f: 1.0 / math.log(1.0 + g.degree(f))), k)


class PersonalisedPageRank:
    """Personalised PageRank by power iteration (restart 0.15, 30 steps) on the graph;
    the best non-friends."""

    def __init__(self, g: nx.Graph, alpha: float = 0.85, steps: int = 30) -> None:
        import scipy.sparse as sp

        n = g.number_of_nodes()
        edges = np.asarray(list(g.edges()), dtype=np.int64).reshape(-1, 2)
        rows = np.concatenate([edges[:, 0], edges[:, 1]])
        cols = np.concatenate([edges[:, 1], edges[:, 0]])
        deg = np.bincount(rows, minlength=n).astype(float)
        inv = np.divide(1.0, deg, out=np.zeros(n), where=deg > 0)
        # column-stochastic transition: x' = M x spreads each node's mass to its friends
        self.m = sp.csr_matrix((inv[rows], (cols, rows)), shape=(n, n))
        self.g, self.alpha, self.steps, self.n = g, alpha, steps, n

    def __call__(self, g: nx.Graph, u: int, k: int, rnd: random.Random) -> list[int]:
        e = np.zeros(self.n)
        e[u] = 1.0
        x = e.copy()
        for _ in range(self.steps):
            x = self.alpha * (self.m @ x) + (1 - self.alpha) * e
        x[u] = -1.0
        for f in g.adj[u]:
            x[f] = -1.0
        top = np.argsort(-x, kind="stable")[:k]
        return [int(c) for c in top if x[c] > 0]


class ClosureOdds:
    """A reference, not a ranker the product could run: the generator's own odds that a
    friend of a friend becomes a friend lately (``socialgen._formation``: a two-step
    random walk from an endpoint drawn by degree gives each pair odds proportional to
    resource allocation, then kept by community and region, which no friendship shows).
    On the temporal hold-out it is about as far as friendships can go."""

    def __init__(self, community: np.ndarray, region: np.ndarray) -> None:
        self.community, self.region = community, region

    def keep(self, u: int, c: int) -> float:
        if self.community[u] == self.community[c]:
            return 1.0
        if self.region[u] == self.region[c]:
            return CLOSURE_KEEP_REGION
        return CLOSURE_KEEP_ELSEWHERE

    def __call__(self, g: nx.Graph, u: int, k: int, rnd: random.Random) -> list[int]:
        ra = _fof_scores(g, u, lambda f: 1.0 / g.degree(f))
        return _top({c: s * self.keep(u, c) for c, s in ra.items()}, k)


def random_fof(g: nx.Graph, u: int, k: int, rnd: random.Random) -> list[int]:
    pool = sorted(_fof_scores(g, u, lambda f: 1.0))
    return rnd.sample(pool, min(k, len(pool)))


BASELINES = {
    "common_neighbours": common_neighbours,
    "adamic_adar": adamic_adar,
    "resource_allocation": resource_allocation,
    "random_fof": random_fof,
}


# --- metrics --------------------------------------------------------------------------------


def labelled(ranked: list[int], truth: set[int], k: int) -> tuple[list[int], int]:
    """A ranker's top ``k`` as hit labels, with the size of the truth: what
    ``ranking_metrics`` (the trainer's, so both report the same measure) takes."""
    return [1 if c in truth else 0 for c in ranked[:k]], len(truth)


def summarize(orders: list[tuple[list[int], int]], k: int) -> dict[str, float]:
    m = ranking_metrics(orders, k)
    return {"precision": m["p_at_10"], "recall": m["r_at_10"], "mrr": m["mrr"]}


async def run_seed(
    graph: Graph,
    ds: Dataset,
    rankers: dict[str, Ranker],
    *,
    sample: int,
    k: int,
    known: np.ndarray | None = None,
    held_out: np.ndarray | None = None,
) -> dict[str, Any]:
    """Every ranker on the same sampled users: baselines on ``known`` (default: the
    training friendships), truth ``held_out`` (default: the random hold-out)."""
    seed = ds.sg.config.seed
    temporal = held_out is not None
    known = ds.train if known is None else known
    held_out = ds.held_out if held_out is None else held_out
    g = nx.Graph()
    g.add_nodes_from(range(ds.sg.n))
    g.add_edges_from(known.tolist())
    held: dict[int, set[int]] = {}
    for a, b in held_out.tolist():
        held.setdefault(a, set()).add(b)
        held.setdefault(b, set()).add(a)
    rnd = random.Random(seed * 31 + 5)
    users = rnd.sample(sorted(held), min(sample, len(held)))
    index = {x: i for i, x in enumerate(ds.ids)}

    out: dict[str, Any] = {"seed": seed, "sampled_users": len(users), "rankers": {}}
    baselines: dict[str, Callable[..., list[int]]] = {
        **BASELINES,
        "personalised_pagerank": PersonalisedPageRank(g),
    }
    if temporal and ds.sg.config.closure_share > 0:  # temporal: recent closures
        baselines["closure_odds_reference"] = ClosureOdds(ds.sg.community, ds.sg.region)
    for name, fn in baselines.items():
        t0 = time.perf_counter()
        r = random.Random(seed)
        rows = [labelled(fn(g, u, k, r), held[u], k) for u in users]
        out["rankers"][name] = {**summarize(rows, k), "seconds": time.perf_counter() - t0}
        print(f"  seed {seed} {name}: {out['rankers'][name]}", flush=True)

    sem = asyncio.Semaphore(2)
    for name, rank in rankers.items():

        async def one(u: int, _rank: Ranker = rank) -> tuple[list[int], int]:
            async with sem:
                got = await _rank(graph, ds.ids[u], k)
            return labelled([index[x] for x in got], held[u], k)

        t0 = time.perf_counter()
        rows = list(await asyncio.gather(*(one(u) for u in users)))
        out["rankers"][name] = {**summarize(rows, k), "seconds": time.perf_counter() - t0}
        print(f"  seed {seed} {name}: {out['rankers'][name]}", flush=True)
    return out


def learned_rankers(
    models: dict[str, Any], as_of: datetime | None, config: Any
) -> dict[str, Ranker]:
    """Today's hand weights and each trained model, on the graph as of ``as_of``, with
    ``config``'s caps."""
    from graph import suggestions as s

    async def hand(graph: Graph, user_id: str, k: int) -> list[str]:
        got = await s.hand_ranked(graph, user_id, config, as_of=as_of)
        return [x.user_id for x in got[:k]]

    out: dict[str, Ranker] = {"hand_weights": hand}
    for name, model in models.items():

        async def rank(graph: Graph, user_id: str, k: int, _m: Any = model) -> list[str]:
            pool = await s.model_pool(graph, user_id, config, _m.features, as_of=as_of)
            got = await s.model_ranked(graph, user_id, pool, _m, config, as_of=as_of)
            return [x.user_id for x in got[:k]]

        out[name] = rank
    return out


async def trained_models(
    graph: Graph,
    *,
    days: float,
    until: datetime | None,
    viewers: int,
    seed: int,
    learners: list[str],
    config: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The models on every feature and on friendships alone, one of each per learner
    (the first learner's are named plainly), trained on the ``days`` before ``until`` (or
    before the newest friendship)."""
    from graph.pymk_examples import collect
    from graph.pymk_features import FEATURES, FRIENDSHIP_FEATURES
    from workers.pymk_train import fit_model

    t0 = time.perf_counter()
    data = await collect(
        graph, days=days, until=until, max_viewers=viewers, seed=seed, config=config
    )
    collected = time.perf_counter() - t0
    print(f"  collected examples of {len(data.viewers)} viewers in {collected:.0f}s", flush=True)
    models, info = {}, {}
    for i, learner in enumerate(learners):
        suffix = "" if i == 0 else f" ({learner})"
        for name, feats in (("model", FEATURES), ("model_friendships_only", FRIENDSHIP_FEATURES)):
            m = fit_model(data, feats, learner=learner, seed=seed)
            models[name + suffix] = m
            info[name + suffix] = {
                "collect_seconds": collected,
                "training": dict(m.training),
                "validation": dict(m.metrics),
            }
            print(f"  trained {name}{suffix}: {m.metrics}", flush=True)
    return models, info


def table(per_seed: list[dict[str, Any]], k: int) -> str:
    names = list(per_seed[0]["rankers"])
    head = (
        f"| ranker | precision@{k} | recall@{k} | MRR | "
        + " | ".join(f"P@{k} seed {r['seed']}" for r in per_seed)
        + " |"
    )
    lines = [head, "|" + "---|" * (4 + len(per_seed))]
    for name in names:
        vals = [r["rankers"][name] for r in per_seed]
        mean = {m: sum(v[m] for v in vals) / len(vals) for m in ("precision", "recall", "mrr")}
        lines.append(
            f"| {name} | {mean['precision']:.4f} | {mean['recall']:.4f} | {mean['mrr']:.4f} | "
            + " | ".join(f"{v['precision']:.4f}" for v in vals)
            + " |"
        )
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> None:
    settings = get_settings()
    per_seed: dict[str, list[dict[str, Any]]] = {"random": [], "temporal": []}
    t_all = time.perf_counter()
    model_config = configs()[args.model_config]
    async with connect(settings) as graph:
        for seed in args.seeds:
            config = GenConfig(users=args.users, seed=seed, closure_share=args.closure)
            for mode in args.modes:
                holdout = args.holdout if mode == "random" else 0.0
                ds = make_dataset(config, holdout)
                print(
                    f"seed {seed} {mode}: {ds.sg.n} users, {len(ds.train)} loaded and "
                    f"{len(ds.held_out)} randomly held-out friendships",
                    flush=True,
                )
                # the direct load writes the generator's formation times (quanzi import
                # stamps every friendship with the time of the import)
                await load(graph, ds, settings, direct=args.direct_load or args.closure > 0)
                if mode == "random":
                    # the model learns from the loaded graph's own recent history
                    models, info = await trained_models(
                        graph,
                        days=args.days,
                        until=None,
                        viewers=args.train_viewers,
                        seed=seed,
                        learners=args.learners,
                        config=model_config,
                    )
                    rankers = {
                        **product_rankers(args.variants),
                        **learned_rankers(models, None, model_config),
                    }
                    result = await run_seed(graph, ds, rankers, sample=args.sample, k=args.k)
                else:
                    # truth: the friendships of the last DAYS; everything else as before them
                    assert ds.train_since is not None
                    recent = ds.train_since < int(args.days * 86400)
                    cutoff = EPOCH - timedelta(days=args.days)
                    models, info = await trained_models(
                        graph,
                        days=args.days,
                        until=cutoff,
                        viewers=args.train_viewers,
                        seed=seed,
                        learners=args.learners,
                        config=model_config,
                    )
                    result = await run_seed(
                        graph,
                        ds,
                        learned_rankers(models, cutoff, model_config),
                        sample=args.sample,
                        k=args.k,
                        known=ds.train[~recent],
                        held_out=ds.train[recent],
                    )
                    result["cutoff"] = cutoff.isoformat()
                result["models"] = info
                per_seed[mode].append(result)
    tables = {mode: table(rows, args.k) for mode, rows in per_seed.items() if rows}
    for mode, md in tables.items():
        print(f"\n{mode} hold-out\n\n{md}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"pymk_quality-{args.users}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(
        json.dumps(
            {
                "users": args.users,
                "holdout": args.holdout,
                "closure_share": args.closure,
                "days": args.days,
                "k": args.k,
                "sample": args.sample,
                "model_config": args.model_config,
                "seeds": per_seed,
                "tables": tables,
                "seconds": time.perf_counter() - t_all,
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nwrote {path} ({time.perf_counter() - t_all:.0f}s)")


def main() -> None:
    parser = argparse.ArgumentParser(description="Offline PYMK quality against held-out ties")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--holdout", type=float, default=0.1)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument(
        "--variants",
        nargs="*",
        default=[],
        choices=VARIANTS,
        help="SuggestionConfig variants to evaluate beside the default",
    )
    parser.add_argument("--all-variants", action="store_true")
    parser.add_argument(
        "--modes", nargs="+", default=["temporal", "random"], choices=["temporal", "random"]
    )
    parser.add_argument(
        "--closure", type=float, default=0.15, help="GenConfig.closure_share (recent growth)"
    )
    parser.add_argument("--days", type=float, default=30.0, help="recent window (labels)")
    parser.add_argument("--train-viewers", type=int, default=1500)
    parser.add_argument(
        "--learners",
        nargs="+",
        default=["boosted_trees", "logistic"],
        choices=["boosted_trees", "logistic"],
        help="a model pair (all features, friendships only) per learner",
    )
    parser.add_argument(
        "--model-config",
        default="product",
        choices=["product", *VARIANTS],
        help="the SuggestionConfig the models (and the hand weights beside them) train and "
        "rank with",
    )
    parser.add_argument("--direct-load", action="store_true", help="load without quanzi import")
    args = parser.parse_args()
    if args.all_variants:
        args.variants = list(VARIANTS)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
