"""Fan-out throughput: timeline inserts per second, one and two real ``quanzi worker``
processes, as a ratio of ``redis-benchmark`` pipelined ZADD on the same Redis, same run.

An author with ``--friends`` active friends (all of them read their feed lately) writes
``--posts`` profile posts (committed as ``create_post`` commits them, ``fanout = PENDING``);
their jobs are queued at once and the clock runs until Neo4j holds no PENDING post. Every
post goes to ``friends + 1`` timelines (the author's own too). Timelines are emptied and
fresh posts written before each run. Goal: inserts/s >= 0.5 x redis-benchmark ZADD -P 64.

Then, in-process, where one fan-out spends its time (``--profile-posts`` posts, one at a
time): the Neo4j audience pages, the ZMSCORE activity filter, the pipelined insert+trim
scripts, the live-notice HMGET, and the rest (post load and cache, mark delivered).

    python -m bench.feeds_fanout --friends 2000 --posts 40
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from api.settings import Settings, get_settings
from bench.common import (
    befriend_all,
    make_posts,
    make_users,
    mark_active,
    open_stack,
    reset,
    running,
    start_worker,
    wait_consumers,
    write_result,
)
from graph.driver import Graph
from graph.posts import PostRecord
from workers import fanout, keys, timelines
from workers.services import Services


def redis_benchmark(
    settings: Settings, *command: str, n: int = 200_000, pipeline: int = 64
) -> float:
    """requests/s of one redis-benchmark command against the stack's Redis."""
    argv = [
        "redis-benchmark",
        "-h", "127.0.0.1",
        "-p", str(settings.redis_port),
        "-n", str(n),
        "-P", str(pipeline),
        "-r", "1000000",
        "-q",
        *command,
    ]  # fmt: skip
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    # "-q" prints e.g. "zadd bench:z __rand_int__ __rand_int__: 512820.50 requests per second, ..."
    found = re.findall(r"([\d.]+) requests per second", out.replace("\r", "\n"))
    if not found:
        raise RuntimeError(f"unexpected redis-benchmark output: {out!r}")
    return float(found[-1])


async def _pending(graph: Graph) -> int:
    r = await graph.read("MATCH (p:Post {fanout: 'PENDING'}) RETURN count(p) AS n")
    return int(r.records[0]["n"])


def job_copy(author: str, pid: str, ms: int) -> PostRecord:
    """What ``create_post`` hands to the queue with the post (the worker reads no Neo4j)."""
    return PostRecord(
        id=pid,
        author_id=author,
        circle_id=None,
        circle_visibility=None,
        body="bench post",
        created_at_ms=ms,
        created_at=datetime.fromtimestamp(ms / 1000, UTC),
        reaction_count=0,
        comment_count=0,
        removed=False,
        deleted=False,
    )


async def _delivered_everywhere(redis: Any, audience: list[str], made: list[str]) -> bool:
    """Every post is in the first and the last audience member's timeline (fan-out walks
    the audience in order, so the last one is reached last)."""
    async with redis.pipeline(transaction=False) as pipe:
        for uid in (audience[0], audience[-1]):
            pipe.zmscore(keys.timeline(uid), made)
        rows = await pipe.execute()
    return all(score is not None for row in rows for score in row)


async def _clear_timelines(redis: Any, user_ids: list[str]) -> None:
    for start in range(0, len(user_ids), 2000):
        await redis.delete(*(keys.timeline(u) for u in user_ids[start : start + 2000]))


async def run_workers(
    graph: Graph,
    redis: Any,
    author: str,
    audience: list[str],
    posts: int,
    workers: int,
    batch: int | None,
) -> dict[str, Any]:
    env = {"QUANZI_WORKER_BATCH_SIZE": str(batch)} if batch else {}
    procs = [start_worker(f"bench-fanout-{workers}-{batch}-{i}", **env) for i in range(workers)]
    with running(*procs):
        await wait_consumers(redis, workers)
        # Warm up: each worker process delivers a few posts first (connections, query
        # plans, the script cache), then timelines are emptied for the measured posts.
        warm = await make_posts(graph, author, 2 * workers, fanout="PENDING")
        for pid, ms in warm:
            await fanout.post_created(redis, pid, job_copy(author, pid, ms))
        while not await _delivered_everywhere(redis, audience, [p for p, _ in warm]):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await _clear_timelines(redis, audience)
        made = await make_posts(graph, author, posts, fanout="PENDING")
        await asyncio.sleep(1.0)  # let them settle into their blocking read
        t0 = time.perf_counter()
        for pid, ms in made:
            await fanout.post_created(redis, pid, job_copy(author, pid, ms))
        ids = [p for p, _ in made]
        # Progress over the run: how many posts the last timeline fan-out reaches holds.
        progress: list[tuple[float, int]] = []
        last = keys.timeline(audience[-1])
        while not await _delivered_everywhere(redis, audience, ids):
            progress.append((time.perf_counter() - t0, int(await redis.zcard(last))))
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - t0
        progress.append((elapsed, posts))
    async with redis.pipeline(transaction=False) as pipe:
        for uid in audience:
            pipe.zcard(keys.timeline(uid))
        cards = await pipe.execute()
    inserts = posts * len(audience)
    assert all(c == min(posts, 800) for c in cards), sorted(set(cards))
    return {
        "workers": workers,
        "by_quarter_inserts_per_second": _by_quarter(progress, posts, len(audience)),
        "worker_batch_size": batch or get_settings().worker_batch_size,
        "posts": posts,
        "timelines_per_post": len(audience),
        "inserts": inserts,
        "seconds": elapsed,
        "inserts_per_second": inserts / elapsed,
        "posts_per_second": posts / elapsed,
    }


