"""Liveness (the process answers) and readiness (its stores answer too)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from starlette.requests import Request
from starlette.responses import JSONResponse

from api.context import Services

CHECK_TIMEOUT_SECONDS = 1.5


async def livez(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def _check(probe: Awaitable[object]) -> str:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return "timeout"
    except Exception as exc:  # any failure means "not ready", and says which kind
        return f"error: {type(exc).__name__}"
    return "ok"


async def readyz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    neo4j, redis = await asyncio.gather(
        _check(services.graph.ping()), _check(services.redis.ping())
    )
    checks = {"neo4j": neo4j, "redis": redis}
    ready = all(v == "ok" for v in checks.values())
    # Whether reads may use Redis's caches now, or go to Neo4j (actions/effects.py).
    caches = "set aside" if services.derived.stale else "trusted"
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks, "caches": caches},
        status_code=200 if ready else 503,
    )
