"""One rule for Redis failure, in one place.

Neo4j is the source of truth; Redis holds derived state. So while Redis is unreachable:

- every write Neo4j can commit commits and answers success;
- rate limits (and the cross-posting count) fail open: ``rate_limit`` and
  ``unless_unavailable`` let the write through, count it in
  ``quanzi_redis_unavailable_total{what}`` and log it;
- a write's effects on Redis (caches to drop or refresh, jobs to queue, live pushes) are
  never lost: ``commit`` records them as an ``Effect`` in the write's own transaction
  (``graph/outbox.py``), runs them once it committed and then forgets them. When Redis
  fails them they stay, marked stalled, and the process stops trusting Redis's caches
  (``Services.derived``): reads that would serve a feed view, a cached post or a user
  card ask Neo4j instead, so nothing a committed write hid shows, before or after Redis
  comes back;
- ``drain`` runs whatever stalled (or was left unsettled by a process that died between
  its commit and its effects); ``watch`` does so every ``effects_poll_seconds`` in each
  API process and worker, which also makes a process that saw no failure itself stop
  trusting Redis as soon as another one recorded a stalled effect. A process trusts
  Redis again once Redis answers and no stalled effect is left.

Effects are idempotent (dropping a cache twice is dropping it once), so running one
again is always safe.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from neo4j import AsyncManagedTransaction
from neo4j.exceptions import DriverError, Neo4jError
from prometheus_client import Counter

from graph import outbox
from graph import posts as graph_posts
from graph.driver import write_transaction
from graph.errors import ActionError
from graph.notifications import Created
from graph.users import UserRecord, new_id
from workers import cards, live, notifications, ratelimit, suggestions, timelines
from workers.redis import UNAVAILABLE
from workers.services import Services

log = logging.getLogger(__name__)

REDIS_UNAVAILABLE = Counter(
    "quanzi_redis_unavailable_total",
    "Redis calls that failed and were let through: rate limits and checks failing open, "
    "effects left for later.",
    ["what"],
)
NEO4J_UNAVAILABLE: tuple[type[Exception], ...] = (Neo4jError, DriverError, OSError)
_EITHER_UNAVAILABLE: tuple[type[Exception], ...] = (*UNAVAILABLE, *NEO4J_UNAVAILABLE)
_ALLOWED = ratelimit.Decision(allowed=True, retry_after_seconds=0.0)
DRAIN_BATCH = 100
AUTHOR_POSTS_PAGE = 500

T = TypeVar("T")


@dataclass(frozen=True)
class Effects:
    """What a committed write changes in Redis's derived state."""

    feed_views: frozenset[str] = frozenset()  # users whose friends, blocks or circles changed
    suggestions: frozenset[str] = frozenset()  # users whose neighbourhood changed
    circle_members: frozenset[str] = frozenset()  # circles whose MEMBER list changed
    posts: frozenset[str] = frozenset()  # posts whose cached copy is out of date
    authors: frozenset[str] = frozenset()  # users all of whose cached posts are (suspension)
    cards: frozenset[tuple[str, str]] = frozenset()  # (user id, platform id): cached card
    reactions: tuple[tuple[str, str, bool], ...] = ()  # (user, post, reacts now)
    notifications: tuple[tuple[str, str], ...] = ()  # (recipient, notification id) to push
    sockets: frozenset[str] = frozenset()  # users whose open websockets end (suspension)

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def __or__(self, other: Effects) -> Effects:
        return Effects(
            feed_views=self.feed_views | other.feed_views,
            suggestions=self.suggestions | other.suggestions,
            circle_members=self.circle_members | other.circle_members,
            posts=self.posts | other.posts,
            authors=self.authors | other.authors,
            cards=self.cards | other.cards,
            reactions=self.reactions + other.reactions,
            notifications=self.notifications + other.notifications,
            sockets=self.sockets | other.sockets,
        )

    def to_json(self) -> str:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value:  # sets sorted, so one write always records the same text
                data[f.name] = sorted(value) if isinstance(value, frozenset) else list(value)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Effects:
        data: dict[str, Any] = json.loads(text)
        return cls(
            feed_views=frozenset(data.get("feed_views", ())),
            suggestions=frozenset(data.get("suggestions", ())),
            circle_members=frozenset(data.get("circle_members", ())),
            posts=frozenset(data.get("posts", ())),
            authors=frozenset(data.get("authors", ())),
            cards=frozenset((str(u), str(p)) for u, p in data.get("cards", ())),
            reactions=tuple((str(u), str(p), bool(r)) for u, p, r in data.get("reactions", ())),
            notifications=tuple((str(r), str(n)) for r, n in data.get("notifications", ())),
            sockets=frozenset(data.get("sockets", ())),
        )


NONE = Effects()


def people_changed(user_ids: Iterable[str]) -> Effects:
    """Friends or blocks changed: feeds and suggestions of everyone involved follow."""
    ids = frozenset(user_ids)
    return Effects(feed_views=ids, suggestions=ids)


def neighbourhood_changed(user_ids: Iterable[str]) -> Effects:
    """Someone's suggestions have new evidence (a contact, a payment, a dismissal)."""
    return Effects(suggestions=frozenset(user_ids))


def card_changed(user: UserRecord) -> Effects:
    return Effects(cards=frozenset({(user.id, user.platform_id)}))


def notified(*created: Created | None) -> Effects:
    """Live pushes for the notifications a write created (those not None)."""
    return Effects(notifications=tuple((c.recipient_id, c.id) for c in created if c is not None))


# ---------------------------------------------------------------- running them


