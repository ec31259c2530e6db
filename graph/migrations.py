"""Constraints and indexes for every label the product uses.

Each statement is idempotent (``IF NOT EXISTS``), so ``quanzi migrate`` may run on every
start. New statements are appended; existing ones are never edited in place.
"""

from __future__ import annotations

from typing import LiteralString

from graph.driver import Graph

STATEMENTS: tuple[LiteralString, ...] = (
    # identity: every node kind has an opaque unique id
    "CREATE CONSTRAINT user_id IF NOT EXISTS FOR (n:User) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT user_platform_id IF NOT EXISTS FOR (n:User) REQUIRE n.platformId IS UNIQUE",
    "CREATE CONSTRAINT user_handle_key IF NOT EXISTS FOR (n:User) REQUIRE n.handleKey IS UNIQUE",
    "CREATE CONSTRAINT merchant_id IF NOT EXISTS FOR (n:Merchant) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT merchant_platform_id IF NOT EXISTS "
    "FOR (n:Merchant) REQUIRE n.platformId IS UNIQUE",
    "CREATE CONSTRAINT circle_id IF NOT EXISTS FOR (n:Circle) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT post_id IF NOT EXISTS FOR (n:Post) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT comment_id IF NOT EXISTS FOR (n:Comment) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT friend_request_id IF NOT EXISTS "
    "FOR (n:FriendRequest) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT report_id IF NOT EXISTS FOR (n:Report) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT mod_action_id IF NOT EXISTS FOR (n:ModAction) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT friend_request_pending IF NOT EXISTS "
    "FOR (n:FriendRequest) REQUIRE n.pendingKey IS UNIQUE",
    "CREATE CONSTRAINT phone_hash IF NOT EXISTS FOR (n:Phone) REQUIRE n.hash IS UNIQUE",
    # lookups and orderings
    "CREATE INDEX user_phone_hash IF NOT EXISTS FOR (n:User) ON (n.phoneHash)",
    "CREATE INDEX post_created_at IF NOT EXISTS FOR (n:Post) ON (n.createdAt)",
    "CREATE INDEX friend_request_state IF NOT EXISTS FOR (n:FriendRequest) ON (n.state)",
    "CREATE INDEX report_state IF NOT EXISTS FOR (n:Report) ON (n.state)",
    # discovery: Chinese and English text, and distance
    "CREATE FULLTEXT INDEX circle_text IF NOT EXISTS "
    "FOR (n:Circle) ON EACH [n.name, n.description] "
    "OPTIONS {indexConfig: {`fulltext.analyzer`: 'cjk'}}",
    "CREATE POINT INDEX circle_location IF NOT EXISTS FOR (n:Circle) ON (n.location)",
    "CREATE POINT INDEX merchant_location IF NOT EXISTS FOR (n:Merchant) ON (n.location)",
    # posts: timeline order, and the outbox sweeper's scan for undelivered posts
    "CREATE RANGE INDEX post_created_at_ms IF NOT EXISTS FOR (n:Post) ON (n.createdAtMs)",
    "CREATE INDEX post_fanout IF NOT EXISTS FOR (n:Post) ON (n.fanout)",
    # notifications: identity, idempotent creation, and each user's newest-first page
    # (all, or only the unread: unreadFor is set only while unread)
    "CREATE CONSTRAINT notification_id IF NOT EXISTS FOR (n:Notification) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT notification_dedupe_key IF NOT EXISTS "
    "FOR (n:Notification) REQUIRE n.dedupeKey IS UNIQUE",
    "CREATE RANGE INDEX notification_recipient_created IF NOT EXISTS "
    "FOR (n:Notification) ON (n.recipientId, n.createdAtMs)",
    "CREATE RANGE INDEX notification_unread_created IF NOT EXISTS "
    "FOR (n:Notification) ON (n.unreadFor, n.createdAtMs)",
    # trust and safety: one report per reporter and subject, one appeal per action
    "CREATE CONSTRAINT report_dedupe IF NOT EXISTS FOR (n:Report) REQUIRE n.dedupeKey IS UNIQUE",
    "CREATE CONSTRAINT appeal_id IF NOT EXISTS FOR (n:Appeal) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT appeal_action IF NOT EXISTS FOR (n:Appeal) REQUIRE n.actionId IS UNIQUE",
    "CREATE INDEX appeal_state IF NOT EXISTS FOR (n:Appeal) ON (n.state)",
    "CREATE CONSTRAINT automod_rule_id IF NOT EXISTS FOR (n:AutomodRule) REQUIRE n.id IS UNIQUE",
    # the effects outbox: a write's Redis effects until they have run (graph/outbox.py)
    "CREATE CONSTRAINT effect_id IF NOT EXISTS FOR (n:Effect) REQUIRE n.id IS UNIQUE",
    "CREATE RANGE INDEX effect_created_at_ms IF NOT EXISTS FOR (n:Effect) ON (n.createdAtMs)",
    "CREATE INDEX effect_stalled IF NOT EXISTS FOR (n:Effect) ON (n.stalled)",
    # the allow-list of persisted queries (graph/queries.py)
    "CREATE CONSTRAINT persisted_query_id IF NOT EXISTS "
    "FOR (n:PersistedQuery) REQUIRE n.id IS UNIQUE",
)


async def apply_migrations(graph: Graph, wait_seconds: int = 120) -> list[str]:
    """Apply every statement, then wait until the indexes are online."""
    for statement in STATEMENTS:
        await graph.write(statement)
    await graph.write("CALL db.awaitIndexes($seconds)", seconds=wait_seconds)
    return list(STATEMENTS)
