"""Users' records cached in Redis, so warm reads (the viewer, feed authors) skip Neo4j.

Entries live for a few minutes and are dropped by every write to a user (upsert, profile
edit, suspension), so a stale card is short-lived and never outlives a change we made.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from graph.users import UserRecord
from workers import keys

CARD_SECONDS = 300


def _encode(record: UserRecord) -> str:
    data = asdict(record)
    data["created_at"] = record.created_at.isoformat()
    return json.dumps(data, ensure_ascii=False)


def _decode(raw: str) -> UserRecord:
    data = json.loads(raw)
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    return UserRecord(**data)


async def get_cards(redis: Redis, user_ids: Sequence[str]) -> dict[str, UserRecord]:
    """Cached users by id; a Redis failure is a cache miss, not an error."""
    if not user_ids:
        return {}
    try:
        raw = await redis.mget([keys.user_card(uid) for uid in user_ids])
    except (RedisError, OSError):
        return {}
    return {uid: _decode(str(r)) for uid, r in zip(user_ids, raw, strict=True) if r}


async def card_by_platform_id(redis: Redis, platform_id: str) -> UserRecord | None:
    """The viewer of a token, in one round trip (the card is stored under both keys)."""
    try:
        raw = await redis.get(keys.user_by_platform_id(platform_id))
    except (RedisError, OSError):
        return None
    return _decode(str(raw)) if raw is not None else None


async def put_cards(redis: Redis, records: Iterable[UserRecord]) -> None:
    records = list(records)
    if not records:
        return
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for record in records:
                card = _encode(record)
                pipe.set(keys.user_card(record.id), card, ex=CARD_SECONDS)
                pipe.set(keys.user_by_platform_id(record.platform_id), card, ex=CARD_SECONDS)
            await pipe.execute()
    except (RedisError, OSError):
        return


async def forget(redis: Redis, record: UserRecord) -> None:
    """Drop a user's card after a write; raises if Redis is down (callers decide)."""
    await redis.delete(keys.user_card(record.id), keys.user_by_platform_id(record.platform_id))
