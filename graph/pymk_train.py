"""``quanzi pymk train``: the people-you-may-know model, learnt from the graph's own history.

Labels come from time. With ``as_of`` = the newest friendship's ``since`` minus ``days``,
the friendships formed since ``as_of`` are the positives; everything the model sees is
computed on the graph as it was before them (``graph/pymk_features.py``'s as-of query:
only friendships and payments older than ``as_of`` count). For a sample of viewers who
made a new friend since, the candidate query as of ``as_of`` proposes candidates, the
hand weights' best ``rerank_pool`` of them are the examples, and a candidate is positive
when the viewer befriended them since. A scikit-learn logistic regression over
standardised features is fitted on most viewers; the rest (held out by viewer) give the
metrics written into the model file: ROC AUC, and P@10, R@10 and MRR of the model beside
the hand weights on the same pools (recall counts every new friend, also those the
candidate query missed).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from graph.driver import Graph
from graph.pymk_features import FEATURES, pair_features
from graph.pymk_model import RankerModel
from graph.suggestions import SuggestionConfig, hand_ranked

NEWEST_FRIENDSHIP = "MATCH ()-[f:FRIEND]->() RETURN max(f.since) AS newest"
NEW_FRIENDS = """
MATCH (a:User)-[f:FRIEND]-(b:User)
WHERE f.since >= $asOf AND ($until IS NULL OR f.since < $until)
RETURN a.id AS id, collect(b.id) AS friends
"""
K = 10


@dataclass(frozen=True)
class ViewerExamples:
    viewer: str
    candidates: list[str]  # the pool, in the hand weights' order
    rows: list[list[float]]  # one feature vector per candidate
    labels: list[int]
    new_friends: int  # all positives of the viewer, found or not


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
    """The viewer's pool as of ``as_of``, with features then and labels since."""
    pool = (await hand_ranked(graph, viewer, config, as_of=as_of))[: config.rerank_pool]
    ids = [s.user_id for s in pool]
    values = await pair_features(
        graph,
        viewer,
        ids,
        hub_cap=config.hub_degree_cap,
        max_intermediaries=config.max_intermediaries,
        sensitive=config.sensitive_categories,
        now=as_of,
        as_of=as_of,
    )
    ids = [c for c in ids if c in values]
    return ViewerExamples(
        viewer,
        ids,
        [[values[c][f] for f in FEATURES] for c in ids],
        [1 if c in positives else 0 for c in ids],
        len(positives),
    )


def ranking_metrics(orders: Sequence[tuple[list[int], int]], k: int = K) -> dict[str, float]:
    """P@k, R@k and MRR over viewers; each is (labels in ranked order, all positives)."""
    if not orders:
        return {"p_at_10": 0.0, "r_at_10": 0.0, "mrr": 0.0, "viewers": 0}
    p = r = mrr = 0.0
    for labels, total in orders:
        hits = sum(labels[:k])
        p += hits / k
        r += hits / max(total, 1)
        first = next((i for i, y in enumerate(labels) if y), None)
        mrr += 1.0 / (first + 1) if first is not None else 0.0
    n = len(orders)
    return {"p_at_10": p / n, "r_at_10": r / n, "mrr": mrr / n, "viewers": n}


def fit(
    examples: Sequence[ViewerExamples], features: Sequence[str], *, seed: int
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], float]:
    """Standardisation and a logistic regression: (mean, scale, coef, intercept)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    x = np.asarray([row for e in examples for row in e.rows], dtype=float)
    y = np.asarray([label for e in examples for label in e.labels], dtype=int)
    if len(x) == 0 or y.min() == y.max():
        raise ValueError("training needs both positive and negative examples")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant feature (up to rounding) carries nothing
    model = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    model.fit((x - mean) / scale, y)
    return (
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in model.coef_[0]),
        float(model.intercept_[0]),
    )


def evaluate(model: RankerModel, examples: Sequence[ViewerExamples]) -> dict[str, Any]:
    """The model's and the hand weights' ranking of the same pools, and ROC AUC."""
    from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

    ranked_model, ranked_hand, scores, labels = [], [], [], []
    for e in examples:
        s = [model.score(dict(zip(model.features, row, strict=True))) for row in e.rows]
        order = sorted(range(len(s)), key=lambda i: (-s[i], e.candidates[i]))
        ranked_model.append(([e.labels[i] for i in order], e.new_friends))
        ranked_hand.append((list(e.labels), e.new_friends))
        scores += s
        labels += e.labels
    auc = float(roc_auc_score(labels, scores)) if 0 < sum(labels) < len(labels) else None
    return {
        "model": ranking_metrics(ranked_model),
        "hand_weights": ranking_metrics(ranked_hand),
        "roc_auc": auc,
        "examples": len(labels),
        "positives": sum(labels),
    }


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


def _subset(e: ViewerExamples, features: Sequence[str]) -> ViewerExamples:
    cols = [FEATURES.index(f) for f in features]
    return ViewerExamples(
        e.viewer, e.candidates, [[row[i] for i in cols] for row in e.rows], e.labels, e.new_friends
    )


def fit_model(
    data: Examples,
    features: Sequence[str] = FEATURES,
    *,
    validation_share: float = 0.2,
    seed: int = 1,
    config: SuggestionConfig | None = None,
    now: datetime | None = None,
) -> RankerModel:
    """A model over ``features`` fitted on most viewers, its metrics on the rest."""
    config = config or SuggestionConfig()
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ValueError(f"unknown features: {', '.join(unknown)}")
    examples = [_subset(e, features) for e in data.viewers]
    n_val = max(1, int(len(examples) * validation_share))
    held, learn = examples[:n_val], examples[n_val:]
    mean, scale, coef, intercept = fit(learn, features, seed=seed)
    trained_at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    model = RankerModel(tuple(features), mean, scale, coef, intercept, trained_at)
    training = {
        "as_of": data.as_of.isoformat(),
        "until": data.until.isoformat() if data.until else None,
        "days": data.days,
        "viewers": len(learn),
        "validation_viewers": len(held),
        "examples": sum(len(e.labels) for e in learn),
        "positives": sum(sum(e.labels) for e in learn),
        "rerank_pool": config.rerank_pool,
        "learner": "sklearn.linear_model.LogisticRegression(C=1.0) on standardised features",
        "seed": seed,
    }
    return RankerModel(
        model.features,
        mean,
        scale,
        coef,
        intercept,
        trained_at,
        metrics=evaluate(model, held),
        training=training,
    )


async def train(
    graph: Graph,
    *,
    days: float = 30.0,
    max_viewers: int = 2000,
    validation_share: float = 0.2,
    seed: int = 1,
    features: Sequence[str] = FEATURES,
    config: SuggestionConfig | None = None,
    now: datetime | None = None,
    until: datetime | None = None,
) -> RankerModel:
    """``collect`` then ``fit_model``: a model trained on the friendships of the last
    ``days`` (before ``until`` when given)."""
    data = await collect(
        graph, days=days, max_viewers=max_viewers, seed=seed, config=config, until=until
    )
    return fit_model(
        data, features, validation_share=validation_share, seed=seed, config=config, now=now
    )


def write_model(model: RankerModel, path: Path) -> None:
    """Atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(model.to_json() + "\n", encoding="utf-8")
    tmp.replace(path)
