"""Features of (viewer, candidate) pairs for the learned people-you-may-know ranker.

Three reads in one transaction (the viewer's friends, two steps out from the viewer,
then the candidates, joined with the first two in Neo4j) give, for a viewer and a list
of candidates (the candidate query's best), every feature the model may use:

- ``cn``, ``aa``, ``ra``, ``jaccard``: common neighbours, Adamic-Adar (1/log(1+deg) per
  mutual friend), resource allocation (1/deg), and |N(me) and N(c)| / |N(me) or N(c)|,
  over the candidate's first ``LIST_CAP`` friends (exact below that);
- ``lp3``: log1p of the paths of length three me-a-b-c (the local path index's
  third-order term), through the viewer's ``maxIntermediaries`` least connected friends
  a of degree at most ``hubCap`` among the ``maxScanned`` newest (as the candidate
  query: bounded work for hubs, and for a viewer who is a hub), b among the same;
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
``graph/pymk_examples.py``). Contacts, visits and circle memberships count as they are now.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, LiteralString

from neo4j import AsyncManagedTransaction

from graph.driver import Graph, read_transaction

WALK_CONTINUE = 0.85
# The viewer's friends the friends-of-friends reads look at (see SCANNED_FRIENDS).
MAX_SCANNED_FRIENDS = 2000

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
FEATURES: tuple[str, ...] = (
    *FRIENDSHIP_FEATURES,
    "contact_out",
    "contact_in",
    "paid_out",
    "paid_in",
    "circles",
    "merchants",
    "age_days",
)

# The viewer's friends the friends-of-friends reads look at (here and in
# graph/suggestions.py): all of them up to $maxScanned, and for a hub the newest
# $maxScanned by FRIEND.since (then by id). Picking the least connected intermediaries
# needs each one's degree; a hub's 60,000 friends cost 60,000 degree counts (seconds)
# where a top-k of their FRIEND.since costs one pass. Binds `me` and `f`.
SCANNED_FRIENDS: LiteralString = """
MATCH (me)-[rf:FRIEND]-(f:User)
WITH me, f ORDER BY rf.since DESC, f.id ASC LIMIT $maxScanned
"""

# Two steps out through the viewer's least connected friends (as the candidate query):
# per node b, the paths me-f-b and the walk weight sum(1/deg(f)), with deg(b). Thousands
# of them for a hub: one row of lists, as the driver's cost per row is many times a list
# item's (_VIEWER_FRIENDS and _CANDIDATES too).
_TWO_STEPS: LiteralString = (
    "MATCH (me:User {id: $id})\n"
    + SCANNED_FRIENDS
    + """
WITH me, f, COUNT { (f)-[:FRIEND]-() } AS da
WHERE da <= $hubCap
WITH me, f, da ORDER BY da ASC LIMIT $maxIntermediaries
MATCH (f)-[:FRIEND]-(b:User)
WHERE b <> me
WITH b, count(*) AS paths, sum(1.0 / da) AS walk
RETURN collect([elementId(b), paths, walk, COUNT { (b)-[:FRIEND]-() }]) AS reach
"""
)

# The viewer's friends (element ids only: a hub's 60,000 degree counts took seconds; the
# degrees of the few that are mutual friends are read per candidate below).
_VIEWER_FRIENDS: LiteralString = """
MATCH (me:User {id: $id})-[:FRIEND]-(a)
RETURN collect(elementId(a)) AS ids
"""

# Per candidate, over its first $listCap friends b: those among the viewer's friends
# ($mine: element id to 1) are the mutual friends (their degrees are read), and those in
# the two-step reach ($two: element id to [paths, walk weight / degree]) give the
# three-step paths (element ids: no property read per friend, half the db hits);
# then the side signals, the viewer's merchants and circles gathered once. The joins
# happen here, so what travels back is a few numbers per candidate, not friend lists.
_CANDIDATES: LiteralString = """
MATCH (me:User {id: $id})
CALL (me) {
  OPTIONAL MATCH (me)-[:VISITED]->(m:Merchant)
  WHERE NOT m.category IN $sensitive
  WITH DISTINCT m WHERE m IS NOT NULL
  RETURN collect({m: m, w: 1.0 / log(2.0 + COUNT { (m)<-[:VISITED]-() })}) AS ms
}
CALL (me) {
  OPTIONAL MATCH (me)-[:MEMBER_OF {state: 'MEMBER'}]->(k:Circle)
  WITH k WHERE k IS NOT NULL
  RETURN collect({k: k, w: 1.0 / log(2.0 + coalesce(k.memberCount, 1))}) AS ks
}
UNWIND $ids AS cid
MATCH (c:User {id: cid})
CALL (c, ms) {
  UNWIND ms AS x
  WITH c, x, x.m AS m
  WHERE EXISTS { (c)-[:VISITED]->(m) }
  RETURN sum(x.w) AS merchants
}
CALL (c, ks) {
  UNWIND ks AS x
  WITH c, x, x.k AS k
  WHERE EXISTS { (c)-[:MEMBER_OF {state: 'MEMBER'}]->(k) }
  RETURN sum(x.w) AS circles
}
CALL (c) {
  MATCH (c)-[:FRIEND]-(b)
  WITH b LIMIT $listCap
  WITH b, elementId(b) AS key
  WITH b, $two[key] AS t, $mine[key] IS NOT NULL AS mutual
  WHERE t IS NOT NULL OR mutual
  RETURN sum(t[0]) AS paths3, sum(t[1]) AS walk3,
         collect(CASE WHEN mutual THEN b END) AS mutuals
}
CALL (mutuals) {
  UNWIND mutuals AS x
  RETURN collect(COUNT { (x)-[:FRIEND]-() }) AS mutualDegrees
}
WITH c, mutualDegrees, paths3, walk3, merchants, circles,
     COUNT { (c)-[:FRIEND]-() } AS degree,
     EXISTS { (me)-[:HAS_CONTACT]->(:Phone {hash: c.phoneHash}) } AS contactOut,
     EXISTS { (c)-[:HAS_CONTACT]->(:Phone {hash: me.phoneHash}) } AS contactIn,
     COUNT { (me)-[:PAID]->(c) } AS paidOut,
     COUNT { (c)-[:PAID]->(me) } AS paidIn
