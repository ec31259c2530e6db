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
)


async def apply_migrations(graph: Graph, wait_seconds: int = 120) -> list[str]:
    """Apply every statement, then wait until the indexes are online."""
    for statement in STATEMENTS:
        await graph.write(statement)
    await graph.write("CALL db.awaitIndexes($seconds)", seconds=wait_seconds)
    return list(STATEMENTS)
