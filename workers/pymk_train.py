"""``quanzi pymk train``: the people-you-may-know model, learnt from the examples of
``graph/pymk_examples.py`` (the friendships formed in the last days, features from the
graph as it was before them).

The learner is scikit-learn's gradient boosting (``boosted_trees``; trees exported into the
model file) or a logistic regression over standardised features (``logistic``). It is
fitted on most viewers; the rest (held out by viewer) give the metrics written into the
model file: ROC AUC, and P@10, R@10 and MRR of the model beside the pool's own order
(resource allocation, or the hand weights) on the same pools (recall counts every new
friend, also those the candidate query missed). scikit-learn is imported only here, when
a model is fitted: the API and workers that serve a model never load it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graph.driver import Graph
from graph.pymk_examples import Examples, ViewerExamples, collect
from graph.pymk_features import FEATURES
from graph.pymk_model import LEAF, RankerModel, Tree
from graph.suggestions import SuggestionConfig, friendships_only

K = 10
LEARNERS = ("boosted_trees", "logistic")
# Gradient boosting: enough small trees to combine a handful of features, scored in ~1 ms;
# a leaf holds at least a thousandth of the examples (positives are ~2% of them: smaller
# leaves fit single viewers). Chosen on held-out viewers (README, learned ranker).
TREES, TREE_DEPTH, LEARNING_RATE, MIN_LEAF_SHARE = 100, 3, 0.05, 0.001


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


def _arrays(examples: Sequence[ViewerExamples]) -> tuple[Any, Any]:
    import numpy as np

    x = np.asarray([row for e in examples for row in e.rows], dtype=float)
    y = np.asarray([label for e in examples for label in e.labels], dtype=int)
    if len(x) == 0 or y.min() == y.max():
        raise ValueError("training needs both positive and negative examples")
    return x, y


def fit_logistic(
    examples: Sequence[ViewerExamples], features: Sequence[str], trained_at: str, *, seed: int
) -> RankerModel:
    """Standardisation and a logistic regression."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    x, y = _arrays(examples)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0  # a constant feature (up to rounding) carries nothing
    model = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    model.fit((x - mean) / scale, y)
    return RankerModel(
        tuple(features),
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in model.coef_[0]),
        float(model.intercept_[0]),
        trained_at,
    )


def fit_boosted(
    examples: Sequence[ViewerExamples], features: Sequence[str], trained_at: str, *, seed: int
) -> RankerModel:
    """Gradient-boosted trees from a zero start (``init='zero'``), so the model file's
    raw score is exactly the learning rate times the sum of the leaves reached."""
    from sklearn.ensemble import GradientBoostingClassifier  # type: ignore[import-untyped]

    x, y = _arrays(examples)
    model = GradientBoostingClassifier(
        n_estimators=TREES,
        max_depth=TREE_DEPTH,
        learning_rate=LEARNING_RATE,
        subsample=0.8,
        min_samples_leaf=MIN_LEAF_SHARE,
        init="zero",
        random_state=seed,
    )
    model.fit(x, y)
    return boosted_model(model, features, trained_at)


def boosted_model(fitted: Any, features: Sequence[str], trained_at: str) -> RankerModel:
    """A fitted ``GradientBoostingClassifier(init='zero')`` as a model file's trees."""
    import numpy as np

    trees = []
    for estimator in fitted.estimators_[:, 0]:
        t = estimator.tree_  # sklearn marks a leaf with -1 children, as the model file does
        trees.append(
            Tree(
                feature=tuple(np.where(t.children_left == LEAF, 0, t.feature).tolist()),
                threshold=tuple(t.threshold.tolist()),
                left=tuple(t.children_left.tolist()),
                right=tuple(t.children_right.tolist()),
                value=tuple(t.value[:, 0, 0].tolist()),
            )
        )
    return RankerModel(
        tuple(features),
        (),
        (),
        (),
        0.0,
        trained_at,
        kind="boosted_trees",
        trees=tuple(trees),
        learning_rate=float(fitted.learning_rate),
    )


