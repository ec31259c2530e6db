"""What every resolver receives: the services, the viewer and per-request loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from api.auth import ANONYMOUS, Claims, Viewer
from api.settings import Settings
from graph.driver import Graph
from graph.users import user_by_platform_id
from schema.dataloaders import Loaders
from workers import cards
from workers.services import Services

__all__ = ["Context", "Services", "load_viewer"]


@dataclass
class Context:
    services: Services
    request: Request | WebSocket
    response: Response | WebSocket | None
    request_id: str
    viewer: Viewer = ANONYMOUS
    loaders: Loaders = field(init=False)
    connection_params: dict[str, Any] | None = None
    rate_limited_for: float | None = None  # seconds; set by a rate-limited resolver
    claims: Claims | None = None  # the token's, on a websocket (it outlives requests)
    subscriptions: int = 0  # live subscriptions open on this websocket

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.services, self.viewer.id, admin=self.viewer.is_admin)

    def set_viewer(self, viewer: Viewer) -> None:
        """Sign the context in (websockets authenticate after connecting)."""
        self.viewer = viewer
        self.fresh_loaders()

    def fresh_loaders(self) -> None:
        """Forget what this context loaded (a long-lived socket, before each event)."""
        self.loaders = Loaders(self.services, self.viewer.id, admin=self.viewer.is_admin)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def graph(self) -> Graph:
        return self.services.graph

    @property
    def redis(self) -> Redis:
        return self.services.redis


async def load_viewer(services: Services, claims: Claims | None) -> Viewer:
    """A token for an unknown user signs nobody in, but its platform roles still hold,
    so the platform can provision its first users. Known users come from the card cache."""
    if claims is None:
        return ANONYMOUS
    user = await cards.card_by_platform_id(services, claims.subject)
    if user is None:
        user = await user_by_platform_id(services.graph, claims.subject)
        if user is not None:
            await cards.put_cards(services, [user])
    return Viewer(user=user, roles=claims.roles)
