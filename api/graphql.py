"""The /graphql endpoint: Strawberry's ASGI view with our auth and context."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cross_web import HTTPException
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from api.auth import AuthError, Claims, bearer_token, decode_token
from api.context import Context, Services, load_viewer
from api.sockets import CLOSE_CODE, OpenSocket, Sockets, close_reason


def unauthenticated(message: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"www-authenticate": "Bearer"},
    )


def _rejected(
    context: Context, message: str, code: str = "UNAUTHENTICATED"
) -> ConnectionRejectionError:
    """Refuse a websocket's connection_init; the close frame will say why."""
    context.request.scope.setdefault("state", {})["rejection"] = close_reason(code, message)
    return ConnectionRejectionError({"code": code, "message": message})


def _with_rejection_reason(scope: Scope, send: Send) -> Send:
    """graphql-transport-ws has no message for a refused connection_init: Strawberry
    closes with 4403 "Forbidden". The close frame's reason carries our error code
    instead, as HTTP's 401 body does (``UNAUTHENTICATED: <why>``, ``RATE_LIMITED: …``)."""

    async def sending(message: Message) -> None:
        reason = scope.get("state", {}).get("rejection")
        if message["type"] == "websocket.close" and message.get("code") == CLOSE_CODE and reason:
            message = {**message, "reason": reason}
        await send(message)

    return sending


class GraphQLApp(GraphQL[Context, None]):
    def parse_json(self, data: str | bytes) -> Any:
        """A request body (or a GET parameter) is JSON text of an object (a list is refused
        as batching by Strawberry): anything else is the client's 400, never a 500."""
        try:
            value = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HTTPException(400, "the request body is not UTF-8 JSON") from exc
        if not isinstance(value, dict | list):
            raise HTTPException(400, "the request body must be a JSON object")
        return value

    def __init__(self, schema: BaseSchema, *, ide: Callable[[], Response] | None) -> None:
        self.ide = ide
        super().__init__(
            schema,
            graphql_ide="graphiql" if ide is not None else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            keep_alive=True,
            keep_alive_interval=15,
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        """The IDE from this server's own build, not Strawberry's page (which loads React
        and GraphiQL from a public CDN)."""
        assert self.ide is not None  # Strawberry asks only when graphql_ide is set
        return self.ide()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            services: Services = scope["app"].state.services
            try:
                token = bearer_token(Headers(scope=scope))
                claims = decode_token(services.settings, token) if token else None
            except AuthError as exc:
                await unauthenticated(str(exc))(scope, receive, send)
                return
            viewer = await load_viewer(services, claims)
            if viewer.user is not None and viewer.user.suspended:
                await unauthenticated("account suspended")(scope, receive, send)
                return
            scope.setdefault("state", {})["claims"] = claims
            scope["state"]["viewer"] = viewer
        elif scope["type"] == "websocket":
            send = _with_rejection_reason(scope, send)
            scope.setdefault("state", {})["send"] = send
            try:
                await super().__call__(scope, receive, send)
            finally:  # however the socket ended
                socket: OpenSocket | None = scope["state"].pop("socket", None)
                if socket is not None:
                    scope["app"].state.sockets.forget(socket)
            return
        await super().__call__(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        services: Services = request.app.state.services
        claims: Claims | None = request.scope.get("state", {}).get("claims")
        return Context(
            services=services,
            request=request,
            response=response,
            request_id=request.scope.get("state", {}).get("request_id", ""),
            viewer=request.scope.get("state", {}).get("viewer")
            or await load_viewer(services, claims),
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Browsers cannot set headers on a websocket, so the token rides in the
        connection params (``authorization`` or ``token``)."""
        params: dict[str, Any] = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization") or params.get("token")
        if raw is None:
            return await super().on_ws_connect(context)
        try:
            token = bearer_token({"authorization": raw}) if " " in str(raw) else str(raw)
            if not token:
                raise AuthError("empty token")
            claims = decode_token(context.settings, token)
        except AuthError as exc:
            raise _rejected(context, str(exc)) from exc
        viewer = await load_viewer(context.services, claims)
        if viewer.user is not None and viewer.user.suspended:
            raise _rejected(context, "account suspended")
        if viewer.user is not None:
            state = context.request.scope["state"]
            sockets: Sockets = context.request.app.state.sockets
            socket = sockets.open(viewer.user.id, state["send"], claims.expires_at)
            if socket is None:
                raise _rejected(
                    context,
                    f"at most {sockets.max_per_user} open connections per user",
                    "RATE_LIMITED",
                )
            state["socket"] = socket
        context.claims = claims
        context.set_viewer(viewer)
        return await super().on_ws_connect(context)
