"""Live subscriptions against a real ``quanzi serve``: one pub/sub connection for all of
them, caps per socket and per user, streams that end on suspension and token expiry and
follow blocks, and nothing left behind when a socket drops in any state."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from api.auth import mint_token
from api.settings import Settings
from graph.driver import Graph
from tests.conftest import GQL, Processes, wait_for
from tests.test_feeds import feed, post
from tests.test_friends import BLOCK, befriend
from workers import keys, live
from workers.redis import is_cluster

pytestmark = pytest.mark.usefixtures("generous_post_limit")

UPDATES = "subscription { homeFeedUpdates { id body } }"
NOTIFIED = "subscription { notificationAdded { kind } }"
SUSPEND = """mutation($u: ID!, $s: Boolean!) { adminSuspendUser(userId: $u, suspended: $s) {
  userErrors { code } } }"""


class Socket:
    """A graphql-transport-ws client that shows every frame, for tests of the protocol."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, seconds: float = 10.0) -> dict[str, Any]:
        while True:
            async with asyncio.timeout(seconds):
                message: dict[str, Any] = json.loads(await self.ws.recv())
            if message.get("type") != "ping":
                return message
            await self.send({"type": "pong"})

    async def subscribe(self, op_id: str, query: str) -> None:
        await self.send({"id": op_id, "type": "subscribe", "payload": {"query": query}})

    async def closed(self, seconds: float = 15.0) -> tuple[int, str]:
        """Wait until the server closes the socket; its close code and reason."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    await self.ws.recv()
        except ConnectionClosed as exc:
            assert exc.rcvd is not None, "dropped without a close frame"
            return exc.rcvd.code, exc.rcvd.reason


async def open_socket(base: str, token: str | None, *, init: bool = True) -> Socket:
    ws = await connect(f"ws://{base}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")])
    socket = Socket(ws)
    if init:
        params = {"authorization": f"Bearer {token}"} if token else {}
        await socket.send({"type": "connection_init", "payload": params})
        assert (await socket.receive())["type"] == "connection_ack"
    return socket


@pytest.fixture
async def server(procs: Processes) -> AsyncIterator[str]:
    procs.worker()
    yield await procs.server(
        limit=90,  # a busy machine (the worker starts at the same time)
        QUANZI_MAX_SUBSCRIPTIONS_PER_SOCKET="10",
        QUANZI_MAX_SOCKETS_PER_USER="3",
    )


async def user_id(graph: Graph, user: dict[str, Any]) -> str:
    found = await graph.read(
        "MATCH (u:User {platformId: $p}) RETURN u.id AS id", p=user["platformId"]
    )
    uid: str = found.records[0]["id"]
    return uid


async def pubsub_clients(redis: Redis) -> int:
    """Pub/sub connections open now (on a cluster: on every node)."""
    if not is_cluster(redis):
        return len(await redis.client_list(_type="pubsub"))
    per_node = await redis.client_list(_type="pubsub", target_nodes="all")  # type: ignore[call-arg]
    return sum(len(clients) for clients in per_node.values())  # type: ignore[attr-defined]


async def numsub(redis: Redis, channel: str) -> int:
    return (await live.listener_counts(redis, [channel])).get(channel, 0)


async def test_many_subscriptions_share_one_connection_and_are_capped(
    client: GQL, redis: Redis, graph: Graph, server: str
) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    await befriend(client, lin, chen)
    await feed(client, lin)
    before = await pubsub_clients(redis)
    socket = await open_socket(server, lin["token"])
    for i in range(70):
        await socket.subscribe(str(i), UPDATES if i % 2 else NOTIFIED)
    refused: dict[str, str] = {}
    completed: set[str] = set()
    while len(refused) < 60 or len(completed) < 60:
        message = await socket.receive()
        if message["type"] == "complete":
            completed.add(message["id"])
            continue
        assert message["type"] == "next", message
        (error,) = message["payload"]["errors"]
        refused[message["id"]] = error["extensions"]["code"]
    # ten run; the sixty after them are refused and end
    assert refused == {str(i): "RATE_LIMITED" for i in range(10, 70)}
    assert completed == set(refused)
    lin_id = await user_id(graph, lin)

    async def one_listener() -> bool:  # the hub subscribes in the background
        return await numsub(redis, keys.live_channel(lin_id)) == 1

    await wait_for(one_listener, "the hub to listen on lin's channel", limit=10, every=0.05)
    # the process had its one pub/sub connection already (it follows the live control
    # channel); ten subscriptions on two channels added none (on a cluster the hub holds
    # one connection per shard it listens to: lin's two channels share lin's shard)
    assert await pubsub_clients(redis) <= before + (1 if is_cluster(redis) else 0)

    # ordinary users are served meanwhile
    async with httpx.AsyncClient() as http:
        other = await http.post(
            f"http://{server}/graphql",
            json={"query": "{ homeFeed { edges { node { id } } } }"},
            headers={"authorization": f"Bearer {chen['token']}"},
        )
    assert other.status_code == 200 and "errors" not in other.json()
    pid = await post(client, chen, "live!")
    got = await socket.receive(20)
    assert got["type"] == "next" and got["payload"]["data"]["homeFeedUpdates"]["id"] == pid
    await socket.ws.close()

    async def nothing_left() -> bool:
        return await numsub(redis, keys.live_channel(lin_id)) == 0

    await wait_for(nothing_left, "the subscriptions to go", limit=10, every=0.05)


async def test_sockets_per_user_are_capped(client: GQL, server: str) -> None:
    lin = await client.make_user("lin")
    held = [await open_socket(server, lin["token"]) for _ in range(3)]
    extra = await open_socket(server, lin["token"], init=False)
    await extra.send(
        {"type": "connection_init", "payload": {"authorization": f"Bearer {lin['token']}"}}
    )
    code, reason = await extra.closed()
    assert code == 4403 and reason.startswith("RATE_LIMITED: at most 3 open connections")
    await held[0].ws.close()

    async def room_again() -> bool:
        try:
            socket = await open_socket(server, lin["token"])
        except AssertionError:
            return False
        await socket.ws.close()
        return True

    await wait_for(room_again, "a closed socket to free its place", limit=10, every=0.2)


async def test_suspension_ends_open_streams_at_once(client: GQL, server: str) -> None:
    lin = await client.make_user("lin")
    socket = await open_socket(server, lin["token"])
    await socket.subscribe("1", UPDATES)
    await asyncio.sleep(0.5)  # the subscription is open
    done = await client(SUSPEND, {"u": lin["id"], "s": True}, token=client.admin)
    assert done["data"]["adminSuspendUser"]["userErrors"] == []
    code, reason = await socket.closed()
    assert (code, reason) == (4403, "UNAUTHENTICATED: account suspended")


async def test_an_expired_token_ends_its_socket(
    client: GQL, server: str, settings: Settings
) -> None:
    lin = await client.make_user("lin")
    short = mint_token(settings, lin["platformId"], ttl_seconds=2)
    socket = await open_socket(server, short)
    await socket.subscribe("1", UPDATES)
    code, reason = await socket.closed(20)
    assert (code, reason) == (4403, "UNAUTHENTICATED: token expired")


async def test_a_block_filters_an_open_stream(client: GQL, server: str) -> None:
    lin, chen, wang = [await client.make_user(h) for h in ("lin", "chen", "wang")]
    for friend in (chen, wang):
        await befriend(client, lin, friend)
    await feed(client, lin)
    socket = await open_socket(server, lin["token"])
    await socket.subscribe("1", UPDATES)
    await asyncio.sleep(0.5)
    first = await post(client, chen, "before the block")
    assert (await socket.receive(20))["payload"]["data"]["homeFeedUpdates"]["id"] == first
    await client(BLOCK, {"id": chen["id"]}, token=lin["token"])
    await post(client, chen, "after the block")
    later = await post(client, wang, "from a friend")
    got = await socket.receive(20)  # chen's post never arrives; wang's does
    assert got["payload"]["data"]["homeFeedUpdates"] == {"id": later, "body": "from a friend"}


@pytest.mark.parametrize("stage", ["before-init", "after-init", "subscribed", "streaming"])
async def test_a_socket_dropped_in_any_state_leaves_nothing(
    client: GQL, redis: Redis, graph: Graph, server: str, stage: str
) -> None:
    lin, chen = await client.make_user("lin"), await client.make_user("chen")
    await befriend(client, lin, chen)
    await feed(client, lin)
    lin_id = await user_id(graph, lin)
    socket = await open_socket(server, lin["token"], init=stage != "before-init")
    if stage in ("subscribed", "streaming"):
        await socket.subscribe("1", UPDATES)
        await socket.subscribe("2", NOTIFIED)

        async def listening() -> bool:
            return await numsub(redis, keys.live_channel(lin_id)) == 1

        await wait_for(listening, "the subscription to open", limit=10, every=0.05)
    if stage == "streaming":
        for i in range(5):
            await post(client, chen, f"post {i}")
        await socket.receive(20)
    socket.ws.transport.abort()  # no close frame, no complete: the client just vanishes

    async def nothing_left() -> bool:
        return (
            await numsub(redis, keys.live_channel(lin_id)) == 0
            and await numsub(redis, keys.notification_channel(lin_id)) == 0
        )

    await wait_for(nothing_left, "the server to let go of the socket", limit=15, every=0.1)
    # and the user's place is free again: three more sockets fit
    for _ in range(3):
        await (await open_socket(server, lin["token"])).ws.close()
