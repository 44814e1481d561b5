"""Theory-of-Mind mental model of a learner: should the teacher explain now? (Saha, Hase & Bansal 2023).

The teacher predicts the learner's chance of answering a step correctly without an explanation (`p_pre`) and
with one (`p_post`), and explains when the expected utility `p_post - p_pre` reaches a threshold and the
explanation budget allows. Two simulators:

- `bkt` (default, offline, deterministic): `p_pre` from the learner model's BKT mastery of the step's skills,
  `P(L)(1 - slip) + (1 - P(L)) guess`; `p_post` lifts mastery by the learner's observed benefit from
  explanations (Laplace-smoothed success rate of explained items in the mental-model bank; 0.5 when none).
- `llm`: the teacher model simulates the learner from its demos and returns a probability with structured
  output (asked for directly — a documented deviation from the paper);
- `fewshot`: the paper's simulators (`simulate_fewshot`): the teacher imitates the student's answer from the
  pre- or post-explanation bank of its learner model, and the probability of the gold answer is read from the
  first answer token's log-probabilities, or from k sampled simulations (`pedagraph.probability`).

`decide` is the explain-or-not rule itself (utility, threshold, budget); `decide_intervention` (the tutor's, per
step) and `plan_interventions` (the `tom_teacher` graph's, per batch: Saha et al.'s intervention functions rank
the items, then `decide` spends the budget down the ranking) both end in it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from pedagraph.errors import DataError
from pedagraph.learner import DEFAULT_BKT, LearnerModel, TeachingDemo
from pedagraph.methods.tom.items import TeachItem
from pedagraph.probability import OptionProbs, option_probs
from pedagraph.prompts import load_prompt, render

Simulator = Literal["bkt", "llm", "fewshot"]
DEFAULT_LIFT = 0.5
SLOT_TOKENS = 4
"""Tokens a simulated answer may take (the answer slot comes first; the rest is never read)."""


class SimulatedAnswer(BaseModel):
    """The teacher's prediction of one learner answer."""

    p_correct: float = Field(ge=0.0, le=1.0, description="Probability the learner answers correctly.")
    expected_answer: str = Field("", description="The answer the learner is expected to give.")


@dataclass(frozen=True)
class InterventionDecision:
    """The outcome of the explain-or-not decision for one step."""

    p_pre: float
    p_post: float
    utility: float
    explain: bool
    reason: str
    budget_left: int
    simulator: Simulator

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for state and traces."""
        return asdict(self)


def _mastery(learner: LearnerModel, skills: list[str]) -> float:
    values = [learner.skills[s].p_mastery if s in learner.skills else DEFAULT_BKT.p_init for s in skills]
    return min(values) if values else DEFAULT_BKT.p_init  # a step needs every one of its skills


def p_correct_unaided(learner: LearnerModel, skills: list[str]) -> float:
    """P(correct without explanation) from BKT mastery: P(L)(1-s) + (1-P(L))g."""
    p = _mastery(learner, skills)
    return p * (1 - DEFAULT_BKT.p_slip) + (1 - p) * DEFAULT_BKT.p_guess


def explanation_lift(learner: LearnerModel) -> float:
    """How much an explanation closes this learner's mastery gap, from their explained items (smoothed)."""
    post = learner.mental_model_bank()["post"]
    if not post:
        return DEFAULT_LIFT
    return (sum(d.correct for d in post) + 1) / (len(post) + 2)


def p_correct_explained(learner: LearnerModel, skills: list[str]) -> float:
    """P(correct with an explanation): mastery lifted by the learner's observed benefit from explanations."""
    p = _mastery(learner, skills)
    lifted = p + (1 - p) * explanation_lift(learner)
    return lifted * (1 - DEFAULT_BKT.p_slip) + (1 - lifted) * DEFAULT_BKT.p_guess


