"""The job kinds this worker knows how to run.

Features that need background work (feed fan-out, event ingestion, precompute) register
their job kinds here: add an entry mapping the kind string used with
``workers.queue.enqueue`` to an async handler taking a ``workers.queue.Job``. Delivery is
at least once, so every handler must be idempotent. A job whose kind is not registered is
dead-lettered with the error "unknown kind".
"""

from __future__ import annotations

from api.settings import Settings
from workers.queue import Handler


def registry(settings: Settings) -> dict[str, Handler]:
    """Build the ``kind -> handler`` map for one worker process.

    No job kinds exist yet; later features register theirs here.
    """
    del settings  # handlers that need configuration will close over it
    handlers: dict[str, Handler] = {}
    return handlers
