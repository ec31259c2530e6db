"""Authorization as a property: random small worlds, every read path against a reference.

Hypothesis draws small worlds (3-5 users, 2-4 circles of every visibility and join policy,
every membership state and role, bans permanent, timed and lapsed, mutes, friendships,
blocks either way, circle and profile posts, some removed by a moderator, some deleted by
their author, the mod log of every ban, mute and removal, appeals, reported posts). Each is
written straight into Neo4j in the shapes the product writes, and every viewer (anonymous,
each user, a platform admin signed in as a user without memberships, u0 with an admin
token, and the platform's admin token that signs nobody in) reads every path: ``circle``,
``node`` (circles, posts, mod actions, reports, appeals), ``Circle.members``,
``Circle.joinRequests``, ``Circle.posts``, ``post``, ``myCircles``, ``discoverCircles`` (no
query and a text query), ``homeFeed``, ``modLog``, ``moderationQueue``, ``appeals`` and
``automodRules``. Each answer is compared with ``Reference``, an independent statement of
docs/product.md (and the README where it is more precise) in plain Python: it imports
nothing of ``graph.circles.access`` or ``graph.posts.may_read``. Comparisons are exact (sets
of ids, null or not) except where the rules leave an answer open, which ``Between`` and
``AnyOf`` spell out.

``@given`` does not drive coroutines, so a sync function decorated with it only collects the
drawn worlds; the async test builds and checks them one by one (wiping the graph and Redis
in between). Hypothesis therefore does not shrink a failure: the test checks every world
and reports the smallest failing one, with the seed (``QUANZI_AUTHZ_SEED`` replays a run).
``QUANZI_AUTHZ_EXAMPLES`` sets the number of worlds (12 by default).
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from graph.driver import Graph
from graph.posts import new_post_id
from graph.users import new_id
from tests.conftest import GQL

EXAMPLES = int(os.environ.get("QUANZI_AUTHZ_EXAMPLES", "12"))
SEED = int(os.environ.get("QUANZI_AUTHZ_SEED") or random.randrange(2**32))
CONCURRENCY = 6  # requests in flight while one world is read
SEARCH_WORD = "garden"  # every circle's name holds it, so a text search may find them all
PERMANENT_MUTE = datetime(9999, 12, 31, tzinfo=UTC)  # as graph/moderation.py writes one

# ---------------------------------------------------------------- worlds

VISIBILITIES = ("PUBLIC", "SEMI_PUBLIC", "PRIVATE")
POLICIES = ("OPEN", "APPROVAL", "INVITE")
# A user's place in a circle other than its creator's (OWNER). BANNED is permanent,
# BANNED_TIMED ends tomorrow, BAN_LAPSED ended a minute ago; MUTED is a MEMBER muted for good.
PLACES = (
    "NONE",
    "PENDING",
    "INVITED",
    "BANNED",
    "BANNED_TIMED",
    "BAN_LAPSED",
    "MEMBER",
    "MUTED",
    "MODERATOR",
)
# How each place reads at query time, as (state, role): expiries are read when asked
# (README, "Moderation and safety"), and a mute changes nothing about what one may read.
READS_AS: dict[str, tuple[str, str | None]] = {
    "NONE": ("NONE", None),
    "PENDING": ("PENDING", None),
    "INVITED": ("INVITED", None),
    "BANNED": ("BANNED", None),
    "BANNED_TIMED": ("BANNED", None),
    "BAN_LAPSED": ("NONE", None),
    "MEMBER": ("MEMBER", "MEMBER"),
    "MUTED": ("MEMBER", "MEMBER"),
    "MODERATOR": ("MEMBER", "MODERATOR"),
    "OWNER": ("MEMBER", "OWNER"),
}
BANS = ("BANNED", "BANNED_TIMED", "BAN_LAPSED")
# Places that were a membership once: their posts in the circle stay.
POSTERS = ("MEMBER", "MUTED", "MODERATOR", "OWNER", *BANS)
# A ban or mute that stands, and so can be appealed.
APPEALABLE = ("BANNED", "BANNED_TIMED", "MUTED")


def is_member(place: str) -> bool:
    return READS_AS[place][0] == "MEMBER"


# Between two users (weighted by repetition): nothing, friends, or a block either way.
PAIRS = ("none", "none", "none", "friends", "friends", "friends", "a>b", "b>a", "a<>b")


@dataclass(frozen=True)
class CircleSpec:
    visibility: str
    policy: str
    owner: int  # user number of the creator (OWNER)


@dataclass(frozen=True)
class PostSpec:
    author: int
    circle: int | None  # None: a profile post
    removed: bool  # by the circle's owner
    deleted: bool  # by its author
    reported: bool  # one OPEN report by a fellow member (when there is one)


@dataclass(frozen=True)
class World:
    users: int  # ordinary users 0 .. users-1; user number ``users`` is the platform admin
    circles: tuple[CircleSpec, ...]
    places: tuple[tuple[str, ...], ...]  # places[user][circle], ordinary users only
    friends: frozenset[tuple[int, int]]  # (a, b) with a < b
    blocks: frozenset[tuple[int, int]]  # (blocker, blocked)
    posts: tuple[PostSpec, ...]
    appealed: frozenset[tuple[int, int]]  # (user, circle): bans and mutes appealed

    @property
    def admin(self) -> int:
        return self.users

    def place(self, user: int, circle: int) -> str:
        return self.places[user][circle] if user < self.users else "NONE"

    def size(self) -> int:
        """How big the world is, to report the smallest failing one."""
        return (
            self.users
            + len(self.circles)
            + len(self.friends)
            + len(self.blocks)
            + 2 * len(self.posts)
            + sum(p != "NONE" for row in self.places for p in row)
        )


def user_label(world: World, user: int) -> str:
    return "ad" if user == world.admin else f"u{user}"


def describe(world: World) -> str:
    """The world, compactly, for failure messages."""
    lines = [
        f"viewers: anonymous, u0..u{world.users - 1}, ad (a user without memberships, with an "
        "admin token), u0+admin (u0 with an admin token), platform (an admin token, no user)"
    ]
    for c, spec in enumerate(world.circles):
        places = []
        for u in range(world.users):
            place = world.place(u, c)
            if place != "NONE":
                appealed = "(appealed)" if (u, c) in world.appealed else ""
                places.append(f"u{u} {place}{appealed}")
        lines.append(f"c{c} {spec.visibility}/{spec.policy}: " + ", ".join(places))
    friends = " ".join(
        f"{user_label(world, a)}-{user_label(world, b)}" for a, b in sorted(world.friends)
    )
    blocks = " ".join(
        f"{user_label(world, a)}>{user_label(world, b)}" for a, b in sorted(world.blocks)
    )
    lines.append(f"friends: {friends or '-'}; blocks: {blocks or '-'}")
    posts = []
    for i, post in enumerate(world.posts):
        where = "profile" if post.circle is None else f"c{post.circle}"
        flags = [f for f, on in (("removed", post.removed), ("deleted", post.deleted)) if on]
        if post.reported:
            flags.append("reported")
        suffix = f" [{', '.join(flags)}]" if flags else ""
        posts.append(f"p{i} {user_label(world, post.author)}@{where}{suffix}")
    lines.append("posts: " + ("; ".join(posts) or "-"))
    return "\n  ".join(lines)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    n = draw(st.integers(3, 5))
    k = draw(st.integers(2, 4))
    circles = []
    for _ in range(k):
        visibility = draw(st.sampled_from(VISIBILITIES))
        policy = "INVITE" if visibility == "PRIVATE" else draw(st.sampled_from(POLICIES))
        circles.append(CircleSpec(visibility, policy, draw(st.integers(0, n - 1))))
    places = tuple(
        tuple("OWNER" if spec.owner == u else draw(st.sampled_from(PLACES)) for spec in circles)
        for u in range(n)
    )
    friends: set[tuple[int, int]] = set()
    blocks: set[tuple[int, int]] = set()
    for a in range(n + 1):  # the admin (user n) has friends and blocks too
        for b in range(a + 1, n + 1):
            pair = draw(st.sampled_from(PAIRS))
            if pair == "friends":
                friends.add((a, b))
            if pair in ("a>b", "a<>b"):
                blocks.add((a, b))
            if pair in ("b>a", "a<>b"):
                blocks.add((b, a))
    posts = []
    for _ in range(draw(st.integers(0, 7))):
        circle = draw(st.none() | st.integers(0, k - 1))
        if circle is None:
            author = draw(st.integers(0, n))
            posts.append(PostSpec(author, None, False, draw(st.booleans()), False))
            continue
        # members post; a banned user's post stays after the ban
        authors = [u for u in range(n) if places[u][circle] in POSTERS]
        author = draw(st.sampled_from(authors))
        # the owner is beyond every moderator's reach: nobody removes the owner's posts
        removed = places[author][circle] != "OWNER" and draw(st.booleans())
        posts.append(PostSpec(author, circle, removed, draw(st.booleans()), draw(st.booleans())))
    appealed = frozenset(
        (u, c)
        for u in range(n)
        for c in range(k)
        if places[u][c] in APPEALABLE and draw(st.booleans())
    )
    return World(
        n, tuple(circles), places, frozenset(friends), frozenset(blocks), tuple(posts), appealed
    )


# ---------------------------------------------------------------- the reference model

CARD, POSTS, MEMBERS, MODERATE = "card", "posts", "members", "moderate"
EVERYTHING = frozenset({CARD, POSTS, MEMBERS, MODERATE})
INSIDE = frozenset({CARD, POSTS, MEMBERS})
NOTHING: frozenset[str] = frozenset()

# docs/product.md, "Circle visibility", row by row: what each kind of viewer gets of a
# circle of each visibility. "moderate" is the last row's "plus join requests, report
# queue, appeals, mod log, automod rules, removed posts".
TABLE: dict[str, dict[str, frozenset[str]]] = {
    "outsider": {  # anonymous, or signed in without a membership
        "PUBLIC": frozenset({CARD, POSTS}),
        "SEMI_PUBLIC": frozenset({CARD}),
        "PRIVATE": NOTHING,
    },
    "waiting": {  # PENDING or INVITED
        "PUBLIC": frozenset({CARD, POSTS}),
        "SEMI_PUBLIC": frozenset({CARD}),
        "PRIVATE": frozenset({CARD}),
    },
    "member": {v: INSIDE for v in VISIBILITIES},
    "banned": {
        "PUBLIC": frozenset({CARD}),
        "SEMI_PUBLIC": frozenset({CARD}),
        "PRIVATE": NOTHING,
    },
    "moderator": {v: EVERYTHING for v in VISIBILITIES},  # moderator, owner, platform admin
}


@dataclass(frozen=True)
class Viewer:
    name: str
    user: int | None  # None: nobody signed in
    admin: bool  # an admin token


def viewers(world: World) -> list[Viewer]:
    return [
        Viewer("anonymous", None, False),
        *(Viewer(f"u{u}", u, False) for u in range(world.users)),
        Viewer("ad", world.admin, True),
        # "whatever their own membership": u0's own places, with an admin token
        Viewer("u0+admin", 0, True),
        Viewer("platform", None, True),
    ]


@dataclass(frozen=True)
class Reference:
    """docs/product.md as plain Python over a ``World``."""

    world: World
    table: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=lambda: TABLE)

    def membership(self, viewer: Viewer, circle: int) -> tuple[str, str | None]:
        """(state, role) as ``viewerMembership`` and ``viewerRole`` report them."""
        place = "NONE" if viewer.user is None else self.world.place(viewer.user, circle)
        return READS_AS[place]

    def kind(self, viewer: Viewer, circle: int) -> str:
        if viewer.admin:
            return "moderator"  # platform admins moderate every circle as its owner
        state, role = self.membership(viewer, circle)
        if state == "MEMBER":
            return "member" if role == "MEMBER" else "moderator"
        return {"PENDING": "waiting", "INVITED": "waiting", "BANNED": "banned"}.get(
            state, "outsider"
        )

    def rights(self, viewer: Viewer, circle: int) -> frozenset[str]:
        return self.table[self.kind(viewer, circle)][self.world.circles[circle].visibility]

    def blocked(self, a: int, b: int) -> bool:
        return (a, b) in self.world.blocks or (b, a) in self.world.blocks

    def friends(self, a: int, b: int) -> bool:
        return (min(a, b), max(a, b)) in self.world.friends

    def reads(self, viewer: Viewer, p: int) -> bool:
        """Who may read a post (docs/product.md, "Blocks, removals and hiding")."""
        post = self.world.posts[p]
        if post.deleted:
            return False
        if viewer.user is not None and self.blocked(viewer.user, post.author):
            return False
        if post.circle is None:
            return viewer.user is not None and (
                viewer.user == post.author or self.friends(viewer.user, post.author)
            )
        rights = self.rights(viewer, post.circle)
        return MODERATE in rights if post.removed else POSTS in rights

    def in_feed(self, viewer: Viewer, p: int) -> bool | None:
        """docs/product.md, "Feeds": the viewer's own posts, friends' profile posts and
        posts of circles where the viewer is a MEMBER, only what they may read, and never
        a removed post (README: "a removed post leaves every feed at once"). None where
        the rules leave it open: the viewer's own, still readable post in a circle they
        no longer belong to (a lapsed ban)."""
        post = self.world.posts[p]
        if viewer.user is None or post.removed or not self.reads(viewer, p):
            return False
        if post.circle is None:
            return True  # readable profile posts are the viewer's own or a friend's
        if self.membership(viewer, post.circle)[0] == "MEMBER":
            return True
        return None if viewer.user == post.author else False


# ---------------------------------------------------------------- building a world


def gid(type_name: str, internal_id: str) -> str:
    return base64.b64encode(f"{type_name}:{internal_id}".encode()).decode()


def internal(global_id: str) -> str:
    return base64.b64decode(global_id).decode().split(":", 1)[1]


@dataclass
class Built:
    """A world as written: internal ids by number, and labels for global ids."""

    world: World
    users: list[str]  # internal ids, admin last
    tokens: dict[str, str | None]  # viewer name -> bearer token
    circles: list[str]
    posts: list[str]
    actions: list[tuple[str, int]]  # (ModAction id, circle)
    reports: list[tuple[str, int, int]]  # (Report id, circle, reporter)
    appeals: list[tuple[str, int, int]]  # (Appeal id, circle, appellant)
    labels: dict[str, str] = field(default_factory=dict)  # global id -> label

    def __post_init__(self) -> None:
        named = [
            *(("User", uid, user_label(self.world, u)) for u, uid in enumerate(self.users)),
            *(("Circle", cid, f"c{c}") for c, cid in enumerate(self.circles)),
            *(("Post", pid, f"p{p}") for p, pid in enumerate(self.posts)),
            *(("ModAction", aid, f"a{i}") for i, (aid, _) in enumerate(self.actions)),
            *(("Report", rid, f"r{i}") for i, (rid, _, _) in enumerate(self.reports)),
            *(("Appeal", aid, f"ap{i}") for i, (aid, _, _) in enumerate(self.appeals)),
        ]
        self.labels = {gid(t, i): label for t, i, label in named}

    def label(self, global_id: Any) -> str:
        return self.labels.get(str(global_id), f"?{global_id}")

    def describe_ids(self) -> str:
        actions = ", ".join(f"a{i}@c{c}" for i, (_, c) in enumerate(self.actions))
        reports = ", ".join(
            f"r{i}@c{c} by {user_label(self.world, u)}" for i, (_, c, u) in enumerate(self.reports)
        )
        appeals = ", ".join(
            f"ap{i}@c{c} by {user_label(self.world, u)}" for i, (_, c, u) in enumerate(self.appeals)
        )
        return (
            f"mod actions: {actions or '-'}; reports: {reports or '-'}; appeals: {appeals or '-'}"
        )


def circle_name(c: int) -> str:
    return f"Garden circle {c}"


def circle_description(c: int) -> str:
    return f"Neighbours who grow things, group {c}"


def circle_service(c: int) -> str | None:
    return "gardening" if c % 2 else None


def circle_trust(c: int) -> int:
    return 10 * c


async def build(gql: GQL, graph: Graph, redis: Redis, world: World) -> Built:
    """Users through ``adminUpsertUser``; everything else straight into Neo4j, in the shapes
    graph/circles.py, graph/social.py, graph/posts.py, graph/moderation.py and
    graph/reports.py write. Redis is emptied at the end: it holds only derived state, and
    the reads rebuild what they need from the graph."""
    made = await asyncio.gather(
        *(gql.make_user(f"az_{user_label(world, u)}") for u in range(world.users + 1))
    )
    users = [internal(m["id"]) for m in made]
    tokens: dict[str, str | None] = {"anonymous": None, "platform": gql.admin}
    for u in range(world.users):
        tokens[f"u{u}"] = made[u]["token"]
    tokens["ad"] = gql.token(made[world.admin]["platformId"], admin=True)
    tokens["u0+admin"] = gql.token(made[0]["platformId"], admin=True)

    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    circles = [new_id() for _ in world.circles]
    await graph.write(
        """
        UNWIND $rows AS row
        CREATE (:Circle {id: row.id, name: row.name, description: row.description,
                visibility: row.visibility, joinPolicy: row.policy,
                minTrustScore: row.minTrust, customersOnly: false, service: row.service,
                memberCount: row.members, createdAt: datetime(), updatedAt: datetime()})
        """,
        rows=[
            {
                "id": circles[c],
                "name": circle_name(c),
                "description": circle_description(c),
                "visibility": spec.visibility,
                "policy": spec.policy,
                "minTrust": circle_trust(c),
                "service": circle_service(c),
                "members": sum(is_member(world.place(u, c)) for u in range(world.users)),
            }
            for c, spec in enumerate(world.circles)
        ],
    )
    expiry = {"BANNED_TIMED": now + timedelta(days=1), "BAN_LAPSED": now - timedelta(minutes=1)}
    memberships: list[dict[str, Any]] = []
    for u in range(world.users):
        for c, spec in enumerate(world.circles):
            place = world.place(u, c)
            if place == "NONE":
                continue
            memberships.append(
                {
                    "user": users[u],
                    "circle": circles[c],
                    "state": "BANNED" if place in BANS else READS_AS[place][0],
                    "role": READS_AS[place][1],
                    "ms": now_ms - 3_600_000 + 1000 * len(memberships),
                    "message": "let me in" if place == "PENDING" else None,
                    "invitedBy": users[spec.owner] if place == "INVITED" else None,
                    "bannedUntil": expiry.get(place) if place in BANS else None,
                    "mutedUntil": PERMANENT_MUTE if place == "MUTED" else None,
                }
            )
    await graph.write(
        """
        UNWIND $rows AS row
        MATCH (u:User {id: row.user}), (c:Circle {id: row.circle})
        CREATE (u)-[:MEMBER_OF {state: row.state, role: row.role,
                since: datetime({epochMillis: row.ms}), updatedAt: datetime(),
                bannedUntil: row.bannedUntil, mutedUntil: row.mutedUntil,
                message: row.message, invitedBy: row.invitedBy}]->(c)
        """,
        rows=memberships,
    )
    await graph.write(
        """
        UNWIND $rows AS row
        MATCH (l:User {id: row.low}), (h:User {id: row.high})
        MERGE (l)-[f:FRIEND]->(h) ON CREATE SET f.since = datetime()
        """,
        rows=[
            dict(zip(("low", "high"), sorted((users[a], users[b])), strict=True))
            for a, b in sorted(world.friends)
        ],
    )
    await graph.write(
        """
        UNWIND $rows AS row
        MATCH (a:User {id: row.a}), (b:User {id: row.b})
        MERGE (a)-[k:BLOCKED]->(b) ON CREATE SET k.at = datetime()
        """,
        rows=[{"a": users[a], "b": users[b]} for a, b in sorted(world.blocks)],
    )

    posts: list[str] = []
    post_rows: list[dict[str, Any]] = []
    for p, post in enumerate(world.posts):
        post_id, ms = new_post_id(now_ms - 600_000 + 1000 * p)
        posts.append(post_id)
        post_rows.append(
            {
                "id": post_id,
                "ms": ms,
                "author": users[post.author],
                "circle": circles[post.circle] if post.circle is not None else None,
                "body": f"post {p}",
                "removed": post.removed,
                "deleted": post.deleted,
            }
        )
    await graph.write(
        """
        UNWIND $rows AS row
        MATCH (a:User {id: row.author})
        OPTIONAL MATCH (c:Circle {id: row.circle})
        CREATE (a)-[:POSTED]->(p:Post {id: row.id, body: row.body,
                createdAt: datetime({epochMillis: row.ms}), createdAtMs: row.ms,
                removed: row.removed, deleted: row.deleted, reactionCount: 0,
                commentCount: 0, fanout: 'DONE', hidden: false})
        FOREACH (_ IN CASE WHEN c IS NULL THEN [] ELSE [1] END | CREATE (p)-[:IN]->(c))
        """,
        rows=post_rows,
    )

    # the mod log: a BAN or MUTE for every ban (lapsed ones too) and mute, a REMOVE_POST for
    # every removal, all by the owner
    actions: list[tuple[str, int]] = []
    action_rows: list[dict[str, Any]] = []
    acted: dict[tuple[int, int], str] = {}
    for u in range(world.users):
        for c, spec in enumerate(world.circles):
            place = world.place(u, c)
            if place in (*BANS, "MUTED"):
                action_id, ms = new_post_id(now_ms - 300_000 + 1000 * len(action_rows))
                acted[(u, c)] = action_id
                actions.append((action_id, c))
                action_rows.append(
                    {
                        "id": action_id,
                        "ms": ms,
                        "kind": "MUTE" if place == "MUTED" else "BAN",
                        "actor": users[spec.owner],
                        "circle": circles[c],
                        "user": users[u],
                        "post": None,
                        "expiresAt": expiry.get(place),
                    }
                )
    for p, post in enumerate(world.posts):
        if post.removed and post.circle is not None:
            action_id, ms = new_post_id(now_ms - 300_000 + 1000 * len(action_rows))
            actions.append((action_id, post.circle))
            action_rows.append(
                {
                    "id": action_id,
                    "ms": ms,
                    "kind": "REMOVE_POST",
                    "actor": users[world.circles[post.circle].owner],
                    "circle": circles[post.circle],
                    "user": users[post.author],
                    "post": posts[p],
                    "expiresAt": None,
                }
            )
    await graph.write(
        """
        UNWIND $rows AS row
        MATCH (m:User {id: row.actor}), (c:Circle {id: row.circle})
        CREATE (m)-[:TOOK]->(a:ModAction {id: row.id, kind: row.kind, reason: null,
                expiresAt: row.expiresAt, createdAt: datetime({epochMillis: row.ms})})
               -[:IN]->(c)
        WITH a, row
        OPTIONAL MATCH (u:User {id: row.user})
        OPTIONAL MATCH (p:Post {id: row.post})
        FOREACH (_ IN CASE WHEN u IS NULL THEN [] ELSE [1] END | CREATE (a)-[:ON_USER]->(u))
        FOREACH (_ IN CASE WHEN p IS NULL THEN [] ELSE [1] END | CREATE (a)-[:ON_POST]->(p))
        """,
        rows=action_rows,
    )

    appeals: list[tuple[str, int, int]] = []
    appeal_rows: list[dict[str, Any]] = []
    for u, c in sorted(world.appealed):
        appeal_id, ms = new_post_id(now_ms - 200_000 + 1000 * len(appeal_rows))
        appeals.append((appeal_id, c, u))
        appeal_rows.append({"id": appeal_id, "ms": ms, "user": users[u], "action": acted[(u, c)]})
    await graph.write(
        """
        UNWIND $rows AS row
        MATCH (a:ModAction {id: row.action}), (u:User {id: row.user})
        CREATE (u)-[:APPEALED]->(:Appeal {id: row.id, message: 'please', state: 'PENDING',
                createdAt: datetime({epochMillis: row.ms}), actionId: row.action})
               -[:AGAINST]->(a)
        """,
        rows=appeal_rows,
    )

    # one OPEN report per reported post, by a fellow member who may read it (below the
    # hiding threshold, so the post stays as it is)
    model = Reference(world)
    reports: list[tuple[str, int, int]] = []
    report_rows: list[dict[str, Any]] = []
    for p, post in enumerate(world.posts):
        if not post.reported or post.circle is None:
            continue
        reporters = [
            u
            for u in range(world.users)
            if u != post.author
            and world.place(u, post.circle) in ("MEMBER", "MODERATOR", "OWNER")
            and not model.blocked(u, post.author)
        ]
        if not reporters:
            continue
        report_id, ms = new_post_id(now_ms - 100_000 + 1000 * len(report_rows))
        reports.append((report_id, post.circle, reporters[0]))
        report_rows.append(
            {
                "id": report_id,
                "ms": ms,
                "reporter": users[reporters[0]],
                "circle": circles[post.circle],
                "post": posts[p],
                "key": f"{users[reporters[0]]}|post:{posts[p]}",
            }
        )
    await graph.write(
        """
        UNWIND $rows AS row
        MATCH (me:User {id: row.reporter}), (c:Circle {id: row.circle}),
              (p:Post {id: row.post})
        CREATE (me)-[:FILED]->(r:Report {id: row.id, reason: 'spam', state: 'OPEN',
                createdAt: datetime({epochMillis: row.ms}), dedupeKey: row.key})-[:IN]->(c)
        CREATE (r)-[:ABOUT_POST]->(p)
        """,
        rows=report_rows,
    )
    await redis.flushdb()
    return Built(world, users, tokens, circles, posts, actions, reports, appeals)


async def wipe(graph: Graph, redis: Redis) -> None:
    await graph.write("MATCH (n) DETACH DELETE n")
    await redis.flushdb()


# ---------------------------------------------------------------- what the model expects

CARD_FIELDS = """id name description visibility joinPolicy minTrustScore customersOnly service
  memberCount viewerMembership viewerRole"""


def circles_doc(count: int) -> str:
    """Every read of ``count`` circles in one document (``$c0`` ...), aliased ``k<i>_<field>``:
    one request per viewer, and the DataLoaders batch the circles' loads and pages."""
    parts = []
    for i in range(count):
        parts.append(
            f"""
  k{i}_circle: circle(id: $c{i}) {{ {CARD_FIELDS}
    members(first: 50) {{ edges {{ node {{ state role user {{ id }} }} }} }}
    joinRequests(first: 50) {{ edges {{ node {{ state role user {{ id }} }} }} }}
    posts(first: 50) {{ edges {{ node {{ id removed }} }} }}
  }}
  k{i}_node: node(id: $c{i}) {{ __typename ... on Circle {{ {CARD_FIELDS} }} }}
  k{i}_modLog: modLog(circleId: $c{i}, first: 50) {{ edges {{ node {{ id }} }} }}
  k{i}_moderationQueue: moderationQueue(circleId: $c{i}, first: 50) {{
    edges {{ node {{ id }} }} }}
  k{i}_appeals: appeals(circleId: $c{i}, first: 50) {{ edges {{ node {{ id }} }} }}
  k{i}_automodRules: automodRules(circleId: $c{i}) {{ label }}"""
        )
    params = ", ".join(f"$c{i}: ID!" for i in range(count))
    return f"query({params}) {{{''.join(parts)}\n}}"


