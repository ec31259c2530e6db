"""Features of (viewer, candidate) pairs for the learned people-you-may-know ranker.

One query computes, for a viewer and a list of candidates (the candidate query's best),
every feature the model may use:

- ``cn``, ``aa``, ``ra``, ``jaccard``: common neighbours, Adamic-Adar (1/log(1+deg) per
  mutual friend), resource allocation (1/deg), and |N(me) and N(c)| / |N(me) or N(c)|;
- ``lp3``: paths of length three me-a-b-c (the local path index's third-order term),
  through at most ``maxIntermediaries`` of the candidate's least connected friends of
  degree at most ``hubCap`` (bounded work for hubs);
- ``walk``: the probability that a random walk from the viewer, continuing with
  probability ``WALK_CONTINUE`` at each step, stands on the candidate after two or three
  steps — a personalised PageRank truncated at three steps, computed exactly over the
  same bounded paths;
- ``deg_viewer``, ``deg_candidate`` (log1p of the friend counts);
- ``contact_out`` / ``contact_in``: the viewer has the candidate's number / the other way;
- ``paid_out`` / ``paid_in``: log1p of the payments each way;
- ``circles``: shared circles (both MEMBER), each 1/log(2 + members);
- ``merchants``: shared non-sensitive merchants, each 1/log(2 + visitors) (rarer weighs
  more);
- ``age_days``: log1p of the candidate's account age in days.

``as_of`` computes them on the graph as it was then: only friendships and payments from
before it count (training labels are the friendships formed after it; see
``graph/pymk_train.py``). Contacts, visits and circle memberships count as they are now.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, LiteralString

from graph.driver import Graph

WALK_CONTINUE = 0.85

FEATURES: tuple[str, ...] = (
    "cn",
    "aa",
    "ra",
    "jaccard",
    "lp3",
    "walk",
    "deg_viewer",
    "deg_candidate",
    "contact_out",
    "contact_in",
    "paid_out",
    "paid_in",
    "circles",
    "merchants",
    "age_days",
)
# The features that use nothing but friendships.
FRIENDSHIP_FEATURES: tuple[str, ...] = (
    "cn",
    "aa",
    "ra",
    "jaccard",
    "lp3",
    "walk",
    "deg_viewer",
    "deg_candidate",
)

_FEATURES_QUERY: LiteralString = """
MATCH (me:User {id: $id})
WITH me, COUNT { (me)-[:FRIEND]-() } AS dMe
UNWIND $ids AS cid
MATCH (c:User {id: cid})
WITH me, dMe, c, COUNT { (c)-[:FRIEND]-() } AS dC
CALL (me, c) {
  OPTIONAL MATCH (me)-[:FRIEND]-(x:User)-[:FRIEND]-(c)
  WITH x, CASE WHEN x IS NULL THEN 0 ELSE COUNT { (x)-[:FRIEND]-() } END AS dx
  RETURN count(x) AS cn,
         sum(CASE WHEN dx > 0 THEN 1.0 / log(1.0 + dx) ELSE 0.0 END) AS aa,
         sum(CASE WHEN dx > 0 THEN 1.0 / dx ELSE 0.0 END) AS ra
}
CALL (me, c) {
  MATCH (c)-[:FRIEND]-(b:User)
  WHERE b <> me
  WITH me, c, b, COUNT { (b)-[:FRIEND]-() } AS db
  WHERE db <= $hubCap
  WITH me, c, b, db ORDER BY db ASC LIMIT $maxIntermediaries
  MATCH (b)-[:FRIEND]-(a:User)-[:FRIEND]-(me)
  WHERE a <> c
  WITH db, COUNT { (a)-[:FRIEND]-() } AS da
  RETURN count(*) AS lp3, sum(1.0 / (da * db)) AS w3
}
CALL (me, c) {
  OPTIONAL MATCH (me)-[:MEMBER_OF {state: 'MEMBER'}]->(k:Circle)<-[:MEMBER_OF {state: 'MEMBER'}]-(c)
  RETURN sum(CASE WHEN k IS NULL THEN 0.0 ELSE 1.0 / log(2.0 + coalesce(k.memberCount, 1)) END)
         AS circles
}
CALL (me, c) {
  OPTIONAL MATCH (me)-[:VISITED]->(m:Merchant)<-[:VISITED]-(c)
  WHERE NOT m.category IN $sensitive
  WITH DISTINCT m
  RETURN sum(CASE WHEN m IS NULL THEN 0.0
             ELSE 1.0 / log(2.0 + COUNT { (m)<-[:VISITED]-() }) END) AS merchants
}
RETURN c.id AS id, dMe, dC, cn, aa, ra, lp3, w3, circles, merchants,
       EXISTS { (me)-[:HAS_CONTACT]->(:Phone {hash: c.phoneHash}) } AS contactOut,
       EXISTS { (c)-[:HAS_CONTACT]->(:Phone {hash: me.phoneHash}) } AS contactIn,
       COUNT { (me)-[:PAID]->(c) } AS paidOut,
       COUNT { (c)-[:PAID]->(me) } AS paidIn,
       c.createdAt AS createdAt
