"""Features of (viewer, candidate) pairs for the learned people-you-may-know ranker.

Three reads (the viewer's friends, two steps out from the viewer, the candidates with
their friends and side signals) give, for a viewer and a list of candidates (the
candidate query's best), every feature the model may use:

- ``cn``, ``aa``, ``ra``, ``jaccard``: common neighbours, Adamic-Adar (1/log(1+deg) per
  mutual friend), resource allocation (1/deg), and |N(me) and N(c)| / |N(me) or N(c)|;
- ``lp3``: log1p of the paths of length three me-a-b-c (the local path index's
  third-order term), through the viewer's ``maxIntermediaries`` least connected friends
  a of degree at most ``hubCap`` among the ``maxScanned`` newest (as the candidate
  query: bounded work for hubs, and for a viewer who is a hub);
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

# The viewer's friends with their degrees (all of them: common neighbours are exact).
_VIEWER_FRIENDS: LiteralString = """
MATCH (me:User {id: $id})-[:FRIEND]-(a:User)
RETURN a.id AS id, COUNT { (a)-[:FRIEND]-() } AS degree
"""

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
# per node b, the paths me-f-b and the walk weight sum(1/deg(f)), with deg(b).
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
RETURN b.id AS id, paths, walk, COUNT { (b)-[:FRIEND]-() } AS degree
"""
)

# Per candidate: degree, friends (at most $listCap), and the side signals, the viewer's
# merchants and circles gathered once.
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
RETURN c.id AS id,
       COUNT { (c)-[:FRIEND]-() } AS degree,
       [(c)-[:FRIEND]-(b:User) | b.id][..$listCap] AS friends,
       merchants,
       circles,
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

    out = re.sub(r"\[(rf):FRIEND\]", lambda m: f"[{m[1]}:FRIEND WHERE {m[1]}.since < $asOf]", query)
    out = re.sub(r"\[:FRIEND\]", friend, out)
    out = re.sub(r"\[(r):PAID\]", lambda m: "[r:PAID WHERE r.at < $asOf]", out)
    out = re.sub(r"\[:PAID\]", paid, out)
    return out  # built from literal text only


_AS_OF = {q: as_of_query(q) for q in (_VIEWER_FRIENDS, _TWO_STEPS, _CANDIDATES)}
LIST_CAP = 2000  # friends listed per candidate


def _vector(
    r: Any,
    mine: dict[str, int],
    two: dict[str, tuple[int, float, int]],
    now: datetime,
) -> dict[str, float]:
    d_me, d_c = len(mine), int(r["degree"])
    cn = aa = ra = 0.0
    lp3 = w3 = 0.0
    for b in r["friends"]:
        da = mine.get(b)
        if da is not None and da > 0:
            cn += 1.0
            aa += 1.0 / math.log(1.0 + da)
            ra += 1.0 / da
        step = two.get(b)
        if step is not None:
            paths, walk, db = step
            lp3 += paths
            w3 += walk / max(db, 1)
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
    """Every feature of ``FEATURES`` for each candidate, by candidate id (three reads:
    the viewer's friends, two steps out, the candidates; the path counts are joined
    here)."""
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

    async def read(query: LiteralString) -> Any:
        return (await graph.read(query if as_of is None else _AS_OF[query], **params)).records

    mine = {r["id"]: int(r["degree"]) for r in await read(_VIEWER_FRIENDS)}
    two = {
        r["id"]: (int(r["paths"]), float(r["walk"]), int(r["degree"]))
        for r in await read(_TWO_STEPS)
    }
    return {r["id"]: _vector(r, mine, two, now) for r in await read(_CANDIDATES)}
