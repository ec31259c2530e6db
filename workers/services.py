"""What one process opens once and shares: settings, the graph and Redis.

``derived`` says whether Redis's derived state (feed views, cached posts and cards) may
be served right now. A process marks it stale when Redis failed it, or when it finds
effects of a committed write that never reached Redis (``actions/effects.py``); while it
is stale, reads that would trust those caches ask Neo4j instead, and it turns fresh
again once every such effect has run.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from redis.asyncio import Redis

from api.settings import Settings
from graph.driver import Graph, open_driver
from graph.pymk_model import RankerModel, configured_model
from workers.live import Hub
from workers.redis import open_redis

log = logging.getLogger(__name__)


@dataclass
class Derived:
    """Whether this process may trust Redis's caches (see the module docstring)."""

    stale: bool = False

    def mark_stale(self, why: str) -> None:
        if not self.stale:
            log.warning("redis caches set aside until they are known fresh: %s", why)
        self.stale = True

    def mark_fresh(self) -> None:
        if self.stale:
            log.info("redis caches trusted again")
        self.stale = False


@dataclass(frozen=True)
class Services:
    """Opened once per process (API lifespan, worker, command) and shared by all work."""

    settings: Settings
    graph: Graph
    redis: Redis
    derived: Derived = field(default_factory=Derived)
    live: Hub = field(init=False)  # the one pub/sub connection of live subscriptions
    # The people-you-may-know model (settings.pymk_model_path); None: the hand weights.
    pymk_model: RankerModel | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "live", Hub(self.redis))
        object.__setattr__(self, "pymk_model", configured_model(self.settings.pymk_model_path))


@asynccontextmanager
async def open_services(settings: Settings) -> AsyncIterator[Services]:
    """The graph and Redis for one process or command: opened, used, closed."""
    driver = open_driver(settings)
    redis = open_redis(settings)
    services = Services(settings, Graph(driver, settings.neo4j_database), redis)
    try:
        yield services
    finally:
        await services.live.close()
        await redis.aclose()
        await driver.close()
