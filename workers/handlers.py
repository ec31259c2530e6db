"""The job kinds this worker knows how to run (``workers/jobs.py`` names them).

A feature that needs background work adds its kind to ``workers/jobs.py`` and an entry
here mapping it to an async handler taking a ``workers.queue.Job``. Delivery is at least
once, so every handler must be idempotent. A job whose kind is not registered is
dead-lettered with the error "unknown kind".

Platform events (payments, visits) are not jobs: they arrive on their own stream and are
consumed by ``workers.events.EventConsumer`` next to the job consumer.
"""

from __future__ import annotations

from workers import fanout, jobs, suggestions
from workers.queue import BOOKMARKS, Handler, Job
from workers.services import Services


def registry(services: Services) -> dict[str, Handler]:
    """Build the ``kind -> handler`` map for one worker process. Each handler first
    follows the job's Neo4j bookmarks (its reads then see the write it is about)."""
    handlers = _handlers(services)

    def following(handler: Handler) -> Handler:
        async def run(job: Job) -> None:
            await services.graph.follow(job.payload.get(BOOKMARKS) or ())
            await handler(job)

        return run

    return {kind: following(handler) for kind, handler in handlers.items()}


def _handlers(services: Services) -> dict[str, Handler]:
    async def refresh_suggestions(job: Job) -> None:
        await suggestions.refresh(services, job)

    async def fan_out(job: Job) -> None:
        await fanout.fan_out(services, str(job.payload["post"]), job.payload.get("data"))

    async def clean(job: Job) -> None:
        await fanout.clean_timelines(services, [str(u) for u in job.payload["users"]])

    return {
        jobs.PYMK_REFRESH: refresh_suggestions,
        jobs.FANOUT: fan_out,
        jobs.CLEAN: clean,
    }
