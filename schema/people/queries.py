"""Reads about people."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph import social
from graph.errors import ErrorCode
from schema.core import ClientError, Info, page_size, resolve_node
from schema.pagination import Connection, Instant, connection, decode_cursor, encode_cursor
from schema.people.types import FriendRequest, Suggestion, User
from workers.suggestions import suggestions_page


def _empty() -> Connection[FriendRequest]:
    return connection([], first=0, cursor_of=lambda _: "")


@strawberry.type
class PeopleQuery:
    @strawberry.field(description="The signed-in user; null when anonymous.")
    def me(self, info: Info) -> User | None:
        record = info.context.viewer.user
        return User.from_record(record) if record else None

    @strawberry.field
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        node = await resolve_node(info, id)
        return node if isinstance(node, User) else None

    @strawberry.field(description="Ranked suggestions for the viewer; empty when anonymous.")
    async def people_you_may_know(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Suggestion]:
        size = page_size(info, first)
        viewer = info.context.viewer.id
        if viewer is None:
            return connection([], first=size, cursor_of=lambda _: "")
        cursor = decode_cursor(after, int, str)
        if cursor is not None and cursor[0] < 0:
            raise ClientError("invalid cursor", ErrorCode.INVALID_INPUT)
        page = await suggestions_page(
            info.context.services,
            viewer,
            first=size,
            after=(cursor[0], cursor[1]) if cursor else None,
        )
        if page.blocked is not None:  # the cached list knew the viewer's blocks
            info.context.loaders.know_blocked(page.blocked)
        return connection(
            [Suggestion.build(row) for row in page.rows],
            first=size,
            cursor_of=lambda s: encode_cursor(s.position, s.user.id),
        )

    @strawberry.field(
        description="Pending friend requests to the viewer (or, with outgoing, from them), "
        "newest first."
    )
    async def friend_requests(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        outgoing: bool | None = False,
    ) -> Connection[FriendRequest]:
        size = page_size(info, first)
        viewer = info.context.viewer.id
        if viewer is None:
            return _empty()
        cursor = decode_cursor(after, Instant, str)
        records = await social.incoming_requests_page(
            info.context.graph,
            viewer,
            outgoing=bool(outgoing),
            first=size + 1,
            after=(cursor[0], cursor[1]) if cursor else None,
        )
        return connection(
            [FriendRequest.from_record(r) for r in records],
            first=size,
            cursor_of=lambda r: encode_cursor(_iso(r.created_at), r.id),
        )


def _iso(at: datetime) -> str:
    return at.isoformat()
