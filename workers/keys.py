"""Every Redis key name the project uses, in one place.

Keys that belong to one user carry a Redis Cluster hash tag (``{u:ID}``) so that all of
that user's keys land in one slot and may be touched by one script or transaction.
"""

from __future__ import annotations

PREFIX = "qz"

# Durable work queue (a Redis stream read by a consumer group).
JOBS_STREAM = f"{PREFIX}:jobs"
JOBS_GROUP = "workers"
DEAD_LETTER_STREAM = f"{PREFIX}:jobs:dead"


def user_tag(user_id: str) -> str:
    return f"{{u:{user_id}}}"


# Platform events (payments, visits) streamed in by the platform; see workers/events.py.
EVENTS_STREAM = f"{PREFIX}:events"
EVENTS_GROUP = "ingest"
EVENTS_DEAD_LETTER_STREAM = f"{PREFIX}:events:dead"


# Users who read their suggestions lately (score: unix time of the last read).
SUGGESTIONS_ACTIVE = f"{PREFIX}:pymk:active"


def suggestions(user_id: str) -> str:
    """Precomputed people-you-may-know list of one user (JSON)."""
    return f"{PREFIX}:{user_tag(user_id)}:pymk"


def rate_bucket(action: str, user_id: str) -> str:
    """Token bucket of one user for one action."""
    return f"{PREFIX}:{user_tag(user_id)}:rl:{action}"
