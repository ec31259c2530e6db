"""Keyset cursors and Relay connections built from an already-fetched page."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Sequence
from datetime import datetime
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


class Instant:
    """A cursor part that is a time, as ISO-8601 text (kept as text: Cypher parses it)."""


Part = type[int] | type[float] | type[str] | type[Instant]


def _part(value: Any, kind: Part) -> Any:
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif kind is Instant:
        if isinstance(value, str):
            datetime.fromisoformat(value)  # ValueError when it is not a time
            return value
    elif isinstance(value, str):
        return value
    raise ValueError(f"not a {kind.__name__}")


def decode_cursor(cursor: str | None, *kinds: Part) -> tuple[Any, ...] | None:
    """The parts of a cursor this API issued, each of the kind given; a forged, foreign or
    mangled one is INVALID_INPUT, before anything is read with it."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(parts, list) or len(parts) != len(kinds):
            raise ValueError("wrong shape")
        return tuple(_part(value, kind) for value, kind in zip(parts, kinds, strict=True))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ClientError("invalid cursor", ErrorCode.INVALID_INPUT) from exc


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
