"""Every Redis key name the project uses, in one place.

Keys that belong to one user carry a Redis Cluster hash tag (``{u:ID}``) so that all of
that user's keys land in one slot and may be touched by one script or transaction; so do
one circle's (``{c:ID}``), one post's (``{p:ID}``), one merchant's insights (``{im:ID}``)
and one insights snapshot's (``{is:ID}``). Live channels are named like keys: on a
cluster they are sharded channels (``SSUBSCRIBE``/``SPUBLISH``), in their user's slot.
No script or transaction touches keys of two tags, and commands over many keys of
different tags (MGET, DEL) are split by slot on a cluster (``workers/redis.py``).
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


def suggestions_version(user_id: str) -> str:
    """Bumped by every change to a user's neighbourhood (friends, blocks, requests,
    dismissals, contacts, payments, circles); a cached list made under another version
    is never served."""
    return f"{PREFIX}:{user_tag(user_id)}:pymk:v"


def rate_bucket(action: str, user_id: str) -> str:
    """Token bucket of one user for one action."""
    return f"{PREFIX}:{user_tag(user_id)}:rl:{action}"


# ---------------------------------------------------------------- feeds


def timeline(user_id: str) -> str:
    """A user's home timeline: post ids scored by creation time in milliseconds."""
    return f"{PREFIX}:{user_tag(user_id)}:tl"


def circle_timeline(circle_id: str) -> str:
    """A large circle's own timeline, merged into members' home feeds at read time."""
    return f"{PREFIX}:{{c:{circle_id}}}:tl"


def circle_members(circle_id: str) -> str:
    """A circle's MEMBER ids (JSON), the audience of its posts."""
    return f"{PREFIX}:{{c:{circle_id}}}:members"


def post_cache(post_id: str) -> str:
    """A hydrated post (hash), so warm feeds never ask Neo4j."""
    return f"{PREFIX}:{{p:{post_id}}}"


def outbox_swept(post_id: str) -> str:
    """Present while a sweeper's re-queue of this post is given time to run."""
    return f"{PREFIX}:{{p:{post_id}}}:swept"


def outbox_sweeps(post_id: str) -> str:
    """How many times the sweeper re-queued this post."""
    return f"{PREFIX}:{{p:{post_id}}}:sweeps"


def live_channel(user_id: str) -> str:
    """Pub/sub channel announcing posts as they land in the user's timeline (on a cluster a
    sharded channel, in the user's slot)."""
    return f"{PREFIX}:{user_tag(user_id)}:live"


def timeline_ready(user_id: str) -> str:
    """Present while the user's timeline is complete (absent: rebuild from Neo4j first)."""
    return f"{PREFIX}:{user_tag(user_id)}:tl:ready"


def timeline_lock(user_id: str) -> str:
    """Held by the one reader rebuilding the user's timeline."""
    return f"{PREFIX}:{user_tag(user_id)}:tl:lock"


def circle_timeline_ready(circle_id: str) -> str:
    return f"{PREFIX}:{{c:{circle_id}}}:tl:ready"


def circle_timeline_lock(circle_id: str) -> str:
    """Held by the one reader rebuilding the circle's timeline."""
    return f"{PREFIX}:{{c:{circle_id}}}:tl:lock"


def feed_view(user_id: str) -> str:
    """Friends, blocks and circles that decide what of the timeline the user may see."""
    return f"{PREFIX}:{user_tag(user_id)}:view"


def reacted(user_id: str) -> str:
    """Posts the user reacted to (for viewerReacted on warm reads)."""
    return f"{PREFIX}:{user_tag(user_id)}:reacted"


def user_card(user_id: str) -> str:
    """A user's public record, cached for hydration."""
    return f"{PREFIX}:{user_tag(user_id)}:card"


def user_by_platform_id(platform_id: str) -> str:
    """The same card as ``user_card``, found by the token's subject."""
    return f"{PREFIX}:pid:{platform_id}"


