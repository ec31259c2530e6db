"""The User type; what a viewer may see of another user is decided here."""

from __future__ import annotations

from collections.abc import Iterable

import strawberry
from strawberry import relay

from graph.users import UserRecord
from schema.core import Info


@strawberry.type(name="User")
class User(relay.Node):
    id: relay.NodeID[str]
    handle: str
    display_name: str
    record: strawberry.Private[UserRecord]

    @classmethod
    def from_record(cls, record: UserRecord) -> User:
        return cls(
            id=record.id, handle=record.handle, display_name=record.display_name, record=record
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[User | None]:
        records = await info.context.loaders.users.load_many(list(node_ids))
        return [cls.from_record(r) if r is not None else None for r in records]

    def _is_viewer(self, info: Info) -> bool:
        return info.context.viewer.id == self.id

    @strawberry.field(description="Only the viewer sees their own value; null for everyone else.")
    def trust_score(self, info: Info) -> int | None:
        return self.record.trust_score if self._is_viewer(info) else None

    @strawberry.field(
        description=(
            "Whether this user may appear in other people's suggestions "
            "(self only; null for others)."
        )
    )
    def discoverable(self, info: Info) -> bool | None:
        return self.record.discoverable if self._is_viewer(info) else None