LISTS_DOC = """query($q: String!) {
  myCircles(first: 50) { edges { node { id viewerMembership viewerRole } } }
  discoverCircles(first: 50) { edges { node { id } } }
  search: discoverCircles(query: $q, first: 50) { edges { node { id } } }
  homeFeed(first: 50) { edges { node { id } } }
}"""
POST_FIELDS = "__typename id removed circle { id }"
NODE_FIELDS = (
    "__typename id ... on Post { removed circle { id } } ... on Report { reporter { id } }"
)
ALIASES_PER_DOC = 24  # under QUANZI_MAX_ALIASES (30)


@dataclass(frozen=True)
class Between:
    """A list that must hold ``required`` and may hold no more than ``allowed``."""

    required: frozenset[str]
    allowed: frozenset[str]

    def admits(self, actual: Any) -> bool:
        return isinstance(actual, frozenset) and self.required <= actual <= self.allowed

    def __str__(self) -> str:
        return f"at least {show(self.required)} and at most {show(self.allowed)}"


@dataclass(frozen=True)
class AnyOf:
    """Any one of ``options``: where the rules leave the answer open."""

    options: tuple[Any, ...]

    def admits(self, actual: Any) -> bool:
        return actual in self.options

    def __str__(self) -> str:
        return "one of " + " | ".join(show(o) for o in self.options)