def _demo_lines(learner: LearnerModel, limit: int = 6) -> str:
    demos = learner.demos[-limit:]
    if not demos:
        return "(no earlier answers recorded)"
    lines = []
    for d in demos:
        tag = "with an explanation" if d.with_explanation else "on their own"
        verdict = "right" if d.correct else "wrong"
        lines.append(f"- {d.question[:160]} -> answered {d.learner_answer[:60]!r} {tag} ({verdict})")
    return "\n".join(lines)


def simulate_with_model(
    model: Any, learner: LearnerModel, question: str, answer: str, explanation: str | None
) -> float:
    """Ask the teacher model to simulate the learner; returns P(correct)."""
    prompt = render(
        "teacher/simulate_student",
        with_explanation_clause=" after reading the explanation" if explanation else " on their own",
        demos=_demo_lines(learner),
        question=question,
        answer=answer,
        explanation_block=f"Explanation the learner reads first: {explanation}\n" if explanation else "",
    )
    result = model.with_structured_output(SimulatedAnswer).invoke(prompt)
    return float(result.p_correct)


def expected_utility(p_pre: float, p_post: float) -> float:
    """Saha et al.'s expected utility of explaining: P(correct | explained) - P(correct | unaided)."""
    return p_post - p_pre


def decide(
    p_pre: float, p_post: float, *, budget_left: int, threshold: float | None = 0.15, simulator: Simulator = "bkt"
) -> InterventionDecision:
    """The explain-or-not rule: explain when the budget allows and the expected utility reaches `threshold`.

    `threshold=None` explains whenever the budget allows (the batch method ranks items first, then spends).
    """
    utility = expected_utility(p_pre, p_post)
    if budget_left <= 0:
        explain, reason = False, "explanation budget used up"
    elif threshold is None:
        explain, reason = True, f"within the budget ({budget_left} left)"
    elif utility >= threshold:
        explain, reason = True, f"expected utility {utility:.2f} >= {threshold:.2f}"
    else:
        explain, reason = False, f"expected utility {utility:.2f} < {threshold:.2f}"
    return InterventionDecision(
        round(p_pre, 4), round(p_post, 4), round(utility, 4), explain, reason, budget_left, simulator
    )


def decide_intervention(
    learner: LearnerModel,
    skills: list[str],
    *,
    budget_left: int,
    threshold: float = 0.15,
    simulator: Simulator = "bkt",
    model: Any = None,
    question: str = "",
    answer: str = "",
    explanation: str | None = None,
) -> InterventionDecision:
    """Decide whether to explain now: expected utility p_post - p_pre against a threshold and the budget."""
    if simulator == "llm" and model is not None:
        p_pre = simulate_with_model(model, learner, question, answer, None)
        p_post = simulate_with_model(model, learner, question, answer, explanation or "(a worked explanation)")
    else:
        simulator = "bkt"
        p_pre = p_correct_unaided(learner, skills)
        p_post = p_correct_explained(learner, skills)
    return decide(p_pre, p_post, budget_left=budget_left, threshold=threshold, simulator=simulator)


# ----------------------------------------------------------------------------------------------------------
# The few-shot simulators (Saha et al.'s mental model of a student model)
# ----------------------------------------------------------------------------------------------------------


def _fewshot_demo(demo: TeachingDemo, *, verdict: bool) -> str:
    explanation = f"Explanation: {demo.explanation}\n" if demo.explanation else ""
    answer = demo.learner_answer + (f" ({'correct' if demo.correct else 'wrong'})" if verdict else "")
    return render("teacher/mental_model_demo", question=demo.question, explanation=explanation, answer=answer).strip()


def fewshot_prompt(demos: Sequence[TeachingDemo], item: TeachItem, explanation: str | None) -> str:
    """The simulator's prompt: the student's observed answers, then the item with its gold answer (and explanation).

    Yes/no and multiple-choice items ask for the student's answer (the paper's answer slot); number items ask
    whether the student answers correctly (a yes/no slot: a number's first token says little about the number).
    """
    verdict = item.kind == "number"
    lines = "\n\n".join(_fewshot_demo(d, verdict=verdict) for d in demos) or "(no answers observed yet)"
    return render(
        "teacher/mental_model_verdict" if verdict else "teacher/mental_model",
        demos=lines,
        with_clause=" after reading an explanation" if explanation else " on their own",
        question=item.prompt_question(),
        gold=item.gold_label,
        explanation=f"Explanation: {explanation}\n" if explanation else "",
        rule=load_prompt(f"student/answer_rules/{'yes_no' if verdict else item.kind}").strip(),
    )