async def apply(services: Services, effects: Effects) -> None:
    """Carry the effects out in Redis; raises what Redis (or a Neo4j read) raised."""
    redis = services.redis
    # The jobs queued here read what the write made: they wait for it on a Neo4j cluster.
    marks = await services.graph.bookmarks() if effects.feed_views or effects.suggestions else []
    if effects.cards:
        await cards.forget(redis, effects.cards)
    if effects.feed_views:
        await timelines.drop_views(redis, effects.feed_views, bookmarks=marks)
    if effects.circle_members:
        await timelines.drop_circle_members(redis, effects.circle_members)
    if effects.posts:
        await timelines.refresh_posts(services, effects.posts)
    for author in sorted(effects.authors):
        after = ""
        while page := await graph_posts.post_ids_by_author(
            services.graph, author, after=after, limit=AUTHOR_POSTS_PAGE
        ):
            await timelines.refresh_posts(services, page)
            after = page[-1]
    for user_id, post_id, reacts in effects.reactions:
        await timelines.set_reacted(redis, user_id, post_id, reacts)
    if effects.suggestions:
        await suggestions.neighbourhood_changed(redis, effects.suggestions, bookmarks=marks)
    if effects.notifications:
        await notifications.publish(redis, effects.notifications)
    if effects.sockets:
        await live.end_sockets(redis, effects.sockets, "account suspended")


def _unavailable(services: Services, what: str, exc: BaseException) -> None:
    REDIS_UNAVAILABLE.labels(what).inc()
    services.derived.mark_stale(f"{what}: {exc!r}")
    log.warning("redis unavailable for %s (%s); let through", what, exc)


async def _settle(services: Services, effect_id: str, effects: Effects) -> None:
    """Run a committed write's effects now, or leave them stalled for later; never raises
    (the write has committed, and the client is told so)."""
    try:
        await apply(services, effects)
    except _EITHER_UNAVAILABLE as exc:
        _unavailable(services, "effect", exc)
        try:
            await outbox.stall(services.graph, [effect_id])
        except NEO4J_UNAVAILABLE as stall_error:  # swept after the grace period instead
            log.error("effect %s neither ran nor stalled: %s", effect_id, stall_error)
        return
    try:
        await outbox.settle(services.graph, [effect_id])
    except NEO4J_UNAVAILABLE as exc:  # it runs once more after the grace period: harmless
        log.warning("effect %s ran but was not forgotten: %s", effect_id, exc)


async def commit(
    services: Services,
    work: Callable[[AsyncManagedTransaction], Awaitable[T]],
    effects_of: Callable[[T], Effects],
    *,
    id_attempts: int = 1,
) -> T:
    """Run ``work`` in one write transaction together with the record of its effects
    (``effects_of`` its result), then run the effects. See the module docstring."""

    async def unit(tx: AsyncManagedTransaction) -> tuple[T, Effects, str | None]:
        result = await work(tx)
        effects = effects_of(result)
        effect_id = None
        if effects:
            effect_id = new_id()
            await outbox.record(tx, effect_id, effects.to_json())
        return result, effects, effect_id

    result, effects, effect_id = await write_transaction(
        services.graph, unit, id_attempts=id_attempts
    )
    if effect_id is not None:
        await _settle(services, effect_id, effects)
    return result


async def drain(services: Services) -> int:
    """Run every stalled effect, and every one left unsettled for longer than the grace
    period; the process trusts Redis again when that worked. Returns how many ran."""
    graph = services.graph
    ran = 0
    try:
        await services.redis.ping()
        grace_ms = int(services.settings.effects_grace_seconds * 1000)
        while batch := await outbox.due(
            graph, unsettled_before_ms=int(time.time() * 1000) - grace_ms, limit=DRAIN_BATCH
        ):
            for item in batch:
                try:
                    effects = Effects.from_json(item.payload)
                except (ValueError, TypeError) as exc:
                    log.error("effect %s is unreadable, dropped: %s", item.id, exc)
                    continue
                await apply(services, effects)
                ran += 1
            await outbox.settle(graph, [item.id for item in batch])
    except UNAVAILABLE as exc:
        services.derived.mark_stale(f"effects wait for redis: {exc!r}")
        return ran
    except NEO4J_UNAVAILABLE as exc:
        log.warning("effects not drained: %s", exc)
        return ran
    if ran:
        log.info("ran %d effects that had waited for redis", ran)
    services.derived.mark_fresh()
    return ran


async def watch(services: Services, stop: asyncio.Event) -> None:
    """Until ``stop``: notice stalled effects (this process's or another's) and drain them
    as soon as Redis answers."""
    interval = services.settings.effects_poll_seconds
    while not stop.is_set():
        try:
            if services.derived.stale or await outbox.any_stalled(services.graph):
                services.derived.mark_stale("effects of a committed write wait for redis")
                await drain(services)
        except NEO4J_UNAVAILABLE as exc:
            log.debug("effects watch: %s", exc)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass


# ---------------------------------------------------------------- failing open


async def unless_unavailable(
    services: Services, what: str, call: Callable[[], Awaitable[T]], default: T
) -> T:
    """``call()``, or ``default`` when Redis cannot answer (counted and logged)."""
    try:
        return await call()
    except UNAVAILABLE as exc:
        _unavailable(services, what, exc)
        return default


async def rate_limit(services: Services, action: str, user: UserRecord, field: str | None) -> None:
    """Spend a token of the user's bucket for ``action`` or refuse with RATE_LIMITED; let
    the attempt through when Redis cannot answer."""

    async def take() -> ratelimit.Decision:
        return await ratelimit.take(services.redis, action, user)

    decision = await unless_unavailable(services, f"rate_limit:{action}", take, _ALLOWED)
    if not decision.allowed:
        raise ActionError(ratelimit.rate_limited(decision, field))
