"""The ASGI application: routes, middleware and the lifespan that owns the clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route, WebSocketRoute

from actions import effects
from api import logs
from api.context import Services
from api.graphql import GraphQLApp
from api.health import livez, readyz
from api.metrics import metrics_endpoint
from api.middleware import BodySizeLimitMiddleware, RequestIdMiddleware, SecurityHeadersMiddleware
from api.settings import Settings, get_settings
from api.sockets import Sockets
from api.web import WebBuild
from graph.driver import Graph, open_driver
from schema.root import make_schema
from workers.redis import open_redis

log = logging.getLogger("quanzi.app")


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()
    logs.configure(settings)
    web = WebBuild(settings.web_dir)
    graphql = GraphQLApp(
        make_schema(settings), ide=web.ide_page if not settings.production else None
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        driver = open_driver(settings)
        redis = open_redis(settings)
        services = Services(
            settings=settings, graph=Graph(driver, settings.neo4j_database), redis=redis
        )
        app.state.services = services
        log.info(
            "quanzi %s: neo4j %s, redis %s", settings.env, settings.neo4j_uri, settings.redis_url
        )
        # Effects of committed writes that never reached Redis: this process runs them, and
        # until they have run it serves no cached state they would have changed.
        services.derived.mark_stale("starting")
        stop = asyncio.Event()
        watcher = asyncio.create_task(effects.watch(services, stop), name="effects-watch")
        sockets = Sockets(max_per_user=settings.max_sockets_per_user)
        app.state.sockets = sockets
        control = asyncio.create_task(sockets.follow_control(services, stop), name="live-control")
        try:
            yield
        finally:
            stop.set()
            await services.live.close()  # ends every live stream, the control one too
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            with contextlib.suppress(asyncio.CancelledError):
                await control
            await redis.aclose()
            await driver.close()

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/livez", livez),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            *web.routes(),
        ],
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(SecurityHeadersMiddleware, production=settings.production),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "x-request-id"],
                expose_headers=["x-request-id", "retry-after"],
                max_age=600,
            ),
            Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )
