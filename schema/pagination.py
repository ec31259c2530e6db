"""Keyset cursors and Relay connections built from an already-fetched page."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry
from strawberry import relay

from graph.errors import ErrorCode
from schema.core import ClientError

T = TypeVar("T")


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of a list; Strawberry names it after the node type.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: relay.PageInfo


def encode_cursor(*parts: Any) -> str:
    raw = json.dumps(list(parts), separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    """The parts of a cursor this API issued; a forged or foreign one is INVALID_INPUT."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ClientError("invalid cursor", ErrorCode.INVALID_INPUT) from exc
    if not isinstance(parts, list) or len(parts) != arity:
        raise ClientError("invalid cursor", ErrorCode.INVALID_INPUT)
    return parts


def connection(items: Sequence[T], *, first: int, cursor_of: Callable[[T], str]) -> Connection[T]:
    """A page from ``items`` fetched with one extra row, which only says a next page exists."""
    page = list(items[:first])
    edges = [Edge(cursor=cursor_of(item), node=item) for item in page]
    return Connection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=len(items) > first,
            has_previous_page=False,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
