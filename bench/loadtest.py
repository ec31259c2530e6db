"""The load test: locust, headless, against real API processes on loopback.

Seeds the stack named by the ``QUANZI_*`` environment with the circle-discovery world
(``bench.discover_circles``: users, friendships, circles with members, merchants;
skipped when it is there already) and mints a token per user locally. Then, for each
configuration, the API (uvicorn with 1 or 2 worker processes on one port), an unmeasured
warm-up (locust runs of ``--warmup`` seconds until two in a row agree on throughput: the
first minutes of a freshly started Neo4j are far slower, the rows after it, a fresh
Redis's included, were not) and a bounded measured run (``--run-time`` caps its seconds,
``--iterations`` its requests: the locust file stops the run when they are spent).
Prints a table per configuration (requests, req/s, p50/p99 ms, failures per operation)
and writes it to ``--out`` (Markdown) and ``bench/results/`` (JSON).

The configurations are rows of ``CONFIGS``: a label, how many API processes, and which
Redis they use: the one of the environment (``QUANZI_REDIS_URL``, one server), or the
Redis Cluster ``--cluster-redis-url`` names (``QUANZI_REDIS_CLUSTER=true``; ``make load``
starts a local one for the load stack). Both share the environment's Neo4j. Each Redis a
run uses is emptied before it, then told that every seeded user read their feed lately
(fan-out skips the others): the rows of either Redis start from no derived state, and
neither serves caches that writes through the other left stale. Each Redis has its own
``quanzi worker`` (the fan-out of a post goes through the job stream of the Redis its API
process wrote it to), running while that Redis's rows run.

    python -m bench.loadtest --users 3000 --locust-users 50 --run-time 60 --port 38002 \
        --cluster-redis-url redis://127.0.0.1:38020/0
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.auth import mint_token
from api.settings import Settings, get_settings
from bench.common import (
    child_env,
    mark_active,
    open_stack,
    running,
    start_worker,
    stop,
    wait_http,
    wait_trusted,
    write_result,
)
from bench.discover_circles import TAG, load_world, loaded_count, make_world
from workers.redis import open_redis

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
OPERATIONS = [
    "homeFeed",
    "peopleYouMayKnow",
    "circle",
    "discoverCircles",
    "createPost",
    "reactToPost",
    "joinCircle",
    "sendFriendRequest",
]


@dataclass(frozen=True)
class Config:
    label: str
    api_processes: int
    cluster: bool = False  # on the Redis Cluster (--cluster-redis-url), not one Redis


CONFIGS = [
    Config("1 API process, one Redis", 1),
    Config("2 API processes, one Redis", 2),
    Config("1 API process, Redis Cluster", 1, cluster=True),
    Config("2 API processes, Redis Cluster", 2, cluster=True),
]


def redis_env(config: Config, cluster_url: str | None) -> dict[str, str]:
    """What the API processes and the worker of a configuration run with, on top of the
    environment: nothing for one Redis, the cluster's node and the cluster switch."""
    if not config.cluster:
        return {}
    if cluster_url is None:
        raise ValueError(f"{config.label!r} needs --cluster-redis-url")
    return {"QUANZI_REDIS_CLUSTER": "true", "QUANZI_REDIS_URL": cluster_url}


def settings_with(env: dict[str, str]) -> Settings:
    """The settings of a process started with ``env`` on top of this one's environment."""
    return Settings(**{name.removeprefix("QUANZI_").lower(): value for name, value in env.items()})


