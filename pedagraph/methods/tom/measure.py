"""Scoring one item for the intervention functions, and the student's answer with or without an explanation.

`score_item` makes only the calls the requested signals need (`signals_needed(functions)`), per explanation type,
and returns a JSON record with every probability, answer and cost; `item_signals` turns a record into the
`ItemSignals` an intervention function ranks by. Measuring every signal and both answers of every item (the
`measure` mode of the `tom_teacher` graph) is what lets one run read off every budget and function.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pedagraph.methods.tom.calibration import SeedSetup
from pedagraph.methods.tom.calls import explain, student_answer, teacher_confidence
from pedagraph.methods.tom.items import HarmfulDemo, TeachItem
from pedagraph.methods.tom.mental_model import ItemSignals, simulate_fewshot
from pedagraph.probability import Cost

__all__ = ["ALL_SIGNALS", "MULTITURN_CONDITIONS", "TeachingModels", "answer_p_gold", "item_signals", "salt_of",
           "score_item", "signals_needed"]  # fmt: skip

SIGNALS_OF: dict[str, frozenset[str]] = {
    "random": frozenset(),
    "teacher_confidence": frozenset({"teacher"}),
    "mm_pre": frozenset({"mm_pre"}),
    "mm_post": frozenset({"mm_post"}),
    "expected_utility": frozenset({"mm_pre", "mm_post"}),
    "misaligned": frozenset({"mm_pre", "mm_post"}),
    "oracle": frozenset({"pre"}),
    "least_confident": frozenset({"pre", "pre_confidence"}),
    "student_pre_gold": frozenset({"pre", "pre_confidence"}),
    "student_post_gold": frozenset({"post", "post_confidence"}),
    "true_utility": frozenset({"pre", "pre_confidence", "post", "post_confidence"}),
}
"""What each intervention function ranks by: teacher / mental-model probabilities or the real student's answers."""
ALL_SIGNALS = frozenset({"teacher", "mm_pre", "mm_post", "pre", "pre_confidence", "post", "post_confidence"})
MULTITURN_CONDITIONS: dict[str, str] = {
    "teacher": "explained by the teacher: its explanation and its answer",
    "none": "the same items with the teacher's answers, no explanations (control)",
    "human": "the same items with the human explanations and gold answers",
}
"""The multi-turn demo sets (RQ4): what the student learns from in context."""


@dataclass(frozen=True)
class TeachingModels:
    """The models of a teaching run: the student, and the teacher that simulates and explains (None: scripted)."""

    student: Any
    teacher: Any | None


def signals_needed(functions: Iterable[str]) -> set[str]:
    """The signals the given intervention functions rank by."""
    out: set[str] = set()
    for f in functions:
        out |= SIGNALS_OF[f]
    return out


def salt_of(item_id: str, seed: int) -> int:
    """A stable number per item and seed (which wrong answer a misaligned teacher argues for)."""
    return int(hashlib.sha1(f"{seed}:{item_id}".encode()).hexdigest()[:8], 16)


def _add(costs: dict[str, dict[str, int]], name: str, cost: Cost) -> None:
    if cost.calls:
        costs[name] = cost.to_dict()


def _teacher_demos(setup: SeedSetup, kind: str) -> list[Any]:
    return setup.personalised_demos if kind == "personalised" else setup.teacher_demos


def _score_type(
    record: dict[str, Any], item: TeachItem, setup: SeedSetup, models: TeachingModels, kind: str, *,
    signals: set[str], samples: int, harmful: Sequence[HarmfulDemo],
) -> None:  # fmt: skip
    """The explanation of one type, the mental model's P(correct | it) and the student's answer with it."""
    costs = record["cost"]
    expl = explain(models.teacher, item, kind, demos=_teacher_demos(setup, kind), harmful=harmful,
                   salt=salt_of(item.id, setup.seed))  # fmt: skip
    _add(costs, f"explanation[{kind}]", expl.cost)
    entry: dict[str, Any] = {"explanation": expl.to_dict()}
    if "mm_post" in signals and models.teacher is not None:
        p_post, probs = simulate_fewshot(models.teacher, setup.mm_post, item, expl.text, samples=samples)
        entry.update(p_post=p_post, mm_post_method=probs.method)
        _add(costs, f"mm_post[{kind}]", probs.cost)
    if "post" in signals:
        n = samples if "post_confidence" in signals else 1
        post = student_answer(models.student, item, setup.student_demos, expl.text, samples=n,
                              mode=setup.student_mode)  # fmt: skip
        entry["post"] = post.to_dict()
        _add(costs, f"student_post[{kind}]", post.first_cost)
        _add(costs, f"student_post_confidence[{kind}]", post.cost - post.first_cost)
    record["types"][kind] = entry


