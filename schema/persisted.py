"""Persisted queries: Apollo's automatic persisted queries, and the allow-list.

APQ (``QUANZI_PERSISTED_QUERIES=apq``, the default): a client sends
``extensions.persistedQuery = {version: 1, sha256Hash}`` without the query; an unknown
hash answers ``PERSISTED_QUERY_NOT_FOUND`` and the client sends the query with its hash
once, which the server checks and keeps in Redis (``keys.persisted_query``) after it
validated. A mobile request then carries a 64-character hash instead of the document.

Allow-list (``allowlist``, for production): only operations registered with
``quanzi queries register FILE`` run, sent by hash or in full (the text's hash must be
registered); anything else answers ``OPERATION_NOT_ALLOWED``. ``off`` runs any query and
refuses hashes with ``PERSISTED_QUERY_NOT_SUPPORTED``.

This is a schema extension, so subscriptions over the websocket obey the allow-list too.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any, Literal

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    print_ast,
    validate,
)
from strawberry.extensions import SchemaExtension

from graph import queries
from graph.driver import Graph
from workers import keys
from workers.redis import UNAVAILABLE

Mode = Literal["off", "apq", "allowlist"]
_HASH = re.compile(r"^[0-9a-f]{64}$")
APQ_SECONDS = 7 * 24 * 3600
APQ_MAX_CHARS = 20_000  # longer documents are run but not kept
KNOWN_MAX = 10_000  # registered operations kept in each process
UNKNOWN_SECONDS = 5.0  # how long an unregistered hash is known to be so


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _error(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


class Registry:
    """The allow-list as this process has seen it: registered operations are immutable
    (a hash is its text), so they stay; an unknown hash is asked again after a while."""

    def __init__(self) -> None:
        self._known: OrderedDict[str, str] = OrderedDict()
        self._unknown: dict[str, float] = {}

    async def body(self, graph: Graph, query_id: str) -> str | None:
        if (found := self._known.get(query_id)) is not None:
            self._known.move_to_end(query_id)
            return found
        now = time.monotonic()
        if self._unknown.get(query_id, 0.0) > now:
            return None
        body = (await queries.bodies(graph, [query_id])).get(query_id)
        if body is None:
            if len(self._unknown) > KNOWN_MAX:
                self._unknown = {k: t for k, t in self._unknown.items() if t > now}
            self._unknown[query_id] = now + UNKNOWN_SECONDS
            return None
        self._known[query_id] = body
        if len(self._known) > KNOWN_MAX:
            self._known.popitem(last=False)
        return body


class PersistedQueries(SchemaExtension):
    def __init__(self, *, mode: Mode, registry: Registry) -> None:
        self.mode = mode
        self.registry = registry

    async def on_operation(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        asked = (ctx.operation_extensions or {}).get("persistedQuery")
        if asked is None and self.mode != "allowlist":
            yield  # an ordinary request: nothing to look up, nothing to keep
            return
        services = ctx.context.services
        query_id: str | None = None
        if asked is not None:
            query_id = self._checked_id(asked, ctx.query)
        if self.mode == "allowlist":
            query_id = query_id or sha256(ctx.query or "")
            body = await self.registry.body(services.graph, query_id)
            if body is None:
                raise _error("OPERATION_NOT_ALLOWED", "only registered operations run here")
            ctx.query = body
        elif query_id is not None and not ctx.query:
            ctx.query = await self._kept(services.redis, query_id)
        yield
        if (
            self.mode == "apq"
            and query_id is not None
            and ctx.query
            and len(ctx.query) <= APQ_MAX_CHARS
            and not ctx.pre_execution_errors
        ):
            try:  # only a document that parsed and validated is kept
                await services.redis.set(keys.persisted_query(query_id), ctx.query, ex=APQ_SECONDS)
            except UNAVAILABLE:
                pass  # the client sends the document again next time

    def _checked_id(self, asked: Any, query: str | None) -> str:
        if self.mode == "off":
            raise _error("PERSISTED_QUERY_NOT_SUPPORTED", "persisted queries are not supported")
        if not isinstance(asked, dict) or asked.get("version") != 1:
            raise _error("INVALID_INPUT", "persistedQuery must be {version: 1, sha256Hash}")
        query_id = asked.get("sha256Hash")
        if not isinstance(query_id, str) or not _HASH.fullmatch(query_id):
            raise _error("INVALID_INPUT", "sha256Hash must be 64 lower-case hex digits")
        if query and sha256(query) != query_id:
            raise _error("PERSISTED_QUERY_HASH_MISMATCH", "provided sha does not match query")
        return query_id

    async def _kept(self, redis: Any, query_id: str) -> str:
        try:
            body: str | None = await redis.get(keys.persisted_query(query_id))
        except UNAVAILABLE:
            body = None  # the client sends the document, as for any unknown hash
        if body is None:
            raise _error("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
        return body


# ---------------------------------------------------------------- registering


def operations_of(text: str, schema: GraphQLSchema, *, manifest: bool) -> list[queries.Operation]:
    """The operations a client build will send, each checked against the schema.

    ``manifest``: Apollo's persisted-query manifest (JSON: ``{"operations": [{"id",
    "name", "body"}]}``; each ``id`` must be the SHA-256 of its ``body``). Otherwise a
    GraphQL document: each operation, with the fragments it uses, printed the way
    graphql-core prints it (clients send that text, or its hash). ValueError says what
    is wrong.
    """
    if manifest:
        data = json.loads(text)
        rows = data.get("operations") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise ValueError('a manifest is {"operations": [{"id", "name", "body"}, ...]}')
        found = []
        for i, row in enumerate(rows):
            body = row.get("body") if isinstance(row, dict) else None
            if not isinstance(body, str):
                raise ValueError(f"operations[{i}] has no body")
            if row.get("id") != sha256(body):
                raise ValueError(f"operations[{i}]: id is not the SHA-256 of its body")
            found.append(queries.Operation(sha256(body), row.get("name"), body))
    else:
        document = parse(text)
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        found = []
        for op in document.definitions:
            if not isinstance(op, OperationDefinitionNode):
                continue
            used = _fragments_used(op, fragments)
            body = print_ast(DocumentNode(definitions=(op, *used)))
            found.append(queries.Operation(sha256(body), op.name.value if op.name else None, body))
    for operation in found:
        errors = validate(schema, parse(operation.body))
        if errors:
            raise ValueError(f"{operation.name or operation.id}: {errors[0].message}")
    return found


def _fragments_used(
    node: Any, fragments: dict[str, FragmentDefinitionNode]
) -> list[FragmentDefinitionNode]:
    names: list[str] = []

    def walk(selection_set: Any) -> None:
        for selection in getattr(selection_set, "selections", ()) or ():
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in names and name in fragments:
                    names.append(name)
                    walk(fragments[name].selection_set)
            else:
                walk(getattr(selection, "selection_set", None))

    walk(node.selection_set)
    return [fragments[n] for n in names]