async def seed(
    users: int, circles: int, seed_value: int, redises: list[dict[str, str]]
) -> dict[str, Any]:
    """The world in the stack (loaded once), each Redis of ``redises`` (as ``redis_env``
    gives them) emptied and told everyone is active, and a token for every user."""
    settings = get_settings()
    world = make_world(circles, users, seed_value)
    async with open_stack(settings) as (graph, _redis):
        found = await graph.read(
            "MATCH (u:User) WHERE u.bench = $tag RETURN count(u) AS n", tag=TAG
        )
        if await loaded_count(graph) != circles or found.records[0]["n"] != users:
            await load_world(graph, world)
    for env in redises:
        redis = open_redis(settings_with(env))
        try:
            await redis.flushdb()
            # Everyone read their feed lately, so posts fan out to them.
            await mark_active(redis, [u["id"] for u in world["users"]])
        finally:
            await redis.aclose()
    return {
        "users": [
            {"id": u["id"], "token": mint_token(settings, u["platformId"], ttl_seconds=6 * 3600)}
            for u in world["users"]
        ],
        "circles": [c["id"] for c in world["circles"]],
    }


def start_api(port: int, processes: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(processes),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    return subprocess.Popen(argv, env=child_env(**env))


def run_locust(
    host: str, world_file: Path, prefix: Path, args: argparse.Namespace, run_time: int
) -> dict[str, dict[str, float]]:
    """One bounded headless run; per operation (and ``Aggregated``) what locust measured."""
    argv = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--host", host, "--users", str(args.locust_users),
        "--spawn-rate", str(args.spawn_rate), "--run-time", f"{run_time}s",
        "--csv", str(prefix), "--only-summary",
        "--loglevel", "WARNING", "--stop-timeout", "5",
    ]  # fmt: skip
    subprocess.run(
        argv,
        env=child_env(
            QUANZI_LOAD_USERS=str(world_file), QUANZI_LOAD_MAX_REQUESTS=str(args.iterations)
        ),
        check=False,
        timeout=run_time + 120,
    )
    rows: dict[str, dict[str, float]] = {}
    with open(f"{prefix}_stats.csv", newline="") as f:
        for row in csv.DictReader(f):
            if int(row["Request Count"]) == 0:
                continue  # locust writes N/A percentiles for a name nothing completed
            rows[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "rps": float(row["Requests/s"]),
                "p50_ms": float(row["50%"]),
                "p99_ms": float(row["99%"]),
            }
    return rows


# Before each configuration's measured run: unmeasured runs of --warmup seconds until two
# in a row agree on throughput within WARMUP_TOLERANCE, at most WARMUP_MAX_RUNS. (For its
# first minutes a freshly started Neo4j answered the mix at ~1 req/s, ~30 s per request;
# a fixed 20 s warm-up did not cover that.)
WARMUP_TOLERANCE = 0.25
WARMUP_MAX_RUNS = 8