def evaluate(
    model: RankerModel, examples: Sequence[ViewerExamples], baseline: str
) -> dict[str, Any]:
    """The model's and the pool's own ranking (named ``baseline``) of the same pools, and
    ROC AUC."""
    from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

    ranked_model, ranked_base, scores, labels = [], [], [], []
    for e in examples:
        s = model.score_many([dict(zip(model.features, row, strict=True)) for row in e.rows])
        order = sorted(range(len(s)), key=lambda i: (-s[i], e.candidates[i]))
        ranked_model.append(([e.labels[i] for i in order], e.new_friends))
        ranked_base.append(([e.labels[i] for i in e.baseline], e.new_friends))
        scores += s
        labels += e.labels
    auc = float(roc_auc_score(labels, scores)) if 0 < sum(labels) < len(labels) else None
    return {
        "model": ranking_metrics(ranked_model),
        baseline: ranking_metrics(ranked_base),
        "roc_auc": auc,
        "examples": len(labels),
        "positives": sum(labels),
    }


def _subset(e: ViewerExamples, features: Sequence[str]) -> ViewerExamples:
    """``e`` for a model over ``features``: its columns, and on friendships alone only the
    friends-of-friends pool, in its own (resource allocation) order."""
    cols = [FEATURES.index(f) for f in features]
    n = e.fof if friendships_only(features) else len(e.candidates)
    baseline = list(range(n)) if friendships_only(features) else e.baseline
    return ViewerExamples(
        e.viewer,
        e.candidates[:n],
        [[row[i] for i in cols] for row in e.rows[:n]],
        e.labels[:n],
        e.new_friends,
        fof=e.fof,
        baseline=baseline,
    )


def fit_model(
    data: Examples,
    features: Sequence[str] = FEATURES,
    *,
    learner: str = "boosted_trees",
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
    if learner not in LEARNERS:
        raise ValueError(f"unknown learner {learner!r} (known: {', '.join(LEARNERS)})")
    examples = [_subset(e, features) for e in data.viewers]
    n_val = max(1, int(len(examples) * validation_share))
    held, learn = examples[:n_val], examples[n_val:]
    trained_at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    fit = fit_boosted if learner == "boosted_trees" else fit_logistic
    model = fit(learn, features, trained_at, seed=seed)
    baseline = "resource_allocation" if friendships_only(features) else "hand_weights"
    training = {
        "as_of": data.as_of.isoformat(),
        "until": data.until.isoformat() if data.until else None,
        "days": data.days,
        "viewers": len(learn),
        "validation_viewers": len(held),
        "examples": sum(len(e.labels) for e in learn),
        "positives": sum(sum(e.labels) for e in learn),
        "rerank_pool": config.rerank_pool,
        "pool": "friends of friends"
        if friendships_only(features)
        else "friends of friends and the hand weights' best",
        "learner": (
            f"sklearn.ensemble.GradientBoostingClassifier({TREES} trees, depth {TREE_DEPTH}, "
            f"learning rate {LEARNING_RATE}, leaves of at least {MIN_LEAF_SHARE:g} of the "
            "examples, init='zero')"
            if learner == "boosted_trees"
            else "sklearn.linear_model.LogisticRegression(C=1.0) on standardised features"
        ),
        "seed": seed,
    }
    return replace(model, metrics=evaluate(model, held, baseline), training=training)


async def train(
    graph: Graph,
    *,
    days: float = 30.0,
    max_viewers: int = 2000,
    validation_share: float = 0.2,
    seed: int = 1,
    features: Sequence[str] = FEATURES,
    learner: str = "boosted_trees",
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
        data,
        features,
        learner=learner,
        validation_share=validation_share,
        seed=seed,
        config=config,
        now=now,
    )


def write_model(model: RankerModel, path: Path) -> None:
    """Atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(model.to_json() + "\n", encoding="utf-8")
    tmp.replace(path)
