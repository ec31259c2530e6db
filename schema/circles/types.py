"""Circle, Membership and Merchant types; every field asks ``graph.circles.access``, and
``moderated_circle`` is the one read-side answer to "does the viewer moderate it"."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import strawberry
from strawberry import relay

from graph import circles as domain
from graph import merchants
from schema.core import Info, page_size
from schema.pagination import Connection, Instant, connection, decode_cursor, encode_cursor
from schema.people.types import User
from schema.posts.types import Post, circle_posts

# Registered with Strawberry under the contract's names; annotations use the domain enums.
strawberry.enum(
    domain.Visibility,
    name="CircleVisibility",
    description="PUBLIC: anyone finds and reads it. SEMI_PUBLIC: anyone finds it and sees its "
    "card; only members read posts and see members. PRIVATE: hidden from all but members and "
    "invitees.",
)
strawberry.enum(domain.JoinPolicy, name="JoinPolicy")
strawberry.enum(domain.Role, name="CircleRole")
strawberry.enum(domain.State, name="MembershipState")


@strawberry.type
class GeoPoint:
    latitude: float
    longitude: float


@strawberry.input
class GeoPointInput:
    latitude: float
    longitude: float


@strawberry.type(name="Merchant")
class Merchant(relay.Node):
    id: relay.NodeID[str]
    name: str
    category: str
    record: strawberry.Private[merchants.Merchant]

    @classmethod
    def from_record(cls, record: merchants.Merchant) -> Merchant:
        return cls(id=record.id, name=record.name, category=record.category, record=record)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Merchant | None]:
        records = await info.context.loaders.merchants.load_many(list(node_ids))
        return [cls.from_record(r) if r is not None else None for r in records]

    @strawberry.field
    def location(self) -> GeoPoint | None:
        if self.record.latitude is None or self.record.longitude is None:
            return None
        return GeoPoint(latitude=self.record.latitude, longitude=self.record.longitude)

    @strawberry.field(description="The merchant's circles the viewer may find.")
    async def circles(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Circle]:
        size = page_size(info, first)
        cursor = decode_cursor(after, str)
        ids = await info.context.loaders.merchant_circles.load(
            domain.MerchantCirclesPage(self.id, size + 1, cursor[0] if cursor else None)
        )
        found = await Circle.visible(info, ids)
        return connection(found, first=size, cursor_of=lambda c: encode_cursor(c.id))


@strawberry.type(name="Circle")
class Circle(relay.Node):
    id: relay.NodeID[str]
    record: strawberry.Private[domain.CircleRecord]
    membership: strawberry.Private[domain.MembershipRecord]
    rights: strawberry.Private[domain.Access]

    @classmethod
    async def visible(cls, info: Info, ids: Sequence[str]) -> list[Circle]:
        """The circles whose card the viewer may see, in the order given."""
        loaders = info.context.loaders
        records = await loaders.circles.load_many(list(ids))
        memberships = await loaders.memberships.load_many(list(ids))
        found = []
        for record, membership in zip(records, memberships, strict=True):
            if record is None:
                continue
            rights = domain.access(
                record.visibility, membership.state, membership.role, admin=loaders.admin
            )
            if rights.card:
                found.append(cls(id=record.id, record=record, membership=membership, rights=rights))
        return found

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Circle | None]:
        ids = list(node_ids)
        by_id = {c.id: c for c in await cls.visible(info, ids)}
        return [by_id.get(i) for i in ids]

    @strawberry.field
    def name(self) -> str:
        return self.record.name

    @strawberry.field
    def description(self) -> str:
        return self.record.description

    @strawberry.field
    def visibility(self) -> domain.Visibility:
        return self.record.visibility

    @strawberry.field
    def join_policy(self) -> domain.JoinPolicy:
        return self.record.join_policy

    @strawberry.field(description="Members need at least this trust score (0 = no gate).")
    def min_trust_score(self) -> int:
        return self.record.min_trust_score

    @strawberry.field(
        description="Only users with a recorded visit or payment at the circle's merchant may join."
    )
    def customers_only(self) -> bool:
        return self.record.customers_only

    @strawberry.field(description="A service category the circle is about, e.g. 'education'.")
    def service(self) -> str | None:
        return self.record.service

    @strawberry.field
    def member_count(self) -> int:
        return self.record.member_count

    @strawberry.field
    async def merchant(self, info: Info) -> Merchant | None:
        if self.record.merchant_id is None:
            return None
        record = await info.context.loaders.merchants.load(self.record.merchant_id)
        return Merchant.from_record(record) if record else None

    @strawberry.field
    def viewer_membership(self) -> domain.State:
        return self.membership.state

    @strawberry.field
    def viewer_role(self) -> domain.Role | None:
        return self.membership.role

    async def _memberships(
        self, info: Info, state: domain.State, first: int | None, after: str | None
    ) -> Connection[Membership]:
        size = page_size(info, first)
        cursor = decode_cursor(after, Instant, str)
        records = await info.context.loaders.members.load(
            domain.MembersPage(self.id, state, size + 1, (cursor[0], cursor[1]) if cursor else None)
        )
        users = await info.context.loaders.users.load_many([r.user_id for r in records])
        items = [
            Membership(user=User.from_record(u), circle=self, record=r)
            for r, u in zip(records, users, strict=True)
            if u is not None
        ]
        return connection(
            items,
            first=size,
            cursor_of=lambda m: encode_cursor(
                m.record.since.isoformat() if m.record.since else "", m.record.user_id
            ),
        )

    @strawberry.field(description="Null when the viewer may not see the member list.")
    async def members(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Membership] | None:
        if not self.rights.members:
            return None
        return await self._memberships(info, domain.State.MEMBER, first, after)

    @strawberry.field(
        description="Null when the viewer may not read the circle's posts. Newest first; "
        "removed posts only for moderators."
    )
    async def posts(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Post] | None:
        rights = self.rights
        if not rights.posts:
            return None
        return await circle_posts(
            info, self.id, moderator=rights.moderate, first=first, after=after
        )

    @strawberry.field(description="Pending join requests: moderators and owner only, else null.")
    async def join_requests(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Membership] | None:
        if not self.rights.moderate:
            return None
        return await self._memberships(info, domain.State.PENDING, first, after)


async def moderated_circle(info: Info, circle_id: str) -> Circle | None:
    """The circle when the viewer moderates it (its owner and moderators, platform admins:
    ``graph.circles.moderates``), else None. The queue, appeals, mod log, automod rules,
    reports and their reporters are read through this."""
    found = await Circle.visible(info, [circle_id])
    return found[0] if found and found[0].rights.moderate else None


@strawberry.type
class Membership:
    user: User
    circle: Circle
    record: strawberry.Private[domain.MembershipRecord]

    @strawberry.field
    def state(self) -> domain.State:
        return self.record.state

    @strawberry.field
    def role(self) -> domain.Role | None:
        return self.record.role

    @strawberry.field
    def since(self) -> datetime | None:
        return self.record.since