def score_item(
    item: TeachItem,
    setup: SeedSetup,
    models: TeachingModels,
    *,
    types: Sequence[str],
    signals: set[str],
    samples: int = 5,
    harmful: Sequence[HarmfulDemo] = (),
    multiturn: Sequence[int] = (),
) -> dict[str, Any]:
    """Measure `signals` of one item for each explanation type (and multi-turn answers); a JSON record."""
    record: dict[str, Any] = {"id": item.id, "seed": setup.seed, "gold": item.gold_label, "types": {}, "cost": {}}
    costs = record["cost"]
    if "teacher" in signals and models.teacher is not None:
        p, method, cost = teacher_confidence(models.teacher, item, setup.teacher_demos, samples=samples)
        record.update(teacher_p=p, teacher_method=method)
        _add(costs, "teacher_confidence", cost)
    if "mm_pre" in signals and models.teacher is not None:
        p_pre, probs = simulate_fewshot(models.teacher, setup.mm_pre, item, None, samples=samples)
        record.update(p_pre=p_pre, mm_pre_method=probs.method)
        _add(costs, "mm_pre", probs.cost)
    if signals & {"pre", "pre_confidence"}:
        n = samples if "pre_confidence" in signals else 1
        pre = student_answer(models.student, item, setup.student_demos, None, samples=n, mode=setup.student_mode)
        record["pre"] = pre.to_dict()
        _add(costs, "student_pre", pre.first_cost)
        _add(costs, "student_confidence", pre.cost - pre.first_cost)
    for kind in types:
        _score_type(record, item, setup, models, kind, signals=signals, samples=samples, harmful=harmful)
    if multiturn:
        record["multiturn"] = _multiturn(item, setup, models, multiturn, costs)
    return record


def _multiturn(
    item: TeachItem, setup: SeedSetup, models: TeachingModels, counts: Sequence[int], costs: dict[str, Any]
) -> dict[str, dict[str, bool]]:
    """Per demo set, the student answers with its first n items as its only demos, for each n (no intervention)."""
    sets = {"teacher": setup.multiturn_demos, "none": setup.multiturn_control, "human": setup.multiturn_human}
    out: dict[str, dict[str, bool]] = {}
    total = Cost()
    for condition, demos in sets.items():
        if not demos and condition != "teacher":
            continue  # a setup made before the control and human sets existed
        out[condition] = {}
        for n in counts:
            answer = student_answer(models.student, item, demos[:n], None, mode=setup.student_mode)
            out[condition][str(n)] = answer.correct
            total += answer.cost
    _add(costs, "multiturn", total)
    return out


def answer_p_gold(answer: dict[str, Any] | None, gold: str) -> float | None:
    """P(gold) of a measured answer: recorded, else derived from a yes/no answer's confidence in its own label."""
    if not answer:
        return None
    if answer.get("p_gold") is not None:
        return float(answer["p_gold"])
    confidence, label = answer.get("confidence"), answer.get("label")
    if confidence is None or label not in ("yes", "no") or gold not in ("yes", "no"):
        return None
    return float(confidence) if label == gold else 1.0 - float(confidence)


def _p_gold_or_correct(answer: dict[str, Any] | None, gold: str) -> float | None:
    """P(gold) of an answer; an answer whose probabilities were not read counts as a point mass (1 right, 0 wrong)."""
    p = answer_p_gold(answer, gold)
    if p is None and answer and answer.get("correct") is not None:
        return float(bool(answer["correct"]))
    return p


def item_signals(record: dict[str, Any], kind: str) -> ItemSignals:
    """The ranking signals of a scored record for one explanation type."""
    entry = record.get("types", {}).get(kind, {})
    pre = record.get("pre") or {}
    post = entry.get("post") or {}
    return ItemSignals(
        id=record["id"],
        p_pre=record.get("p_pre"),
        p_post=entry.get("p_post"),
        teacher_p=record.get("teacher_p"),
        student_correct=pre.get("correct"),
        student_post_correct=post.get("correct"),
        student_confidence=pre.get("confidence"),
        student_p_gold_pre=_p_gold_or_correct(pre or None, record.get("gold", "")),
        student_p_gold_post=_p_gold_or_correct(post or None, record.get("gold", "")),
    )