RETURN collect({
  id: c.id, degree: degree, mutualDegrees: mutualDegrees, paths3: paths3, walk3: walk3,
  merchants: merchants, circles: circles, contactOut: contactOut, contactIn: contactIn,
  paidOut: paidOut, paidIn: paidIn, createdAt: c.createdAt
}) AS candidates
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

    out = re.sub(r"\[(rf):FRIEND\]", lambda m: f"[{m[1]}:FRIEND WHERE {m[1]}.since < $asOf]", query)
    out = re.sub(r"\[:FRIEND\]", friend, out)
    out = re.sub(r"\[(r):PAID\]", lambda m: "[r:PAID WHERE r.at < $asOf]", out)
    out = re.sub(r"\[:PAID\]", paid, out)
    return out  # built from literal text only


_AS_OF = {q: as_of_query(q) for q in (_VIEWER_FRIENDS, _TWO_STEPS, _CANDIDATES)}
LIST_CAP = 2000  # a candidate's friends looked at for three-step paths


def _vector(r: Any, d_me: int, now: datetime) -> dict[str, float]:
    d_c = int(r["degree"])
    mutual = [int(d) for d in r["mutualDegrees"] if d > 0]
    cn = float(len(mutual))
    aa = sum(1.0 / math.log(1.0 + d) for d in mutual)
    ra = sum(1.0 / d for d in mutual)
    lp3, w3 = float(r["paths3"] or 0), float(r["walk3"] or 0.0)
    union = d_me + d_c - cn
    walk_score = 0.0
    if d_me > 0:
        walk_score = (WALK_CONTINUE**2 * ra + WALK_CONTINUE**3 * w3) / d_me
    created = r["createdAt"]
    age = 0.0
    if created is not None:
        age = max(0.0, (now - created.to_native()).total_seconds() / 86400.0)
    return {
        "cn": cn,
        "aa": aa,
        "ra": ra,
        "jaccard": cn / union if union > 0 else 0.0,
        "lp3": math.log1p(lp3),
        "walk": walk_score,
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
    max_scanned: int = MAX_SCANNED_FRIENDS,
) -> dict[str, dict[str, float]]:
    """Every feature of ``FEATURES`` for each candidate, by candidate id, in three reads:
    the viewer's friends, two steps out, then the candidates (joined with the first
    two in Neo4j)."""
    if not candidate_ids:
        return {}
    params: dict[str, Any] = {
        "id": user_id,
        "ids": list(candidate_ids),
        "hubCap": hub_cap,
        "maxIntermediaries": max_intermediaries,
        "maxScanned": max_scanned,
        "listCap": LIST_CAP,
        "sensitive": list(sensitive),
    }
    if as_of is not None:
        params["asOf"] = as_of

    async def work(tx: AsyncManagedTransaction) -> dict[str, dict[str, float]]:
        async def one(query: LiteralString, column: str) -> list[Any]:
            result = await tx.run(query if as_of is None else _AS_OF[query], params)
            record = await result.single()
            return list(record[column]) if record is not None else []

        params["mine"] = dict.fromkeys(await one(_VIEWER_FRIENDS, "ids"), 1)
        params["two"] = {
            b: [int(paths), float(walk) / max(int(degree), 1)]
            for b, paths, walk, degree in await one(_TWO_STEPS, "reach")
        }
        d_me = len(params["mine"])
        return {r["id"]: _vector(r, d_me, now) for r in await one(_CANDIDATES, "candidates")}

    # One transaction: the maps between the reads are keyed by element ids.
    return await read_transaction(graph, work)
