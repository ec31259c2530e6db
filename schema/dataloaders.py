"""Per-request batch loaders: a list of 50 costs the same round trips as a list of 5."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from graph.driver import Graph
from graph.users import UserRecord, users_by_ids


@dataclass
class Loaders:
    graph: Graph
    users: DataLoader[str, UserRecord | None] = field(init=False)

    def __post_init__(self) -> None:
        self.users = DataLoader(load_fn=self._load_users)

    async def _load_users(self, ids: Sequence[str]) -> list[UserRecord | None]:
        found = await users_by_ids(self.graph, ids)
        return [found.get(i) for i in ids]
