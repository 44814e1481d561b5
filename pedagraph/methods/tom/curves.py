"""Reading the experiment off measured items: accuracy against budget, the multi-turn curve, costs.

These are Saha et al. 2023's figures (methods.md §1.5): a line per intervention function, the multi-turn curve
and the cost of each function.
Every item of a seed was measured once (`score_item` with every signal and both answers), so an episode at any
budget and function is a replay: `plan_interventions` ranks and spends, explained items take the student's answer
with the explanation, the others its unaided answer. No model is called here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pedagraph.methods.tom.measure import MULTITURN_CONDITIONS, SIGNALS_OF, answer_p_gold, item_signals
from pedagraph.methods.tom.mental_model import plan_interventions

__all__ = ["budget_curves", "by_seed", "episode", "function_costs", "gold_probability", "multiturn_curve",
           "multiturn_curves", "summary_stat"]  # fmt: skip


def by_seed(records: Iterable[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Records grouped by seed, each group in item-id order."""
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[int(r["seed"])].append(r)
    return {s: sorted(rs, key=lambda r: r["id"]) for s, rs in sorted(groups.items())}


def episode(
    records: Sequence[dict[str, Any]], kind: str, function: str, budget: float, *, seed: int,
    threshold: float | None = None,
) -> tuple[float, int]:  # fmt: skip
    """(accuracy, items explained) of one teaching episode replayed from one seed's measured records."""
    plan = plan_interventions(function, [item_signals(r, kind) for r in records], budget, seed=seed,
                              threshold=threshold)  # fmt: skip
    explained = {item_id for item_id, decision in plan if decision.explain}
    right = [
        bool(r["types"][kind]["post"]["correct"]) if r["id"] in explained else bool(r["pre"]["correct"])
        for r in records
    ]
    return (sum(right) / len(right) if right else 0.0), len(explained)


def summary_stat(values: Sequence[float], n_items: int) -> dict[str, Any]:
    """Mean over seeds with its standard error (over seeds; one seed: the binomial SE over items)."""
    mean = sum(values) / len(values) if values else 0.0
    if len(values) > 1:
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        se = sd / math.sqrt(len(values))
    else:
        se = math.sqrt(mean * (1 - mean) / n_items) if n_items else 0.0
    return {"mean": round(mean, 4), "se": round(se, 4), "per_seed": [round(v, 4) for v in values]}


def budget_curves(
    records: Iterable[dict[str, Any]], *, kinds: Sequence[str], functions: Sequence[str], budgets: Sequence[float]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """curves[kind][function] = one point per budget: mean accuracy over seeds, SE, per-seed values, explained."""
    seeds = by_seed(records)
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for kind in kinds:
        out[kind] = {}
        for function in functions:
            points = []
            for budget in budgets:
                runs = [episode(rs, kind, function, budget, seed=s) for s, rs in seeds.items()]
                n_items = len(next(iter(seeds.values()), []))
                point = {"budget": budget, **summary_stat([a for a, _ in runs], n_items)}
                point["explained"] = [e for _, e in runs]
                points.append(point)
            out[kind][function] = points
    return out


def _turn_marks(record: dict[str, Any], condition: str) -> dict[str, Any]:
    turns = record.get("multiturn") or {}
    if turns and not isinstance(next(iter(turns.values())), dict):  # a record measured before the conditions
        return turns if condition == "teacher" else {}
    return turns.get(condition) or {}


def multiturn_curve(
    records: Iterable[dict[str, Any]], counts: Sequence[int], condition: str = "teacher"
) -> list[dict[str, Any]]:
    """Accuracy of the student with n pool items of one demo set as its demos (no intervention), per n, over seeds.

    `condition`: `teacher` (teacher-explained), `none` (the same items unexplained) or `human` (`MULTITURN_CONDITIONS`).
    """
    seeds = by_seed(records)
    points = []
    for n in counts:
        values = []
        for rs in seeds.values():
            marks = [bool(_turn_marks(r, condition)[str(n)]) for r in rs if str(n) in _turn_marks(r, condition)]
            if marks:
                values.append(sum(marks) / len(marks))
        n_items = len(next(iter(seeds.values()), []))
        points.append({"explained_demos": n, **summary_stat(values, n_items)})
    return points


def multiturn_curves(records: Sequence[dict[str, Any]], counts: Sequence[int]) -> dict[str, list[dict[str, Any]]]:
    """`multiturn_curve` for every demo set that was measured."""
    out = {}
    for condition in MULTITURN_CONDITIONS:
        points = multiturn_curve(records, counts, condition)
        if any(p["per_seed"] for p in points):
            out[condition] = points
    return out


_COMPONENTS = {
    "teacher": ["teacher_confidence"],
    "mm_pre": ["mm_pre"],
    "mm_post": ["explanation[{k}]", "mm_post[{k}]"],
    "pre": [],  # the unaided answer is the no-intervention action every function pays for
    "pre_confidence": ["student_confidence"],
    "post": ["explanation[{k}]", "student_post[{k}]"],
    "post_confidence": ["explanation[{k}]", "student_post_confidence[{k}]"],
}


def _mean_cost(records: Sequence[dict[str, Any]], names: Iterable[str]) -> dict[str, float]:
    totals = {"calls": 0.0, "input_tokens": 0.0, "output_tokens": 0.0}
    for r in records:
        for name in names:
            for key, value in (r.get("cost", {}).get(name) or {}).items():
                totals[key] = totals.get(key, 0.0) + value
    n = max(1, len(records))
    return {key: round(value / n, 3) for key, value in totals.items()}


def function_costs(
    records: Sequence[dict[str, Any]], *, kind: str, functions: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per function, model calls and tokens per item: to rank the items (the mental model's cost) and to teach.

    `decide` is what ranking all items costs per item (e.g. expected utility: an explanation of every item and two
    simulations); `explain` is the cost of one intervention (the explanation, if ranking did not already pay for
    it, and the student's answer with it); `base` is the student's unaided answer every item gets.
    """
    out: dict[str, dict[str, Any]] = {}
    for function in functions:
        names: list[str] = []
        for signal in sorted(SIGNALS_OF[function]):
            names += [c.format(k=kind) for c in _COMPONENTS[signal] if c.format(k=kind) not in names]
        teach = [c for c in (f"explanation[{kind}]", f"student_post[{kind}]") if c not in names]
        out[function] = {
            "decide": _mean_cost(records, names),
            "explain": _mean_cost(records, teach),
            "base": _mean_cost(records, ["student_pre"]),
        }
    return out


def gold_probability(records: Iterable[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The student's mean probability of the gold answer unaided and with the explanation (paired items only).

    It shows whether explanations move a student that never changes its answer (a too-weak student).
    """
    pairs = []
    for r in records:
        pre = answer_p_gold(r.get("pre"), r["gold"])
        post = answer_p_gold((r.get("types", {}).get(kind) or {}).get("post"), r["gold"])
        if pre is not None and post is not None:
            pairs.append((pre, post))
    if not pairs:
        return {"n": 0, "pre": None, "post": None}
    n = len(pairs)
    return {"n": n, "pre": round(sum(a for a, _ in pairs) / n, 4), "post": round(sum(b for _, b in pairs) / n, 4)}
