"""The learned people-you-may-know ranker's model file: what it holds, how it is refused.

``quanzi pymk train`` writes a JSON file (no pickle: the API never runs code from a file)::

    {"format": 1, "kind": "logistic", "trained_at": "...", "features": [...],
     "mean": [...], "scale": [...], "coef": [...], "intercept": 0.0,
     "metrics": {...}, "training": {...}}

A logistic regression over standardised features (``graph/pymk_features.py``): the score
is the predicted probability that the suggestion becomes a friendship. A file whose
format is newer than this code reads, that names a feature this code does not compute,
or whose arrays do not match its feature list is refused with a message saying which
(``ModelRefused``); the API and workers then log it and rank by the hand weights.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.pymk_features import FEATURES

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
KINDS = ("logistic",)


class ModelRefused(Exception):
    """The model file cannot be served; the message says why."""


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

    def score(self, values: Mapping[str, float]) -> float:
        """The predicted probability of a friendship, from a vector of ``FEATURES``."""
        z = self.intercept
        for name, mu, sd, w in zip(self.features, self.mean, self.scale, self.coef, strict=True):
            z += w * (values[name] - mu) / sd
        return 1.0 / (1.0 + math.exp(-z)) if z > -500 else 0.0

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT_VERSION,
                "kind": self.kind,
                "trained_at": self.trained_at,
                "features": list(self.features),
                "mean": list(self.mean),
                "scale": list(self.scale),
                "coef": list(self.coef),
                "intercept": self.intercept,
                "metrics": dict(self.metrics),
                "training": dict(self.training),
            },
            indent=2,
            ensure_ascii=False,
        )


def _floats(data: Mapping[str, Any], key: str, n: int) -> tuple[float, ...]:
    values = data.get(key)
    if not isinstance(values, list) or len(values) != n:
        raise ModelRefused(f"'{key}' must be a list of {n} numbers, one per feature")
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise ModelRefused(f"'{key}' holds something that is not a number") from exc
    if not all(math.isfinite(v) for v in out):
        raise ModelRefused(f"'{key}' holds a value that is not finite")
    return out


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
    if data.get("kind") not in KINDS:
        raise ModelRefused(f"unknown model kind {data.get('kind')!r} (known: {', '.join(KINDS)})")
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
    scale = _floats(data, "scale", n)
    if any(s <= 0 for s in scale):
        raise ModelRefused("'scale' must be positive")
    try:
        intercept = float(data.get("intercept"))  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ModelRefused("'intercept' must be a number") from exc
    return RankerModel(
        features=tuple(features),
        mean=_floats(data, "mean", n),
        scale=scale,
        coef=_floats(data, "coef", n),
        intercept=intercept,
        trained_at=str(data.get("trained_at", "")),
        metrics=data.get("metrics") or {},
        training=data.get("training") or {},
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
        "pymk model trained %s with %d features loaded from %s",
        model.trained_at,
        len(model.features),
        path,
    )
    return model
