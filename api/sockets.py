"""The websockets this process holds open, by user: caps, expiry, and closing on demand.

A signed-in socket is registered once its ``connection_init`` is accepted and forgotten
when it ends, however it ends. A user may hold ``max_sockets_per_user`` of them here; a
socket closes when its token expires; and when the platform suspends a user, every
process closes that user's sockets (the suspension's effect publishes on
``keys.LIVE_CONTROL``, which each process follows through its live hub).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field

from starlette.types import Send

from workers import keys
from workers.redis import UNAVAILABLE
from workers.services import Services

log = logging.getLogger(__name__)

CLOSE_CODE = 4403  # what graphql-transport-ws uses for a refused or ended connection
_REASON_BYTES = 123


def close_reason(code: str, message: str) -> str:
    """``CODE: message``, cut to what a close frame carries."""
    return f"{code}: {message}".encode()[:_REASON_BYTES].decode(errors="ignore")


@dataclass(eq=False)
class OpenSocket:
    user_id: str
    send: Send
    expiry: asyncio.Task[None] | None = None
    closed: bool = False

    async def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):  # the client may be gone already
            await self.send({"type": "websocket.close", "code": CLOSE_CODE, "reason": reason})


@dataclass
class Sockets:
    max_per_user: int
    by_user: dict[str, set[OpenSocket]] = field(default_factory=dict)

    def open(self, user_id: str, send: Send, expires_at: float | None) -> OpenSocket | None:
        """Register a socket; None when the user holds as many as they may already."""
        held = self.by_user.setdefault(user_id, set())
        if len(held) >= self.max_per_user:
            return None
        socket = OpenSocket(user_id, send)
        held.add(socket)
        if expires_at is not None:
            socket.expiry = asyncio.create_task(self._expire(socket, expires_at))
        return socket

    def forget(self, socket: OpenSocket) -> None:
        if socket.expiry is not None:
            socket.expiry.cancel()
        held = self.by_user.get(socket.user_id)
        if held is not None:
            held.discard(socket)
            if not held:
                del self.by_user[socket.user_id]

    @property
    def count(self) -> int:
        return sum(len(held) for held in self.by_user.values())

    async def _expire(self, socket: OpenSocket, expires_at: float) -> None:
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        await socket.close(close_reason("UNAUTHENTICATED", "token expired"))

    async def close_user(self, user_id: str, message: str) -> None:
        for socket in tuple(self.by_user.get(user_id, ())):
            await socket.close(close_reason("UNAUTHENTICATED", message))

    async def follow_control(self, services: Services, stop: asyncio.Event) -> None:
        """Close the sockets any process asks to close (``workers.live.end_sockets``),
        until ``stop`` is set and the hub closes."""
        while not stop.is_set():
            try:
                async with services.live.listen(keys.LIVE_CONTROL) as orders:
                    async for raw in orders:
                        try:
                            order = json.loads(raw)
                            await self.close_user(str(order["close"]), str(order["because"]))
                        except (ValueError, KeyError, TypeError):
                            log.warning("an unreadable live control order was ignored")
            except UNAVAILABLE as exc:
                log.warning("live control unavailable (%r); following again shortly", exc)
                await asyncio.sleep(1.0)
