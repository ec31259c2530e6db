"""Liveness, readiness (with a real Redis going away) and metrics."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.settings import Settings
from tests.conftest import GQL, free_port


@pytest.fixture
def spare_redis(tmp_path: Path) -> Iterator[int]:
    """A Redis of this test's own, so stopping it disturbs nothing else."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield port
    proc.kill()
    proc.wait()


async def test_livez(client: GQL) -> None:
    response = await client.http.get("/livez")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_with_stack_up(client: GQL) -> None:
    response = await client.http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"neo4j": "ok", "redis": "ok"}


async def test_readyz_is_503_when_redis_stops(settings: Settings, spare_redis: int) -> None:
    app = create_app(
        settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{spare_redis}/0"})
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/readyz")).status_code == 200
            await asyncio.to_thread(
                subprocess.run,
                ["redis-cli", "-p", str(spare_redis), "shutdown", "nosave"],
                check=False,
                capture_output=True,
            )
            await asyncio.sleep(0.1)
            response = await http.get("/readyz")
            assert response.status_code == 503
            checks = response.json()["checks"]
            assert checks["neo4j"] == "ok" and checks["redis"] != "ok"


async def test_readyz_names_neo4j_when_it_is_unreachable(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"neo4j_uri": f"neo4j://127.0.0.1:{free_port()}"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"] == "ok" and checks["neo4j"] != "ok"


async def test_metrics_count_operations(client: GQL) -> None:
    await client("query WhoAmI { me { id } }")
    await client("query WhoAmI { me { id } }")
    text = (await client.http.get("/metrics")).text
    line = next(
        ln
        for ln in text.splitlines()
        if ln.startswith("quanzi_graphql_requests_total{")
        and 'operation="WhoAmI"' in ln
        and 'outcome="ok"' in ln
    )
    assert float(line.rsplit(" ", 1)[1]) >= 2
    assert 'quanzi_graphql_request_duration_seconds_count{operation="WhoAmI",type="query"}' in text
