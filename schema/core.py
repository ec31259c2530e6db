"""What every domain of the schema shares: errors, guards, the Node field."""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import (
    Any,
    Concatenate,
    ParamSpec,
    TypeAlias,
    TypeVar,
    cast,
    get_type_hints,
)

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.types import Info as StrawberryInfo

from api.auth import Viewer
from api.context import Context, load_viewer
from graph import errors as domain
from graph.users import UserRecord

Info: TypeAlias = StrawberryInfo[Context, None]

# Registers the domain enum with Strawberry; annotations use the domain class itself.
strawberry.enum(domain.ErrorCode, name="ErrorCode")


@strawberry.type
class UserError:
    field: str | None
    message: str
    code: domain.ErrorCode
    retry_after_seconds: int | None = strawberry.field(
        default=None,
        description="RATE_LIMITED only: whole seconds to wait before trying again.",
    )

    @classmethod
    def from_problem(cls, problem: domain.Problem) -> UserError:
        retry = problem.retry_after_seconds
        return cls(
            field=problem.field,
            message=problem.message,
            code=problem.code,
            retry_after_seconds=(
                max(1, math.ceil(retry)) if retry is not None and math.isfinite(retry) else None
            ),
        )


class ClientError(GraphQLError):
    """A GraphQL error the client caused; shown as is, with a code in ``extensions``."""

    def __init__(self, message: str, code: domain.ErrorCode, **extra: Any) -> None:
        super().__init__(message, extensions={"code": code.value, **extra})


# A requirement returns the problem that stops the viewer, or None.
Requirement = Callable[[Viewer], domain.Problem | None]


def signed_in(viewer: Viewer) -> domain.Problem | None:
    if viewer.user is None:
        return domain.Problem(domain.ErrorCode.UNAUTHENTICATED, "sign in first")
    return None


def admin(viewer: Viewer) -> domain.Problem | None:
    if not viewer.is_admin:
        return domain.Problem(domain.ErrorCode.FORBIDDEN, "platform admins only")
    return None


P = ParamSpec("P")
T = TypeVar("T")


def mutation(
    requirement: Requirement | None = None,
) -> Callable[
    [Callable[Concatenate[Any, Info, P], Awaitable[T]]],
    Callable[Concatenate[Any, Info, P], Awaitable[T]],
]:
    """Wrap a mutation resolver: check the viewer first, and turn action errors into
    ``userErrors`` of the resolver's own payload type."""

    def decorate(
        fn: Callable[Concatenate[Any, Info, P], Awaitable[T]],
    ) -> Callable[Concatenate[Any, Info, P], Awaitable[T]]:
        payload_type = get_type_hints(fn)["return"]

        def failed(info: Info, *problems: domain.Problem) -> T:
            waits = [p.retry_after_seconds for p in problems if p.retry_after_seconds]
            if waits:  # RateLimitHeaders tells the client, in extensions and Retry-After
                info.context.rate_limited_for = max(waits)
            result: T = payload_type(user_errors=[UserError.from_problem(p) for p in problems])
            return result

        @functools.wraps(fn)
        async def resolver(self: Any, info: Info, *args: P.args, **kwargs: P.kwargs) -> T:
            if requirement is not None and (problem := requirement(info.context.viewer)):
                return failed(info, problem)
            try:
                return await fn(self, info, *args, **kwargs)
            except domain.ActionError as exc:
                return failed(info, *exc.problems)

        return cast(Callable[Concatenate[Any, Info, P], Awaitable[T]], resolver)

    return decorate


@contextlib.asynccontextmanager
async def live_subscription(info: Info) -> AsyncIterator[None]:
    """One live subscription of a websocket, counted against the connection's cap (each
    one holds a listener and a task for as long as it lasts)."""
    ctx = info.context
    cap = ctx.settings.max_subscriptions_per_socket
    if ctx.subscriptions >= cap:
        raise ClientError(
            f"at most {cap} live subscriptions per connection", domain.ErrorCode.RATE_LIMITED
        )
    ctx.subscriptions += 1
    try:
        yield
    finally:
        ctx.subscriptions -= 1


async def still_signed_in(info: Info) -> bool:
    """A websocket outlives its token and its account's standing: before each event the
    token must still be valid and the account not suspended (the card cache answers)."""
    ctx = info.context
    claims = ctx.claims
    if claims is None:
        return False
    if claims.expires_at is not None and time.time() > claims.expires_at:
        return False
    viewer = await load_viewer(ctx.services, claims)
    return viewer.user is not None and not viewer.user.suspended


def page_size(info: Info, first: int | None, default: int = 20) -> int:
    """``first`` capped at the configured maximum (100); negative is an error."""
    if first is None:
        return default
    if first < 0:
        raise ClientError("first must not be negative", domain.ErrorCode.INVALID_INPUT)
    return min(first, info.context.settings.max_page_size)


async def resolve_node(info: Info, node_id: str) -> relay.Node | None:
    """Any global id, or null: a malformed, unknown or hidden id all look the same."""
    try:
        global_id = relay.GlobalID.from_id(node_id)
        node = await global_id.resolve_node(info, required=False)
    except relay.GlobalIDValueError:
        return None
    return node if isinstance(node, relay.Node) else None


def internal_id(global_id: str, type_name: str) -> str | None:
    """The internal id inside a global id of the given type; None for anything else."""
    try:
        decoded = relay.GlobalID.from_id(global_id)
    except relay.GlobalIDValueError:
        return None
    return decoded.node_id if decoded.type_name == type_name and decoded.node_id else None


def viewer_record(info: Info) -> UserRecord:
    """The signed-in viewer's record, in a resolver guarded by ``signed_in``."""
    user = info.context.viewer.user
    assert user is not None  # guaranteed by the signed_in requirement
    return user


def require_id(global_id: str, type_name: str, field: str) -> str:
    """The internal id of a global id of this type; anything else is NOT_FOUND."""
    found = internal_id(global_id, type_name)
    if found is None:
        raise domain.ActionError(
            domain.Problem(domain.ErrorCode.NOT_FOUND, f"{type_name.lower()} not found", field)
        )
    return found
