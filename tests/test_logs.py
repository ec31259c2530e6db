"""What the logs may not hold: a token, a phone number, a post body. A real server at the
most talkative level, driven the way clients drive it (HTTP POST and GET, websockets),
including requests that fail."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.conftest import GQL, Processes

PHONE = "+8613912345678"
DIGITS = "13912345678"
SECRET_BODY = "my-very-private-post-" + uuid.uuid4().hex


async def test_logs_never_hold_tokens_numbers_or_bodies(client: GQL, procs: Processes) -> None:
    base = await procs.server(QUANZI_LOG_LEVEL="debug")
    lin = await client.make_user("lin", phone="+8613900000001")
    token = lin["token"]
    headers = {"authorization": f"Bearer {token}"}

    async with httpx.AsyncClient(base_url=f"http://{base}") as http:

        async def post(query: str, variables: dict[str, Any] | None = None) -> Any:
            response = await http.post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
            )
            return response.json()

        created = await post(
            "mutation($b: String!) { createPost(input: {body: $b}) { post { id } } }",
            {"b": SECRET_BODY},
        )
        assert created["data"]["createPost"]["post"] is not None
        await post(
            "mutation($n: [String!]!) { uploadContacts(phoneNumbers: $n) { matched } }",
            {"n": [PHONE, "not a number " + DIGITS]},
        )
        # failures that quote what the client sent
        await post(
            "mutation($b: String!) { createPost(input: {body: $b}) { nope } }", {"b": SECRET_BODY}
        )
        await post("{ homeFeed(after: $x) { edges { cursor } } }", {"x": SECRET_BODY})
        bad = await http.post("/graphql", content=SECRET_BODY.encode(), headers=headers)
        assert bad.status_code == 400
        got = await http.get(
            "/graphql",
            params={
                "query": "query($b: String) { discoverCircles(query: $b) { edges { cursor } } }",
                "variables": json.dumps({"b": SECRET_BODY}),
            },
            headers={**headers, "accept": "application/json"},
        )
        assert got.status_code == 200
        expired = await http.post(
            "/graphql",
            json={"query": "{ me { id } }"},
            headers={"authorization": "Bearer x" + token},
        )
        assert expired.status_code == 401
        upsert = """mutation($i: AdminUpsertUserInput!) { adminUpsertUser(input: $i) {
          userErrors { code } } }"""
        await http.post(
            "/graphql",
            json={
                "query": upsert,
                "variables": {
                    "i": {"platformId": "p-x", "handle": "x_y", "displayName": "X", "phone": PHONE}
                },
            },
            headers={"authorization": f"Bearer {client.admin}"},
        )

    async with connect(
        f"ws://{base}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        await asyncio.wait_for(ws.recv(), 10)
    procs.stop_all()

    logged = procs.output(procs.running[0], limit=None)
    assert "POST /graphql" in logged  # the capture saw the requests
    for secret in (token, client.admin, DIGITS, SECRET_BODY):
        assert secret not in logged, secret[:20]
