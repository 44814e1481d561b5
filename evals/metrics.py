"""Metrics with their uncertainty: every figure carries n and a standard error or a bootstrap interval."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """A measured value with its sample size and uncertainty."""

    value: float | None
    n: int
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def format(self, percent: bool = False, digits: int = 3) -> str:
        """Render as `value ± se (n=…)` (or with the interval when there is one)."""
        if self.value is None:
            return f"n/a (n={self.n})"
        scale, unit = (100.0, "%") if percent else (1.0, "")
        places = 1 if percent else digits
        text = f"{self.value * scale:.{places}f}{unit}"
        if self.se is not None:
            text += f" ± {self.se * scale:.{places}f}"
        elif self.ci_low is not None and self.ci_high is not None:
            text += f" [{self.ci_low * scale:.{places}f}, {self.ci_high * scale:.{places}f}]"
        return f"{text} (n={self.n})"


def proportion(values: Sequence[bool | int]) -> Metric:
    """Share of true values with the binomial standard error sqrt(p(1-p)/n)."""
    n = len(values)
    if n == 0:
        return Metric(None, 0)
    p = sum(bool(v) for v in values) / n
    return Metric(p, n, math.sqrt(p * (1 - p) / n))


def mean(values: Sequence[float]) -> Metric:
    """Mean with the standard error of the mean (sample standard deviation / sqrt(n))."""
    clean = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(clean)
    if n == 0:
        return Metric(None, 0)
    mu = sum(clean) / n
    if n == 1:
        return Metric(mu, 1, None)
    var = sum((v - mu) ** 2 for v in clean) / (n - 1)
    return Metric(mu, n, math.sqrt(var / n))


def accuracy(gold: Sequence[Any], pred: Sequence[Any]) -> Metric:
    """Exact-match accuracy of predictions against gold labels, with its binomial standard error."""
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")
    return proportion([g == p for g, p in zip(gold, pred, strict=True)])


def macro_f1_value(gold: Sequence[Any], pred: Sequence[Any], labels: Sequence[Any] | None = None) -> float | None:
    """Unweighted mean of per-label F1 over `labels` (default: the labels seen in gold)."""
    if not gold:
        return None
    labels = list(labels) if labels is not None else sorted(set(gold), key=str)
    scores = []
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p != label)
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores) if scores else None


def bootstrap(
    statistic: Callable[[list[Any]], float | None],
    rows: Sequence[Any],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> Metric:
    """Percentile bootstrap interval of `statistic` over resampled `rows` (deterministic for a seed)."""
    rows = list(rows)
    point = statistic(rows) if rows else None
    if not rows or point is None:
        return Metric(point, len(rows))
    rng = random.Random(seed)
    samples = []
    for _ in range(n_resamples):
        value = statistic([rows[rng.randrange(len(rows))] for _ in rows])
        if value is not None:
            samples.append(value)
    if not samples:
        return Metric(point, len(rows))
    samples.sort()
    lo = samples[int((alpha / 2) * (len(samples) - 1))]
    hi = samples[int((1 - alpha / 2) * (len(samples) - 1))]
    return Metric(point, len(rows), None, lo, hi)


def macro_f1(
    gold: Sequence[Any], pred: Sequence[Any], labels: Sequence[Any] | None = None, *, seed: int = 0
) -> Metric:
    """Macro-F1 with a bootstrap 95% interval."""
    pairs = list(zip(gold, pred, strict=True))
    return bootstrap(
        lambda rows: macro_f1_value([g for g, _ in rows], [p for _, p in rows], labels), pairs, seed=seed
    )