def _by_quarter(progress: list[tuple[float, int]], posts: int, per_post: int) -> list[float]:
    """Inserts/s over each quarter of the run's posts (from the progress samples)."""
    rates = []
    start_t, start_n = 0.0, 0
    for q in (1, 2, 3, 4):
        goal = posts * q // 4
        t, n = next((t, n) for t, n in progress if n >= goal)
        rates.append((n - start_n) * per_post / max(t - start_t, 1e-9))
        start_t, start_n = t, n
    return rates


async def profile(
    graph: Graph, redis: Any, settings: Settings, author: str, audience: list[str], posts: int
) -> dict[str, Any]:
    """Time spent per stage of ``fan_out``, in this process, one post after another."""
    from graph import feeds as graph_feeds

    await _clear_timelines(redis, audience)
    made = await make_posts(graph, author, posts, fanout="PENDING")
    spent: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)

    def timed(name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t0
                calls[name] += 1

        return wrapper

    patched: list[tuple[Any, str, str]] = [
        (fanout, "_audience", "audience (Redis; Neo4j on a miss)"),
        (graph_feeds, "mark_delivered", "neo4j mark_delivered"),
        (timelines, "insert", "redis insert+trim pipeline"),
        (fanout, "_announce", "redis live notices (PUBLISH)"),
        (timelines, "cache_posts", "redis post cache SET"),
    ]
    originals = [getattr(owner, attr) for owner, attr, _ in patched]
    try:
        for (owner, attr, label), original in zip(patched, originals, strict=True):
            setattr(owner, attr, timed(label, original))
        t0 = time.perf_counter()
        delivered = 0
        services = Services(settings, graph, redis)
        for pid, ms in made:
            copy = job_copy(author, pid, ms).to_dict()
            delivered += await fanout.fan_out(services, pid, copy)
        await fanout.flush_delivered(graph)
        total = time.perf_counter() - t0
    finally:
        for (owner, attr, _), original in zip(patched, originals, strict=True):
            setattr(owner, attr, original)
    stages = {
        name: {
            "seconds": s,
            "share": s / total,
            "calls": calls[name],
            "ms_per_post": 1000 * s / posts,
        }
        for name, s in sorted(spent.items(), key=lambda kv: -kv[1])
    }
    rest = total - sum(spent.values())
    stages["other (python, job-free loop)"] = {
        "seconds": rest, "share": rest / total, "calls": 0, "ms_per_post": 1000 * rest / posts
    }  # fmt: skip
    return {
        "posts": posts,
        "inserts": delivered,
        "seconds": total,
        "inserts_per_second": delivered / total,
        "stages": stages,
    }


async def insert_only(
    redis: Any, settings: Settings, audience: list[str], rounds: int
) -> dict[str, Any]:
    """The insert+trim pipeline alone (``timelines.insert``), Python client included, vs the
    same commands as plain pipelined ZADDs: what the client costs per insert."""
    from graph.posts import new_post_id

    targets = [keys.timeline(u) for u in audience]
    await _clear_timelines(redis, audience)
    t0 = time.perf_counter()
    for _ in range(rounds):
        pid, ms = new_post_id()
        post = job_copy("a", pid, ms)
        await timelines.insert(redis, settings, targets, post)
    lua = time.perf_counter() - t0
    await _clear_timelines(redis, audience)
    t0 = time.perf_counter()
    for _ in range(rounds):
        pid, ms = new_post_id()
        async with redis.pipeline(transaction=False) as pipe:
            for key in targets:
                pipe.zadd(key, {pid: ms})
            await pipe.execute()
    zadd = time.perf_counter() - t0
    # Diagnostic only (not cluster-safe: the keys of a page live in many slots): one
    # script call inserts and trims a whole page of 1,000 timelines.
    multi = redis.register_script(_MULTI_INSERT_LUA)
    await _clear_timelines(redis, audience)
    t0 = time.perf_counter()
    for _ in range(rounds):
        pid, ms = new_post_id()
        for start in range(0, len(targets), 1000):
            await multi(
                keys=targets[start : start + 1000], args=[ms, pid, settings.timeline_length]
            )
    multi_s = time.perf_counter() - t0
    await _clear_timelines(redis, audience)
    n = rounds * len(targets)
    return {
        "inserts": n,
        "feeds_insert_per_second": n / lua,
        "plain_zadd_pipeline_per_second": n / zadd,
        "multi_key_script_per_second": n / multi_s,
    }


_MULTI_INSERT_LUA = """
local length = tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[1], ARGV[2])
  local extra = redis.call('ZCARD', key) - length
  if extra > 0 then redis.call('ZREMRANGEBYRANK', key, 0, extra - 1) end
end
return #KEYS
"""


async def _main(args: argparse.Namespace) -> None:
    settings = get_settings()
    out: dict[str, Any] = {"friends": args.friends, "posts": args.posts}
    async with open_stack(settings) as (graph, redis):
        await reset(graph, redis)
        users = await make_users(graph, args.friends + 1, "fo")
        author = users[0]["id"]
        friends = [u["id"] for u in users[1:]]
        await befriend_all(graph, [(author, f) for f in friends])
        audience = [author, *friends]
        await mark_active(redis, audience)

        zadd_before = redis_benchmark(settings, "zadd", "bench:z", "__rand_int__", "__rand_int__")
        runs = []
        for spec in args.workers:
            workers, _, batch = spec.partition(":")
            r = await run_workers(
                graph,
                redis,
                author,
                audience,
                args.posts,
                int(workers),
                int(batch) if batch else None,
            )
            runs.append(r)
            print(
                f"{spec} worker(s): {r['inserts']} inserts in {r['seconds']:.2f}s = "
                f"{r['inserts_per_second']:.0f}/s",
                flush=True,
            )
        zadd_after = redis_benchmark(settings, "zadd", "bench:z", "__rand_int__", "__rand_int__")
        await redis.delete("bench:z")
        sha = await redis.script_load(timelines._INSERT_LUA)
        evalsha = redis_benchmark(
            settings, "evalsha", sha, "1", "bench:tl:__rand_int__", "__rand_int__",
            "__rand_int__", "800", n=100_000,
        )  # fmt: skip
        await redis.delete(*[k async for k in redis.scan_iter("bench:tl:*", count=5000)] or ["-"])
        zadd = (zadd_before + zadd_after) / 2
        out["redis_benchmark"] = {
            "zadd_P64_before": zadd_before,
            "zadd_P64_after": zadd_after,
            "zadd_P64_mean": zadd,
            "evalsha_insert_script_P64": evalsha,
        }
        for r in runs:
            r["ratio_to_zadd"] = r["inserts_per_second"] / zadd
        out["runs"] = runs
        out["insert_only"] = await insert_only(redis, settings, audience, args.insert_rounds)
        if args.profile_posts > 0:
            out["profile"] = await profile(
                graph, redis, settings, author, audience, args.profile_posts
            )

    print(f"\n**Fan-out** (author with {args.friends} active friends, {args.posts} posts)\n")
    print("| | inserts/s | ratio to ZADD -P 64 |")
    print("|---|---|---|")
    print(f"| redis-benchmark ZADD -P 64 (mean of before/after) | {zadd:,.0f} | 1 |")
    io = out["insert_only"]
    rows = [
        ("redis-benchmark EVALSHA insert+trim script -P 64", evalsha),
        ("`timelines.insert` alone (Python pipeline, 1 process)", io["feeds_insert_per_second"]),
        ("plain `pipe.zadd` pipeline (Python, 1 process)", io["plain_zadd_pipeline_per_second"]),
        (
            "one script per 1,000 timelines (diagnostic, not cluster-safe)",
            io["multi_key_script_per_second"],
        ),
    ]
    for label, rate in rows:
        print(f"| {label} | {rate:,.0f} | {rate / zadd:.3f} |")
    for r in runs:
        label = f"{r['workers']} `quanzi worker`, job batch {r['worker_batch_size']}"
        rate = r["inserts_per_second"]
        print(f"| **{label}** | {rate:,.0f} | **{r['ratio_to_zadd']:.3f}** |")
    for r in runs:
        quarters = ", ".join(f"{q / zadd:.2f}" for q in r["by_quarter_inserts_per_second"])
        print(f"\n{r['workers']} worker(s), ratio to ZADD by quarter of the posts: {quarters}")
    print("\ngoal: >= 0.5\n")
    if "profile" in out:
        p = out["profile"]
        rate = p["inserts_per_second"]
        print(
            f"**Where one fan-out spends its time** (in-process, {p['posts']} posts, "
            f"{rate:,.0f} inserts/s)\n"
        )
        print("| stage | ms per post | share |")
        print("|---|---|---|")
        for name, s in p["stages"].items():
            print(f"| {name} | {s['ms_per_post']:.1f} | {100 * s['share']:.0f}% |")
    print(f"\nwrote {write_result('feeds_fanout', out)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Fan-out throughput vs redis-benchmark ZADD")
    parser.add_argument("--friends", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=60)
    parser.add_argument(
        "--workers",
        nargs="+",
        default=["1", "2", "2:1"],
        help="runs as WORKERS[:JOB_BATCH_SIZE] (default batch: QUANZI_WORKER_BATCH_SIZE)",
    )
    parser.add_argument("--insert-rounds", type=int, default=10)
    parser.add_argument("--profile-posts", type=int, default=10)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
