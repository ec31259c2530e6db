"""discoverCircles: search by text, near a point, or both; recommendations without either.

Ranking and visibility are in ``graph/discovery.py``; the ids it returns still pass
through ``Circle.visible``, the same guard every circle read uses.
"""

from __future__ import annotations

import math

import strawberry

from graph import discovery
from graph.errors import ErrorCode
from graph.validation import has_control_chars
from schema.circles.types import Circle, GeoPointInput
from schema.core import ClientError, Info, page_size
from schema.pagination import Connection, connection, decode_cursor, encode_cursor


def _bad(message: str) -> ClientError:
    return ClientError(message, ErrorCode.INVALID_INPUT)


def _text(query: str | None) -> str | None:
    if query is None:
        return None
    if has_control_chars(query):
        raise _bad("query contains control characters")
    text = query.strip()
    if not 1 <= len(text) <= discovery.QUERY_MAX:
        raise _bad(f"query must be 1 to {discovery.QUERY_MAX} characters")
    return text


def _near(near: GeoPointInput | None, radius: int | None) -> discovery.Near | None:
    if near is None:
        if radius is not None:
            raise _bad("radiusMeters needs near")
        return None
    lat, lon = near.latitude, near.longitude
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise _bad("near.latitude must be between -90 and 90")
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise _bad("near.longitude must be between -180 and 180")
    if radius is None:
        radius = discovery.RADIUS_DEFAULT
    if not discovery.RADIUS_MIN <= radius <= discovery.RADIUS_MAX:
        raise _bad(
            f"radiusMeters must be between {discovery.RADIUS_MIN} and {discovery.RADIUS_MAX}"
        )
    return discovery.Near(lat, lon, radius)


def _after(after: str | None) -> tuple[float, str] | None:
    parts = decode_cursor(after, float, str)
    return (parts[0], parts[1]) if parts is not None else None


@strawberry.type
class DiscoveryQuery:
    @strawberry.field(
        description=(
            "Search and browse circles the viewer may find: by text (name and description, "
            "1 to 100 characters), near a point (radiusMeters 50 to 50000, default 5000), "
            "or both; without either, recommendations (friends' circles, circles of "
            "merchants the viewer visited; popular circles for anonymous viewers). Ranked by "
            "text relevance, distance and friends among the members; PRIVATE circles only "
            "for their members."
        )
    )
    async def discover_circles(
        self,
        info: Info,
        query: str | None = None,
        near: GeoPointInput | None = None,
        radius_meters: int | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> Connection[Circle]:
        size = page_size(info, first)
        text = _text(query)
        point = _near(near, radius_meters)
        cursor = _after(after)
        found = await discovery.discover(
            info.context.graph,
            info.context.viewer.id,
            text=text,
            near=point,
            first=size + 1,
            after=cursor,
        )
        scores = {f.id: f.score for f in found}
        circles = await Circle.visible(info, [f.id for f in found])
        return connection(
            circles, first=size, cursor_of=lambda c: encode_cursor(scores[c.id], c.id)
        )
