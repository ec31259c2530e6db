"""Users' records cached in Redis, so warm reads (the viewer, feed authors) skip Neo4j.

Entries live for a few minutes and are dropped by every write to a user (upsert, profile
edit, suspension: an effect of the write), so a card never outlives a change we made.
While this process may not trust Redis (``Services.derived``) the cards are not read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime

from redis.asyncio import Redis

from graph.users import UserRecord
from workers import keys
from workers.redis import UNAVAILABLE, mget
from workers.services import Services

CARD_SECONDS = 300


def _encode(record: UserRecord) -> str:
    data = asdict(record)
    data["created_at"] = record.created_at.isoformat()
    return json.dumps(data, ensure_ascii=False)


def _decode(raw: str) -> UserRecord:
    data = json.loads(raw)
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    return UserRecord(**data)


async def get_cards(services: Services, user_ids: Sequence[str]) -> dict[str, UserRecord]:
    """Cached users by id; a Redis failure is a cache miss, not an error."""
    if not user_ids or services.derived.stale:
        return {}
    try:
        raw = await mget(services.redis, [keys.user_card(uid) for uid in user_ids])
    except UNAVAILABLE as exc:
        services.derived.mark_stale(f"user cards: {exc!r}")
        return {}
    return decode_cards(user_ids, raw)


def decode_cards(user_ids: Sequence[str], raw: Sequence[object]) -> dict[str, UserRecord]:
    """The cards an MGET of ``user_card`` keys found (in a caller's own pipeline)."""
    return {uid: _decode(str(r)) for uid, r in zip(user_ids, raw, strict=True) if r}


async def card_by_platform_id(services: Services, platform_id: str) -> UserRecord | None:
    """The viewer of a token, in one round trip (the card is stored under both keys)."""
    if services.derived.stale:
        return None
    try:
        raw = await services.redis.get(keys.user_by_platform_id(platform_id))
    except UNAVAILABLE as exc:
        services.derived.mark_stale(f"user cards: {exc!r}")
        return None
    return _decode(str(raw)) if raw is not None else None


async def put_cards(services: Services, records: Iterable[UserRecord]) -> None:
    """Cache users just read from Neo4j; skipped while Redis is failing."""
    records = list(records)
    if not records or services.derived.stale:
        return
    redis = services.redis
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for record in records:
                card = _encode(record)
                pipe.set(keys.user_card(record.id), card, ex=CARD_SECONDS)
                pipe.set(keys.user_by_platform_id(record.platform_id), card, ex=CARD_SECONDS)
            await pipe.execute()
    except UNAVAILABLE as exc:
        services.derived.mark_stale(f"user cards: {exc!r}")


async def forget(redis: Redis, users: Iterable[tuple[str, str]]) -> None:
    """Drop the cards of (user id, platform id) pairs after a write to them."""
    names = [k for uid, pid in users for k in (keys.user_card(uid), keys.user_by_platform_id(pid))]
    if names:
        await redis.delete(*names)
