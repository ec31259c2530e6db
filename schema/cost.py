"""Query cost analysis: what an operation would cost, worked out before it runs.

Every field that returns an object costs 1 for each time it is resolved; a list field
that pages (a ``first`` argument) resolves its selection ``first`` times (the argument,
a variable, or the field's default, capped at ``max_page_size``). So
``friends(first: 100) { edges { node { friends(first: 100) { ... } } } }`` costs about
100 * 100 and a third level 100 * 100 * 100. An operation over the budget
(``QUANZI_MAX_QUERY_COST``) is refused with its cost, before any resolver runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_leaf_type,
)
from strawberry.extensions import SchemaExtension

PAGE_ARGUMENT = "first"
COST_CODE = "QUERY_TOO_COSTLY"


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        max_page: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.max_page = max_page

    def _page(self, node: FieldNode, field: GraphQLField) -> int:
        if PAGE_ARGUMENT not in field.args:
            return 1
        value: Any = None
        for argument in node.arguments or ():
            if argument.name.value == PAGE_ARGUMENT:
                if isinstance(argument.value, IntValueNode):
                    value = int(argument.value.value)
                elif isinstance(argument.value, VariableNode):
                    value = self.variables.get(argument.value.name.value)
        if value is None:
            default = field.args[PAGE_ARGUMENT].default_value
            value = default if isinstance(default, int) else self.max_page
        if not isinstance(value, int) or isinstance(value, bool):
            return self.max_page  # the resolver refuses it; assume the worst until then
        return max(0, min(value, self.max_page))

    def _fields(
        self, selections: SelectionSetNode, parent: GraphQLNamedType, seen: frozenset[str]
    ) -> Iterator[tuple[FieldNode, GraphQLNamedType]]:
        """The fields of a selection set, fragments spread, each with the type it is
        selected on."""
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                on = (
                    self.schema.get_type(selection.type_condition.name.value)
                    if selection.type_condition
                    else parent
                )
                if on is not None:
                    yield from self._fields(selection.selection_set, on, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:  # validation reports both
                    continue
                on = self.schema.get_type(fragment.type_condition.name.value)
                if on is not None:
                    yield from self._fields(fragment.selection_set, on, seen | {name})

    def cost(self, selections: SelectionSetNode, parent: GraphQLNamedType) -> int:
        total = 0
        for node, on in self._fields(selections, parent, frozenset()):
            if not isinstance(on, GraphQLObjectType | GraphQLInterfaceType):
                continue
            field = on.fields.get(node.name.value)
            if field is None:  # __typename, or a field validation refuses
                continue
            returned = get_named_type(field.type)
            if is_leaf_type(returned) or node.selection_set is None:
                continue
            total += 1 + self._page(node, field) * self.cost(node.selection_set, returned)
        return total


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any],
    *,
    max_page: int,
) -> int:
    """The cost of the operation the request runs (see the module docstring)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [
        op
        for op in operations
        if operation_name is None or (op.name is not None and op.name.value == operation_name)
    ]
    if not chosen:
        return 0  # execution reports the unknown operation
    operation = chosen[0]
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    return _Walk(schema, fragments, variables, max_page).cost(operation.selection_set, root)


class QueryCost(SchemaExtension):
    """Refuses an operation whose cost is over the budget, saying both numbers."""

    def __init__(self, *, budget: int, max_page: int) -> None:
        self.budget = budget
        self.max_page = max_page

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if document is not None and ctx.result is None:
            cost = operation_cost(
                ctx.schema._schema,
                document,
                ctx.operation_name,
                ctx.variables or {},
                max_page=self.max_page,
            )
            if cost > self.budget:
                ctx.result = ExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            f"this query would cost {cost}, over the budget of {self.budget}: "
                            "ask for fewer items (first) or fewer nested lists",
                            extensions={"code": COST_CODE, "cost": cost, "budget": self.budget},
                        )
                    ],
                )
        yield
