"""People types; what a viewer may see of another user is decided here."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

import strawberry
from strawberry import relay
from strawberry.utils.await_maybe import AwaitableOrValue

from graph import social
from graph.suggestions import Reason
from graph.users import UserRecord
from schema.core import Info, page_size
from schema.pagination import Connection, connection, decode_cursor, encode_cursor
from workers.suggestions import Shown


@strawberry.type(name="User")
class User(relay.Node):
    id: relay.NodeID[str]
    handle: str
    record: strawberry.Private[UserRecord]

    @classmethod
    def from_record(cls, record: UserRecord) -> User:
        return cls(id=record.id, handle=record.handle, record=record)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[User | None]:
        records = await info.context.loaders.users.load_many(list(node_ids))
        return [cls.from_record(r) if r is not None and not r.suspended else None for r in records]

    def _is_viewer(self, info: Info) -> bool:
        return info.context.viewer.id == self.id

    async def _blocked(self, info: Info) -> bool:
        return self.id in await info.context.loaders.blocked()

    def _shown_name(self, blocked: frozenset[str]) -> str:
        return self.handle if self.id in blocked else self.record.display_name

    async def _load_shown_name(self, info: Info) -> str:
        return self._shown_name(await info.context.loaders.blocked())

    @strawberry.field(description="Blocked users see only the handle.", graphql_type=str)
    def display_name(self, info: Info) -> AwaitableOrValue[str]:
        # At once when the request knows the viewer's blocks (a feed page does).
        blocked = info.context.loaders.blocked_now()
        return self._shown_name(blocked) if blocked is not None else self._load_shown_name(info)

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

    async def _is_friend(self, info: Info) -> bool:
        if info.context.viewer.id is None or self._is_viewer(info):
            return False
        return (await info.context.loaders.relations.load(self.id)).is_friend

    @strawberry.field
    async def is_friend(self, info: Info) -> bool:
        return await self._is_friend(info)

    @strawberry.field(description="Friends the viewer and this user have in common.")
    async def mutual_friend_count(self, info: Info) -> int:
        if info.context.viewer.id is None or self._is_viewer(info):
            return 0
        return (await info.context.loaders.relations.load(self.id)).mutual_friends

    @strawberry.field(
        description="Friends list: visible to the user and their friends only, else null."
    )
    async def friends(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[User] | None:
        if not self._is_viewer(info) and not await self._is_friend(info):
            return None
        size = page_size(info, first)
        cursor = decode_cursor(after, str)
        ids = await info.context.loaders.friends.load(
            social.FriendsPage(self.id, size + 1, cursor[0] if cursor else None)
        )
        records = await info.context.loaders.users.load_many(ids)
        friends = [User.from_record(r) for r in records if r is not None]
        return connection(
            friends, first=size, cursor_of=lambda u: encode_cursor(u.record.handle.lower())
        )


@strawberry.enum
class FriendRequestState(enum.Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"


@strawberry.type(name="FriendRequest")
class FriendRequest(relay.Node):
    id: relay.NodeID[str]
    state: FriendRequestState
    created_at: datetime
    record: strawberry.Private[social.FriendRequestRecord]

    @classmethod
    def from_record(cls, record: social.FriendRequestRecord) -> FriendRequest:
        return cls(
            id=record.id,
            state=FriendRequestState(record.state),
            created_at=record.created_at,
            record=record,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[FriendRequest | None]:
        """Only the two people a request is between can see it."""
        viewer = info.context.viewer.id
        records = await info.context.loaders.friend_requests.load_many(list(node_ids))
        return [
            cls.from_record(r)
            if r is not None and viewer is not None and viewer in (r.from_id, r.to_id)
            else None
            for r in records
        ]

    async def _user(self, info: Info, user_id: str) -> User:
        record = await info.context.loaders.users.load(user_id)
        if record is None:  # the graph guarantees both ends; fail loudly if not
            raise LookupError(f"friend request {self.id} lost user {user_id}")
        return User.from_record(record)

    @strawberry.field(name="from")
    async def from_(self, info: Info) -> User:
        return await self._user(info, self.record.from_id)

    @strawberry.field
    async def to(self, info: Info) -> User:
        return await self._user(info, self.record.to_id)


@strawberry.enum
class SuggestionReasonKind(enum.Enum):
    MUTUAL_FRIENDS = "MUTUAL_FRIENDS"
    CONTACT = "CONTACT"
    PAYMENT = "PAYMENT"
    SHARED_CIRCLE = "SHARED_CIRCLE"
    SHARED_MERCHANT = "SHARED_MERCHANT"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def reason_text(reason: Reason) -> str:
    """Never names a circle or merchant, nor says who has whose number or how much was paid."""
    n = reason.count or 0
    match reason.kind:
        case "MUTUAL_FRIENDS":
            return _plural(n, "mutual friend", "mutual friends")
        case "CONTACT":
            return "In your phone contacts"
        case "PAYMENT":
            return "You have paid each other"
        case "SHARED_CIRCLE":
            return _plural(n, "circle in common", "circles in common")
        case _:
            return _plural(n, "place you both visit", "places you both visit")


@strawberry.type
class SuggestionReason:
    kind: SuggestionReasonKind
    count: int | None = strawberry.field(
        description="How many of this kind (mutual friends, shared circles ...), where it counts."
    )
    text: str = strawberry.field(
        description=(
            "Human-readable, e.g. '3 mutual friends'. "
            "Never names a private circle or a payment amount."
        )
    )

    @classmethod
    def from_reason(cls, reason: Reason) -> SuggestionReason:
        return cls(
            kind=SuggestionReasonKind(reason.kind), count=reason.count, text=reason_text(reason)
        )


@strawberry.type
class Suggestion:
    user: User
    score: float = strawberry.field(
        description=(
            "A coarse band, 1.0, 0.75, 0.5 or 0.25: the quarter of the viewer's ranked list "
            "this suggestion is in. Never the raw score."
        )
    )
    reasons: list[SuggestionReason]
    position: strawberry.Private[int]

    @classmethod
    def build(cls, shown: Shown) -> Suggestion:
        return cls(
            user=User.from_record(shown.record),
            score=shown.band,
            reasons=[SuggestionReason.from_reason(r) for r in shown.scored.reasons],
            position=shown.position,
        )
