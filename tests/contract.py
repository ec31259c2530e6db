"""The project's own check that a schema still offers what the client contract names.

Compatible means: every type, field, argument, input field, enum value, union member and
implemented interface of the contract is present, with the same named type and list shape.
An output may be stricter than the contract (non-null where it allows null); an input may be
looser (optional where it is required). The project may add optional arguments and input
fields, never required ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLType,
    GraphQLUnionType,
    build_schema,
    is_specified_scalar_type,
)
from graphql.pyutils import Undefined

KINDS: dict[type[GraphQLNamedType], str] = {
    GraphQLObjectType: "an object",
    GraphQLInterfaceType: "an interface",
    GraphQLUnionType: "a union",
    GraphQLEnumType: "an enum",
    GraphQLInputObjectType: "an input",
}


@dataclass(frozen=True)
class Problem:
    """One way the project falls short of the contract.

    ``missing`` is true only when the contract's ``name`` is absent altogether.
    """

    name: str
    text: str
    missing: bool = False

    def __str__(self) -> str:
        return self.text


def _missing(what: str, name: str) -> Problem:
    return Problem(name, f"missing {what} {name}", missing=True)


def _kind(t: GraphQLNamedType) -> str:
    return KINDS.get(type(t), "a scalar")


def _shape(t: GraphQLType) -> tuple[list[bool], str]:
    """Non-null flag of each level, outermost first (one level per list, plus the named
    type), and the named type's name."""
    levels: list[bool] = []
    non_null = False
    while True:
        if isinstance(t, GraphQLNonNull):
            non_null = True
            t = t.of_type
        elif isinstance(t, GraphQLList):
            levels.append(non_null)
            non_null = False
            t = t.of_type
        else:
            levels.append(non_null)
            assert isinstance(t, GraphQLNamedType)
            return levels, t.name


def compatible(contract: GraphQLType, project: GraphQLType, *, is_input: bool) -> bool:
    """Same named type and list depth; nullability may differ only in the safe direction."""
    c_levels, c_name = _shape(contract)
    p_levels, p_name = _shape(project)
    if c_name != p_name or len(c_levels) != len(p_levels):
        return False
    for c_non_null, p_non_null in zip(c_levels, p_levels, strict=True):
        if is_input and p_non_null and not c_non_null:
            return False  # the project requires a value the contract lets clients leave null
        if not is_input and c_non_null and not p_non_null:
            return False  # the project may return null where the contract promises a value
    return True


def _required(value: GraphQLArgument | GraphQLInputField) -> bool:
    """A client must supply it: non-null and without a default."""
    # graphql-core 3.3 keeps an SDL default in ``default``, 3.2 in ``default_value``.
    if value.default_value is not Undefined or getattr(value, "default", None) is not None:
        return False
    return isinstance(value.type, GraphQLNonNull)


def _inputs(
    owner: str,
    contract: dict[str, GraphQLArgument] | dict[str, GraphQLInputField],
    project: dict[str, GraphQLArgument] | dict[str, GraphQLInputField],
    what: str,
    label: str,
) -> list[Problem]:
    """Arguments of one field (``label`` is ``"{owner}({name})"``) or fields of one input
    type (``"{owner}.{name}"``)."""
    found: list[Problem] = []
    for name, c_value in contract.items():
        full = label.format(owner=owner, name=name)
        p_value = project.get(name)
        if p_value is None:
            found.append(_missing(what, full))
        elif not compatible(c_value.type, p_value.type, is_input=True):
            found.append(
                Problem(full, f"{full} takes {p_value.type}, contract says {c_value.type}")
            )
        elif _required(p_value) and not _required(c_value):
            found.append(Problem(full, f"{full} is required, contract lets clients omit it"))
    for name, p_value in project.items():
        if name not in contract and _required(p_value):
            full = label.format(owner=owner, name=name)
            found.append(Problem(full, f"new required {what} {full}"))
    return found


def _fields(
    c_type: GraphQLObjectType | GraphQLInterfaceType,
    p_type: GraphQLObjectType | GraphQLInterfaceType,
) -> list[Problem]:
    found: list[Problem] = []
    p_interfaces = {i.name for i in p_type.interfaces}
    for interface in c_type.interfaces:
        if interface.name not in p_interfaces:
            found.append(Problem(c_type.name, f"{c_type.name} does not implement {interface.name}"))
    for name, c_field in c_type.fields.items():
        full = f"{c_type.name}.{name}"
        p_field = p_type.fields.get(name)
        if p_field is None:
            found.append(_missing("field", full))
            continue
        if not compatible(c_field.type, p_field.type, is_input=False):
            found.append(
                Problem(full, f"{full} returns {p_field.type}, contract says {c_field.type}")
            )
        found += _inputs(full, c_field.args, p_field.args, "argument", "{owner}({name})")
    return found


def _type(c_type: GraphQLNamedType, p_type: GraphQLNamedType) -> list[Problem]:
    name = c_type.name
    if type(c_type) is not type(p_type):
        return [Problem(name, f"{name} is {_kind(p_type)}, contract says {_kind(c_type)}")]
    if isinstance(c_type, GraphQLObjectType | GraphQLInterfaceType):
        assert isinstance(p_type, GraphQLObjectType | GraphQLInterfaceType)
        return _fields(c_type, p_type)
    if isinstance(c_type, GraphQLInputObjectType):
        assert isinstance(p_type, GraphQLInputObjectType)
        return _inputs(name, c_type.fields, p_type.fields, "input field", "{owner}.{name}")
    if isinstance(c_type, GraphQLEnumType):
        assert isinstance(p_type, GraphQLEnumType)
        return [
            _missing("enum value", f"{name}.{v}") for v in c_type.values if v not in p_type.values
        ]
    if isinstance(c_type, GraphQLUnionType):
        assert isinstance(p_type, GraphQLUnionType)
        members = {m.name for m in p_type.types}
        return [
            _missing("union member", f"{name}.{m.name}")
            for m in c_type.types
            if m.name not in members
        ]
    return []  # a scalar: being there is all a schema can say about it


def check(contract: GraphQLSchema, project: GraphQLSchema) -> list[Problem]:
    """Every way ``project`` falls short of ``contract``, in the contract's order."""
    found: list[Problem] = []
    for name, c_type in contract.type_map.items():
        if name.startswith("__") or is_specified_scalar_type(c_type):
            continue  # introspection types and built-in scalars
        p_type = project.type_map.get(name)
        if p_type is None:
            found.append(_missing("type", name))
        else:
            found += _type(c_type, p_type)
    return found


def check_sdl(contract_sdl: str, project_sdl: str) -> list[Problem]:
    return check(build_schema(contract_sdl), build_schema(project_sdl))


def problems(contract_sdl: str, project_sdl: str) -> list[str]:
    """The problems as readable lines, e.g. ``missing field Query.merchantInsights``."""
    return [str(p) for p in check_sdl(contract_sdl, project_sdl)]