def show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(value)) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def card(built: Built, model: Reference, viewer: Viewer, c: int) -> dict[str, Any]:
    world = built.world
    state, role = model.membership(viewer, c)
    return {
        "id": f"c{c}",
        "name": circle_name(c),
        "description": circle_description(c),
        "visibility": world.circles[c].visibility,
        "joinPolicy": world.circles[c].policy,
        "minTrustScore": circle_trust(c),
        "customersOnly": False,
        "service": circle_service(c),
        "memberCount": sum(is_member(world.place(u, c)) for u in range(world.users)),
        "viewerMembership": state,
        "viewerRole": role,
    }


def post_view(model: Reference, p: int) -> dict[str, Any]:
    post = model.world.posts[p]
    return {
        "__typename": "Post",
        "id": f"p{p}",
        "removed": post.removed,  # readable and removed: only for moderators, who see it so
        "circle": f"c{post.circle}" if post.circle is not None else None,
    }


def expected(built: Built, model: Reference, viewer: Viewer) -> dict[str, Any]:
    """Every path's answer for one viewer, in the shapes ``observe`` normalises to."""
    world = built.world
    want: dict[str, Any] = {}
    for c in range(len(world.circles)):
        rights = model.rights(viewer, c)
        if CARD not in rights:
            want[f"circle(c{c})"] = None
            want[f"node(c{c})"] = None
        else:
            want[f"circle(c{c})"] = card(built, model, viewer, c)
            want[f"circle(c{c}).members"] = (
                frozenset(
                    f"{user_label(world, u)}:{READS_AS[world.place(u, c)][1]}"
                    for u in range(world.users)
                    if is_member(world.place(u, c))
                )
                if MEMBERS in rights
                else None
            )
            want[f"circle(c{c}).joinRequests"] = (
                frozenset(
                    f"u{u}:PENDING" for u in range(world.users) if world.place(u, c) == "PENDING"
                )
                if MODERATE in rights
                else None
            )
            want[f"circle(c{c}).posts"] = (
                frozenset(
                    f"p{p}" + ("!removed" if post.removed else "")
                    for p, post in enumerate(world.posts)
                    if post.circle == c and model.reads(viewer, p)
                )
                if POSTS in rights
                else None
            )
            want[f"node(c{c})"] = {"__typename": "Circle", **card(built, model, viewer, c)}
        moderates = MODERATE in rights
        for path, circles_of, prefix in (
            ("modLog", [ic for _, ic in built.actions], "a"),
            ("moderationQueue", [ic for _, ic, _ in built.reports], "r"),
            ("appeals", [ic for _, ic, _ in built.appeals], "ap"),
        ):
            want[f"{path}(c{c})"] = (
                frozenset(f"{prefix}{i}" for i, ic in enumerate(circles_of) if ic == c)
                if moderates
                else None
            )
        want[f"automodRules(c{c})"] = frozenset() if moderates else None

    want["myCircles"] = frozenset(
        f"c{c}:MEMBER:{model.membership(viewer, c)[1]}"
        for c in range(len(world.circles))
        if model.membership(viewer, c)[0] == "MEMBER"
    )
    # Discovery: only circles whose card the viewer sees, and PRIVATE ones only for their
    # MEMBERs (docs/product.md). Anonymous viewers get every non-PRIVATE circle (README:
    # the largest ones; here they all fit on a page). A text search finds every circle
    # the viewer may find (all names hold the word); whether a platform admin finds a
    # PRIVATE circle they are not a member of the rules leave open.
    findable = frozenset(
        f"c{c}"
        for c, spec in enumerate(world.circles)
        if CARD in model.rights(viewer, c)
        and (spec.visibility != "PRIVATE" or model.membership(viewer, c)[0] == "MEMBER")
    )
    if viewer.user is None and not viewer.admin:
        want["discoverCircles"] = findable
    else:
        want["discoverCircles"] = Between(frozenset(), findable)
    if viewer.admin:
        want["discoverCircles(query)"] = Between(
            findable,
            frozenset(
                f"c{c}" for c in range(len(world.circles)) if CARD in model.rights(viewer, c)
            ),
        )
    else:
        want["discoverCircles(query)"] = findable
    feed = {p: model.in_feed(viewer, p) for p in range(len(world.posts))}
    want["homeFeed"] = Between(
        frozenset(f"p{p}" for p, inside in feed.items() if inside),
        frozenset(f"p{p}" for p, inside in feed.items() if inside is not False),
    )

    for p in range(len(world.posts)):
        view = post_view(model, p) if model.reads(viewer, p) else None
        want[f"post(p{p})"] = view
        want[f"node(p{p})"] = view
    for i, (_, c) in enumerate(built.actions):
        moderates = MODERATE in model.rights(viewer, c)
        want[f"node(a{i})"] = {"__typename": "ModAction", "id": f"a{i}"} if moderates else None
    # README, "Reports": the reporter is visible to moderators only. Whether reporters and
    # appellants may open their own report or appeal the rules leave open.
    for i, (_, c, reporter) in enumerate(built.reports):
        report = {"__typename": "Report", "id": f"r{i}"}
        if MODERATE in model.rights(viewer, c):
            want[f"node(r{i})"] = {**report, "reporter": user_label(world, reporter)}
        elif viewer.user == reporter:
            want[f"node(r{i})"] = AnyOf(
                (None, {**report, "reporter": None}, {**report, "reporter": f"u{reporter}"})
            )
        else:
            want[f"node(r{i})"] = None
    for i, (_, c, appellant) in enumerate(built.appeals):
        appeal = {"__typename": "Appeal", "id": f"ap{i}"}
        if MODERATE in model.rights(viewer, c):
            want[f"node(ap{i})"] = appeal
        elif viewer.user == appellant:
            want[f"node(ap{i})"] = AnyOf((None, appeal))
        else:
            want[f"node(ap{i})"] = None
    return want


