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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLField, GraphQLObjectType, GraphQLResolveInfo
from strawberry import relay
from strawberry.relay.utils import to_base64
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

    def node_id(source: Any, info: RawInfo) -> str:
        return to_base64(type_name, getattr(source, attr))

    return node_id


def resolve_directly(schema: strawberry.Schema) -> int:
    """Install direct calls on every eligible field; returns how many fields got one."""
    subscription = schema._schema.subscription_type
    info_class = schema.config.info_class
    changed = 0
    for gql_type in schema._schema.type_map.values():
        if not isinstance(gql_type, GraphQLObjectType) or gql_type is subscription:
            continue
        for gql_field in gql_type.fields.values():
            field = _definition(gql_field)
            if field is not None and _eligible(field):
                gql_field.resolve = _node_id(gql_type, field) or _direct(field, info_class)
                changed += 1
    return changed


def _definition(gql_field: GraphQLField) -> StrawberryField | None:
    found = (gql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    return found if isinstance(found, StrawberryField) else None
