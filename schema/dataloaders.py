"""Per-request batch loaders: a list of 50 costs the same round trips as a list of 5.

Nested lists load through page loaders too (a page request is the key), so the circles of
50 merchants, the members of 50 circles or the friends of 50 users are one statement.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from graph.circles import (
    CircleRecord,
    MembershipRecord,
    MembersPage,
    MerchantCirclesPage,
    circles_by_ids,
    members_pages,
    memberships_of,
    merchant_circles_pages,
)
from graph.merchants import Merchant, merchants_by_ids
from graph.posts import (
    CirclePostsPage,
    CommentRecord,
    CommentsPage,
    PostAccess,
    circle_posts_pages,
    comments_pages,
    posts_for_viewer,
    reacted,
)
from graph.social import (
    FriendRequestRecord,
    FriendsPage,
    Relation,
    blocked_either_way,
    friends_pages,
    relations,
    requests_by_ids,
)
from graph.users import UserRecord, users_by_ids
from workers import cards
from workers.services import Services

NO_RELATION = Relation(is_friend=False, mutual_friends=0)

K = TypeVar("K")
V = TypeVar("V")
_NOT_LOADED: Any = object()


def peek(loader: DataLoader[K, V], key: K) -> V | Any:
    """What ``loader`` already holds for ``key`` (primed, or loaded earlier in the
    request), or ``_NOT_LOADED``: a resolver that finds its value here can answer
    synchronously, which spares graphql-core a coroutine, a task and a gather per field."""
    future = loader.cache_map.get(key)
    if future is None or not future.done() or future.cancelled() or future.exception():
        return _NOT_LOADED
    return future.result()


def loaded(value: object) -> bool:
    return value is not _NOT_LOADED


@dataclass
class Loaders:
    services: Services
    viewer_id: str | None = None
    admin: bool = False  # a platform admin moderates every circle
    users: DataLoader[str, UserRecord | None] = field(init=False)
    relations: DataLoader[str, Relation] = field(init=False)
    friend_requests: DataLoader[str, FriendRequestRecord | None] = field(init=False)
    circles: DataLoader[str, CircleRecord | None] = field(init=False)
    memberships: DataLoader[str, MembershipRecord] = field(init=False)
    merchants: DataLoader[str, Merchant | None] = field(init=False)
    posts: DataLoader[str, PostAccess | None] = field(init=False)
    reacted: DataLoader[str, bool] = field(init=False)
    comments: DataLoader[CommentsPage, list[CommentRecord]] = field(init=False)
    members: DataLoader[MembersPage, list[MembershipRecord]] = field(init=False)
    merchant_circles: DataLoader[MerchantCirclesPage, list[str]] = field(init=False)
    circle_posts: DataLoader[CirclePostsPage, list[str]] = field(init=False)
    friends: DataLoader[FriendsPage, list[str]] = field(init=False)
    _blocked: frozenset[str] | None = field(init=False, default=None)
    _blocked_lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        graph, viewer = self.services.graph, self.viewer_id
        self.users = DataLoader(load_fn=self._load_users)
        self.relations = DataLoader(load_fn=self._load_relations)
        self.friend_requests = DataLoader(load_fn=self._load_requests)
        self.circles = DataLoader(load_fn=self._load_circles)
        self.memberships = DataLoader(load_fn=self._load_memberships)
        self.merchants = DataLoader(load_fn=self._load_merchants)
        self.posts = DataLoader(load_fn=self._load_posts)
        self.reacted = DataLoader(load_fn=self._load_reacted)
        self.comments = DataLoader(load_fn=lambda pages: comments_pages(graph, viewer, pages))
        self.members = DataLoader(load_fn=lambda pages: members_pages(graph, pages))
        self.merchant_circles = DataLoader(
            load_fn=lambda pages: merchant_circles_pages(graph, viewer, pages)
        )
        self.circle_posts = DataLoader(
            load_fn=lambda pages: circle_posts_pages(graph, viewer, pages)
        )
        self.friends = DataLoader(load_fn=lambda pages: friends_pages(graph, pages))

    async def _load_users(self, ids: Sequence[str]) -> list[UserRecord | None]:
        """From the Redis card cache first; Neo4j for the misses (which are then cached)."""
        found = await cards.get_cards(self.services, ids)
        missing = [i for i in ids if i not in found]
        if missing:
            loaded = await users_by_ids(self.services.graph, missing)
            await cards.put_cards(self.services, loaded.values())
            found.update(loaded)
        return [found.get(i) for i in ids]

    async def _load_relations(self, ids: Sequence[str]) -> list[Relation]:
        if self.viewer_id is None:
            return [NO_RELATION for _ in ids]
        found = await relations(self.services.graph, self.viewer_id, list(ids))
        return [found.get(i, NO_RELATION) for i in ids]

    async def _load_requests(self, ids: Sequence[str]) -> list[FriendRequestRecord | None]:
        found = await requests_by_ids(self.services.graph, list(ids))
        return [found.get(i) for i in ids]

    async def _load_circles(self, ids: Sequence[str]) -> list[CircleRecord | None]:
        found = await circles_by_ids(self.services.graph, ids)
        return [found.get(i) for i in ids]

    async def _load_memberships(self, circle_ids: Sequence[str]) -> list[MembershipRecord]:
        """The viewer's membership in each circle (NONE for anonymous viewers)."""
        if self.viewer_id is None:
            return [MembershipRecord.none("", cid) for cid in circle_ids]
        found = await memberships_of(self.services.graph, self.viewer_id, circle_ids)
        return [found[cid] for cid in circle_ids]

    async def _load_merchants(self, ids: Sequence[str]) -> list[Merchant | None]:
        found = await merchants_by_ids(self.services.graph, ids)
        return [found.get(i) for i in ids]

    async def _load_posts(self, ids: Sequence[str]) -> list[PostAccess | None]:
        """Posts with the viewer's facts about each; ask ``graph.posts.may_read``."""
        found = await posts_for_viewer(self.services.graph, self.viewer_id, ids, admin=self.admin)
        return [found.get(i) for i in ids]

    async def _load_reacted(self, post_ids: Sequence[str]) -> list[bool]:
        if self.viewer_id is None:
            return [False for _ in post_ids]
        found = await reacted(self.services.graph, self.viewer_id, post_ids)
        return [i in found for i in post_ids]

    def forget_post(self, post_id: str) -> None:
        """After a write: the next read of this post and the viewer's reaction is fresh."""
        for loader in (self.posts, self.reacted):
            with contextlib.suppress(KeyError):
                loader.clear(post_id)

    def forget_circle(self, circle_id: str) -> None:
        """After a write: the next read of this circle and the viewer's place in it is fresh."""
        for loader in (self.circles, self.memberships):
            with contextlib.suppress(KeyError):  # never loaded in this request
                loader.clear(circle_id)

    def know_blocked(self, blocked: frozenset[str]) -> None:
        """The viewer's blocks are already known (the feed view carries them)."""
        self._blocked = blocked

    def blocked_now(self) -> frozenset[str] | None:
        """The viewer's blocks if this request knows them already, else None."""
        if self.viewer_id is None:
            return frozenset()
        return self._blocked

    async def blocked(self) -> frozenset[str]:
        """Users blocked by or blocking the viewer, loaded once per request (the lock makes
        the sibling fields of a list, resolved concurrently, share that one load)."""
        if self._blocked is None:
            async with self._blocked_lock:
                if self._blocked is None:
                    self._blocked = (
                        await blocked_either_way(self.services.graph, self.viewer_id)
                        if self.viewer_id
                        else frozenset()
                    )
        return self._blocked