def simulate_fewshot(
    model: Any, demos: Sequence[TeachingDemo], item: TeachItem, explanation: str | None, *, samples: int = 5
) -> tuple[float, OptionProbs]:
    """The simulator's P(the student answers `item` correctly), with how it was read (log-probs or samples).

    Nothing readable from the model (e.g. the scripted model) gives 1 / number of options, said by
    `method == "none"` or empty `probs`.
    """
    from langchain_core.messages import HumanMessage

    from pedagraph.methods.tom.items import parse_option

    prompt = [HumanMessage(content=fewshot_prompt(demos, item, explanation))]
    if item.kind == "number":
        labels, target = ["yes", "no"], "yes"
        verdict = TeachItem(id=item.id, dataset=item.dataset, kind="yes_no", question=item.question, gold=True)

        def parse(text: str) -> str | None:
            return parse_option(verdict, text)
    else:
        labels, target = item.labels, item.gold_label

        def parse(text: str) -> str | None:
            return parse_option(item, text)

    probs = option_probs(model, prompt, labels, parse=parse, samples=samples, max_tokens=SLOT_TOKENS)
    p = probs.p(target)
    return (p if p is not None else 1.0 / len(labels)), probs


# ----------------------------------------------------------------------------------------------------------
# Intervention functions: which items to explain under a budget (Saha et al. 2023, methods.md §1.2 step 5)
# ----------------------------------------------------------------------------------------------------------

INTERVENTION_FUNCTIONS: dict[str, str] = {
    "random": "a random order (seeded)",
    "teacher_confidence": "the teacher's own probability of the gold answer, highest first",
    "mm_pre": "the mental model's P(correct unaided), lowest first: explain where the student is predicted to fail",
    "mm_post": "the mental model's P(correct explained), highest first",
    "expected_utility": "P(correct explained) - P(correct unaided) from the mental model, highest first (the paper's)",
    "oracle": "reference, reads the real student: explain exactly where its unaided answer is wrong, ignoring the "
    "budget (the paper's oracle)",
    "least_confident": "reference, reads the real student: its confidence in its own unaided answer, lowest first",
    "student_pre_gold": "reference, reads the real student: its P(gold) without an explanation, lowest first",
    "student_post_gold": "reference, reads the real student: its P(gold) with the explanation, highest first",
    "true_utility": "reference, reads the real student: its P(gold) with minus without the explanation, highest first",
    "misaligned": "a deceiving teacher: expected utility, lowest first",
}
"""Every intervention function; the `REFERENCES` read the real student, so they are references, not deployable."""
DEPLOYABLE = ("random", "teacher_confidence", "mm_pre", "mm_post", "expected_utility")
REFERENCES = ("oracle", "least_confident", "student_pre_gold", "student_post_gold", "true_utility")
IGNORES_BUDGET = ("oracle",)
"""Functions whose plan does not depend on the budget (the oracle explains every item the student gets wrong)."""
UNKNOWN_P = 0.5
"""Stand-in for a probability that could not be read (every item alike, so the ranking falls to the tie-break)."""


@dataclass(frozen=True)
class ItemSignals:
    """What an intervention function may rank one item by (None: not measured)."""

    id: str
    p_pre: float | None = None
    """Mental model: P(student correct without an explanation)."""
    p_post: float | None = None
    """Mental model: P(student correct with the explanation)."""
    teacher_p: float | None = None
    """The teacher's own P(gold answer)."""
    student_correct: bool | None = None
    """Reference: the real student's unaided answer was right."""
    student_post_correct: bool | None = None
    """Reference: the real student's answer with the explanation was right."""
    student_confidence: float | None = None
    """Reference: the real student's probability of its own unaided answer."""
    student_p_gold_pre: float | None = None
    """Reference: the real student's probability of the gold answer without an explanation."""
    student_p_gold_post: float | None = None
    """Reference: the real student's probability of the gold answer with the explanation."""