# ---------------------------------------------------------------- what the product answers


def ids(built: Built, connection: Any) -> frozenset[str] | None:
    if connection is None:
        return None
    return frozenset(built.label(e["node"]["id"]) for e in connection["edges"])


def membership_labels(built: Built, connection: Any) -> frozenset[str] | None:
    if connection is None:
        return None
    found = set()
    for edge in connection["edges"]:
        node = edge["node"]
        who = built.label(node["user"]["id"])
        state, role = node["state"], node["role"]
        found.add(f"{who}:{role}" if state == "MEMBER" else f"{who}:{state}")
    return frozenset(found)


def card_of(built: Built, node: Any) -> dict[str, Any] | None:
    if node is None:
        return None
    found = {k: v for k, v in node.items() if k not in ("members", "joinRequests", "posts")}
    found["id"] = built.label(found.get("id"))
    return found


def node_of(built: Built, node: Any) -> dict[str, Any] | None:
    if node is None:
        return None
    found = dict(node)
    found["id"] = built.label(found.get("id"))
    if isinstance(found.get("circle"), dict):
        found["circle"] = built.label(found["circle"]["id"])
    if "reporter" in found:
        found["reporter"] = built.label(found["reporter"]["id"]) if found["reporter"] else None
    return found


async def fetch(
    gql: GQL, query: str, variables: dict[str, Any], token: str | None, seen: dict[str, Any]
) -> dict[str, Any]:
    """The data of one request; errors are recorded as an answer the model never expects."""
    body = await gql(query, variables, token=token)
    if body.get("errors"):
        paths = sorted({str(e.get("path")) for e in body["errors"]})
        seen[f"errors({', '.join(paths)})"] = [e.get("message") for e in body["errors"]]
    data: dict[str, Any] = body.get("data") or {}
    return data


