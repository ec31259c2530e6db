"""The real server process: `quanzi serve` over HTTP and websockets (graphql-transport-ws)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from api.app import create_app
from api.auth import mint_token
from api.settings import Settings
from tests.conftest import GQL, free_port


@pytest.fixture
def server(clean: None) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "QUANZI_PORT": str(port), "QUANZI_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve"], env=env)
    base = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "server exited"
            try:
                if httpx.get(f"http://{base}/livez", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def test_http_and_websocket_with_token(server: str, client: GQL) -> None:
    user = await client.make_user("ws_user")
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"http://{server}/graphql",
            json={"query": "{ me { handle } }"},
            headers={"authorization": f"Bearer {user['token']}"},
        )
    assert response.json() == {"data": {"me": {"handle": "ws_user"}}}

    transport = WebsocketsTransport(
        url=f"ws://{server}/graphql",
        init_payload={"authorization": f"Bearer {user['token']}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=transport) as session:
        result = await session.execute(gql("{ me { handle } }"))
    assert result == {"me": {"handle": "ws_user"}}


@pytest.mark.parametrize(
    "params", [{"authorization": "Bearer nonsense"}, {"token": "nonsense"}], ids=["bearer", "raw"]
)
async def test_websocket_rejects_a_bad_token(server: str, params: dict[str, str]) -> None:
    """graphql-transport-ws has no error message for a refused connection_init: the server
    closes with 4403 (before any connection_ack), the reason naming UNAUTHENTICATED."""
    async with connect(
        f"ws://{server}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": params}))
        try:
            reply = await asyncio.wait_for(ws.recv(), timeout=10)
        except ConnectionClosed as closed:
            received = closed.rcvd
        else:
            pytest.fail(f"the server answered a bad token with {reply!r}")
    assert received is not None, "the connection dropped without a close frame"
    assert received.code == 4403
    assert received.reason.startswith("UNAUTHENTICATED: "), received.reason


async def test_websocket_without_token_is_anonymous(server: str) -> None:
    transport = WebsocketsTransport(
        url=f"ws://{server}/graphql",
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    async with Client(transport=transport) as session:
        assert await session.execute(gql("{ me { handle } }")) == {"me": None}


async def test_ide_is_served_outside_production(client: GQL, settings: Settings) -> None:
    page = await client.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()

    production = settings.model_copy(
        update={"env": "production", "jwt_secret": "x" * 40, "contact_pepper": "y" * 40}
    )
    app = create_app(production)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            page = await http.get("/graphql", headers={"accept": "text/html"})
            assert "graphiql" not in page.text.lower()
            token = mint_token(production, "platform", admin=True)
            body = await http.post(
                "/graphql",
                json={"query": "{ me { id } }"},
                headers={"authorization": f"Bearer {token}"},
            )
            assert body.json() == {"data": {"me": None}}


def test_production_refuses_to_start_without_secrets() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANZI_JWT")}
    env.update(QUANZI_ENV="production", QUANZI_CONTACT_PEPPER="p" * 40)
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "QUANZI_JWT_SECRET" in result.stderr
