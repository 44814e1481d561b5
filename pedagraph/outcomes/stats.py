"""Figures of an outcomes run: normalised gain, help, gain per unit of help, paired differences, with 95% CIs.

Rows are one (learner, policy, seed) each. The unit of resampling is the learner: a bootstrap draws learners
with replacement and keeps all of a drawn learner's seeds, so the intervals cover the spread over learners and
seeds. Normalised gain is the class-average form of Hake (1998): (mean post - mean pre) / (1 - mean pre) over the
rows, which stays defined when one learner's pre-test is perfect. Gain per unit of help is the mean raw gain
(post - pre) over the mean help (turns, or 100 word-piece tokens); a policy that gives no help has none.
A pairwise difference compares two policies on the same learners and seeds (paired: each resample draws the same
learners for both).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from pedagraph.evals.metrics import Metric

__all__ = ["HELP", "cluster_bootstrap", "pairwise", "policy_figures"]

HELP = ("turns", "tokens", "explanations")


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _gain(rows: Sequence[dict[str, Any]]) -> float | None:
    pre, post = _mean([r["pre_score"] for r in rows]), _mean([r["post_score"] for r in rows])
    if pre is None or post is None or pre >= 1.0 - 1e-9:
        return None
    return (post - pre) / (1.0 - pre)


def _per(help_key: str, scale: float) -> Callable[[Sequence[dict[str, Any]]], float | None]:
    def stat(rows: Sequence[dict[str, Any]]) -> float | None:
        spent = _mean([float(r[help_key]) for r in rows])
        gain = _mean([r["post_score"] - r["pre_score"] for r in rows])
        if not spent or gain is None:
            return None
        return gain / (spent / scale)

    return stat


def cluster_bootstrap(
    rows: Sequence[dict[str, Any]],
    statistic: Callable[[Sequence[dict[str, Any]]], float | None],
    *,
    key: str = "learner",
    n_resamples: int = 1000,
    seed: int = 0,
) -> Metric:
    """The statistic with a percentile 95% interval, resampling whole clusters (learners) with replacement."""
    rows = list(rows)
    point = statistic(rows) if rows else None
    clusters: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        clusters.setdefault(r[key], []).append(r)
    groups = list(clusters.values())
    if point is None or len(groups) < 2:
        return Metric(point, len(groups))
    rng = random.Random(seed)
    samples = []
    for _ in range(n_resamples):
        drawn = [row for _ in groups for row in groups[rng.randrange(len(groups))]]
        value = statistic(drawn)
        if value is not None:
            samples.append(value)
    if not samples:
        return Metric(point, len(groups))
    samples.sort()
    lo, hi = samples[int(0.025 * (len(samples) - 1))], samples[int(0.975 * (len(samples) - 1))]
    return Metric(point, len(groups), None, lo, hi)


def policy_figures(rows: Sequence[dict[str, Any]], seed: int = 0) -> dict[str, Metric]:
    """Per policy: pre, post, normalised gain, raw gain, telling rate, help and gain per unit of help."""
    out = {
        "pre": cluster_bootstrap(rows, lambda rs: _mean([r["pre_score"] for r in rs]), seed=seed),
        "post": cluster_bootstrap(rows, lambda rs: _mean([r["post_score"] for r in rs]), seed=seed),
        "normalised_gain": cluster_bootstrap(rows, _gain, seed=seed),
        "gain": cluster_bootstrap(rows, lambda rs: _mean([r["post_score"] - r["pre_score"] for r in rs]), seed=seed),
        "telling_rate": cluster_bootstrap(rows, lambda rs: _mean([float(bool(r["told"])) for r in rs]), seed=seed),
        "solved_practice": cluster_bootstrap(rows, lambda rs: _mean([float(bool(r["solved_practice"])) for r in rs]),
                                             seed=seed),  # fmt: skip
    }
    for h in HELP:
        out[h] = cluster_bootstrap(rows, lambda rs, h=h: _mean([float(r[h]) for r in rs]), seed=seed)
    out["gain_per_turn"] = cluster_bootstrap(rows, _per("turns", 1.0), seed=seed)
    out["gain_per_100_tokens"] = cluster_bootstrap(rows, _per("tokens", 100.0), seed=seed)
    return out


def pairwise(rows: Sequence[dict[str, Any]], a: str, b: str, seed: int = 0) -> Metric | None:
    """Normalised gain of policy `a` minus that of `b` on the learners and seeds both ran, paired (None if none)."""
    by = {(r["learner"], r["seed"], r["policy"]): r for r in rows}
    pairs = [(by[(ln, s, a)], by[(ln, s, b)]) for (ln, s, p) in by if p == a and (ln, s, b) in by]
    if not pairs:
        return None
    paired = [{"learner": x["learner"], "a": x, "b": y} for x, y in pairs]

    def diff(rs: Sequence[dict[str, Any]]) -> float | None:
        ga, gb = _gain([r["a"] for r in rs]), _gain([r["b"] for r in rs])
        return None if ga is None or gb is None else ga - gb

    return cluster_bootstrap(paired, diff, seed=seed)
