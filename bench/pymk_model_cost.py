"""What the learned ranker costs on the live path, against the hand weights.

On one loaded stack (the ``QUANZI_*`` environment, e.g. after ``quanzi bulk-import``),
a sample read from the graph itself (``bench.pymk_scale.pick_sample``: its best connected
users, some of their friends, random users) is timed user by user, interleaved, with
``compute_suggestions(limit=10)`` by the hand weights and by ``--model FILE``'s ranker
(the model's pool of candidates, its feature reads, its scores). The weights do not
change the reads, so any model over the same features costs the same.

    python -m bench.pymk_model_cost --users 100000 --model pymk.json --rounds 2

Writes ``bench/results/pymk_model_cost-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from api.settings import get_settings
from bench.common import stats_ms, write_result
from bench.pymk_scale import pick_sample
from graph.driver import connect
from graph.pymk_model import load_model
from graph.suggestions import SuggestionConfig, compute_suggestions


async def _main(args: argparse.Namespace) -> None:
    model = load_model(Path(args.model))
    config = SuggestionConfig()
    times: dict[str, dict[str, list[float]]] = {}
    async with connect(get_settings()) as graph:
        groups, _, check = await pick_sample(
            graph, args.users, hubs=args.hubs, adjacent=args.adjacent,
            ordinary=args.ordinary, seed=args.seed,
        )  # fmt: skip
        for r in range(args.warmup + args.rounds):
            for group, ids in groups.items():
                for uid in ids:
                    for name, ranker in (("hand", None), ("model", model)):
                        t0 = time.perf_counter()
                        await compute_suggestions(graph, uid, limit=10, config=config, model=ranker)
                        if r >= args.warmup:
                            seconds = time.perf_counter() - t0
                            times.setdefault(name, {}).setdefault(group, []).append(seconds)
                            times[name].setdefault("all", []).append(seconds)
    out: dict[str, Any] = {
        "users": args.users,
        "model": {"path": args.model, "kind": model.kind, "features": list(model.features)},
        "sample_check": check,
        "rounds": args.rounds,
        "hand": {g: stats_ms(v) for g, v in times["hand"].items()},
        "model_ranked": {g: stats_ms(v) for g, v in times["model"].items()},
    }
    print(f"\n**Live suggestions, hand weights vs {model.kind} model, {args.users} users**\n")
    print("| group | n | hand p50 / p99 ms | model p50 / p99 ms | model / hand p50 |")
    print("|---|---|---|---|---|")
    for g, h in out["hand"].items():
        m = out["model_ranked"][g]
        print(
            f"| {g} | {h['n']} | {h['p50_ms']:.1f} / {h['p99_ms']:.1f} | "
            f"{m['p50_ms']:.1f} / {m['p99_ms']:.1f} | {m['p50_ms'] / h['p50_ms']:.2f} |"
        )
    print(f"\nwrote {write_result('pymk_model_cost', out)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="live cost of the learned PYMK ranker")
    parser.add_argument("--users", type=int, required=True, help="the loaded graph's size")
    parser.add_argument("--model", required=True, help="a model file (quanzi pymk train)")
    parser.add_argument("--hubs", type=int, default=10)
    parser.add_argument("--adjacent", type=int, default=20)
    parser.add_argument("--ordinary", type=int, default=70)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
