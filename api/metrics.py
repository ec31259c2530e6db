"""Prometheus metrics: requests and latencies per GraphQL operation."""

from __future__ import annotations

import hmac
import re

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from api.settings import Settings

GRAPHQL_REQUESTS = Counter(
    "quanzi_graphql_requests_total",
    "GraphQL operations executed, by operation name, type and outcome.",
    ["operation", "type", "outcome"],
)
GRAPHQL_LATENCY = Histogram(
    "quanzi_graphql_request_duration_seconds",
    "Time to execute a GraphQL operation.",
    ["operation", "type"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# Clients choose operation names; bound the label set so a client cannot blow it up.
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_MAX_NAMES = 500
_seen: set[str] = set()


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    if not _NAME_RE.fullmatch(name):
        return "invalid"
    if name not in _seen:
        if len(_seen) >= _MAX_NAMES:
            return "other"
        _seen.add(name)
    return name


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text. With ``QUANZI_METRICS_TOKEN`` set only a scraper sending it as a
    bearer token reads it; without one it is open outside production and absent in it
    (operation names and error rates are not for anyone who reaches the port)."""
    settings: Settings = request.app.state.services.settings
    if settings.metrics_token is None:
        if settings.production:
            return Response("not found", status_code=404, media_type="text/plain")
    else:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {settings.metrics_token}".encode()):
            return Response(
                "a metrics token is needed",
                status_code=401,
                media_type="text/plain",
                headers={"www-authenticate": "Bearer"},
            )
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
