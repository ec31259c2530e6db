"""Schema extensions of our own: error masking with request ids, and metrics."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from starlette.responses import Response
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


def _path(error: GraphQLError) -> str:
    return ".".join(str(p) for p in error.path or ()) or "-"


def log_errors(errors: list[GraphQLError], context: object) -> None:
    """One log line per request, however many fields failed (one cause fails a whole
    list): the first unexpected error with its traceback, and how many there were."""
    unexpected = [e for e in errors if is_unexpected(e)]
    if unexpected:
        first = unexpected[0]
        log.error(
            "unexpected error in %s (request %s; %d field errors in all)",
            _path(first),
            _request_id(context),
            len(unexpected),
            exc_info=first.original_error,
        )
    expected = len(errors) - len(unexpected)
    if expected:
        # The messages may quote the client's variables (phone numbers, say): not logged.
        log.debug(
            "%d client errors (request %s), first at %s",
            expected,
            _request_id(context),
            _path(next(e for e in errors if not is_unexpected(e))),
        )


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


def _retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class RateLimitHeaders(SchemaExtension):
    """When a resolver was rate limited, tell the client how long to wait twice over:
    ``extensions.rateLimit.retryAfterSeconds`` in the body and ``Retry-After`` on HTTP."""

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        seconds = getattr(context, "rate_limited_for", None)
        if seconds is None or not math.isfinite(seconds):
            return {}
        value = _retry_after_header(seconds)
        response = getattr(context, "response", None)
        if isinstance(response, Response):
            response.headers["Retry-After"] = value
        return {"rateLimit": {"retryAfterSeconds": int(value)}}