async def observe(
    gql: GQL, built: Built, viewer: Viewer, gate: asyncio.Semaphore
) -> dict[str, Any]:
    """Every path's answer for one viewer, normalised to labels."""
    token = built.tokens[viewer.name]
    seen: dict[str, Any] = {}

    async def circles() -> None:
        variables = {f"c{c}": gid("Circle", cid) for c, cid in enumerate(built.circles)}
        async with gate:
            data = await fetch(gql, circles_doc(len(built.circles)), variables, token, seen)
        for c in range(len(built.circles)):
            circle = data.get(f"k{c}_circle")
            seen[f"circle(c{c})"] = card_of(built, circle)
            if circle is not None:
                seen[f"circle(c{c}).members"] = membership_labels(built, circle["members"])
                seen[f"circle(c{c}).joinRequests"] = membership_labels(
                    built, circle["joinRequests"]
                )
                posts = circle["posts"]
                seen[f"circle(c{c}).posts"] = (
                    None
                    if posts is None
                    else frozenset(
                        built.label(e["node"]["id"]) + ("!removed" if e["node"]["removed"] else "")
                        for e in posts["edges"]
                    )
                )
            seen[f"node(c{c})"] = card_of(built, data.get(f"k{c}_node"))
            for path in ("modLog", "moderationQueue", "appeals"):
                seen[f"{path}(c{c})"] = ids(built, data.get(f"k{c}_{path}"))
            rules = data.get(f"k{c}_automodRules")
            seen[f"automodRules(c{c})"] = (
                None if rules is None else frozenset(r["label"] for r in rules)
            )

    async def lists() -> None:
        async with gate:
            data = await fetch(gql, LISTS_DOC, {"q": SEARCH_WORD}, token, seen)
        mine = data.get("myCircles")
        seen["myCircles"] = (
            None
            if mine is None
            else frozenset(
                f"{built.label(e['node']['id'])}:{e['node']['viewerMembership']}:"
                f"{e['node']['viewerRole']}"
                for e in mine["edges"]
            )
        )
        seen["discoverCircles"] = ids(built, data.get("discoverCircles"))
        seen["discoverCircles(query)"] = ids(built, data.get("search"))
        seen["homeFeed"] = ids(built, data.get("homeFeed"))

    # post(id) and node(id) of every post, node(id) of every mod action, aliased in batches
    lookups: list[tuple[str, str, str]] = []  # (path, root field, global id)
    for p, pid in enumerate(built.posts):
        lookups.append((f"post(p{p})", "post", gid("Post", pid)))
        lookups.append((f"node(p{p})", "node", gid("Post", pid)))
    for i, (aid, _) in enumerate(built.actions):
        lookups.append((f"node(a{i})", "node", gid("ModAction", aid)))
    for i, (rid, _, _) in enumerate(built.reports):
        lookups.append((f"node(r{i})", "node", gid("Report", rid)))
    for i, (aid, _, _) in enumerate(built.appeals):
        lookups.append((f"node(ap{i})", "node", gid("Appeal", aid)))

    async def nodes(batch: Sequence[tuple[str, str, str]]) -> None:
        params = ", ".join(f"$v{i}: ID!" for i in range(len(batch)))
        fields = " ".join(
            f"f{i}: {root}(id: $v{i}) {{ {POST_FIELDS if root == 'post' else NODE_FIELDS} }}"
            for i, (_, root, _) in enumerate(batch)
        )
        variables = {f"v{i}": g for i, (_, _, g) in enumerate(batch)}
        async with gate:
            data = await fetch(gql, f"query({params}) {{ {fields} }}", variables, token, seen)
        for i, (path, _, _) in enumerate(batch):
            found = node_of(built, data.get(f"f{i}"))
            if found is not None and found["__typename"] != "Post":
                found = {k: v for k, v in found.items() if k in ("__typename", "id", "reporter")}
            seen[path] = found

    batches = [lookups[i : i + ALIASES_PER_DOC] for i in range(0, len(lookups), ALIASES_PER_DOC)]
    await asyncio.gather(
        circles(),
        lists(),
        *(nodes(b) for b in batches),
    )
    return seen


