"""People you may know: candidates from several capped sources, scored and explained.

Each source is one Cypher subquery that yields ``(c, kind, raw, n)`` rows for candidate
``c``; the scorer turns them into a weighted sum and reasons. A new signal is one more
``Source`` in ``SOURCES`` and one more weight in ``SuggestionConfig`` (shared circles came
that way). Reasons count shared circles but never name one: both people are members of
every circle counted, yet a name would still say more than "2 circles in common".
The exclusions (self, friends, blocks, pending requests, dismissed, undiscoverable,
suspended) are a single predicate applied after scoring and again on every read of a
cached list, so a stale list never shows someone it must not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, LiteralString

from graph.driver import Graph
from graph.pymk_features import (
    FRIENDSHIP_FEATURES,
    MAX_SCANNED_FRIENDS,
    SCANNED_FRIENDS,
    as_of_query,
    pair_features,
)
from graph.users import USER_FIELDS, UserRecord

if TYPE_CHECKING:
    from graph.pymk_model import RankerModel

MUTUAL_FRIENDS = "MUTUAL_FRIENDS"
CONTACT = "CONTACT"
# The candidate holds the viewer's number: it ranks, but the viewer's own data does not
# show it, so it is never a reason and never enough on its own to suggest someone.
CONTACT_OF = "CONTACT_OF"
PAYMENT = "PAYMENT"
SHARED_MERCHANT = "SHARED_MERCHANT"
SHARED_CIRCLE = "SHARED_CIRCLE"


# Signals that rank but are not the viewer's to see; a candidate needs a visible one too.
HIDDEN_SIGNALS = frozenset({CONTACT_OF})


@dataclass(frozen=True)
class SuggestionConfig:
    # Friends of friends: resource allocation (each friend f passes on 1/deg(f)).
    hub_degree_cap: int = 300  # friends with more friends than this are skipped
    max_intermediaries: int = (
        400  # at most this many of the viewer's friends, least connected first
    )
    # ... chosen among at most this many (a hub viewer's newest by FRIEND.since): a hub's
    # every friend's degree took seconds to read (graph/pymk_features.py SCANNED_FRIENDS)
    max_scanned_friends: int = MAX_SCANNED_FRIENDS
    per_source: int = 200  # candidates kept from each source
    max_merchants: int = 50  # the viewer's rarest merchants considered
    merchant_visit_cap: int = 5000  # merchants busier than this carry no signal
    sensitive_categories: tuple[str, ...] = ("medical", "adult", "pharmacy", "health")
    max_circles: int = 50  # the viewer's smallest circles considered
    circle_size_cap: int = 5000  # circles larger than this carry no signal
    # With a model: the best this many by the hand weights, and the best this many
    # friends of friends by resource allocation, are re-ranked by it (a model on
    # friendships alone re-ranks only the latter: the hand weights' pool would hand it
    # candidates it cannot tell apart, known only from contacts or payments).
    rerank_pool: int = 150
    weights: dict[str, float] = field(
        default_factory=lambda: {
            MUTUAL_FRIENDS: 1.0,
            CONTACT: 1.5,
            CONTACT_OF: 1.0,
            PAYMENT: 1.2,
            SHARED_MERCHANT: 0.1,
            SHARED_CIRCLE: 0.5,
        }
    )


@dataclass(frozen=True)
class Reason:
    kind: str
    count: int | None


@dataclass(frozen=True)
class Scored:
    user_id: str
    score: float
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Source:
    kind: str
    cypher: LiteralString


SOURCES: tuple[Source, ...] = (
    Source(
        MUTUAL_FRIENDS,
        SCANNED_FRIENDS
        + """
        WITH me, f, COUNT { (f)-[:FRIEND]-() } AS deg
        WHERE deg <= $hubCap
        ORDER BY deg ASC LIMIT $maxIntermediaries
        MATCH (f)-[:FRIEND]-(c:User)
        WHERE c <> me
        WITH c, sum(1.0 / deg) AS raw, count(f) AS n
        ORDER BY raw DESC LIMIT $perSource
        RETURN c, 'MUTUAL_FRIENDS' AS kind, raw, n
        """,
    ),
    Source(
        CONTACT,
        """
        MATCH (me)-[:HAS_CONTACT]->(p:Phone)
        MATCH (c:User {phoneHash: p.hash})
        WHERE c <> me
        RETURN c, 'CONTACT' AS kind, 1.0 AS raw, 1 AS n
        LIMIT $perSource
        UNION ALL
        MATCH (p:Phone {hash: me.phoneHash})<-[:HAS_CONTACT]-(c:User)
        WHERE c <> me
        RETURN c, 'CONTACT_OF' AS kind, 1.0 AS raw, 1 AS n
        LIMIT $perSource
        """,
    ),
    Source(
        PAYMENT,
        """
        MATCH (me)-[r:PAID]-(c:User)
        WHERE c <> me
        WITH c, count(r) AS n
        ORDER BY n DESC LIMIT $perSource
        RETURN c, 'PAYMENT' AS kind, log(1.0 + n) / log(2.0) AS raw, n
        """,
    ),
    Source(
        SHARED_MERCHANT,
        """
        MATCH (me)-[:VISITED]->(m:Merchant)
        WHERE NOT m.category IN $sensitive
        WITH DISTINCT me, m
        WITH me, m, COUNT { (m)<-[:VISITED]-() } AS visits
        WHERE visits <= $merchantCap
        ORDER BY visits ASC LIMIT $maxMerchants
        MATCH (m)<-[:VISITED]-(c:User)
        WHERE c <> me
        WITH DISTINCT c, m, 1.0 / log(2.0 + visits) AS w
        WITH c, sum(w) AS raw, count(m) AS n
        ORDER BY raw DESC LIMIT $perSource
        RETURN c, 'SHARED_MERCHANT' AS kind, raw, n
        """,
    ),
    Source(
        SHARED_CIRCLE,
        """
        MATCH (me)-[:MEMBER_OF {state: 'MEMBER'}]->(k:Circle)
        WHERE k.memberCount <= $circleCap
        WITH me, k ORDER BY k.memberCount ASC LIMIT $maxCircles
        MATCH (k)<-[:MEMBER_OF {state: 'MEMBER'}]-(c:User)
        WHERE c <> me
        WITH c, sum(1.0 / log(2.0 + k.memberCount)) AS raw, count(k) AS n
        ORDER BY raw DESC LIMIT $perSource
        RETURN c, 'SHARED_CIRCLE' AS kind, raw, n
        """,
    ),
)

# The people `me` has a pending friend request with, either way, gathered once from `me`
# as `pending`: as an EXISTS per candidate the planner seeks every PENDING FriendRequest
# through the state index for each candidate (PROFILE), a cost that grows with the graph;
# the state is tested after the expansion so that no index can start the pattern.
PENDING: LiteralString = """
WITH me,
     [x IN [(me)-[:SENT]->(r:FriendRequest)-[:TO]->(o:User) | {s: r.state, o: o}]
      WHERE x.s = 'PENDING' | x.o]
     + [x IN [(me)<-[:TO]-(r:FriendRequest)<-[:SENT]-(o:User) | {s: r.state, o: o}]
        WHERE x.s = 'PENDING' | x.o]
     AS pending
