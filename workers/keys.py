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
