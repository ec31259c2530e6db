"""Schema extensions of our own: error masking with request ids, and metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension

from api.metrics import GRAPHQL_LATENCY, GRAPHQL_REQUESTS, operation_label
from schema.core import ClientError

log = logging.getLogger("quanzi.graphql")


def is_unexpected(error: GraphQLError) -> bool:
    """Errors raised by our code that were not meant for the client."""
    original = error.original_error
    return original is not None and not isinstance(original, ClientError | GraphQLError)


def _request_id(context: object) -> str | None:
    return getattr(context, "request_id", None)


class MaskUnexpectedErrors(MaskErrors):
    """The client sees a generic message and a request id; the log has the traceback."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Internal server error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {
            "code": "INTERNAL_SERVER_ERROR",
            "requestId": _request_id(self.execution_context.context),
        }
        return masked


def log_errors(errors: list[GraphQLError], context: object) -> None:
    for error in errors:
        if is_unexpected(error):
            log.error(
                "unexpected error in %s (request %s)",
                ".".join(str(p) for p in error.path or ()),
                _request_id(context),
                exc_info=error.original_error,
            )
        else:
            log.debug("client error: %s", error.message)


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        start = time.perf_counter()
        yield
        ctx = self.execution_context
        try:
            kind = ctx.operation_type.value
        except Exception:  # unparsable document or unknown operation name
            kind = "unknown"
        name = operation_label(ctx.operation_name)
        outcome = "error" if ctx.result is not None and ctx.result.errors else "ok"
        GRAPHQL_REQUESTS.labels(name, kind, outcome).inc()
        GRAPHQL_LATENCY.labels(name, kind).observe(time.perf_counter() - start)