"""

# Who may never be suggested to `me`, as a predicate on `c` (`pending` from PENDING).
EXCLUDED: LiteralString = """
    c = me
    OR NOT coalesce(c.discoverable, true)
    OR coalesce(c.suspended, false)
    OR EXISTS { (me)-[:FRIEND]-(c) }
    OR EXISTS { (me)-[:BLOCKED]-(c) }
    OR EXISTS { (me)-[:DISMISSED]->(c) }
    OR c IN pending
"""


def _candidates_query(sources: Sequence[Source]) -> LiteralString:
    union: LiteralString = ""
    for i, source in enumerate(sources):
        union = union + ("\nUNION ALL\n" if i else "") + source.cypher
    return (
        "MATCH (me:User {id: $id})\n"
        + PENDING
        + "CALL (me) {\n"
        + union
        + "\n}\nWITH me, pending, c, kind, max(raw) AS raw, max(n) AS n\nWHERE NOT ("
        + EXCLUDED
        + ")\nWITH c.id AS id, collect({kind: kind, raw: raw, n: n}) AS signals"
        # One row of all candidates: the driver's cost per row is many times a list item's.
        + "\nRETURN collect([id, signals]) AS candidates"
    )


CANDIDATES = _candidates_query(SOURCES)
# The same on the graph as it was at $asOf (training examples: graph/pymk_examples.py).
CANDIDATES_AS_OF = as_of_query(CANDIDATES)


def _score(
    signals: Iterable[dict[str, Any]], weights: dict[str, float], order: Sequence[str]
) -> tuple[float, list[Reason]]:
    total = 0.0
    reasons = []
    for s in signals:
        total += weights.get(s["kind"], 0.0) * float(s["raw"])
        if s["kind"] in HIDDEN_SIGNALS:
            continue
        count = (
            int(s["n"]) if s["kind"] in (MUTUAL_FRIENDS, SHARED_MERCHANT, SHARED_CIRCLE) else None
        )
        reasons.append(Reason(s["kind"], count))
    reasons.sort(key=lambda r: order.index(r.kind) if r.kind in order else len(order))
    return total, reasons


def _params(config: SuggestionConfig) -> dict[str, Any]:
    return {
        "hubCap": config.hub_degree_cap,
        "maxIntermediaries": config.max_intermediaries,
        "maxScanned": config.max_scanned_friends,
        "perSource": config.per_source,
        "sensitive": list(config.sensitive_categories),
        "merchantCap": config.merchant_visit_cap,
        "maxMerchants": config.max_merchants,
        "circleCap": config.circle_size_cap,
        "maxCircles": config.max_circles,
    }


Candidates = list[tuple[str, list[dict[str, Any]]]]


async def _candidates(
    graph: Graph, user_id: str, config: SuggestionConfig, as_of: datetime | None
) -> Candidates:
    """Every candidate's signals (one read), as of ``as_of`` when given."""
    if as_of is None:
        result = await graph.read(CANDIDATES, id=user_id, **_params(config))
    else:
        result = await graph.read(CANDIDATES_AS_OF, id=user_id, asOf=as_of, **_params(config))
    return [(str(id_), signals) for r in result.records for id_, signals in r["candidates"]]


