"""Call argument-free resolvers straight from graphql-core.

Strawberry runs every field that has a resolver through a general wrapper: it converts
arguments, applies field extensions and permission classes, and checks for exception
handlers, about 20 Python calls a field. A resolver that takes no GraphQL arguments
and has none of those needs only its ``self``/``root``/``info`` parameters. A feed
page has a hundred such fields (each post's ``id``, ``author``, ``viewerReacted``, each
author's ``id`` and ``displayName``), so the wrapper was a fifth of the request.

``resolve_directly`` replaces the wrapper of exactly those fields with a call that
passes the same values Strawberry would (the same ``Info`` class, the same source),
so a resolver sees no difference; a Node's ``id`` is encoded at once. Fields with
arguments, extensions or permissions, and every subscription, keep Strawberry's own
wrapper.

A field without a resolver reads its attribute (Strawberry's default resolver, getattr)
without the two calls around it. When it, or a Node's ``id``, is a scalar or an enum,
``DirectExecution`` completes it without building the ``Info`` graphql-core makes for
every field and without the general completion path: a suggestion page is ninety such
fields (each score, handle, and each reason's kind, count and text).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    Undefined,
)
from strawberry import relay
from strawberry.relay.utils import to_base64
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

RawInfo = GraphQLResolveInfo[Any]
Resolve = Callable[[Any, RawInfo], Any]


def _eligible(field: StrawberryField) -> bool:
    resolver = field.base_resolver
    return (
        resolver is not None
        and not field.arguments
        and not field.extensions
        and not field.permission_classes
    )


def _direct(field: StrawberryField, info_class: type[strawberry.Info]) -> Resolve:
    resolver = field.base_resolver
    assert resolver is not None  # _eligible said so
    call = resolver.wrapped_func
    if not callable(call):  # Strawberry binds static and class methods to their type
        raise TypeError(f"resolver of {field.python_name} is not callable")
    takes_self = resolver.self_parameter is not None
    by_name = [
        p.name for p in (resolver.root_parameter, resolver.parent_parameter) if p is not None
    ]
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None

    if takes_self and info_name is not None and not by_name:  # the usual shape, kept short

        def self_and_info(source: Any, info: RawInfo) -> Any:
            return call(source, **{info_name: info_class(_raw_info=info, _field=field)})

        return self_and_info

    def resolve(source: Any, info: RawInfo) -> Any:
        kwargs: dict[str, Any] = dict.fromkeys(by_name, source)
        if info_name is not None:
            kwargs[info_name] = info_class(_raw_info=info, _field=field)
        return call(source, **kwargs) if takes_self else call(**kwargs)

    return resolve


class Leaf:
    """The resolver of a scalar or enum field that needs no ``Info``: ``read(source)``
    is its value, completed by ``coerce`` as graphql-core would."""

    __slots__ = ("coerce", "non_null", "read")

    def __init__(
        self,
        read: Callable[[Any], Any],
        leaf: GraphQLScalarType | GraphQLEnumType,
        non_null: bool,
    ) -> None:
        self.read = read
        self.coerce: Callable[[Any], Any] = leaf.coerce_output_value
        self.non_null = non_null

    def __call__(self, source: Any, info: RawInfo) -> Any:
        return self.read(source)


def _reader(read: Callable[[Any], Any], gql_field: GraphQLField) -> Resolve:
    kind = gql_field.type
    rest = kind.of_type if isinstance(kind, GraphQLNonNull) else kind
    if isinstance(rest, GraphQLScalarType | GraphQLEnumType):
        return Leaf(read, rest, isinstance(kind, GraphQLNonNull))

    def attribute(source: Any, info: RawInfo) -> Any:
        return read(source)

    return attribute


class DirectExecution(StrawberryGraphQLCoreExecutionContext):
    """Completes ``Leaf`` fields at once; any other field, a null where none may be, a
    value that does not coerce, or a request with resolve middleware (an extension's
    ``resolve`` hook) takes graphql-core's own path, errors included."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._leaves_at_once = manager is None or not manager.middlewares

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        field = parent_type.fields.get(field_details_list[0].node.name.value)
        leaf = field.resolve if field is not None else None
        if type(leaf) is Leaf and self._leaves_at_once:
            try:
                value = leaf.read(source)
                if value is None:
                    if not leaf.non_null:
                        return None
                elif not isinstance(value, Exception):
                    coerced = leaf.coerce(value)
                    if coerced is not None and coerced is not Undefined:
                        return coerced
            except Exception:  # noqa: S110 - the general path reports it
                pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )


def _node_id(gql_type: GraphQLObjectType, field: StrawberryField) -> Resolve | None:
    """A Node's ``id`` as its global id string at once, when the type keeps relay's own
    ``resolve_id`` and ``resolve_typename`` (the same string, without the GlobalID object
    and the checks for resolvers that override them)."""
    definition = (gql_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    origin = getattr(definition, "origin", None)
    if not (
        field.graphql_name == "id"
        and field.python_name == "_id"
        and isinstance(origin, type)
        and issubclass(origin, relay.Node)
        and origin.resolve_id.__func__ is relay.Node.resolve_id.__func__  # type: ignore[attr-defined]
        and origin.resolve_typename.__func__ is relay.Node.resolve_typename.__func__  # type: ignore[attr-defined]
    ):
        return None
    attr, type_name = origin.resolve_id_attr(), gql_type.name

    def node_id(source: Any) -> str:
        return to_base64(type_name, getattr(source, attr))

    return _reader(node_id, gql_type.fields["id"])


def _attribute(field: StrawberryField, default: Callable[..., Any]) -> bool:
    return (
        field.base_resolver is None
        and not field.extensions
        and not field.permission_classes
        and default is getattr
    )


def resolve_directly(schema: strawberry.Schema) -> int:
    """Install direct calls on every eligible field; returns how many fields got one.
    Execute with ``DirectExecution`` to complete leaves at once as well."""
    subscription = schema._schema.subscription_type
    info_class, default = schema.config.info_class, schema.config.default_resolver
    changed = 0
    for gql_type in schema._schema.type_map.values():
        if not isinstance(gql_type, GraphQLObjectType) or gql_type is subscription:
            continue
        for gql_field in gql_type.fields.values():
            field = _definition(gql_field)
            if field is None:
                continue
            if _eligible(field):
                gql_field.resolve = _node_id(gql_type, field) or _direct(field, info_class)
            elif _attribute(field, default):
                gql_field.resolve = _reader(attrgetter(field.python_name), gql_field)
            else:
                continue
            changed += 1
    return changed


def _definition(gql_field: GraphQLField) -> StrawberryField | None:
    found = (gql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return found if isinstance(found, StrawberryField) else None
