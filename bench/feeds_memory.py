"""Redis memory per home-timeline entry.

Fills ``--timelines`` sorted sets of ``--entries`` members each, in the real format (13-char
ids from ``graph.posts.new_post_id()``, millisecond scores, the ``keys.timeline`` key
names), then reports ``MEMORY USAGE key SAMPLES 0`` / entries averaged over the keys, and
the growth of ``used_memory`` per entry (which includes the key's dict entry and name).
Run twice in one go: with the stack's own config (listpack up to 1024 entries) and, for
comparison, as a skiplist (``CONFIG SET zset-max-listpack-entries 128``; the original value
is restored afterwards). Goal: <= 100 bytes an entry.

The price of the compact encoding is paid by fan-out: a listpack is scanned on every
insert, so the Redis time of one insert (``timelines.insert``, as fan-out calls it, Redis's
own ``INFO commandstats`` time) grows with the timeline's length, where a skiplist's stays
flat. ``--insert-at`` names the lengths at which it is measured, in both encodings.

    python -m bench.feeds_memory --timelines 2000 --entries 800 --insert-at 0 100 400 799

Uses (and deletes) only its own keys under a ``bench`` user-id prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

from api.settings import Settings, get_settings
from bench.common import write_result
from bench.feeds_fanout import job_copy
from graph.posts import new_post_id
from workers import keys, timelines
from workers.redis import open_redis

INSERT_KEYS = 500
INSERT_ROUNDS = 20


def _timeline_members(entries: int, rnd: random.Random) -> dict[str, int]:
    """Posts of the last 30 days, as a real timeline would hold them."""
    now = int(time.time() * 1000)
    out: dict[str, int] = {}
    while len(out) < entries:
        pid, ms = new_post_id(now - rnd.randrange(30 * 86400 * 1000))
        out[pid] = ms
    return out


async def _fill(redis: Any, names: list[str], entries: int, rnd: random.Random) -> None:
    for start in range(0, len(names), 50):
        async with redis.pipeline(transaction=False) as pipe:
            for key in names[start : start + 50]:
                pipe.zadd(key, _timeline_members(entries, rnd))
            await pipe.execute()


async def _fill_and_measure(
    redis: Any, names: list[str], entries: int, seed: int
) -> dict[str, Any]:
    await redis.delete(*names)
    before = int((await redis.info("memory"))["used_memory"])
    await _fill(redis, names, entries, random.Random(seed))
    after = int((await redis.info("memory"))["used_memory"])
    async with redis.pipeline(transaction=False) as pipe:
        for key in names:
            pipe.memory_usage(key, samples=0)
        usage = await pipe.execute()
    async with redis.pipeline(transaction=False) as pipe:
        for key in names[:20]:
            pipe.object("encoding", key)
            pipe.zcard(key)
        sample = await pipe.execute()
    encodings = sorted({str(e) for e in sample[0::2]})
    cards = set(sample[1::2])
    assert cards == {entries}, cards
    total = sum(int(u) for u in usage)
    await redis.delete(*names)
    return {
        "encoding": encodings,
        "keys": len(names),
        "entries_per_key": entries,
        "memory_usage_bytes_per_key": total / len(names),
        "bytes_per_entry_memory_usage": total / (len(names) * entries),
        "bytes_per_entry_used_memory_delta": (after - before) / (len(names) * entries),
    }


async def _insert_cost(
    redis: Any, settings: Settings, names: list[str], fill: int, seed: int
) -> float:
    """Microseconds of Redis time per timeline insert into timelines of ``fill`` entries
    (each round adds a newer post to every timeline, trimming at ``timeline_length``)."""
    await redis.delete(*names)
    if fill:
        await _fill(redis, names, fill, random.Random(seed))
    now = int(time.time() * 1000)
    await redis.config_resetstat()
    for r in range(INSERT_ROUNDS):
        pid, ms = new_post_id(now + r + 1)
        await timelines.insert(redis, settings, names, job_copy("benchmem", pid, ms))
    stats = await redis.info("commandstats")
    usec = sum(int(stats.get(f"cmdstat_{c}", {}).get("usec", 0)) for c in ("evalsha", "eval"))
    await redis.delete(*names)
    return usec / (INSERT_ROUNDS * len(names))


async def _main(args: argparse.Namespace) -> None:
    settings = get_settings()
    redis = open_redis(settings)
    names = [keys.timeline(f"benchmem{i:06d}") for i in range(args.timelines)]
    config = await redis.config_get("zset-max-listpack-entries")
    original = str(config["zset-max-listpack-entries"])
    out: dict[str, Any] = {"original_zset_max_listpack_entries": int(original)}
    try:
        out["stack_config"] = await _fill_and_measure(redis, names, args.entries, args.seed)
        out["stack_config"]["zset_max_listpack_entries"] = int(original)
        await redis.config_set("zset-max-listpack-entries", "128")
        out["skiplist"] = await _fill_and_measure(redis, names, args.entries, args.seed)
        out["skiplist"]["zset_max_listpack_entries"] = 128
        out["insert_usec"] = {}
        for name, limit in (("skiplist", "128"), ("stack_config", original)):
            await redis.config_set("zset-max-listpack-entries", limit)
            out["insert_usec"][name] = {
                fill: await _insert_cost(redis, settings, names[:INSERT_KEYS], fill, args.seed)
                for fill in args.insert_at
            }
    finally:
        await redis.config_set("zset-max-listpack-entries", original)
        await redis.delete(*names)
        await redis.aclose()
    print(
        f"\n**Timeline memory** ({args.timelines} timelines x {args.entries} entries, "
        "13-char post ids, ms scores)\n"
    )
    print("| config | encoding | MEMORY USAGE B/entry | used_memory delta B/entry |")
    print("|---|---|---|---|")
    for name, label in (
        ("stack_config", f"stack (listpack <= {original})"),
        ("skiplist", "listpack <= 128"),
    ):
        r = out[name]
        print(
            f"| {label} | {','.join(r['encoding'])} | {r['bytes_per_entry_memory_usage']:.1f} "
            f"| {r['bytes_per_entry_used_memory_delta']:.1f} |"
        )
    print("\ngoal: <= 100 B/entry with the stack's config")
    print(
        f"\n**Redis time per timeline insert** (µs, `timelines.insert` into {INSERT_KEYS} "
        f"timelines x {INSERT_ROUNDS} posts, INFO commandstats)\n"
    )
    print("| entries already in the timeline | " + " | ".join(map(str, args.insert_at)) + " |")
    print("|---" * (len(args.insert_at) + 1) + "|")
    for name, label in (("stack_config", f"listpack <= {original}"), ("skiplist", "skiplist")):
        row = out["insert_usec"][name]
        print(f"| {label} | " + " | ".join(f"{row[f]:.1f}" for f in args.insert_at) + " |")
    print(f"wrote {write_result('feeds_memory', out)}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Redis memory per timeline entry")
    parser.add_argument("--timelines", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=800)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--insert-at", type=int, nargs="+", default=[0, 100, 400, 799])
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
