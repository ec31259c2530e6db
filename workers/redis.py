"""The one way this project opens a Redis client (API process and workers alike)."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from api.settings import Settings

# What a call to an unreachable or failing Redis raises.
UNAVAILABLE: tuple[type[Exception], ...] = (RedisError, OSError)

# Time allowed to establish a TCP connection before giving up.
CONNECT_TIMEOUT_SECONDS = 5.0
# Extra room on top of the longest BLOCK we issue, so that a blocking XREADGROUP is never
# cut short by the client's own socket timeout (redis-py 8 defaults to 5 s).
BLOCK_HEADROOM_SECONDS = 10.0
# Floor for the socket timeout of ordinary commands.
MIN_SOCKET_TIMEOUT_SECONDS = 15.0
# Idle connections are PINGed before use after this many seconds.
HEALTH_CHECK_INTERVAL_SECONDS = 30


def socket_timeout_for(settings: Settings) -> float:
    """A read timeout comfortably longer than the worker's XREADGROUP BLOCK."""
    return max(
        MIN_SOCKET_TIMEOUT_SECONDS,
        settings.worker_block_ms / 1000.0 + BLOCK_HEADROOM_SECONDS,
    )


def open_redis(settings: Settings) -> aioredis.Redis:
    """Open an async client over a bounded, blocking connection pool.

    ``BlockingConnectionPool`` waits (up to ``redis_pool_timeout_seconds``) for a free
    connection instead of raising "Too many connections" under load. A command that finds
    its pooled connection closed (Redis restarted) is sent once more on a new one. Responses
    are decoded to ``str``. The client owns its pool: close it with ``await client.aclose()``.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
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
