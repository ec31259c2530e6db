"""The one way this project opens a Redis client (API process and workers alike).

With ``QUANZI_REDIS_CLUSTER`` the client is redis-py's asyncio ``RedisCluster`` (the URL
names any node; the others are discovered). It offers the same commands as ``Redis``, so
the rest of the project holds it as a ``Redis``; the few operations whose cluster form
differs go through the helpers here (``mget``, ``publish``, ``listeners``), and every key
the project uses is slot-safe (``workers/keys.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError

from api.settings import Settings

# What a call to an unreachable or failing Redis raises.
# (A cluster without a node for a key's slot raises RedisClusterException, which is not a
# RedisError.)
UNAVAILABLE: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError)

# Time allowed to establish a TCP connection before giving up.
CONNECT_TIMEOUT_SECONDS = 5.0
# Extra room on top of the longest BLOCK we issue, so that a blocking XREADGROUP is never
# cut short by the client's own socket timeout (redis-py 8 defaults to 5 s).
BLOCK_HEADROOM_SECONDS = 10.0
# Floor for the socket timeout of ordinary commands.
MIN_SOCKET_TIMEOUT_SECONDS = 15.0
# Idle connections are PINGed before use after this many seconds.
HEALTH_CHECK_INTERVAL_SECONDS = 30
# A cluster command that meets a dead node, a moved slot or CLUSTERDOWN is retried on a
# refreshed topology with this backoff: about 10 s in all, longer than a failover of the
# local cluster (node timeout 2 s, then the replica's election).
CLUSTER_RETRIES = 12
CLUSTER_BACKOFF_CAP_SECONDS = 1.0
CLUSTER_BACKOFF_BASE_SECONDS = 0.05


class HiredisPackingConnection(aioredis.Connection):
    """redis-py's asyncio connection packs every command in Python (its sync one uses
    hiredis): a fan-out to 2,000 timelines spent about half its time there. An argument
    hiredis does not take (a bool, None) goes the Python way, which raises redis-py's
    own DataError for it."""

    def pack_command(self, *args: Any) -> list[bytes]:
        name = args[0]
        if isinstance(name, str) and " " in name:  # "CONFIG GET": separate arguments
            args = (*name.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:
            packed: list[bytes] = super().pack_command(*args)
            return packed


def socket_timeout_for(settings: Settings) -> float:
    """A read timeout comfortably longer than the worker's XREADGROUP BLOCK."""
    return max(
        MIN_SOCKET_TIMEOUT_SECONDS,
        settings.worker_block_ms / 1000.0 + BLOCK_HEADROOM_SECONDS,
    )


def open_redis(settings: Settings) -> aioredis.Redis:
    """The process's client: one server, or the cluster (see the module docstring). Close
    it with ``await client.aclose()``."""
    if settings.redis_cluster:
        # Same command methods; what differs goes through this module's helpers.
        return cast(aioredis.Redis, _open_cluster(settings))
    return _open_single(settings)


def _open_single(settings: Settings) -> aioredis.Redis:
    """Open an async client over a bounded, blocking connection pool.

    ``BlockingConnectionPool`` waits (up to ``redis_pool_timeout_seconds``) for a free
    connection instead of raising "Too many connections" under load. A command that finds
    its pooled connection closed (Redis restarted) is sent once more on a new one. Responses
    are decoded to ``str``. The client owns its pool: close it with ``await client.aclose()``.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        connection_class=HiredisPackingConnection,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout_seconds,
        decode_responses=True,
        socket_timeout=socket_timeout_for(settings),
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_keepalive=True,
        health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
    )
    client: aioredis.Redis = aioredis.Redis.from_pool(pool)
    return client


def _open_cluster(settings: Settings) -> RedisCluster:
    client = RedisCluster.from_url(
        settings.redis_url,
        # Per node; a cluster client raises instead of waiting when they are all busy.
        max_connections=settings.redis_max_connections,
        decode_responses=True,
        socket_timeout=socket_timeout_for(settings),
        socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        socket_keepalive=True,
        health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
        # Only the failed master's slots stop answering while its replica takes over.
        require_full_coverage=False,
        retry=Retry(
            ExponentialBackoff(cap=CLUSTER_BACKOFF_CAP_SECONDS, base=CLUSTER_BACKOFF_BASE_SECONDS),
            CLUSTER_RETRIES,
        ),
    )
    # RedisCluster takes no connection class: the nodes it discovers are made from these
    # keyword arguments, the startup node already exists.
    client.nodes_manager.connection_kwargs["connection_class"] = HiredisPackingConnection
    for node in client.nodes_manager.startup_nodes.values():
        node.connection_class = HiredisPackingConnection
    return client


def is_cluster(redis: Any) -> bool:
    return isinstance(redis, RedisCluster)


async def cluster_of(redis: aioredis.Redis) -> RedisCluster:
    """The cluster client with its slot map loaded (redis-py loads it on the first
    command; asking which node holds a slot before that finds none)."""
    return await cast(RedisCluster, redis).initialize()


async def mget(redis: aioredis.Redis, names: Sequence[str]) -> list[Any]:
    """GET of many keys in one call: MGET on one server; on a cluster the keys are grouped
    by slot (one MGET per slot, the nodes asked at once)."""
    if not names:
        return []
    if is_cluster(redis):
        return await cast(RedisCluster, redis).mget_nonatomic(list(names))
    return await redis.mget(list(names))


def pipe_publish(pipe: Any, redis: aioredis.Redis, channel: str, message: str) -> None:
    """Queue a message on a live channel in a pipeline: PUBLISH on one server, SPUBLISH
    (sharded pub/sub: the channel lives on its slot's shard) on a cluster."""
    if is_cluster(redis):
        pipe.spublish(channel, message)
    else:
        pipe.publish(channel, message)
