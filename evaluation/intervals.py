"""95 % intervals for a sweep cell's numbers, so two cells are only called different when their intervals say so.

A share of questions (reference found, abstentions, answers right) gets Wilson's score interval: it stays inside
[0, 1] and is sensible at 0 of n or n of n, where the normal approximation collapses to a point. A mean of
per-question scores (MRR, a Ragas metric, latency) gets a percentile bootstrap over the questions, with a fixed
seed so the same rows give the same interval on every page render.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, bootstrap

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 0


@dataclass(frozen=True)
class Estimate:
    """A value over `n` questions and its 95 % interval (None when there is nothing, or too little, to go on)."""

    value: float | None
    low: float | None
    high: float | None
    n: int

    def label(self, fmt: str = ".2f") -> str:
        if self.value is None:
            return "n/a"
        interval = "" if self.low is None or self.high is None else f" [{self.low:{fmt}}, {self.high:{fmt}}]"
        return f"{self.value:{fmt}}{interval}"


def rate(successes: int, n: int) -> Estimate:
    """`successes` of `n` questions, with Wilson's interval."""
    if n == 0:
        return Estimate(None, None, None, 0)
    ci = binomtest(successes, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return Estimate(successes / n, float(ci.low), float(ci.high), n)


def mean(values: Sequence[float]) -> Estimate:
    """The mean of per-question values, with a percentile bootstrap interval (none below two values)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Estimate(None, None, None, 0)
    if data.size < 2:
        return Estimate(float(data[0]), None, None, 1)
    if np.all(data == data[0]):  # every resample has the same mean: the interval is the point
        return Estimate(float(data[0]), float(data[0]), float(data[0]), int(data.size))
    ci = bootstrap((data,), np.mean, confidence_level=CONFIDENCE, n_resamples=RESAMPLES, method="percentile",
                   random_state=np.random.default_rng(SEED)).confidence_interval
    return Estimate(float(data.mean()), float(ci.low), float(ci.high), int(data.size))
