"""Per-request batch loaders: a list of 50 costs the same round trips as a list of 5.

Nested lists load through page loaders too (a page request is the key), so the circles of
50 merchants, the members of 50 circles or the friends of 50 users are one statement.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
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
    _blocked: frozenset[str] | None = field(init=False, default=None)
    _blocked_lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    # Each loader is made when a request first uses it (most use two or three of them).

    @cached_property
    def users(self) -> DataLoader[str, UserRecord | None]:
        return DataLoader(load_fn=self._load_users)

    @cached_property
    def relations(self) -> DataLoader[str, Relation]:
        return DataLoader(load_fn=self._load_relations)

    @cached_property
    def friend_requests(self) -> DataLoader[str, FriendRequestRecord | None]:
        return DataLoader(load_fn=self._load_requests)

    @cached_property
    def circles(self) -> DataLoader[str, CircleRecord | None]:
        return DataLoader(load_fn=self._load_circles)

    @cached_property
    def memberships(self) -> DataLoader[str, MembershipRecord]:
        return DataLoader(load_fn=self._load_memberships)

    @cached_property
    def merchants(self) -> DataLoader[str, Merchant | None]:
        return DataLoader(load_fn=self._load_merchants)

    @cached_property
    def posts(self) -> DataLoader[str, PostAccess | None]:
        return DataLoader(load_fn=self._load_posts)

    @cached_property
    def reacted(self) -> DataLoader[str, bool]:
        return DataLoader(load_fn=self._load_reacted)

    @cached_property
    def comments(self) -> DataLoader[CommentsPage, list[CommentRecord]]:
        graph, viewer = self.services.graph, self.viewer_id
        return DataLoader(load_fn=lambda pages: comments_pages(graph, viewer, pages))

    @cached_property
    def members(self) -> DataLoader[MembersPage, list[MembershipRecord]]:
        graph = self.services.graph
        return DataLoader(load_fn=lambda pages: members_pages(graph, pages))

    @cached_property
    def merchant_circles(self) -> DataLoader[MerchantCirclesPage, list[str]]:
        graph, viewer = self.services.graph, self.viewer_id
        return DataLoader(load_fn=lambda pages: merchant_circles_pages(graph, viewer, pages))

    @cached_property
    def circle_posts(self) -> DataLoader[CirclePostsPage, list[str]]:
        graph, viewer = self.services.graph, self.viewer_id
        return DataLoader(load_fn=lambda pages: circle_posts_pages(graph, viewer, pages))

    @cached_property
    def friends(self) -> DataLoader[FriendsPage, list[str]]:
        graph = self.services.graph
        return DataLoader(load_fn=lambda pages: friends_pages(graph, pages))

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
