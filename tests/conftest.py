"""Fixtures over the real test stack (Neo4j and Redis started by ``make test``).

Every test starts from an empty graph and an empty Redis database, so order never matters.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from neo4j import AsyncDriver
from redis.asyncio import Redis

from api.app import create_app
from api.auth import mint_token
from api.settings import Settings
from graph.driver import Graph, open_driver
from graph.migrations import apply_migrations
from workers import ratelimit
from workers.handlers import registry
from workers.queue import Consumer
from workers.redis import open_redis
from workers.services import Services


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


@pytest.fixture(scope="session")
def services(settings: Settings, graph: Graph, redis: Redis) -> Services:
    """The test stack as a process opens it, for calling workers and actions directly."""
    return Services(settings, graph, redis)


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


# ---------------------------------------------------------------- shared helpers


@pytest.fixture
def generous_post_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests that post in bursts; the post rate limit has its own tests."""
    monkeypatch.setitem(ratelimit.POLICIES, "post", ratelimit.Policy(100, 1.0))


@dataclass
class Drain:
    """Runs the worker's job handlers in-process until the job stream is empty."""

    services: Services

    async def __call__(self, *, max_deliveries: int = 5) -> None:
        consumer = Consumer(
            self.services.redis,
            registry(self.services),
            "test-worker",
            block_ms=1,
            max_deliveries=max_deliveries,
        )
        while await consumer.run_once():
            pass


@pytest.fixture
def drain(services: Services) -> Drain:
    return Drain(services)


# Set only in the task that counts: background tasks (the app's effects watch) started
# before it do not count.
_counting: contextvars.ContextVar[RoundTrips | None] = contextvars.ContextVar(
    "counting", default=None
)


@dataclass
class RoundTrips:
    """Neo4j sessions opened (and Graph calls made) while ``counting()`` is active.

    Every ``Graph.read``/``Graph.write`` is one ``execute_query``, which opens a session;
    so does a write transaction. Query-count guards compare these between page sizes.
    """

    sessions: int = 0
    calls: list[str] = field(default_factory=list)

    def counting(self) -> _Window:
        return _Window(self)


class _Window:
    def __init__(self, trips: RoundTrips) -> None:
        self.trips = trips
        self.token: contextvars.Token[RoundTrips | None] | None = None

    def __enter__(self) -> RoundTrips:
        self.trips.sessions = 0
        self.trips.calls = []
        self.token = _counting.set(self.trips)
        return self.trips

    def __exit__(self, *exc: object) -> None:
        assert self.token is not None
        _counting.reset(self.token)


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[RoundTrips]:
    trips = RoundTrips()
    real_session = AsyncDriver._session
    real_read, real_write = Graph.read, Graph.write

    def session(self: AsyncDriver, *args: Any, **kwargs: Any) -> Any:
        if (active := _counting.get()) is not None:
            active.sessions += 1
        return real_session(self, *args, **kwargs)

    async def read(self: Graph, query: Any, **params: Any) -> Any:
        if (active := _counting.get()) is not None:
            active.calls.append("read: " + " ".join(str(query).split())[:90])
        return await real_read(self, query, **params)

    async def write(self: Graph, query: Any, **params: Any) -> Any:
        if (active := _counting.get()) is not None:
            active.calls.append("write: " + " ".join(str(query).split())[:90])
        return await real_write(self, query, **params)

    monkeypatch.setattr(AsyncDriver, "_session", session)
    monkeypatch.setattr(Graph, "read", read)
    monkeypatch.setattr(Graph, "write", write)
    yield trips


# ---------------------------------------------------------------- real processes


async def wait_for(
    check: Callable[[], Awaitable[bool]], what: str, limit: float = 30.0, every: float = 0.1
) -> None:
    deadline = time.monotonic() + limit
    while not await check():
        assert time.monotonic() < deadline, f"timed out after {limit}s waiting for {what}"
        await asyncio.sleep(every)


class Processes:
    """`quanzi` subprocesses of one test, with the test env plus overrides; output goes to
    files under tmp_path (shown when a process dies early)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, command: str, **env: str) -> subprocess.Popen[bytes]:
        full = {**os.environ, "QUANZI_LOG_LEVEL": "warning", **env}
        log = (self.tmp_path / f"{command}-{len(self.running)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", command], env=full, stdout=log, stderr=log
        )
        log.close()
        self.running.append(proc)
        return proc

    def worker(self, **env: str) -> subprocess.Popen[bytes]:
        return self.start(
            "worker",
            QUANZI_WORKER_CLAIM_IDLE_MS="1000",
            QUANZI_OUTBOX_SWEEP_SECONDS="1",
            QUANZI_WORKER_BLOCK_MS="200",
            **env,
        )

    async def server(self, limit: float = 120.0, **env: str) -> str:
        port = free_port()
        proc = self.start("serve", QUANZI_PORT=str(port), **env)
        base = f"127.0.0.1:{port}"

        async def up() -> bool:
            assert proc.poll() is None, self.output(proc)
            try:
                async with httpx.AsyncClient() as http:
                    return (await http.get(f"http://{base}/livez", timeout=1)).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(up, "the server to start", limit=limit)
        return base

    def output(self, proc: subprocess.Popen[bytes], limit: int | None = 3000) -> str:
        """What the process wrote (its last ``limit`` characters; None: all of it)."""
        index = self.running.index(proc)
        logs = sorted(self.tmp_path.glob(f"*-{index}.log"))
        text = logs[0].read_text(errors="replace") if logs else ""
        return text if limit is None else text[-limit:]

    def stop_all(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.running:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    processes = Processes(tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()
