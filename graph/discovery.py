"""discoverCircles: find circles by text, near a point, or both; or get recommendations.

Candidates come from the full-text index ``circle_text`` (name and description, ``cjk``
analyzer: Chinese bigrams and English words) and/or the point index ``circle_location``
(a hosted circle carries its merchant's location). Every mode filters visibility in
Cypher, before ranking: a PRIVATE circle is a candidate only for its MEMBERs (a banned,
pending or invited user, or anyone else, never finds it). The GraphQL layer then passes
the ids through ``Circle.visible`` as the final guard.

Ranking (every part between 0 and 1; a part whose input was not given is left out):

    score = 0.5 * text + 0.3 * proximity + 0.2 * social
    text      = lucene score / best lucene score among the candidates
    proximity = 1 - distance / radius          (1 at the point, 0 at the edge)
    social    = friends / (friends + 2)        (friends = the viewer's friends who are
                                                MEMBERs: 1 -> 0.33, 2 -> 0.5, 6 -> 0.75)

Recommendations (neither text nor point), for a signed-in viewer: circles the viewer's
friends joined and circles hosted by merchants the viewer visited, minus circles where
the viewer is a MEMBER (or banned):

    score = 0.6 * social + 0.4 * visited       (visited = 1 if the viewer visited the
                                                circle's merchant)

A signed-in viewer with neither signal (no friends in circles, no visits), and every
anonymous viewer, gets the popular PUBLIC and SEMI_PUBLIC circles: score = memberCount.

Order is (score desc, id asc), deterministic; pages are keyset on that pair. Text search
ranks at most the ``TEXT_CANDIDATES`` best text matches (with a point too, those are then
filtered by distance). Friend counts are one pass over the viewer's friends' memberships,
grouped with the candidates, not a walk per candidate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import LiteralString

from graph.driver import Graph

TEXT_CANDIDATES = 1000
QUERY_MAX = 100
RADIUS_MIN, RADIUS_MAX, RADIUS_DEFAULT = 50, 50_000, 5_000

W_TEXT, W_NEAR, W_SOCIAL = 0.5, 0.3, 0.2
W_REC_SOCIAL, W_REC_VISITED = 0.6, 0.4

_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')
_OPERATORS = {"AND", "OR", "NOT", "TO"}


def lucene_query(text: str) -> str:
    """User text as a Lucene query of plain terms (any of them may match): every
    special character escaped, the operator words lowercased, so nothing ever fails to
    parse. An empty result means there is nothing to search for."""
    terms = []
    for word in text.split():
        if word in _OPERATORS:
            word = word.lower()
        terms.append(_LUCENE_SPECIAL.sub(r"\\\1", word))
    return " ".join(terms)


@dataclass(frozen=True)
class Near:
    latitude: float
    longitude: float
    radius_meters: int


@dataclass(frozen=True)
class Found:
    id: str
    score: float


# ---------------------------------------------------------------- candidate sources

_TEXT: LiteralString = """
    CALL db.index.fulltext.queryNodes('circle_text', $text, {limit: $textLimit})
    YIELD node, score
    WITH collect({c: node, s: score}) AS hits, max(score) AS best
    UNWIND hits AS hit
    WITH hit.c AS c, hit.s / best AS text
"""

_TEXT_NEAR: LiteralString = (
    _TEXT
    + """
    WHERE c.location IS NOT NULL
      AND point.distance(c.location, point({latitude: $lat, longitude: $lon})) <= $radius
    WITH c, text, point.distance(c.location, point({latitude: $lat, longitude: $lon})) AS dist
"""
)

_NEAR: LiteralString = """
    MATCH (c:Circle)
    WHERE point.distance(c.location, point({latitude: $lat, longitude: $lon})) <= $radius
    WITH c, null AS text,
         point.distance(c.location, point({latitude: $lat, longitude: $lon})) AS dist
"""

# The friend counts of every circle the viewer's friends are MEMBERs of, as rows to be
# grouped with the candidates (a hash aggregation on the circle: one pass over the
# friends' memberships instead of one walk per candidate).
_FRIEND_ROWS: LiteralString = """
        MATCH (:User {id: $viewer})-[:FRIEND]-(f:User)-[:MEMBER_OF {state: 'MEMBER'}]->(c:Circle)
        WHERE NOT coalesce(f.suspended, false)
        RETURN c, null AS text, null AS dist, count(f) AS friends, 0 AS candidate
"""

# Visibility, then the score and the page.
_RANKED: LiteralString = """
    WITH c, max(text) AS text, max(dist) AS dist, sum(friends) AS friends,
         max(candidate) AS candidate
    WHERE candidate = 1
    OPTIONAL MATCH (me:User {id: $viewer})
    WITH c, text, dist, friends, me
    WHERE c.visibility <> 'PRIVATE'
       OR (me IS NOT NULL AND EXISTS { (me)-[:MEMBER_OF {state: 'MEMBER'}]->(c) })
    WITH c, $wText * coalesce(text, 0.0)
            + CASE WHEN dist IS NULL THEN 0.0 ELSE $wNear * (1.0 - dist / $radius) END
            + $wSocial * toFloat(friends) / (friends + 2) AS score
    WHERE $afterScore IS NULL OR score < $afterScore
       OR (score = $afterScore AND c.id > $afterId)
    RETURN c.id AS id, score ORDER BY score DESC, id LIMIT $limit
