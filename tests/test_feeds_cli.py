"""`quanzi feeds ...`: dead letters and timeline rebuilds, against the real stores."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from click.testing import CliRunner, Result
from redis.asyncio import Redis

from api.cli import main
from graph.driver import Graph
from schema.core import internal_id as post_id_of
from tests.conftest import GQL, Drain
from tests.test_feeds import feed, post
from tests.test_friends import befriend
from workers import keys
from workers.queue import dead_letters, enqueue

pytestmark = pytest.mark.usefixtures("generous_post_limit")


async def cli(*args: str) -> Result:
    """Run the command in a thread: it calls asyncio.run, the test owns this loop."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


async def post_ids(client: GQL, author: dict[str, Any], bodies: list[str]) -> list[str]:
    """Posts made through the API, as the internal ids timelines hold."""
    ids = []
    for body in bodies:
        found = post_id_of(await post(client, author, body), "Post")
        assert found is not None
        ids.append(found)
    return ids


async def internal_id(graph: Graph, user: dict[str, Any]) -> str:
    found = await graph.read(
        "MATCH (u:User {platformId: $pid}) RETURN u.id AS id", pid=user["platformId"]
    )
    user_id: str = found.records[0]["id"]
    return user_id


async def test_dead_letters_are_listed_and_replayed(
    clean: None, graph: Graph, redis: Redis, drain: Drain
) -> None:
    empty = await cli("feeds", "dead-letters")
    assert empty.exit_code == 0 and "no dead letters" in empty.output

    await enqueue(redis, "feed.nonsense", {"post": "p1"})
    await enqueue(redis, "feed.nonsense", {"post": "p2"})
    await enqueue(redis, "feed.fanout", {"wrong": "shape"})  # KeyError on its one delivery
    await drain(max_deliveries=1)
    letters = await dead_letters(redis)
    assert len(letters) == 3

    listed = await cli("feeds", "dead-letters")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].startswith(letters[0].id)
    assert "kind=feed.nonsense" in lines[0] and "error=unknown kind" in lines[0]
    assert "deliveries=1" in lines[0]
    assert "kind=feed.fanout" in lines[2] and "KeyError" in lines[2]
    assert lines[-1] == "3 dead letters shown"
    assert len((await cli("feeds", "dead-letters", "--count", "1")).output.splitlines()) == 2

    jobs_before = await redis.xlen(keys.JOBS_STREAM)
    one = await cli("feeds", "replay", letters[0].id)
    assert one.exit_code == 0, one.output
    assert await redis.xlen(keys.JOBS_STREAM) == jobs_before + 1
    assert [d.id for d in await dead_letters(redis)] == [letters[1].id, letters[2].id]
    newest = (await redis.xrevrange(keys.JOBS_STREAM, count=1) or [])[0][1]
    assert newest == {"kind": "feed.nonsense", "payload": '{"post":"p1"}'}

    again = await cli("feeds", "replay", letters[0].id)
    assert again.exit_code != 0 and "no dead letter" in again.output

    everything = await cli("feeds", "replay", "--all")
    assert everything.exit_code == 0 and "replayed 2" in everything.output
    assert await dead_letters(redis) == []
    assert await redis.xlen(keys.JOBS_STREAM) == jobs_before + 3

    assert (await cli("feeds", "replay")).exit_code == 2  # neither an id nor --all
    assert (await cli("feeds", "replay", "x-1", "--all")).exit_code == 2


async def test_rebuild_one_user_from_neo4j(
    client: GQL, graph: Graph, redis: Redis, drain: Drain
) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    await befriend(client, lin, chen)
    await feed(client, chen)  # active, timeline ready
    ids = await post_ids(client, lin, ["p0", "p1", "p2"])
    await drain(max_deliveries=1)
    chen_id = await internal_id(graph, chen)
    timeline = keys.timeline(chen_id)
    assert await redis.zrange(timeline, 0, -1) == ids
    # The timeline goes wrong: an entry lost, a stray one in
    await redis.zrem(timeline, ids[1])
    await redis.zadd(timeline, {"bogus": 1})

    result = await cli("feeds", "rebuild", "--user", chen["platformId"])
    assert result.exit_code == 0, result.output
    assert "timelines rebuilt: 1" in result.output
    assert await redis.zrange(timeline, 0, -1) == ids
    assert await redis.exists(keys.timeline_ready(chen_id))
    assert await feed(client, chen) == ["p2", "p1", "p0"]

    unknown = await cli("feeds", "rebuild", "--user", "nobody-here")
    assert unknown.exit_code != 0 and "no user with platform id nobody-here" in unknown.output
    assert (await cli("feeds", "rebuild")).exit_code == 2


async def test_rebuild_all_pages_through_users_and_spares_inactive_ones(
    client: GQL, graph: Graph, redis: Redis, drain: Drain
) -> None:
    author = await client.make_user("author")
    readers = [await client.make_user(f"reader{i}") for i in range(5)]
    idle = await client.make_user("idle")
    for reader in [*readers, idle]:
        await befriend(client, author, reader)
    for reader in readers:
        await feed(client, reader)
    ids = await post_ids(client, author, ["p0", "p1"])
    await drain(max_deliveries=1)
    reader_ids = [await internal_id(graph, r) for r in readers]
    idle_id = await internal_id(graph, idle)
    for uid in reader_ids:
        await redis.delete(keys.timeline(uid))  # lost, though marked ready
    # idle once had a timeline, long ago; fan-out no longer keeps it up to date
    await redis.zadd(keys.timeline(idle_id), {"old": 1})
    await redis.set(keys.timeline_ready(idle_id), "1")
    await redis.zadd(keys.FEED_ACTIVE, {idle_id: time.time() - 365 * 86400})
    author_id = await internal_id(graph, author)
    await redis.zadd(keys.FEED_ACTIVE, {author_id: time.time()})

    result = await cli("feeds", "rebuild", "--all", "--page-size", "2")
    assert result.exit_code == 0, result.output
    # active: the readers and the author; the idle user is dropped, not marked active
    assert "timelines rebuilt: 6; dropped (inactive users, rebuilt on their next read): 1" in (
        result.output
    )
    assert "7/7" in result.output  # the progress bar (stderr is mixed into output)
    for uid in [*reader_ids, author_id]:
        assert await redis.zrange(keys.timeline(uid), 0, -1) == ids
    assert not await redis.exists(keys.timeline(idle_id), keys.timeline_ready(idle_id))
    assert (await redis.zscore(keys.FEED_ACTIVE, idle_id) or 0) < time.time() - 300 * 86400
    assert await feed(client, idle) == ["p1", "p0"]  # rebuilt on the read
