"""A bounded soak through real processes: hostile clients open and drop sockets in every
state, flood subscriptions and send costly queries, while ordinary users keep reading and
posting. Every ordinary request must succeed, and nothing may be left behind.

(Latency under attack against latency alone is measured in ``python -m bench.soak``:
timing belongs in benchmarks, not in assertions on a shared machine.)
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from bench.soak import run
from tests.conftest import GQL, Processes, wait_for
from tests.test_friends import befriend

pytestmark = pytest.mark.usefixtures("generous_post_limit")
SECONDS = 24


async def test_hostile_clients_do_not_starve_ordinary_ones(
    client: GQL, redis: Redis, procs: Processes
) -> None:
    procs.worker()
    base = await procs.server()
    users = [await client.make_user(f"reader{i}") for i in range(6)]
    for a, b in itertools.pairwise(users):
        await befriend(client, a, b)
    hostile = await client.make_user("hostile")
    baseline = len(await redis.client_list(_type="pubsub"))

    alone, attacked = await run(base, [u["token"] for u in users], hostile["token"], SECONDS)
    assert alone.latencies and attacked.latencies
    assert alone.failures == [] and attacked.failures == [], attacked.failures[:5]
    assert attacked.hostile_actions > 20 and attacked.refused_costly > 0
    async with httpx.AsyncClient() as http:
        ready = await http.get(f"http://{base}/readyz")
    assert ready.status_code == 200, ready.text

    async def nothing_left() -> bool:
        channels: list[Any] = await redis.pubsub_channels("qz:{u:*}:live")
        return channels == []

    try:
        await wait_for(nothing_left, "the dropped sockets to be let go", limit=20, every=0.2)
    except AssertionError:
        left = await redis.pubsub_channels("qz:{u:*}:live")
        raise AssertionError(f"left behind: {left}") from None
    # hundreds of sockets came and went; the server's pub/sub connection is still its one
    assert len(await redis.client_list(_type="pubsub")) <= baseline + 1
    # and clients hanging up mid-stream is not a server error: no traceback in its log
    server = next(p for p in procs.running if "serve" in str(p.args))
    log = procs.output(server, limit=None)
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