ABSENT = "<absent>"


def compare(viewer: str, want: Mapping[str, Any], got: Mapping[str, Any]) -> list[str]:
    """Every path where the answer differs from the model, as one line each. A path under a
    circle (``circle(c1).posts``) is not reported again when the circle itself differs."""
    found: list[str] = []
    failed: set[str] = set()
    for path, expectation in want.items():
        parent = path.split(".", 1)[0]
        if parent != path and parent in failed:
            continue
        actual = got.get(path, ABSENT)
        ok = (
            expectation.admits(actual)
            if isinstance(expectation, Between | AnyOf)
            else actual == expectation
        )
        if not ok:
            failed.add(path)
            found.append(f"{path} as {viewer}: expected {show(expectation)}, got {show(actual)}")
    for path, actual in got.items():
        parent = path.split(".", 1)[0]
        if path not in want and parent not in failed:
            found.append(f"{path} as {viewer}: expected nothing, got {show(actual)}")
    return found


async def check_world(
    gql: GQL, built: Built, model: Reference | None = None, coverage: Coverage | None = None
) -> list[str]:
    """All mismatches between the product and ``model`` (the reference) in one world."""
    model = model or Reference(built.world)
    gate = asyncio.Semaphore(CONCURRENCY)
    everyone = viewers(built.world)
    seen = await asyncio.gather(*(observe(gql, built, v, gate) for v in everyone))
    found: list[str] = []
    for viewer, got in zip(everyone, seen, strict=True):
        want = expected(built, model, viewer)
        if coverage is not None:
            coverage.count(want)
        found += compare(viewer.name, want, got)
    return found