def _ranked(rows: Candidates, weights: dict[str, float], order: Sequence[str]) -> list[Scored]:
    scored = []
    for user_id, signals in rows:
        score, reasons = _score(signals, weights, order)
        if score > 0 and reasons:
            scored.append(Scored(user_id, round(score, 6), tuple(reasons)))
    scored.sort(key=lambda s: (-s.score, s.user_id))
    return scored


async def hand_ranked(
    graph: Graph, user_id: str, config: SuggestionConfig, *, as_of: datetime | None = None
) -> list[Scored]:
    """Every candidate with a positive hand-weighted score, best first."""
    rows = await _candidates(graph, user_id, config, as_of)
    return _ranked(rows, config.weights, list(config.weights))


async def pools(
    graph: Graph,
    user_id: str,
    config: SuggestionConfig,
    *,
    size: int | None = None,
    as_of: datetime | None = None,
) -> tuple[list[Scored], list[Scored]]:
    """From one read: the best ``size`` friends of friends by resource allocation, and
    the hand weights' best ``size``, each best first."""
    size = size or config.rerank_pool
    rows = await _candidates(graph, user_id, config, as_of)
    order = list(config.weights)
    return (
        _ranked(rows, {MUTUAL_FRIENDS: 1.0}, order)[:size],
        _ranked(rows, config.weights, order)[:size],
    )


def friendships_only(features: Sequence[str]) -> bool:
    return set(features) <= set(FRIENDSHIP_FEATURES)


async def model_pool(
    graph: Graph,
    user_id: str,
    config: SuggestionConfig,
    features: Sequence[str],
    *,
    size: int | None = None,
    as_of: datetime | None = None,
) -> list[Scored]:
    """The candidates a model over ``features`` re-ranks (see ``rerank_pool``): the
    friends-of-friends pool, then, unless the model uses friendships alone, the hand
    weights' pool without those already in."""
    fof, hand = await pools(graph, user_id, config, size=size, as_of=as_of)
    if friendships_only(features):
        return fof
    seen = {s.user_id for s in fof}
    return fof + [s for s in hand if s.user_id not in seen]