def _p(value: float | None) -> float:
    return UNKNOWN_P if value is None else float(value)


def intervention_score(function: str, s: ItemSignals) -> float:
    """How much `function` wants to explain the item (higher first); KeyError for an unknown function."""
    scores: dict[str, Any] = {
        "random": lambda: 0.0,
        "teacher_confidence": lambda: _p(s.teacher_p),
        "mm_pre": lambda: -_p(s.p_pre),
        "mm_post": lambda: _p(s.p_post),
        "expected_utility": lambda: expected_utility(_p(s.p_pre), _p(s.p_post)),
        "misaligned": lambda: -expected_utility(_p(s.p_pre), _p(s.p_post)),
        "oracle": lambda: -float(bool(s.student_correct)),
        "least_confident": lambda: -_p(s.student_confidence),
        "student_pre_gold": lambda: -_p(s.student_p_gold_pre),
        "student_post_gold": lambda: _p(s.student_p_gold_post),
        "true_utility": lambda: _p(s.student_p_gold_post) - _p(s.student_p_gold_pre),
    }
    return float(scores[function]())


def rank_items(function: str, signals: Sequence[ItemSignals], *, seed: int) -> list[str]:
    """Item ids in the order `function` explains them; ties (and `random`) broken by a seeded shuffle."""
    if function not in INTERVENTION_FUNCTIONS:
        raise DataError(f"unknown intervention function {function!r}", hint=f"use: {', '.join(INTERVENTION_FUNCTIONS)}")
    rng = random.Random(f"{seed}:{function}")  # noqa: S311 - reproducible tie-breaks, not security
    tiebreak = {s.id: rng.random() for s in sorted(signals, key=lambda s: s.id)}
    ordered = sorted(signals, key=lambda s: (-round(intervention_score(function, s), 9), tiebreak[s.id]))
    return [s.id for s in ordered]


def budget_count(budget: float, n: int) -> int:
    """Items a budget (a fraction of the items) pays for: floor(budget x n), within [0, n]."""
    if not 0.0 <= budget <= 1.0:
        raise DataError(f"a budget is a fraction of the items in [0, 1], got {budget!r}")
    return max(0, min(n, int(math.floor(budget * n + 1e-9))))


def plan_interventions(
    function: str, signals: Sequence[ItemSignals], budget: float, *, seed: int, threshold: float | None = None
) -> list[tuple[str, InterventionDecision]]:
    """Walk the items in `function`'s order and `decide` each: explain while floor(budget x n) lasts.

    With a `threshold`, an item is explained only if its mental-model utility also reaches it (the tutor's rule).
    The `oracle` ignores both: it explains exactly the items the real student gets wrong unaided, at any budget.
    """
    by_id = {s.id: s for s in signals}
    left = budget_count(budget, len(signals))
    plan: list[tuple[str, InterventionDecision]] = []
    for item_id in rank_items(function, signals, seed=seed):
        s = by_id[item_id]
        if function in IGNORES_BUDGET:
            wrong = s.student_correct is False
            reason = "the student is wrong unaided (oracle)" if wrong else "the student is right unaided (oracle)"
            utility = expected_utility(_p(s.p_pre), _p(s.p_post))
            plan.append((item_id, InterventionDecision(_p(s.p_pre), _p(s.p_post), round(utility, 4), wrong, reason,
                                                       left, "fewshot")))  # fmt: skip
            continue
        decision = decide(_p(s.p_pre), _p(s.p_post), budget_left=left, threshold=threshold, simulator="fewshot")
        left -= int(decision.explain)
        plan.append((item_id, decision))
    return plan