# ---------------------------------------------------------------- the tests


def draw_worlds(count: int) -> list[World]:
    drawn: list[World] = []

    @seed(SEED)
    @settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(worlds())
    def collect(world: World) -> None:
        drawn.append(world)

    collect()
    return drawn


@dataclass
class Coverage:
    """What the worlds reached: (viewer kind, visibility) cells, places, post cases, and
    how many answers of each path were compared (and how many of them were not empty)."""

    cells: set[tuple[str, str]] = field(default_factory=set)
    places: set[str] = field(default_factory=set)
    posts: set[str] = field(default_factory=set)
    checked: Counter[str] = field(default_factory=Counter)
    shown: Counter[str] = field(default_factory=Counter)

    def count(self, want: Mapping[str, Any]) -> None:
        for path, expectation in want.items():
            name = re.sub(r"\d+", "", path)  # node(p3) -> node(p), circle(c1).posts -> ...
            self.checked[name] += 1
            empty = isinstance(expectation, Between) and not expectation.required
            if expectation not in (None, frozenset()) and not empty:
                self.shown[name] += 1

    def add(self, world: World) -> None:
        model = Reference(world)
        self.places.update(p for row in world.places for p in row)
        for viewer in viewers(world):
            for c, spec in enumerate(world.circles):
                self.cells.add((model.kind(viewer, c), spec.visibility))
        for post in world.posts:
            kind = "profile" if post.circle is None else "circle"
            flags = [
                kind,
                *(f for f, on in (("removed", post.removed), ("deleted", post.deleted)) if on),
            ]
            self.posts.add("+".join(flags))
            if any(
                v.user is not None and model.blocked(v.user, post.author) for v in viewers(world)
            ):
                self.posts.add(f"{kind}+blocked")

    def __str__(self) -> str:
        cells = ", ".join(f"{k}/{v}" for k, v in sorted(self.cells))
        paths = ", ".join(f"{p} {self.shown[p]}/{n}" for p, n in sorted(self.checked.items()))
        return (
            f"{len(self.cells)}/15 cells ({cells})\n  places: {', '.join(sorted(self.places))}"
            f"\n  posts: {', '.join(sorted(self.posts))}"
            f"\n  answers compared (not null or empty / all): {paths}"
        )


