"""The learned people-you-may-know ranker's model file: what it holds, how it is refused.

``quanzi pymk train`` writes a JSON file (no pickle: the API never runs code from a file),
of one of two kinds::

    {"format": 2, "kind": "logistic", "trained_at": "...", "features": [...],
     "mean": [...], "scale": [...], "coef": [...], "intercept": 0.0,
     "metrics": {...}, "training": {...}}

    {"format": 2, "kind": "boosted_trees", "trained_at": "...", "features": [...],
     "intercept": 0.0, "learning_rate": 0.1,
     "trees": [{"feature": [...], "threshold": [...], "left": [...], "right": [...],
                "value": [...]}, ...], "metrics": {...}, "training": {...}}

A logistic regression over standardised features, or gradient-boosted regression trees
(a node goes left when its feature is at most its threshold; ``left`` is -1 at a leaf;
the raw score is ``intercept + learning_rate * sum(leaf values)``). Either way the score
is the predicted probability that the suggestion becomes a friendship (``graph/
pymk_features.py`` computes the features). Format 1 files (logistic only) still load. A
file whose format is newer than this code reads, that names a feature this code does not
compute, or whose arrays do not fit is refused with a message saying which
(``ModelRefused``); the API and workers then log it and rank by the hand weights.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graph.pymk_features import FEATURES

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
KINDS = {"logistic": 1, "boosted_trees": 2}  # kind: the first format that has it
LEAF = -1


class ModelRefused(Exception):
    """The model file cannot be served; the message says why."""


@dataclass(frozen=True)
class Tree:
    """One regression tree in flat arrays; a child always comes after its parent."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def to_dict(self) -> dict[str, list[Any]]:
        return {
            "feature": list(self.feature),
            "threshold": list(self.threshold),
            "left": list(self.left),
            "right": list(self.right),
            "value": list(self.value),
        }


