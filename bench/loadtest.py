"""The load test: locust, headless, against real API processes on loopback.

Seeds the stack named by the ``QUANZI_*`` environment with the circle-discovery world
(``bench.discover_circles``: users, friendships, circles with members, merchants; skipped
when it is there already), mints a token per user locally, starts one ``quanzi worker``
and then, for each configuration, the API (uvicorn with 1 or 2 worker processes on one
port) and a bounded locust run (``--run-time`` caps its seconds, ``--iterations`` its
requests: the locust file stops the run when they are spent). Prints a
table per configuration (requests, req/s, p50/p99 ms, failures per operation) and writes
it to ``--out`` (Markdown) and ``bench/results/`` (JSON).

The configurations are rows of ``CONFIGS``: a label, how many API processes, and the
environment they run with. A Redis Cluster column is one more row there once processes
can talk to a cluster (``QUANZI_REDIS_CLUSTER``; not on this branch).

    python -m bench.loadtest --users 3000 --locust-users 50 --run-time 60 --port 38002
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.auth import mint_token
from api.settings import get_settings
from bench.common import (
    child_env,
    mark_active,
    open_stack,
    running,
    start_worker,
    wait_http,
    wait_trusted,
    write_result,
)
from bench.discover_circles import TAG, load_world, loaded_count, make_world

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
    env: dict[str, str] = field(default_factory=dict)


CONFIGS = [
    Config("1 API process, one Redis", 1),
    Config("2 API processes, one Redis", 2),
]


async def seed(users: int, circles: int, seed_value: int) -> dict[str, Any]:
    """The world in the stack (loaded once), and a token for every user."""
    settings = get_settings()
    world = make_world(circles, users, seed_value)
    async with open_stack(settings) as (graph, redis):
        found = await graph.read(
            "MATCH (u:User) WHERE u.bench = $tag RETURN count(u) AS n", tag=TAG
        )
        if await loaded_count(graph) != circles or found.records[0]["n"] != users:
            await load_world(graph, world)
        # Everyone read their feed lately, so posts fan out to them.
        await mark_active(redis, [u["id"] for u in world["users"]])
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
    host: str, world_file: Path, prefix: Path, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """One bounded headless run; per operation (and ``Aggregated``) what locust measured."""
    argv = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--host", host, "--users", str(args.locust_users),
        "--spawn-rate", str(args.spawn_rate), "--run-time", f"{args.run_time}s",
        "--csv", str(prefix), "--only-summary",
        "--loglevel", "WARNING", "--stop-timeout", "5",
    ]  # fmt: skip
    subprocess.run(
        argv,
        env=child_env(QUANZI_LOAD_USERS=str(world_file)),
        check=False,
        timeout=args.run_time + 120,
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
    t0 = time.perf_counter()
    world = await seed(args.users, args.circles, args.seed)
    print(f"seeded in {time.perf_counter() - t0:.0f}s", flush=True)
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="qz-load-") as tmp:
        world_file = Path(tmp) / "world.json"
        await asyncio.to_thread(world_file.write_text, json.dumps(world))
        worker = start_worker("load-worker")
        with running(worker):
            for config in CONFIGS[: args.configs]:
                api = start_api(args.port, config.api_processes, config.env)
                with running(api):
                    host = f"http://127.0.0.1:{args.port}"
                    await wait_http(host)
                    await wait_trusted(host)
                    await asyncio.sleep(2.0)  # every uvicorn worker process up
                    prefix = Path(tmp) / f"run{config.api_processes}"
                    results[config.label] = await asyncio.to_thread(
                        run_locust, host, world_file, prefix, args
                    )
                print(f"{config.label}: done", flush=True)
    text = (
        f"**Load test** ({args.users} seeded users, {args.circles} circles, "
        f"{args.locust_users} locust users, at most {args.run_time}s or "
        f"{args.iterations} requests per configuration)\n\n{table(results)}\n"
    )
    print("\n" + text)
    if args.out:
        await asyncio.to_thread(Path(args.out).write_text, text)
        print(f"wrote {args.out}")
    out = {"args": vars(args), "results": results}
    print(f"wrote {write_result('loadtest', out)}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="locust load test, 1 and 2 API processes")
    parser.add_argument("--users", type=int, default=3000, help="seeded users")
    parser.add_argument("--circles", type=int, default=300)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--locust-users", type=int, default=50, help="concurrent simulated users")
    parser.add_argument("--spawn-rate", type=float, default=25)
    parser.add_argument("--run-time", type=int, default=60, help="seconds per configuration")
    parser.add_argument(
        "--iterations", type=int, default=20000, help="requests per configuration, at most"
    )
    parser.add_argument("--configs", type=int, default=len(CONFIGS), help="run the first N")
    parser.add_argument("--port", type=int, default=38002)
    parser.add_argument("--out", default="bench/results/load.md")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
