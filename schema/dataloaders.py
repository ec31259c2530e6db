"""Per-request batch loaders: a list of 50 costs the same round trips as a list of 5."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from graph.driver import Graph
from graph.social import (
    FriendRequestRecord,
    Relation,
    blocked_either_way,
    relations,
    requests_by_ids,
)
from graph.users import UserRecord, users_by_ids

NO_RELATION = Relation(is_friend=False, mutual_friends=0)


@dataclass
class Loaders:
    graph: Graph
    viewer_id: str | None = None
    users: DataLoader[str, UserRecord | None] = field(init=False)
    relations: DataLoader[str, Relation] = field(init=False)
    friend_requests: DataLoader[str, FriendRequestRecord | None] = field(init=False)
    _blocked: frozenset[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.users = DataLoader(load_fn=self._load_users)
        self.relations = DataLoader(load_fn=self._load_relations)
        self.friend_requests = DataLoader(load_fn=self._load_requests)

    async def _load_users(self, ids: Sequence[str]) -> list[UserRecord | None]:
        found = await users_by_ids(self.graph, ids)
        return [found.get(i) for i in ids]

    async def _load_relations(self, ids: Sequence[str]) -> list[Relation]:
        if self.viewer_id is None:
            return [NO_RELATION for _ in ids]
        found = await relations(self.graph, self.viewer_id, list(ids))
        return [found.get(i, NO_RELATION) for i in ids]

    async def _load_requests(self, ids: Sequence[str]) -> list[FriendRequestRecord | None]:
        found = await requests_by_ids(self.graph, list(ids))
        return [found.get(i) for i in ids]

    async def blocked(self) -> frozenset[str]:
        """Users blocked by or blocking the viewer, loaded once per request."""
        if self._blocked is None:
            self._blocked = (
                await blocked_either_way(self.graph, self.viewer_id)
                if self.viewer_id
                else frozenset()
            )
        return self._blocked
