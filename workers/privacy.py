"""The differential-privacy mechanism of merchant insights, built with OpenDP.

Every release is one OpenDP measurement, ``make_laplace_threshold`` (Laplace noise on
each count, then only counts whose *noised* value clears a threshold are kept: the
propose-test-release of unknown keys that LinkedIn's Audience Engagements API uses),
applied to a map of exact counts: ``{"a": audience, "i:<category>": n, "h:<hour>": n}``
for a profile, ``{"n": customers}`` for customers served. The snapshot bounds what one
person adds to such a map (once per bucket, at most ``buckets`` keys), so the map's
distance between neighbouring datasets (one person in or out) is at most ``buckets``
keys changed, by at most 1 each: ``d_in = (l0, l1, linf) = (buckets, buckets, 1)``.
OpenDP's privacy map turns that into the release's (epsilon, delta); nothing here
computes noise or a privacy loss by hand.

The threshold the mechanism tests is not the privacy threshold T itself but T plus a
margin, so that a bucket of fewer than T people is released only with probability
``MISRELEASE_PROBABILITY`` (the noise would have to exceed the margin): "every released
number describes at least T people" then holds with that confidence, while the decision
is still taken on the noised count (which is what makes it private).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

# Not opendp.prelude: it imports opendp.extras, and with it scikit-learn and SciPy, into
# every API process (a third of its heap, and a 90 ms pause at each full collection).
from opendp.domains import atom_domain, map_domain
from opendp.measurements import make_laplace_threshold
from opendp.metrics import absolute_distance, l01inf_distance
from opendp.mod import Measurement, enable_features

from api.settings import Settings

enable_features("contrib")

# Probability that one bucket of fewer than T people clears the mechanism's threshold.
MISRELEASE_PROBABILITY = 1e-9


@dataclass(frozen=True)
class Cost:
    """The privacy loss of one release about any one person."""

    epsilon: float
    delta: float


class _Measurements:
    """OpenDP measurements by (scale, threshold), built once per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._domain = map_domain(atom_domain(T=str), atom_domain(T=int))
        self._metric = l01inf_distance(absolute_distance(T=int))
        self._built: dict[tuple[float, int], Measurement] = {}

    def get(self, scale: float, threshold: int) -> Measurement:
        with self._lock:
            key = (scale, threshold)
            if key not in self._built:
                self._built[key] = make_laplace_threshold(
                    self._domain, self._metric, scale=scale, threshold=threshold
                )
            return self._built[key]


_MEASUREMENTS = _Measurements()


@dataclass(frozen=True)
class Mechanism:
    """The insights mechanism for one configuration (``Settings``)."""

    scale: float
    privacy_threshold: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Mechanism:
        return cls(settings.insights_noise_scale, settings.insights_privacy_threshold)

    @property
    def release_threshold(self) -> int:
        """T plus the margin that Laplace noise of this scale exceeds with probability
        ``MISRELEASE_PROBABILITY`` (one-sided tail: P(noise >= m) = exp(-m/scale)/2)."""
        margin = self.scale * math.log(1.0 / (2.0 * MISRELEASE_PROBABILITY))
        return self.privacy_threshold + math.ceil(margin)

    def _measurement(self) -> Measurement:
        return _MEASUREMENTS.get(self.scale, self.release_threshold)

    def cost(self, buckets: int) -> Cost:
        """(epsilon, delta) of one release in which a person adds to at most ``buckets``
        keys, once each: OpenDP's privacy map at d_in = (buckets, buckets, 1)."""
        # OpenDP's Measurement.map carries no annotations.
        epsilon, delta = self._measurement().map((buckets, buckets, 1))  # type: ignore[no-untyped-call]
        return Cost(float(epsilon), float(delta))

    def release(self, exact: Mapping[str, int]) -> dict[str, int]:
        """Noise every count and keep those whose noised value clears the threshold. A
        bucket left out is absent (never a zero); released counts are never below it."""
        counts = {k: int(v) for k, v in exact.items() if v > 0}
        if not counts:
            return {}
        released = self._measurement()(counts)
        floor = self.release_threshold
        return {str(k): int(v) for k, v in released.items() if int(v) >= floor}
