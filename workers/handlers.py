"""The job kinds this worker knows how to run.

Features that need background work (feed fan-out, precompute) register their job kinds
here: add an entry mapping the kind string used with ``workers.queue.enqueue`` to an async
handler taking a ``workers.queue.Job``; a handler that needs the graph, Redis or the
settings closes over ``services``. Delivery is at least once, so every handler must be
idempotent. A job whose kind is not registered is dead-lettered with the error
"unknown kind".

Platform events (payments, visits) are not jobs: they arrive on their own stream and are
consumed by ``workers.events.EventConsumer`` next to the job consumer.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from api.settings import Settings
from graph.driver import Graph
from workers import feeds, suggestions
from workers.queue import Handler, Job


@dataclass(frozen=True)
class WorkerServices:
    """Opened once per worker process (``workers.runner.run_worker``) and shared."""

    settings: Settings
    graph: Graph
    redis: Redis


def registry(services: WorkerServices) -> dict[str, Handler]:
    """Build the ``kind -> handler`` map for one worker process."""

    graph, redis, settings = services.graph, services.redis, services.settings

    async def refresh_suggestions(job: Job) -> None:
        await suggestions.refresh(graph, redis, job)

    async def fan_out(job: Job) -> None:
        await feeds.fan_out(
            graph, redis, settings, str(job.payload["post"]), job.payload.get("data")
        )

    async def clean(job: Job) -> None:
        await feeds.clean_timelines(graph, redis, settings, [str(u) for u in job.payload["users"]])

    return {
        suggestions.REFRESH_JOB: refresh_suggestions,
        feeds.FANOUT_JOB: fan_out,
        feeds.CLEAN_JOB: clean,
    }