async def model_ranked(
    graph: Graph,
    user_id: str,
    pool: list[Scored],
    model: RankerModel,
    config: SuggestionConfig,
    *,
    now: datetime | None = None,
    as_of: datetime | None = None,
) -> list[Scored]:
    """``pool`` re-ranked by the model (reasons stay those of the sources), best first."""
    features = await pair_features(
        graph,
        user_id,
        [s.user_id for s in pool],
        hub_cap=config.hub_degree_cap,
        max_intermediaries=config.max_intermediaries,
        max_scanned=config.max_scanned_friends,
        sensitive=config.sensitive_categories,
        now=now or as_of or datetime.now(UTC),
        as_of=as_of,
    )
    kept = [s for s in pool if s.user_id in features]
    scores = model.score_many([features[s.user_id] for s in kept])
    out = [Scored(s.user_id, round(v, 6), s.reasons) for s, v in zip(kept, scores, strict=True)]
    out.sort(key=lambda s: (-s.score, s.user_id))
    return out


async def compute_suggestions(
    graph: Graph,
    user_id: str,
    *,
    limit: int,
    config: SuggestionConfig | None = None,
    model: RankerModel | None = None,
) -> list[Scored]:
    """The viewer's best ``limit`` suggestions, computed live from the graph: by the
    model when one is given (over its ``model_pool``), else by the hand weights."""
    config = config or SuggestionConfig()
    if model is None:
        scored = await hand_ranked(graph, user_id, config)
    else:
        size = max(limit, config.rerank_pool)
        pool = await model_pool(graph, user_id, config, model.features, size=size)
        scored = await model_ranked(graph, user_id, pool, model, config)
    top = scored[:limit]
    return await _with_exact_mutual_counts(graph, user_id, top)


# Walk out from whichever of the two has fewer friends, and test each of those friends
# against the other (an expand-into, which reads the sparser side): from a hub's 60,000
# friends, ten counts took seconds where the candidate's few dozen take milliseconds.
EXACT_MUTUAL_COUNTS: LiteralString = """
MATCH (me:User {id: $id})
WITH me, COUNT { (me)-[:FRIEND]-() } AS dm
UNWIND $ids AS cid
MATCH (c:User {id: cid})
WITH me, dm, c, cid, COUNT { (c)-[:FRIEND]-() } AS dc
CALL (me, c, dm, dc) {
  WITH me, c WHERE dm <= dc
  RETURN COUNT { (me)-[:FRIEND]-(x:User) WHERE EXISTS { (x)-[:FRIEND]-(c) } } AS mutual
  UNION ALL
  WITH me, c WHERE dm > dc
  RETURN COUNT { (c)-[:FRIEND]-(x:User) WHERE EXISTS { (x)-[:FRIEND]-(me) } } AS mutual
}
RETURN cid, mutual
"""


async def _with_exact_mutual_counts(
    graph: Graph, user_id: str, scored: list[Scored]
) -> list[Scored]:
    """The friends-of-friends source skips hubs; the reason shows the true mutual count."""
    ids = [s.user_id for s in scored if any(r.kind == MUTUAL_FRIENDS for r in s.reasons)]
    if not ids:
        return scored
    result = await graph.read(EXACT_MUTUAL_COUNTS, id=user_id, ids=ids)
    mutual = {r["cid"]: r["mutual"] for r in result.records}
    return [
        Scored(
            s.user_id,
            s.score,
            tuple(
                Reason(r.kind, mutual.get(s.user_id, r.count)) if r.kind == MUTUAL_FRIENDS else r
                for r in s.reasons
            ),
        )
        for s in scored
    ]


async def still_suggestible(
    graph: Graph, user_id: str, candidate_ids: Sequence[str]
) -> dict[str, UserRecord]:
    """The candidates that may still be shown, with their records, in one round trip."""
    if not candidate_ids:
        return {}
    result = await graph.read(
        "MATCH (me:User {id: $id})"
        + PENDING
        + "UNWIND $ids AS cid MATCH (c:User {id: cid}) WITH me, pending, c "
        "WHERE NOT (" + EXCLUDED + ") WITH c AS u RETURN " + USER_FIELDS,
        id=user_id,
        ids=list(candidate_ids),
    )
    return {r["user"]["id"]: UserRecord.from_row(r["user"]) for r in result.records}
