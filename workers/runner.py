"""The worker process: consume the job and event streams until SIGINT/SIGTERM.

One of the two entry points of ``workers/`` that sit on top of ``actions/``: events are
writes, and every write goes through an action; and the worker runs the effects a
committed write left for Redis before it serves anything from Redis itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket

from neo4j.exceptions import DriverError, Neo4jError

from actions import effects
from api.settings import Settings
from graph.driver import Graph, open_driver
from workers.events import EventConsumer
from workers.fanout import flush_delivered, sweep_outbox
from workers.handlers import registry
from workers.insight_snapshots import refresh_if_due
from workers.queue import Consumer
from workers.redis import UNAVAILABLE, open_redis
from workers.services import Services

log = logging.getLogger(__name__)

# What a background loop (sweeper, snapshots) logs and survives.
_BACKGROUND_FAILURES: tuple[type[Exception], ...] = (*UNAVAILABLE, Neo4jError, DriverError)
BACKOFF_INITIAL_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _install_signal_handlers(stop: asyncio.Event) -> list[signal.Signals]:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            continue
        installed.append(sig)
    return installed


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def consume_until_stopped(
    consumer: Consumer, stop: asyncio.Event, services: Services | None = None
) -> None:
    """Run batches until ``stop`` is set; survive Redis outages with capped backoff.

    With ``services``: after Redis failed, the effects that waited for it run before the
    next batch (fan-out reads the cached feed views they drop). A batch in progress is
    always finished before stopping; the longest wait after a stop request is one
    XREADGROUP BLOCK.
    """
    backoff = BACKOFF_INITIAL_SECONDS
    while not stop.is_set():
        try:
            if services is not None and services.derived.stale:
                await effects.drain(services)
                if services.derived.stale:
                    raise ConnectionError("effects still wait for redis")
            await consumer.run_once()
        except UNAVAILABLE as exc:
            if services is not None:
                services.derived.mark_stale(f"worker: {exc!r}")
            log.warning(
                "redis unavailable (%s: %s); retrying in %.1fs",
                type(exc).__name__,
                exc,
                backoff,
            )
            await _sleep_unless_stopped(stop, backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
            continue
        if backoff != BACKOFF_INITIAL_SECONDS:
            log.info("redis is back; consuming again")
            backoff = BACKOFF_INITIAL_SECONDS


async def sweep_until_stopped(services: Services, stop: asyncio.Event) -> None:
    """The outbox sweeper: re-queue committed posts whose delivery never finished.

    Any number of workers may sweep; a post queued twice is delivered idempotently.
    """
    interval = services.settings.outbox_sweep_seconds
    while not stop.is_set():
        try:
            await flush_delivered(services.graph)  # first, so delivered posts are not swept
            queued = await sweep_outbox(services)
            if queued:
                log.info("outbox: re-queued %d undelivered posts", queued)
        except _BACKGROUND_FAILURES as exc:
            log.warning("outbox sweep failed (%s: %s)", type(exc).__name__, exc)
        await _sleep_unless_stopped(stop, interval)


async def snapshot_insights_until_stopped(services: Services, stop: asyncio.Event) -> None:
    """Recompute the insights snapshot every ``insights_refresh_seconds``.

    Every worker looks at most once a minute; the one that takes the lock computes a due
    snapshot, so any number of workers make one snapshot per period.
    """
    every = min(60.0, services.settings.insights_refresh_seconds)
    while not stop.is_set():
        try:
            await refresh_if_due(services)
        except _BACKGROUND_FAILURES as exc:
            log.warning("insights snapshot failed (%s: %s)", type(exc).__name__, exc)
        await _sleep_unless_stopped(stop, every)


async def run_worker(settings: Settings, consumer: str | None = None) -> None:
    """Consume jobs and platform events until SIGINT or SIGTERM, then close the clients.

    Two consumer loops share the process, one per stream (``qz:jobs`` read by the group
    ``workers``, ``qz:events`` by ``ingest``), each taking a pooled Redis connection for its
    blocking reads, both with the same consumer name.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=settings.log_level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    name = consumer or default_consumer_name()
    stop = asyncio.Event()
    installed = _install_signal_handlers(stop)
    redis = open_redis(settings)
    driver = open_driver(settings)
    services = Services(settings, Graph(driver, settings.neo4j_database), redis)
    services.derived.mark_stale("worker starting")  # run what waited before trusting Redis
    handlers = registry(services)
    jobs = Consumer(
        redis,
        handlers,
        name,
        batch_size=settings.worker_batch_size,
        block_ms=settings.worker_block_ms,
        max_deliveries=settings.worker_max_deliveries,
        claim_idle_ms=settings.worker_claim_idle_ms,
        concurrency=settings.worker_concurrency,
    )
    # Events are cheap to write in bulk: read more of them at a time.
    events = EventConsumer(
        services,
        name,
        batch_size=max(settings.worker_batch_size, 500),
        block_ms=settings.worker_block_ms,
        max_deliveries=settings.worker_max_deliveries,
        claim_idle_ms=settings.worker_claim_idle_ms,
    )
    log.info(
        "worker %s started; %d job kinds: %s; consuming platform events",
        name,
        len(handlers),
        ", ".join(sorted(handlers)) or "(none)",
    )
    try:
        await asyncio.gather(
            consume_until_stopped(jobs, stop, services),
            consume_until_stopped(events, stop, services),
            sweep_until_stopped(services, stop),
            snapshot_insights_until_stopped(services, stop),
            effects.watch(services, stop),
        )
        log.info("worker %s stopping", name)
        with contextlib.suppress(Neo4jError, DriverError, OSError):
            await flush_delivered(services.graph)
        for member in (jobs, events):
            with contextlib.suppress(*UNAVAILABLE):
                if await member.retire():
                    log.info("worker %s left the consumer group %s", name, member.group)
    finally:
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
        await redis.aclose()
        await driver.close()
        log.info("worker %s stopped", name)