def warm_up(host: str, world_file: Path, prefix: Path, args: argparse.Namespace) -> list[float]:
    """The warm-up runs' req/s, until they are steady (see ``WARMUP_TOLERANCE``)."""
    rates: list[float] = []
    while len(rates) < WARMUP_MAX_RUNS:
        rows = run_locust(host, world_file, Path(f"{prefix}-{len(rates)}"), args, args.warmup)
        rates.append(rows["Aggregated"]["rps"] if "Aggregated" in rows else 0.0)
        steady = len(rates) >= 2 and abs(rates[-1] - rates[-2]) <= WARMUP_TOLERANCE * rates[-1]
        if steady and rates[-1] > 0:
            break
    return rates


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """One row per operation, a group of columns per configuration."""
    labels = list(results)
    head = "| operation | " + " | ".join(
        f"{label}: req/s | p50 ms | p99 ms | errors" for label in labels
    )
    lines = [head + " |", "|---|" + "---|---|---|---|" * len(labels)]
    for name in [*OPERATIONS, "Aggregated"]:
        cells = []
        for label in labels:
            r = results[label].get(name)
            cells.append(
                f"{r['rps']:.1f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['failures']}"
                if r
                else "- | - | - | -"
            )
        title = "**all**" if name == "Aggregated" else f"`{name}`"
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    configs = [CONFIGS[n - 1] for n in args.configs]
    envs = [redis_env(config, args.cluster_redis_url) for config in configs]
    redises = [env for i, env in enumerate(envs) if env not in envs[:i]]
    t0 = time.perf_counter()
    world = await seed(args.users, args.circles, args.seed, redises)
    print(f"seeded in {time.perf_counter() - t0:.0f}s", flush=True)
    results: dict[str, dict[str, dict[str, float]]] = {}
    warmups: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="qz-load-") as tmp:
        world_file = Path(tmp) / "world.json"
        await asyncio.to_thread(world_file.write_text, json.dumps(world))
        worker: subprocess.Popen[bytes] | None = None
        worker_env: dict[str, str] | None = None
        try:
            for n, config, env in zip(args.configs, configs, envs, strict=True):
                if env != worker_env:  # this Redis's own worker
                    if worker is not None:
                        stop(worker)
                    worker, worker_env = start_worker("load-worker", **env), env
                api = start_api(args.port, config.api_processes, env)
                with running(api):
                    host = f"http://127.0.0.1:{args.port}"
                    await wait_http(host)
                    await wait_trusted(host)
                    await asyncio.sleep(2.0)  # every uvicorn worker process up
                    if args.warmup:
                        rates = await asyncio.to_thread(
                            warm_up, host, world_file, Path(tmp) / f"warm{n}", args
                        )
                        warmups[config.label] = rates
                        print(f"{config.label}: warm-up req/s {rates}", flush=True)
                    prefix = Path(tmp) / f"run{n}"
                    results[config.label] = await asyncio.to_thread(
                        run_locust, host, world_file, prefix, args, args.run_time
                    )
                print(f"{config.label}: done", flush=True)
        finally:
            if worker is not None:
                stop(worker)
    text = (
        f"**Load test** ({args.users} seeded users, {args.circles} circles, "
        f"{args.locust_users} locust users, at most {args.run_time}s or "
        f"{args.iterations} requests per configuration, each after unmeasured runs of "
        f"{args.warmup}s until two in a row agreed on req/s within "
        f"{WARMUP_TOLERANCE:.0%})\n\n{table(results)}\n"
    )
    print("\n" + text)
    if args.out:
        await asyncio.to_thread(Path(args.out).write_text, text)
        print(f"wrote {args.out}")
    out = {"args": vars(args), "results": results, "warmup_rps": warmups}
    print(f"wrote {write_result('loadtest', out)}")
    return out


def _rows(text: str) -> list[int]:
    rows = [int(part) for part in text.split(",")]
    if not rows or any(not 1 <= n <= len(CONFIGS) for n in rows):
        raise argparse.ArgumentTypeError(f"rows are numbered 1 to {len(CONFIGS)}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description="locust load test: 1 and 2 API processes, on one Redis and on a cluster"
    )
    parser.add_argument("--users", type=int, default=3000, help="seeded users")
    parser.add_argument("--circles", type=int, default=300)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--locust-users", type=int, default=50, help="concurrent simulated users")
    parser.add_argument("--spawn-rate", type=float, default=25)
    parser.add_argument("--run-time", type=int, default=60, help="seconds per configuration")
    parser.add_argument(
        "--warmup",
        type=int,
        default=15,
        help="seconds of each unmeasured run before a configuration (0: none)",
    )
    parser.add_argument(
        "--iterations", type=int, default=20000, help="requests per configuration, at most"
    )
    parser.add_argument(
        "--configs",
        type=_rows,
        default=list(range(1, len(CONFIGS) + 1)),
        help="the rows of CONFIGS to run, numbered from 1: 1,2 runs only the one-Redis rows",
    )
    parser.add_argument(
        "--cluster-redis-url",
        help="a node of the Redis Cluster the cluster rows use (redis://127.0.0.1:38020/0)",
    )
    parser.add_argument("--port", type=int, default=38002)
    parser.add_argument("--out", default="bench/results/load.md")
    args = parser.parse_args()
    if args.cluster_redis_url is None and any(CONFIGS[n - 1].cluster for n in args.configs):
        parser.error("the Redis Cluster rows need --cluster-redis-url (or --configs 1,2)")
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
