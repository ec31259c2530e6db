"""Post and Comment types; what a viewer may read is ``graph.posts.may_read``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay
from strawberry.utils.await_maybe import AwaitableOrValue

from graph import posts as domain
from graph.users import UserRecord
from schema.core import Info, page_size
from schema.dataloaders import loaded, peek
from schema.pagination import Connection, connection, decode_cursor, encode_cursor
from schema.people.types import User

if TYPE_CHECKING:
    from schema.circles.types import Circle


def _as_author(user_id: str, record: UserRecord | None) -> User:
    if record is None:  # the graph guarantees an author; fail loudly if not
        raise LookupError(f"author {user_id} is missing")
    return User.from_record(record)


async def _load_author(info: Info, user_id: str) -> User:
    return _as_author(user_id, await info.context.loaders.users.load(user_id))


def _author(info: Info, user_id: str) -> AwaitableOrValue[User]:
    """The author at once when this request loaded them already (a feed page loads its
    authors in one batch before its fields resolve), else through the loader."""
    found = peek(info.context.loaders.users, user_id)
    if loaded(found):
        return _as_author(user_id, found)
    return _load_author(info, user_id)


@strawberry.type(name="Comment")
class Comment(relay.Node):
    id: relay.NodeID[str]
    record: strawberry.Private[domain.CommentRecord]

    @classmethod
    def from_record(cls, record: domain.CommentRecord) -> Comment:
        return cls(id=record.id, record=record)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Comment | None]:
        """A comment is readable when its post is and its author is not blocked."""
        ids = list(node_ids)
        found = await domain.comments_by_ids(info.context.graph, ids)
        readable = {p.id for p in await Post.visible(info, [c.post_id for c in found.values()])}
        blocked = await info.context.loaders.blocked()
        return [
            cls.from_record(c)
            if (c := found.get(i)) is not None
            and c.post_id in readable
            and c.author_id not in blocked
            else None
            for i in ids
        ]

    @strawberry.field(graphql_type=User)
    def author(self, info: Info) -> AwaitableOrValue[User]:
        return _author(info, self.record.author_id)

    @strawberry.field
    def body(self) -> str:
        return self.record.body

    @strawberry.field
    def created_at(self) -> datetime:
        return self.record.created_at


@strawberry.type(name="Post")
class Post(relay.Node):
    id: relay.NodeID[str]
    item: strawberry.Private[domain.PostAccess]
    # Plain values copied from the record when the Post is made (``Post.of``): Strawberry
    # resolves such fields on its fast path, not through a resolver call each (a feed
    # page has 20 posts of them).
    body: str
    created_at: datetime
    reaction_count: int
    comment_count: int = strawberry.field(description="Comments the viewer may see.")

    @classmethod
    def of(cls, item: domain.PostAccess) -> Post:
        """The Post of a record and the viewer's facts about it (already checked)."""
        record = item.post
        return cls(
            id=record.id,
            item=item,
            body=record.body,
            created_at=record.created_at,
            reaction_count=record.reaction_count,
            comment_count=max(0, record.comment_count - item.facts.hidden_comments),
        )

    @classmethod
    async def visible(cls, info: Info, ids: Sequence[str]) -> list[Post]:
        """The posts the viewer may read, in the order given (one batched load)."""
        items = await info.context.loaders.posts.load_many(list(ids))
        return [cls.of(item) for item in items if item is not None and domain.may_read(item)]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Post | None]:
        ids = list(node_ids)
        by_id = {p.id: p for p in await cls.visible(info, ids)}
        return [by_id.get(i) for i in ids]

    @property
    def record(self) -> domain.PostRecord:
        return self.item.post

    @strawberry.field(graphql_type=User)
    def author(self, info: Info) -> AwaitableOrValue[User]:
        return _author(info, self.record.author_id)

    @strawberry.field(description="Null for a profile post, which the author's friends see.")
    async def circle(
        self, info: Info
    ) -> Annotated[Circle, strawberry.lazy("schema.circles.types")] | None:
        from schema.circles.types import Circle

        if self.record.circle_id is None:
            return None
        found = await Circle.visible(info, [self.record.circle_id])
        return found[0] if found else None

    @strawberry.field(graphql_type=bool)
    def viewer_reacted(self, info: Info) -> AwaitableOrValue[bool]:
        if info.context.viewer.id is None:
            return False
        loader = info.context.loaders.reacted
        found = peek(loader, self.id)  # a feed page primes it from Redis
        return bool(found) if loaded(found) else loader.load(self.id)

    @strawberry.field(
        description="True only for moderators looking at a removed post; removed posts are "
        "invisible to everyone else."
    )
    def removed(self) -> bool:
        # A removed post is readable only by the circle's moderators (see may_read).
        return self.record.removed and domain.moderated(self.item)

    @strawberry.field(
        description="Comments, oldest first (newest last), without deleted ones and without "
        "those of users blocked either way with the viewer."
    )
    async def comments(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Comment]:
        size = page_size(info, first)
        cursor = decode_cursor(after, str)
        records = await info.context.loaders.comments.load(
            domain.CommentsPage(self.id, size + 1, cursor[0] if cursor else None)
        )
        return connection(
            [Comment.from_record(r) for r in records],
            first=size,
            cursor_of=lambda c: encode_cursor(c.id),
        )


async def circle_posts(
    info: Info, circle_id: str, *, moderator: bool, first: int | None, after: str | None
) -> Connection[Post]:
    """A circle's posts, newest first; the caller has checked ``access(...).posts``."""
    size = page_size(info, first)
    cursor = decode_cursor(after, int, str)
    keyset = (cursor[0], cursor[1]) if cursor else None
    ids = await info.context.loaders.circle_posts.load(
        domain.CirclePostsPage(circle_id, moderator, size + 1, keyset)
    )
    found = await Post.visible(info, ids)
    return connection(
        found,
        first=size,
        cursor_of=lambda p: encode_cursor(p.record.created_at_ms, p.id),
    )
