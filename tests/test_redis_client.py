"""The project's Redis client (``workers.redis.open_redis``) against a real server: its
commands are packed by hiredis, and what they carry arrives unchanged."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import DataError

from api.settings import get_settings
from workers.redis import HiredisPackingConnection, is_cluster, open_redis


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = open_redis(get_settings())
    await client.ping()
    yield client
    await client.aclose()


async def test_values_of_every_kind_arrive_unchanged(redis: aioredis.Redis) -> None:
    key = f"test:{{pack-{uuid.uuid4().hex[:8]}}}"
    values = {
        "小明": "你好 world",
        "int": 12345678901234567890,
        "float": 0.1,
        "bytes": b"\xe4\xbd\xa0",
    }
    try:
        await redis.hset(key, mapping=values)
        got = await redis.hgetall(key)
        assert got == {
            "小明": "你好 world",
            "int": "12345678901234567890",
            "float": "0.1",
            "bytes": "你",
        }
        await redis.zadd(key + ":z", {"a": 1.5, "b": 1e20})
        assert await redis.zrange(key + ":z", 0, -1, withscores=True) == [("a", 1.5), ("b", 1e20)]
    finally:
        await redis.delete(key, key + ":z")


async def test_a_command_name_of_two_words_is_sent_as_two_arguments(
    redis: aioredis.Redis,
) -> None:
    if is_cluster(redis):
        node = redis.get_default_node()  # type: ignore[attr-defined]
        reply = await redis.execute_command("CONFIG GET", "maxmemory", target_nodes=node)
    else:
        reply = await redis.execute_command("CONFIG GET", "maxmemory")
    assert "maxmemory" in reply


async def test_a_value_redis_cannot_hold_is_refused_by_redis_py(redis: aioredis.Redis) -> None:
    with pytest.raises(DataError):
        await redis.set("test:pack:bool", True)  # type: ignore[arg-type]
    assert await redis.exists("test:pack:bool") == 0


async def test_every_connection_packs_with_hiredis(redis: aioredis.Redis) -> None:
    await redis.set("test:{pack}:probe", "1")
    if is_cluster(redis):
        nodes = redis.get_nodes()  # type: ignore[attr-defined]
        assert nodes and all(n.connection_class is HiredisPackingConnection for n in nodes)
    else:
        assert redis.connection_pool.connection_class is HiredisPackingConnection
    await redis.delete("test:{pack}:probe")