class _Forest:
    """All trees in one set of arrays, walked for every candidate at once (the serving
    path scores a pool of ~200 candidates over ~150 trees per suggestion list)."""

    def __init__(self, trees: Sequence[Tree]) -> None:
        offsets = np.cumsum([0] + [len(t.feature) for t in trees[:-1]])
        self.roots = offsets.astype(np.int64)

        def flat(name: str, dtype: type) -> np.ndarray[Any, Any]:
            return np.concatenate([np.asarray(getattr(t, name), dtype=dtype) for t in trees])

        self.threshold = flat("threshold", np.float64)
        self.value = flat("value", np.float64)
        shift = np.repeat(self.roots, [len(t.feature) for t in trees])
        left, right = flat("left", np.int64), flat("right", np.int64)
        self.leaf = left == LEAF
        self.feature = np.where(self.leaf, 0, flat("feature", np.int64))  # leaves split nothing
        self.left = np.where(self.leaf, 0, left + shift)
        self.right = np.where(self.leaf, 0, right + shift)
        self.depth = max(_depth(t) for t in trees)

    def leaf_sums(self, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Per row of ``x`` (float32, as the learner compared them), the sum of the
        leaves it reaches."""
        rows = np.arange(len(x))[:, None]
        node = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        for _ in range(self.depth):
            go_left = x[rows, self.feature[node]] <= self.threshold[node]
            step = np.where(go_left, self.left[node], self.right[node])
            node = np.where(self.leaf[node], node, step)
        total: np.ndarray[Any, Any] = self.value[node].sum(axis=1)
        return total


def _depth(tree: Tree) -> int:
    depth = [0] * len(tree.feature)
    for i, (a, b) in enumerate(zip(tree.left, tree.right, strict=True)):
        if a != LEAF:
            depth[a] = depth[b] = depth[i] + 1
    return max(depth)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z > -500 else 0.0


@dataclass(frozen=True)
class RankerModel:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    trained_at: str
    metrics: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "logistic"
    trees: tuple[Tree, ...] = ()
    learning_rate: float = 0.0

    def score(self, values: Mapping[str, float]) -> float:
        """The predicted probability of a friendship, from a vector of ``FEATURES``."""
        return self.score_many([values])[0]

    def score_many(self, rows: Sequence[Mapping[str, float]]) -> list[float]:
        """``score`` of each row, in one pass."""
        if not rows:
            return []
        if self.kind == "boosted_trees":
            x = np.asarray([[r[f] for f in self.features] for r in rows], dtype=np.float32)
            raw = self.intercept + self.learning_rate * self._forest().leaf_sums(x)
            return [_sigmoid(float(z)) for z in raw]
        out = []
        for values in rows:
            z = self.intercept
            for name, mu, sd, w in zip(
                self.features, self.mean, self.scale, self.coef, strict=True
            ):
                z += w * (values[name] - mu) / sd
            out.append(_sigmoid(z))
        return out

    def _forest(self) -> _Forest:
        forest = self.__dict__.get("_forest_cache")
        if forest is None:
            forest = _Forest(self.trees)
            object.__setattr__(self, "_forest_cache", forest)
        return forest

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "kind": self.kind,
            "trained_at": self.trained_at,
            "features": list(self.features),
            "intercept": self.intercept,
        }
        if self.kind == "boosted_trees":
            data["learning_rate"] = self.learning_rate
            data["trees"] = [t.to_dict() for t in self.trees]
        else:
            data.update(mean=list(self.mean), scale=list(self.scale), coef=list(self.coef))
        data.update(metrics=dict(self.metrics), training=dict(self.training))
        return json.dumps(data, indent=2, ensure_ascii=False)


def _floats(data: Mapping[str, Any], key: str, n: int, what: str = "feature") -> tuple[float, ...]:
    values = data.get(key)
    if not isinstance(values, list) or len(values) != n:
        raise ModelRefused(f"'{key}' must be a list of {n} numbers, one per {what}")
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise ModelRefused(f"'{key}' holds something that is not a number") from exc
    if not all(math.isfinite(v) for v in out):
        raise ModelRefused(f"'{key}' holds a value that is not finite")
    return out


def _ints(data: Mapping[str, Any], key: str, n: int) -> tuple[int, ...]:
    values = data.get(key)
    if (
        not isinstance(values, list)
        or len(values) != n
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    ):
        raise ModelRefused(f"'{key}' must be a list of {n} integers, one per node")
    return tuple(values)


def _number(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelRefused(f"'{key}' must be a finite number")
    return float(value)


def _tree(data: Any, i: int, n_features: int) -> Tree:
    """A tree whose walk ends at a leaf for every input, or ``ModelRefused``."""
    if not isinstance(data, dict) or not isinstance(data.get("feature"), list):
        raise ModelRefused(f"tree {i} must be an object of node arrays")
    n = len(data["feature"])
    if n == 0:
        raise ModelRefused(f"tree {i} has no nodes")
    try:
        tree = Tree(
            _ints(data, "feature", n),
            _floats(data, "threshold", n, "node"),
            _ints(data, "left", n),
            _ints(data, "right", n),
            _floats(data, "value", n, "node"),
        )
    except ModelRefused as exc:
        raise ModelRefused(f"tree {i}: {exc}") from exc
    for node, (f, a, b) in enumerate(zip(tree.feature, tree.left, tree.right, strict=True)):
        if (a == LEAF) != (b == LEAF):
            raise ModelRefused(f"tree {i}: node {node} has one child")
        if a != LEAF and not (node < a < n and node < b < n):
            raise ModelRefused(f"tree {i}: node {node} points outside the tree or backwards")
        if a != LEAF and not 0 <= f < n_features:
            raise ModelRefused(f"tree {i}: node {node} splits on feature {f}, not one listed")
    return tree


def parse_model(text: str) -> RankerModel:
    """The model in ``text``; raises ``ModelRefused`` saying what is wrong."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ModelRefused(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelRefused("not a JSON object")
    fmt = data.get("format")
    if not isinstance(fmt, int) or isinstance(fmt, bool):
        raise ModelRefused("no integer 'format'")
    if fmt > FORMAT_VERSION:
        raise ModelRefused(
            f"format {fmt} is newer than this code reads (format {FORMAT_VERSION}); "
            "deploy the code that wrote it, or train again with this one"
        )
    if fmt < 1:
        raise ModelRefused(f"unknown format {fmt}")
    kind = data.get("kind")
    if kind not in KINDS or KINDS[kind] > fmt:
        known = ", ".join(k for k, since in KINDS.items() if since <= fmt)
        raise ModelRefused(f"unknown model kind {kind!r} in format {fmt} (known: {known})")
    features = data.get("features")
    if (
        not isinstance(features, list)
        or not features
        or not all(isinstance(f, str) for f in features)
    ):
        raise ModelRefused("'features' must be a non-empty list of feature names")
    missing = [f for f in features if f not in FEATURES]
    if missing:
        raise ModelRefused(
            f"the model needs features this code does not compute: {', '.join(missing)}"
        )
    if len(set(features)) != len(features):
        raise ModelRefused("'features' names a feature twice")
    n = len(features)
    common: dict[str, Any] = {
        "features": tuple(features),
        "intercept": _number(data, "intercept"),
        "trained_at": str(data.get("trained_at", "")),
        "metrics": data.get("metrics") or {},
        "training": data.get("training") or {},
        "kind": kind,
    }
    if kind == "boosted_trees":
        trees = data.get("trees")
        if not isinstance(trees, list) or not trees:
            raise ModelRefused("'trees' must be a non-empty list of trees")
        return RankerModel(
            mean=(),
            scale=(),
            coef=(),
            trees=tuple(_tree(t, i, n) for i, t in enumerate(trees)),
            learning_rate=_number(data, "learning_rate"),
            **common,
        )
    scale = _floats(data, "scale", n)
    if any(s <= 0 for s in scale):
        raise ModelRefused("'scale' must be positive")
    return RankerModel(
        mean=_floats(data, "mean", n), scale=scale, coef=_floats(data, "coef", n), **common
    )


def load_model(path: Path) -> RankerModel:
    """The model file at ``path``; raises ``ModelRefused`` (naming the file) otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelRefused(f"{path}: cannot be read: {exc}") from exc
    try:
        return parse_model(text)
    except ModelRefused as exc:
        raise ModelRefused(f"{path}: {exc}") from exc


def configured_model(path: Path | None) -> RankerModel | None:
    """The model to serve, or None (hand weights) when there is none or it is refused."""
    if path is None:
        return None
    try:
        model = load_model(path)
    except ModelRefused as exc:
        log.error("pymk model refused, ranking by the hand weights: %s", exc)
        return None
    log.info(
        "pymk model (%s) trained %s with %d features loaded from %s",
        model.kind,
        model.trained_at,
        len(model.features),
        path,
    )
    return model