"""


def _ranked(source: LiteralString) -> LiteralString:
    """Candidates from ``source`` (which ends ``WITH c, text, dist``), ranked."""
    return (
        "CALL () {"
        + source
        + " RETURN c, text, dist, 0 AS friends, 1 AS candidate UNION ALL"
        + _FRIEND_ROWS
        + "}"
        + _RANKED
    )


_RECOMMENDED: LiteralString = """
    MATCH (me:User {id: $viewer})
    CALL (me) {
        MATCH (me)-[:FRIEND]-(f:User)-[:MEMBER_OF {state: 'MEMBER'}]->(c:Circle)
        WHERE NOT coalesce(f.suspended, false)
        RETURN c, count(DISTINCT f) AS friends, 0 AS visited
      UNION ALL
        MATCH (me)-[:VISITED]->(:Merchant)<-[:HOSTED_BY]-(c:Circle)
        RETURN DISTINCT c, 0 AS friends, 1 AS visited
    }
    WITH me, c, sum(friends) AS friends, max(visited) AS visited
    WHERE c.visibility <> 'PRIVATE'
      AND NOT EXISTS {
          MATCH (me)-[r:MEMBER_OF]->(c)
          WHERE r.state = 'MEMBER'
             OR (r.state = 'BANNED' AND (r.bannedUntil IS NULL OR r.bannedUntil > datetime()))
      }
    WITH c, $wSocial * toFloat(friends) / (friends + 2) + $wVisited * visited AS score
    WHERE $afterScore IS NULL OR score < $afterScore
       OR (score = $afterScore AND c.id > $afterId)
    RETURN c.id AS id, score ORDER BY score DESC, id LIMIT $limit
"""


_POPULAR: LiteralString = """
    MATCH (c:Circle)
    WHERE c.visibility IN ['PUBLIC', 'SEMI_PUBLIC']
      AND ($viewer IS NULL OR NOT EXISTS {
          MATCH (:User {id: $viewer})-[r:MEMBER_OF]->(c)
          WHERE r.state = 'MEMBER'
             OR (r.state = 'BANNED' AND (r.bannedUntil IS NULL OR r.bannedUntil > datetime()))
      })
    WITH c, toFloat(c.memberCount) AS score
    WHERE $afterScore IS NULL OR score < $afterScore
       OR (score = $afterScore AND c.id > $afterId)
    RETURN c.id AS id, score ORDER BY score DESC, id LIMIT $limit
"""


async def discover(
    graph: Graph,
    viewer_id: str | None,
    *,
    text: str | None,
    near: Near | None,
    first: int,
    after: tuple[float, str] | None,
) -> list[Found]:
    """One page of circle ids with their scores, best first (see the module doc).

    ``text`` is the user's text (validated by the caller); ``first`` rows at most.
    """
    params = {
        "viewer": viewer_id,
        "limit": first,
        "afterScore": after[0] if after else None,
        "afterId": after[1] if after else None,
        "textLimit": TEXT_CANDIDATES,
        "lat": near.latitude if near else None,
        "lon": near.longitude if near else None,
        "radius": float(near.radius_meters) if near else 1.0,
        "wText": W_TEXT,
        "wNear": W_NEAR,
    }
    if text is not None:
        query = lucene_query(text)
        if not query:
            return []
        source = _TEXT_NEAR if near else _TEXT + " WITH c, text, null AS dist"
        result = await graph.read(_ranked(source), text=query, wSocial=W_SOCIAL, **params)
    elif near is not None:
        result = await graph.read(_ranked(_NEAR), wSocial=W_SOCIAL, **params)
    else:
        popular = viewer_id is None
        if viewer_id is not None:
            result = await graph.read(
                _RECOMMENDED, wSocial=W_REC_SOCIAL, wVisited=W_REC_VISITED, **params
            )
            # Only a viewer without any signal gets popular circles instead (on every
            # page: the cursor of a popular page finds no recommendations either).
            popular = not result.records and not await _has_signal(graph, viewer_id)
        if popular:
            result = await graph.read(_POPULAR, **params)
    return [Found(r["id"], float(r["score"])) for r in result.records]


async def _has_signal(graph: Graph, viewer_id: str) -> bool:
    """Whether recommendations (not the popular fallback) apply to this viewer."""
    result = await graph.read(
        """
        MATCH (me:User {id: $viewer})
        CALL (me) {
            MATCH (me)-[:FRIEND]-(f:User)-[:MEMBER_OF {state: 'MEMBER'}]->(c:Circle)
            WHERE NOT coalesce(f.suspended, false)
            RETURN c
          UNION
            MATCH (me)-[:VISITED]->(:Merchant)<-[:HOSTED_BY]-(c:Circle)
            RETURN c
        }
        WITH DISTINCT me, c
        WHERE c.visibility <> 'PRIVATE'
          AND NOT EXISTS {
              MATCH (me)-[r:MEMBER_OF]->(c)
              WHERE r.state = 'MEMBER'
                 OR (r.state = 'BANNED' AND (r.bannedUntil IS NULL OR r.bannedUntil > datetime()))
          }
        RETURN count(c) > 0 AS any
        """,
        viewer=viewer_id,
    )
    return bool(result.records and result.records[0]["any"])
