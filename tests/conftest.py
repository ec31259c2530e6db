"""Fixtures over the real test stack (Neo4j and Redis started by ``make test``).

Every test starts from an empty graph and an empty Redis database, so order never matters.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.app import create_app
from api.auth import mint_token
from api.settings import Settings
from graph.driver import Graph, open_driver
from graph.migrations import apply_migrations
from workers.redis import open_redis


def free_port() -> int:
    """A loopback port nothing listens on now, for a process a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def settings() -> Settings:
    s = Settings()
    assert s.env == "test", "run the suite through `make test` (QUANZI_ENV=test, own stack)"
    return s


@pytest.fixture(scope="session")
async def graph(settings: Settings) -> AsyncIterator[Graph]:
    driver = open_driver(settings)
    g = Graph(driver, settings.neo4j_database)
    await apply_migrations(g)
    yield g
    await driver.close()


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = open_redis(settings)
    yield client
    await client.aclose()


@pytest.fixture
async def clean(graph: Graph, redis: Redis) -> None:
    """An empty graph and an empty Redis database for the test that asks for it."""
    await graph.write("MATCH (n) DETACH DELETE n")
    await redis.flushdb()


@pytest.fixture(scope="session")
async def app_client(settings: Settings, graph: Graph) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://quanzi.test") as c:
            yield c


@dataclass
class GQL:
    """Posts GraphQL to the app the way a client does."""

    http: httpx.AsyncClient
    settings: Settings

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        response = await self.post(query, variables, token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def token(self, platform_id: str, admin: bool = False) -> str:
        return mint_token(self.settings, platform_id, admin=admin)

    @property
    def admin(self) -> str:
        return self.token("platform", admin=True)

    async def make_user(self, handle: str | None = None, **fields: Any) -> dict[str, Any]:
        """A user provisioned through adminUpsertUser; returns the user and a token."""
        platform_id = fields.pop("platformId", f"p-{uuid.uuid4().hex[:12]}")
        data = await self(
            """mutation($input: AdminUpsertUserInput!) {
                 adminUpsertUser(input: $input) { user { id handle } userErrors { code field } }
               }""",
            {
                "input": {
                    "platformId": platform_id,
                    "handle": handle or f"u_{uuid.uuid4().hex[:10]}",
                    "displayName": fields.pop("displayName", "Test User"),
                    **fields,
                }
            },
            token=self.admin,
        )
        payload = data["data"]["adminUpsertUser"]
        assert payload["userErrors"] == [], payload
        return {**payload["user"], "platformId": platform_id, "token": self.token(platform_id)}


@pytest.fixture
async def client(app_client: httpx.AsyncClient, settings: Settings, clean: None) -> GQL:
    return GQL(app_client, settings)
