"""Per-operation Neo4j costs for the capacity model (docs/capacity.md): round trips and
database hits (``PROFILE``) of a live suggestion, a home-feed page read from Neo4j (the
path when Redis cannot be trusted; a warm page costs none: tests/test_feed_roundtrips.py)
and a post's creation (the action, its transaction's statements included).

Every statement the real functions send goes through a wrapper that prefixes ``PROFILE``
and adds up the plan's ``dbHits``; the functions themselves are unchanged. Runs against
whatever the stack holds (``python -m bench.loadtest`` or ``bench.discover_circles`` seed
it); ``--sample`` users with friends are drawn from it.

    python -m bench.capacity --sample 20
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any, LiteralString, cast

from neo4j import EagerResult

from api.settings import get_settings
from bench.common import open_stack, write_result
from graph import feeds as graph_feeds
from graph.driver import Graph
from graph.suggestions import compute_suggestions


def _hits(plan: Any) -> int:
    if not plan:
        return 0
    return int(plan.get("dbHits", 0)) + sum(_hits(c) for c in plan.get("children", []))


@dataclass
class Tally:
    round_trips: int = 0
    db_hits: int = 0
    seconds: float = 0.0  # wall time of the whole operation (PROFILE adds to it)


class ProfiledGraph(Graph):
    """A Graph whose reads and writes are profiled and counted."""

    def __init__(self, graph: Graph) -> None:
        super().__init__(graph.driver, graph.database)
        self.tally = Tally()

    async def _profiled(self, call: Any, query: LiteralString, params: dict[str, Any]) -> Any:
        result: EagerResult = await call(cast(LiteralString, "PROFILE " + query), **params)
        self.tally.round_trips += 1
        self.tally.db_hits += _hits(result.summary.profile)
        return result

    async def read(self, query: LiteralString, **params: Any) -> EagerResult:
        result: EagerResult = await self._profiled(super().read, query, params)
        return result

    async def write(self, query: LiteralString, **params: Any) -> EagerResult:
        result: EagerResult = await self._profiled(super().write, query, params)
        return result


class _ProfiledTx:
    """A managed transaction whose statements are profiled (``run`` then the result's
    summary once the caller has read it)."""

    def __init__(self, tx: Any, tally: Tally) -> None:
        self._tx = tx
        self._tally = tally

    async def run(self, query: str, parameters: Any = None, **kwargs: Any) -> Any:
        self._tally.round_trips += 1
        return _ProfiledResult(
            await self._tx.run("PROFILE " + query, parameters, **kwargs), self._tally
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


class _ProfiledResult:
    def __init__(self, result: Any, tally: Tally) -> None:
        self._result = result
        self._tally = tally

    async def _count(self) -> None:
        summary = await self._result.consume()
        self._tally.db_hits += _hits(summary.profile)

    async def single(self, strict: bool = False) -> Any:
        record = await self._result.single(strict=strict)
        await self._count()
        return record

    async def data(self, *keys: Any) -> Any:
        rows = await self._result.data(*keys)
        await self._count()
        return rows

    async def consume(self) -> Any:
        summary = await self._result.consume()
        self._tally.db_hits += _hits(summary.profile)
        return summary

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)


async def _sample_users(graph: Graph, n: int, seed: int) -> list[dict[str, str]]:
    result = await graph.read(
        """
        MATCH (u:User) WHERE COUNT { (u)-[:FRIEND]-() } > 0
        RETURN u.id AS id, u.platformId AS platformId LIMIT 5000
        """
    )
    rows = [dict(r) for r in result.records]
    random.Random(seed).shuffle(rows)
    return rows[:n]


def _summary(tallies: list[Tally]) -> dict[str, float]:
    return {
        "n": len(tallies),
        "round_trips_mean": statistics.fmean(t.round_trips for t in tallies),
        "db_hits_median": statistics.median(t.db_hits for t in tallies),
        "db_hits_mean": statistics.fmean(t.db_hits for t in tallies),
        "db_hits_max": max(t.db_hits for t in tallies),
        "ms_median": 1000 * statistics.median(t.seconds for t in tallies),
    }


async def _main(args: argparse.Namespace) -> None:
    from actions import effects
    from actions import posts as post_actions
    from graph.users import user_by_platform_id
    from workers.services import Services

    settings = get_settings()
    out: dict[str, Any] = {}
    async with open_stack(settings) as (graph, redis):
        users = await _sample_users(graph, args.sample, args.seed)
        if not users:
            raise SystemExit("the stack holds no users with friends: seed it first")
        suggestion, feed, post = [], [], []
        for u in users:
            g = ProfiledGraph(graph)
            t0 = time.perf_counter()
            await compute_suggestions(g, u["id"], limit=10)
            g.tally.seconds = time.perf_counter() - t0
            suggestion.append(g.tally)
            g = ProfiledGraph(graph)
            t0 = time.perf_counter()
            await graph_feeds.home_page(g, u["id"], first=21, after=None)
            g.tally.seconds = time.perf_counter() - t0
            feed.append(g.tally)
        # A post through the action itself; its transaction's statements are profiled too.
        original = effects.write_transaction
        for u in users[: args.posts]:
            g = ProfiledGraph(graph)
            services = Services(settings, g, redis)

            async def profiled_tx(
                graph_: Graph, work: Any, *, id_attempts: int = 1, _g: ProfiledGraph = g
            ) -> Any:
                async def wrapped(tx: Any) -> Any:
                    return await work(_ProfiledTx(tx, _g.tally))

                return await original(graph_, wrapped, id_attempts=id_attempts)

            author = await user_by_platform_id(graph, u["platformId"])
            assert author is not None
            effects.write_transaction = profiled_tx  # type: ignore[assignment]
            t0 = time.perf_counter()
            try:
                await post_actions.create_post(services, author, None, "容量 capacity post")
            finally:
                effects.write_transaction = original
            g.tally.seconds = time.perf_counter() - t0
            post.append(g.tally)
    out = {
        "suggestion (compute_suggestions, limit 10)": _summary(suggestion),
        "homeFeed page from Neo4j (graph.feeds.home_page, 21 rows)": _summary(feed),
        "createPost (actions.posts.create_post)": _summary(post),
    }
    print("| operation | Neo4j round trips | db hits (median) | db hits (max) | ms (median) |")
    print("|---|---|---|---|---|")
    for name, s in out.items():
        print(
            f"| {name} | {s['round_trips_mean']:.1f} | {s['db_hits_median']:,.0f} | "
            f"{s['db_hits_max']:,.0f} | {s['ms_median']:.1f} |"
        )
    print(f"wrote {write_result('capacity', out)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Neo4j round trips and db hits per operation")
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--posts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=3)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
