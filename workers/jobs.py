"""The kinds of job on the ``qz:jobs`` stream (``workers/queue.py``), in one place.

``workers/handlers.py`` maps each kind to the code that runs it.
"""

from __future__ import annotations

FANOUT = "feed.fanout"  # deliver one post to the timelines it belongs in
CLEAN = "feed.clean"  # drop from users' timelines what they may no longer see
PYMK_REFRESH = "pymk.refresh"  # recompute people-you-may-know lists of active users
