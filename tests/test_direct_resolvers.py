"""schema/direct.py: argument-free resolvers called straight from graphql-core answer
exactly as through Strawberry's wrapper, and nothing else is touched."""

from __future__ import annotations

import base64
import enum
from collections.abc import Callable
from typing import Any

import strawberry
from strawberry import relay
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission

from schema.direct import DirectExecution, Leaf, resolve_directly
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
    # shout, seenBy, constant, parentName, later, Query.thing, shop, stall, both ids and
    # the attribute name; not times (an argument) nor secret (a permission)
    assert changed == 11
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
    assert isinstance(types["Shop"].fields["id"].resolve, Leaf)  # type: ignore[attr-defined]
    # an overridden resolve_id keeps relay's own resolver, called directly
    assert not isinstance(types["Stall"].fields["id"].resolve, Leaf)  # type: ignore[attr-defined]


@strawberry.enum
class Mood(enum.Enum):
    CALM = "CALM"
    BUSY = "BUSY"


@strawberry.type
class Reading:
    label: str
    count: int | None
    mood: Mood
    tags: list[str]
    inner: Thing | None


def _readings() -> list[Reading]:
    ok = Reading(label="a", count=3, mood=Mood.CALM, tags=["x"], inner=Thing(name="in"))
    return [
        ok,
        Reading(label="b", count=None, mood=Mood.BUSY, tags=[], inner=None),
        # wrong at run time: a null label, a count that is no int, a mood not in the enum
        Reading(label=None, count=2, mood=Mood.CALM, tags=[], inner=None),  # type: ignore[arg-type]
        Reading(label="d", count="many", mood=Mood.CALM, tags=[], inner=None),  # type: ignore[arg-type]
        Reading(label="e", count=1, mood="SLEEPY", tags=[], inner=None),  # type: ignore[arg-type]
    ]


@strawberry.type
class ReadingQuery:
    @strawberry.field
    def readings(self) -> list[Reading | None]:
        return _readings()


class Upper(SchemaExtension):
    """A resolve hook: every string comes out upper-cased."""

    def resolve(
        self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any
    ) -> Any:
        value = _next(root, info, *args, **kwargs)
        return value.upper() if isinstance(value, str) else value


READINGS = "{ readings { label count mood tags inner { name } } }"


async def _pair(**kwargs: Any) -> tuple[Any, Any, strawberry.Schema]:
    plain = strawberry.Schema(query=ReadingQuery, **kwargs)
    fast = strawberry.Schema(query=ReadingQuery, execution_context_class=DirectExecution, **kwargs)
    resolve_directly(fast)
    return await plain.execute(READINGS), await fast.execute(READINGS), fast


def _errors(result: Any) -> list[tuple[str, list[Any]]]:
    return sorted((e.message, e.path) for e in result.errors or [])


async def test_leaves_complete_at_once_with_the_same_answers_and_errors() -> None:
    expected, got, fast = await _pair()
    assert got.data == expected.data
    assert _errors(got) == _errors(expected)
    assert got.data is not None and got.data["readings"][0] == {
        "label": "a",
        "count": 3,
        "mood": "CALM",
        "tags": ["x"],
        "inner": {"name": "in"},
    }
    assert got.data["readings"][1]["count"] is None
    # the null label and the bad mood null their readings (both non-null); the bad count
    # is a field error and a null
    assert got.data["readings"][2] is None and got.data["readings"][4] is None
    assert got.data["readings"][3]["count"] is None
    assert sorted(path for _, path in _errors(got)) == [
        ["readings", 2, "label"],
        ["readings", 3, "count"],
        ["readings", 4, "mood"],
    ]
    fields = fast._schema.type_map["Reading"].fields  # type: ignore[attr-defined]
    assert {n for n, f in fields.items() if isinstance(f.resolve, Leaf)} == {
        "label",
        "count",
        "mood",
    }


async def test_a_resolve_hook_still_sees_every_leaf() -> None:
    expected, got, _ = await _pair(extensions=[Upper])
    assert got.data == expected.data
    assert got.data is not None and got.data["readings"][0]["label"] == "A"
    assert got.data["readings"][0]["mood"] == "CALM"


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
        ("Post", "body"),
        ("Suggestion", "score"),
        ("SuggestionReason", "kind"),
        ("SuggestionReason", "text"),
        ("User", "handle"),
    ]:
        assert isinstance(types[type_name].fields[field].resolve, Leaf), (type_name, field)  # type: ignore[attr-defined]
    for type_name, field in [
        ("Query", "homeFeed"),  # arguments
        ("User", "friends"),
        ("Post", "comments"),
        ("Subscription", "homeFeedUpdates"),  # subscriptions keep Strawberry's path
    ]:
        assert not direct(type_name, field), (type_name, field)
