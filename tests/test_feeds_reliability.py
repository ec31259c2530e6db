"""Feed delivery with real processes: `quanzi worker` killed, Redis stopped or flushed,
live updates through `quanzi serve` over websockets.

Every wait is bounded by a deadline; the processes started here are stopped here.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport
from redis.asyncio import Redis

from api.app import create_app
from api.settings import Settings
from graph.driver import Graph
from graph.posts import new_post_id
from schema.core import internal_id
from tests.conftest import GQL, Processes, free_port, wait_for
from tests.test_feeds import FEED, POST, circle, feed, post
from tests.test_friends import befriend
from workers import fanout, keys, live, ratelimit
from workers.redis import open_redis

BURST = 2000
FRIENDS = 20


@pytest.fixture(autouse=True)
def generous_post_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests post and befriend in bursts; the limits have their own tests."""
    monkeypatch.setitem(ratelimit.POLICIES, "post", ratelimit.Policy(100, 1.0))
    monkeypatch.setitem(ratelimit.POLICIES, "friend_request", ratelimit.Policy(100, 1.0))


class SpareRedis:
    """A redis-server of the test's own on a fixed port, stopped and started at will."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.dir)),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._listening():
            assert self.proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        deadline = time.monotonic() + 10
        while self._listening():
            assert time.monotonic() < deadline, "redis-server did not stop"
            time.sleep(0.05)


@pytest.fixture
def spare(tmp_path: Path) -> Iterator[SpareRedis]:
    server = SpareRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def user_id(graph: Graph, user: dict[str, Any]) -> str:
    found = await graph.read(
        "MATCH (u:User {platformId: $pid}) RETURN u.id AS id", pid=user["platformId"]
    )
    uid: str = found.records[0]["id"]
    return uid


async def pending_posts(graph: Graph) -> int:
    found = await graph.read("MATCH (p:Post) WHERE p.fanout <> 'DONE' RETURN count(p) AS n")
    return int(found.records[0]["n"])


# ---------------------------------------------------------------- a worker dies mid-burst


async def create_burst(graph: Graph, redis: Redis, author_id: str, count: int) -> list[str]:
    """``count`` posts written exactly as graph/posts.py writes them (PENDING, createdAtMs,
    time-ordered ids), in batches, each batch queued after its commit. Distinct
    milliseconds keep the ids from colliding."""
    start_ms = int(time.time() * 1000) - count
    ids: list[str] = []
    for first in range(0, count, 500):
        rows: list[dict[str, Any]] = []
        for i in range(first, min(first + 500, count)):
            post_id, ms = new_post_id(start_ms + i)
            rows.append({"id": post_id, "ms": ms, "body": f"burst {i}"})
        await graph.write(
            """
            MATCH (a:User {id: $author})
            UNWIND $rows AS row
            CREATE (a)-[:POSTED]->(:Post {id: row.id, body: row.body,
                    createdAt: datetime({epochMillis: row.ms}), createdAtMs: row.ms,
                    removed: false, deleted: false, reactionCount: 0, commentCount: 0,
                    fanout: 'PENDING'})
            """,
            author=author_id,
            rows=rows,
        )
        for row in rows:
            await fanout.post_created(redis, row["id"])
        ids.extend(row["id"] for row in rows)
    assert len(set(ids)) == count
    return ids


async def test_worker_killed_mid_burst_delivers_everything_once(
    client: GQL, graph: Graph, redis: Redis, settings: Settings, procs: Processes
) -> None:
    mine = settings.model_copy(update={"timeline_length": 5000})
    author = await client.make_user("author")
    friends = [await client.make_user(f"friend{i}") for i in range(FRIENDS)]
    for friend in friends:
        await befriend(client, author, friend)
        assert await feed(client, friend) == []  # has read once: active
    friend_ids = [await user_id(graph, f) for f in friends]
    author_id = await user_id(graph, author)
    ids = await create_burst(graph, redis, author_id, BURST)
    watched = keys.timeline(friend_ids[-1])

    first = procs.worker(QUANZI_TIMELINE_LENGTH=str(mine.timeline_length))

    async def some_delivered() -> bool:
        assert first.poll() is None, procs.output(first)
        return await redis.zcard(watched) >= BURST // 10

    await wait_for(some_delivered, "the first deliveries", limit=30, every=0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    delivered_before_kill = await redis.zcard(watched)
    assert delivered_before_kill < BURST, "the worker finished before it could be killed"
    assert await pending_posts(graph) > 0

    second = procs.worker(QUANZI_TIMELINE_LENGTH=str(mine.timeline_length))
    timelines = [keys.timeline(uid) for uid in [author_id, *friend_ids]]

    async def all_delivered() -> bool:
        assert second.poll() is None, procs.output(second)
        async with redis.pipeline(transaction=False) as pipe:
            for key in timelines:
                pipe.zcard(key)
            sizes = await pipe.execute()
        return all(n >= BURST for n in sizes) and await pending_posts(graph) == 0

    await wait_for(all_delivered, "every post in every timeline", limit=180, every=0.2)
    for key in timelines:
        entries = await redis.zrange(key, 0, -1)
        assert len(entries) == BURST and entries == ids  # each once, in time order
        assert await redis.zcard(key) == BURST
    found = await graph.read(
        "MATCH (p:Post) RETURN p.fanout AS fanout, count(*) AS n ORDER BY fanout"
    )
    assert [(r["fanout"], r["n"]) for r in found.records] == [("DONE", BURST)]
    assert await redis.xlen(keys.DEAD_LETTER_STREAM) == 0


# ---------------------------------------------------------------- Redis stopped


async def test_posts_made_while_redis_is_down_are_delivered_when_it_is_back(
    client: GQL, graph: Graph, settings: Settings, spare: SpareRedis, procs: Processes
) -> None:
    if settings.redis_cluster:
        pytest.skip("stops a spare one-node Redis; tests/test_scale_out.py fails a cluster over")
    author, friend = await client.make_user("author"), await client.make_user("friend")
    await befriend(client, author, friend)
    author_id, friend_id = await user_id(graph, author), await user_id(graph, friend)
    app = create_app(settings.model_copy(update={"redis_url": spare.url}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            api = GQL(http, settings)
            assert await feed(api, friend) == []  # active (in the Redis about to go)

            spare.stop()
            ids = []
            for i in range(3):
                body = await api(POST, {"input": {"body": f"offline {i}"}}, token=author["token"])
                assert "errors" not in body, body
                payload = body["data"]["createPost"]
                assert payload["userErrors"] == [], payload
                ids.append(internal_id(payload["post"]["id"], "Post"))
            assert await pending_posts(graph) == 3  # committed, not delivered

            spare.start()  # empty: the jobs are gone, only the outbox knows
            fresh = open_redis(settings.model_copy(update={"redis_url": spare.url}))
            try:
                assert await fresh.dbsize() == 0
                # An empty Redis forgot who is active; a persisted one would remember.
                await fresh.zadd(keys.FEED_ACTIVE, {friend_id: time.time()})
                procs.worker(QUANZI_REDIS_URL=spare.url)

                async def delivered() -> bool:
                    return await pending_posts(graph) == 0

                await wait_for(delivered, "the outbox to deliver", limit=30)
                for uid in (author_id, friend_id):
                    assert await fresh.zrange(keys.timeline(uid), 0, -1) == ids
                    assert not await fresh.exists(keys.timeline_ready(uid))  # nobody read yet
            finally:
                await fresh.aclose()
            assert await feed(api, friend) == ["offline 2", "offline 1", "offline 0"]


# ---------------------------------------------------------------- FLUSHALL


async def test_flushall_serves_the_same_first_page_from_a_real_server(
    client: GQL, redis: Redis, graph: Graph, procs: Processes
) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    await befriend(client, lin, chen)
    book = await circle(client, chen)
    await client(
        "mutation($id: ID!) { joinCircle(circleId: $id) { userErrors { code } } }",
        {"id": book},
        token=lin["token"],
    )
    await feed(client, lin)
    procs.worker()
    base = await procs.server()
    for i in range(5):
        await post(client, chen, f"profile {i}")
        await post(client, chen, f"circle {i}", book)

    async def delivered() -> bool:
        return await pending_posts(graph) == 0

    await wait_for(delivered, "the worker to deliver", limit=30)
    assert await redis.zcard(keys.timeline(await user_id(graph, lin))) == 10

    async def first_page() -> dict[str, Any]:
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"http://{base}/graphql",
                json={"query": FEED, "variables": {"first": 6}},
                headers={"authorization": f"Bearer {lin['token']}"},
            )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body

    before = await first_page()
    assert len(before["data"]["homeFeed"]["edges"]) == 6
    assert before["data"]["homeFeed"]["edges"][0]["node"]["body"] == "circle 4"
    await redis.flushall()
    assert await first_page() == before


# ---------------------------------------------------------------- live updates


UPDATES = "subscription { homeFeedUpdates { id body author { handle } } }"


@pytest.mark.parametrize("drop", ["abort", "close"])
async def test_live_update_arrives_and_a_dropped_socket_leaves_nothing(
    client: GQL, redis: Redis, graph: Graph, procs: Processes, drop: str
) -> None:
    """``abort``: the client vanishes (no 'complete', no close frame, a dead TCP
    connection the server has to notice); ``close``: the client closes the transport."""
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    await befriend(client, lin, chen)
    await feed(client, lin)
    lin_id = await user_id(graph, lin)
    channel = keys.live_channel(lin_id)
    procs.worker()
    base = await procs.server()

    async def numsub() -> int:
        return (await live.listener_counts(redis, [channel])).get(channel, 0)

    transport = WebsocketsTransport(
        url=f"ws://{base}/graphql",
        init_payload={"authorization": f"Bearer {lin['token']}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        close_timeout=1,  # gql waits this long for a 'complete' the server never sends
    )
    async with Client(transport=transport) as session:
        updates: AsyncIterator[dict[str, Any]] = session.subscribe(gql(UPDATES))
        first = asyncio.ensure_future(anext(updates))

        async def listening() -> bool:
            return await numsub() == 1

        try:
            await wait_for(listening, "the subscription to open", limit=10, every=0.05)
            post_id = await post(client, chen, "实时")
            got = await asyncio.wait_for(first, timeout=20)
        finally:
            first.cancel()
        assert got["homeFeedUpdates"] == {
            "id": post_id,
            "body": "实时",
            "author": {"handle": "chen"},
        }
        if drop == "abort":
            websocket = transport.adapter.websocket
            assert websocket is not None
            websocket.transport.abort()

    async def nothing_left() -> bool:
        return await numsub() == 0

    await wait_for(nothing_left, "the server to drop the subscription", limit=5, every=0.05)