async def test_every_read_path_follows_the_rules(client: GQL, graph: Graph, redis: Redis) -> None:
    drawn = draw_worlds(EXAMPLES)
    coverage = Coverage()
    failures: list[tuple[World, Built, list[str]]] = []
    started = time.monotonic()
    for i, world in enumerate(drawn):
        if i:
            await wipe(graph, redis)
        built = await build(client, graph, redis, world)
        coverage.add(world)
        found = await check_world(client, built, coverage=coverage)
        if found:
            failures.append((world, built, found))
    print(
        f"\nauthz: {len(drawn)} worlds (seed {SEED}) in {time.monotonic() - started:.1f}s; "
        f"{coverage}"
    )
    if failures:
        world, built, found = min(failures, key=lambda f: (f[0].size(), len(f[2])))
        shown = "\n  ".join(found[:25]) + (
            f"\n  ... and {len(found) - 25} more" if len(found) > 25 else ""
        )
        raise AssertionError(
            f"{len(failures)} of {len(drawn)} worlds disagree with docs/product.md "
            f"(QUANZI_AUTHZ_SEED={SEED} replays this run). The smallest:\n  "
            f"{describe(world)}\n  {built.describe_ids()}\nmismatches:\n  {shown}"
        )


# A world with something in every corner the broken tables below touch.
SELF_CHECK = World(
    users=3,
    circles=(
        CircleSpec("SEMI_PUBLIC", "APPROVAL", 0),
        CircleSpec("PRIVATE", "INVITE", 0),
    ),
    places=(("OWNER", "OWNER"), ("PENDING", "INVITED"), ("BANNED", "MEMBER")),
    friends=frozenset({(0, 1)}),
    blocks=frozenset({(2, 3)}),
    posts=(
        PostSpec(0, 0, False, False, False),
        PostSpec(2, 1, True, False, True),
        PostSpec(1, None, False, False, False),
    ),
    appealed=frozenset({(2, 0)}),
)


async def test_the_check_catches_a_broken_rule(client: GQL, graph: Graph, redis: Redis) -> None:
    """The comparison is not vacuous: the same world checked against tables with one cell
    wrong reports exactly the paths that cell governs, and the right table reports none."""
    # the helper alone: a wrong expectation is a mismatch, a right one is not
    assert compare("u0", {"post(p0)": None}, {"post(p0)": {"id": "p0"}}) != []
    assert compare("u0", {"x": Between(frozenset({"c0"}), frozenset({"c0"}))}, {"x": frozenset()})
    assert compare("u0", {"post(p0)": None}, {"post(p0)": None}) == []

    built = await build(client, graph, redis, SELF_CHECK)
    assert await check_world(client, built) == []

    # outsiders read SEMI_PUBLIC posts: c0's posts would show to the anonymous viewer,
    # its only outsider (u1 asked to join, u2 is banned, the admins moderate it)
    leaky = {**TABLE, "outsider": {**TABLE["outsider"], "SEMI_PUBLIC": frozenset({CARD, POSTS})}}
    found = await check_world(client, built, Reference(SELF_CHECK, leaky))
    assert {m.split(":", 1)[0] for m in found} == {
        "circle(c0).posts as anonymous",
        "post(p0) as anonymous",
        "node(p0) as anonymous",
    }, found

    # banned users see nothing of a SEMI_PUBLIC circle: u2's card of c0 is really there
    hidden = {**TABLE, "banned": {**TABLE["banned"], "SEMI_PUBLIC": NOTHING}}
    found = await check_world(client, built, Reference(SELF_CHECK, hidden))
    assert any(m.startswith("circle(c0) as u2:") for m in found), found
    assert all(" as u2:" in m for m in found), found

    # INVITED users see nothing of a PRIVATE circle: u1's card of c1 is really there
    strict = {**TABLE, "waiting": {**TABLE["waiting"], "PRIVATE": NOTHING}}
    found = await check_world(client, built, Reference(SELF_CHECK, strict))
    assert any(m.startswith("circle(c1) as u1:") for m in found), found

    # blocks hide nothing: p1, removed in c1, would show to ad, who moderates c1 but is
    # blocked by its author u2
    found = await check_world(client, built, IgnoresBlocks(SELF_CHECK))
    assert {m.split(":", 1)[0] for m in found} == {
        "circle(c1).posts as ad",
        "post(p1) as ad",
        "node(p1) as ad",
    }, found


@dataclass(frozen=True)
class IgnoresBlocks(Reference):
    """A deliberately wrong reference, for the self-check: blocks hide nothing."""

    def blocked(self, a: int, b: int) -> bool:
        return False
