"""Cross-posting: the same text posted by one author into many circles in a short while.

Each author and (normalised) text has a sorted set of circle ids scored by time
(``keys.crosspost``); old entries are trimmed and the key expires with the window. The
3rd and later circles within the window are held for review (``actions/posts.py``).
"""

from __future__ import annotations

import hashlib
import time

from redis.asyncio import Redis

from graph.automod import normalise
from workers import keys

WINDOW_SECONDS = 600
HOLD_AT = 3  # the 3rd distinct circle within the window is held

# KEYS[1] the author's set for one text; ARGV now, window, circle id.
_COUNT_LUA = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('EXPIRE', KEYS[1], window)
return redis.call('ZCARD', KEYS[1])
"""


def text_digest(body: str) -> str:
    return hashlib.sha256(normalise(body).encode()).hexdigest()[:32]


async def count(redis: Redis, author_id: str, circle_id: str, body: str) -> int:
    """Record this post and return in how many circles the author posted the same text
    within the window, this one included."""
    found = await redis.eval(
        _COUNT_LUA,
        1,
        keys.crosspost(author_id, text_digest(body)),
        time.time(),
        WINDOW_SECONDS,
        circle_id,
    )
    return int(found)
