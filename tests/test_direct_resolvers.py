"""schema/direct.py: argument-free resolvers called straight from graphql-core answer
exactly as through Strawberry's wrapper, and nothing else is touched."""

from __future__ import annotations

import base64
from typing import Any

import strawberry
from strawberry import relay
from strawberry.permission import BasePermission

from schema.direct import resolve_directly
from schema.root import make_schema


class Never(BasePermission):
    message = "not allowed"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Thing:
    name: str

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    def seen_by(self, info: strawberry.Info) -> str:
        # selected_fields is Strawberry's Info, not graphql-core's
        return f"{self.name} seen by {info.context['viewer']} at {info.selected_fields[0].name}"

    @strawberry.field
    @staticmethod
    def constant() -> int:
        return 7

    @strawberry.field
    def parent_name(self, root: Thing) -> str:
        return f"root {root.name}"

    @strawberry.field
    async def later(self, info: strawberry.Info) -> str:
        return f"later {info.field_name}"

    @strawberry.field
    def times(self, n: int = 2) -> str:
        return self.name * n

    @strawberry.field(permission_classes=[Never])
    def secret(self) -> str | None:
        return "leaked"


@strawberry.type
class Shop(relay.Node):
    code: relay.NodeID[str]


@strawberry.type
class Stall(relay.Node):
    code: relay.NodeID[str]

    @classmethod
    def resolve_id(cls, root: Stall, *, info: strawberry.Info) -> str:
        return f"stall-{root.code}"


@strawberry.type
class Query:
    @strawberry.field
    def thing(self) -> Thing | None:
        return Thing(name="tea")

    @strawberry.field
    def shop(self) -> Shop:
        return Shop(code="noodles")

    @strawberry.field
    def stall(self) -> Stall:
        return Stall(code="7")


QUERY = (
    "{ thing { name shout seenBy constant parentName later times(n: 3) secret } "
    "shop { id } stall { id } }"
)


def _schema(direct: bool) -> tuple[strawberry.Schema, int]:
    schema = strawberry.Schema(query=Query)
    return schema, resolve_directly(schema) if direct else 0


async def test_direct_calls_answer_as_strawberry_does() -> None:
    plain, _ = _schema(direct=False)
    fast, changed = _schema(direct=True)
    # shout, seenBy, constant, parentName, later, Query.thing, shop, stall and both ids;
    # not times (an argument) nor secret (a permission)
    assert changed == 10
    context = {"viewer": "lin"}
    expected = await plain.execute(QUERY, context_value=context)
    got = await fast.execute(QUERY, context_value=context)
    assert got.data == expected.data
    assert got.data is not None and got.data["thing"]["seenBy"] == "tea seen by lin at seenBy"
    assert got.data["thing"]["times"] == "teateatea" and got.data["thing"]["secret"] is None
    assert [e.message for e in got.errors or []] == [e.message for e in expected.errors or []]
    assert [e.message for e in got.errors or []] == ["not allowed"]
    assert got.data["shop"]["id"] == base64.b64encode(b"Shop:noodles").decode()
    assert got.data["stall"]["id"] == base64.b64encode(b"Stall:stall-7").decode()
    types = fast._schema.type_map
    assert types["Shop"].fields["id"].resolve.__name__ == "node_id"  # type: ignore[attr-defined]
    # an overridden resolve_id keeps relay's own resolver, called directly
    assert types["Stall"].fields["id"].resolve.__name__ != "node_id"  # type: ignore[attr-defined]


def test_the_feed_page_fields_are_called_directly() -> None:
    types = make_schema()._schema.type_map

    def direct(type_name: str, field: str) -> bool:
        resolve = types[type_name].fields[field].resolve  # type: ignore[attr-defined]
        return getattr(resolve, "__module__", "") == "schema.direct"

    for type_name, field in [
        ("Post", "id"),
        ("Post", "author"),
        ("Post", "viewerReacted"),
        ("User", "id"),
        ("User", "displayName"),
        ("Query", "me"),
    ]:
        assert direct(type_name, field), (type_name, field)
    for type_name, field in [
        ("Query", "homeFeed"),  # arguments
        ("User", "friends"),
        ("Post", "comments"),
        ("Subscription", "homeFeedUpdates"),  # subscriptions keep Strawberry's path
    ]:
        assert not direct(type_name, field), (type_name, field)