"""


def as_of_query(query: LiteralString) -> LiteralString:
    """``query`` on the graph as it was at ``$asOf``: every ``FRIEND`` and ``PAID``
    pattern keeps only relationships from before it (each gets its own variable)."""
    counter = iter(range(1_000_000))

    def friend(_: re.Match[str]) -> str:
        n = next(counter)
        return f"[_f{n}:FRIEND WHERE _f{n}.since < $asOf]"

    def paid(_: re.Match[str]) -> str:
        n = next(counter)
        return f"[_p{n}:PAID WHERE _p{n}.at < $asOf]"

    out = re.sub(r"\[:FRIEND\]", friend, query)
    out = re.sub(r"\[(r):PAID\]", lambda m: "[r:PAID WHERE r.at < $asOf]", out)
    out = re.sub(r"\[:PAID\]", paid, out)
    return out  # built from literal text only


FEATURES_AS_OF: LiteralString = as_of_query(_FEATURES_QUERY)


def _vector(r: Any, now: datetime) -> dict[str, float]:
    d_me, d_c, cn = int(r["dMe"]), int(r["dC"]), int(r["cn"])
    union = d_me + d_c - cn
    walk = 0.0
    if d_me > 0:
        walk = (WALK_CONTINUE**2 * float(r["ra"]) + WALK_CONTINUE**3 * float(r["w3"] or 0.0)) / d_me
    created = r["createdAt"]
    age = 0.0
    if created is not None:
        age = max(0.0, (now - created.to_native()).total_seconds() / 86400.0)
    return {
        "cn": float(cn),
        "aa": float(r["aa"]),
        "ra": float(r["ra"]),
        "jaccard": cn / union if union > 0 else 0.0,
        "lp3": math.log1p(float(r["lp3"])),
        "walk": walk,
        "deg_viewer": math.log1p(d_me),
        "deg_candidate": math.log1p(d_c),
        "contact_out": 1.0 if r["contactOut"] else 0.0,
        "contact_in": 1.0 if r["contactIn"] else 0.0,
        "paid_out": math.log1p(int(r["paidOut"])),
        "paid_in": math.log1p(int(r["paidIn"])),
        "circles": float(r["circles"] or 0.0),
        "merchants": float(r["merchants"] or 0.0),
        "age_days": math.log1p(age),
    }


async def pair_features(
    graph: Graph,
    user_id: str,
    candidate_ids: Sequence[str],
    *,
    hub_cap: int,
    max_intermediaries: int,
    sensitive: Sequence[str],
    now: datetime,
    as_of: datetime | None = None,
) -> dict[str, dict[str, float]]:
    """Every feature of ``FEATURES`` for each candidate, by candidate id (one round trip)."""
    if not candidate_ids:
        return {}
    params: dict[str, Any] = {
        "id": user_id,
        "ids": list(candidate_ids),
        "hubCap": hub_cap,
        "maxIntermediaries": max_intermediaries,
        "sensitive": list(sensitive),
    }
    if as_of is None:
        result = await graph.read(_FEATURES_QUERY, **params)
    else:
        result = await graph.read(FEATURES_AS_OF, asOf=as_of, **params)
    return {r["id"]: _vector(r, now) for r in result.records}
