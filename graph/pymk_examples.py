"""Training examples for the people-you-may-know model, read from the graph's own history.

Labels come from time. With ``as_of`` = the newest friendship's ``since`` minus ``days``,
the friendships formed since ``as_of`` are the positives; everything the model sees is
computed on the graph as it was before them (``graph/pymk_features.py``'s as-of query:
only friendships and payments older than ``as_of`` count). For a sample of viewers who
made a new friend since, the candidate query as of ``as_of`` proposes candidates; the
examples are the pool the served model will re-rank (``graph/suggestions.py``
``model_pool``: the best friends of friends by resource allocation, and for a model with
side signals the hand weights' best too), and a candidate is positive when the viewer
befriended them since. A model trained on the hand weights' pool alone would learn from
positives it cannot see on friendships alone (found by a contact or a payment).
The learning itself is ``workers/pymk_train.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from graph.driver import Graph
from graph.pymk_features import FEATURES, pair_features
from graph.suggestions import SuggestionConfig, pools

NEWEST_FRIENDSHIP = "MATCH ()-[f:FRIEND]->() RETURN max(f.since) AS newest"
NEW_FRIENDS = """
MATCH (a:User)-[f:FRIEND]-(b:User)
WHERE f.since >= $asOf AND ($until IS NULL OR f.since < $until)
RETURN a.id AS id, collect(b.id) AS friends
"""


@dataclass(frozen=True)
class ViewerExamples:
    viewer: str
    # the pool: the friends-of-friends pool (``fof`` of them, by resource allocation),
    # then the hand weights' pool members not among them
    candidates: list[str]
    rows: list[list[float]]  # one feature vector per candidate
    labels: list[int]
    new_friends: int  # all positives of the viewer, found or not
    fof: int
    baseline: list[int]  # the pool's own order (indices): the hand weights'


async def newest_friendship(graph: Graph) -> datetime | None:
    result = await graph.read(NEWEST_FRIENDSHIP)
    newest = result.records[0]["newest"] if result.records else None
    return newest.to_native() if newest is not None else None


async def new_friends_since(
    graph: Graph, as_of: datetime, until: datetime | None = None
) -> dict[str, set[str]]:
    result = await graph.read(NEW_FRIENDS, asOf=as_of, until=until)
    return {r["id"]: set(r["friends"]) for r in result.records}


async def viewer_examples(
    graph: Graph,
    viewer: str,
    positives: set[str],
    as_of: datetime,
    config: SuggestionConfig,
) -> ViewerExamples:
    """The viewer's pools as of ``as_of``, with features then and labels since."""
    fof, hand = await pools(graph, viewer, config, as_of=as_of)
    fof_ids = [s.user_id for s in fof]
    ids = fof_ids + [s.user_id for s in hand if s.user_id not in set(fof_ids)]
    values = await pair_features(
        graph,
        viewer,
        ids,
        hub_cap=config.hub_degree_cap,
        max_intermediaries=config.max_intermediaries,
        max_scanned=config.max_scanned_friends,
        sensitive=config.sensitive_categories,
        now=as_of,
        as_of=as_of,
    )
    ids = [c for c in ids if c in values]
    place = {c: i for i, c in enumerate(ids)}
    by_hand = [place[s.user_id] for s in hand if s.user_id in place]
    return ViewerExamples(
        viewer,
        ids,
        [[values[c][f] for f in FEATURES] for c in ids],
        [1 if c in positives else 0 for c in ids],
        len(positives),
        fof=sum(1 for c in fof_ids if c in place),
        baseline=by_hand + [i for i in range(len(ids)) if i not in set(by_hand)],
    )


@dataclass(frozen=True)
class Examples:
    """Every viewer's pool with all of ``FEATURES`` (a model may use a subset)."""

    as_of: datetime
    until: datetime | None
    days: float
    viewers: list[ViewerExamples]


async def collect(
    graph: Graph,
    *,
    days: float = 30.0,
    max_viewers: int = 2000,
    seed: int = 1,
    config: SuggestionConfig | None = None,
    until: datetime | None = None,
) -> Examples:
    """The examples of the friendships of the last ``days`` (see the module doc); with
    ``until``, of the ``days`` before it (an evaluation keeps what follows unseen)."""
    config = config or SuggestionConfig()
    newest = until or await newest_friendship(graph)
    if newest is None:
        raise ValueError("the graph has no friendships with a creation time")
    as_of = newest - timedelta(days=days)
    positives = await new_friends_since(graph, as_of, until)
    viewers = sorted(positives)
    rnd = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    rnd.shuffle(viewers)
    viewers = viewers[:max_viewers]
    if len(viewers) < 2:
        raise ValueError(f"fewer than two users made a friend in the last {days:g} days")
    examples = [await viewer_examples(graph, v, positives[v], as_of, config) for v in viewers]
    return Examples(as_of, until, days, examples)