# Users who read their home feed lately (score: unix time); fan-out skips the others.
FEED_ACTIVE = f"{PREFIX}:feed:active"
# Orders to every API process: close a user's open websockets (JSON {close, because}).
# A channel of its own slot (sharded on a cluster, like every live channel).
LIVE_CONTROL = f"{PREFIX}:{{live}}:control"


# ---------------------------------------------------------------- notifications


def notification_channel(user_id: str) -> str:
    """Pub/sub channel announcing the ids of the user's new notifications (in the user's
    slot)."""
    return f"{PREFIX}:{user_tag(user_id)}:notif"


# ---------------------------------------------------------------- persisted queries


def persisted_query(sha256: str) -> str:
    """The text of an automatically persisted query, by its SHA-256 (APQ)."""
    return f"{PREFIX}:apq:{sha256}"


# ---------------------------------------------------------------- trust and safety


def crosspost(author_id: str, digest: str) -> str:
    """Circles one author posted one (normalised) text into lately (score: unix time)."""
    return f"{PREFIX}:{user_tag(author_id)}:xpost:{digest}"


# ---------------------------------------------------------------- merchant insights
# A snapshot's keys share the hash tag {is:SNAPSHOT} (one slot: one script may read them
# all); a merchant's releases and budget share {im:MERCHANT} (spent and stored by one
# script). See docs/insights.md.

# The current snapshot: JSON {id, at (epoch ms), expires (epoch ms)}; replaced when the
# next one is complete, and expiring with it.
INSIGHTS_CURRENT = f"{PREFIX}:ins:current"
# Held by the one worker computing a snapshot.
INSIGHTS_REFRESH_LOCK = f"{PREFIX}:ins:refresh:lock"


def snapshot_tag(snapshot_id: str) -> str:
    return f"{{is:{snapshot_id}}}"


def insights_meta(snapshot_id: str) -> str:
    """What the snapshot holds (JSON): its categories, how many people and places."""
    return f"{PREFIX}:{snapshot_tag(snapshot_id)}:meta"


def insights_merchant(snapshot_id: str, merchant_id: str) -> str:
    """Exact aggregates of one merchant's audience (JSON); never leaves the server."""
    return f"{PREFIX}:{snapshot_tag(snapshot_id)}:m:{merchant_id}"


def insights_places(snapshot_id: str) -> str:
    """Geo set of the merchants with customers in the snapshot (the area index)."""
    return f"{PREFIX}:{snapshot_tag(snapshot_id)}:places"


def insights_customers(snapshot_id: str, merchant_id: str) -> str:
    """Bitmap of one merchant's customers (bit i: the snapshot's person i)."""
    return f"{PREFIX}:{snapshot_tag(snapshot_id)}:cust:{merchant_id}"


def insights_interest(snapshot_id: str, category: str) -> str:
    """Bitmap of the people with ``category`` among their strongest interests."""
    return f"{PREFIX}:{snapshot_tag(snapshot_id)}:interest:{category}"


def insights_hour(snapshot_id: str, hour: int) -> str:
    """Bitmap of the people with ``hour`` among their most active hours."""
    return f"{PREFIX}:{snapshot_tag(snapshot_id)}:hour:{hour}"


def insights_scratch(snapshot_id: str, which: str) -> str:
    """Working bitmaps of the area script (deleted before it returns)."""
    return f"{PREFIX}:{snapshot_tag(snapshot_id)}:scratch:{which}"


def merchant_insights_tag(merchant_id: str) -> str:
    return f"{{im:{merchant_id}}}"


def insights_release(merchant_id: str, snapshot_id: str, question: str) -> str:
    """The noised answer given to one question (digest) about one snapshot (JSON)."""
    return f"{PREFIX}:{merchant_insights_tag(merchant_id)}:rel:{snapshot_id}:{question}"


def insights_budget(merchant_id: str, day: str) -> str:
    """Privacy budget one merchant spent on one day (micro-epsilon, an integer)."""
    return f"{PREFIX}:{merchant_insights_tag(merchant_id)}:budget:{day}"
