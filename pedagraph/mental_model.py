"""Theory-of-Mind mental model of a learner: should the teacher explain now? (Saha, Hase & Bansal 2023).

The teacher predicts the learner's chance of answering a step correctly without an explanation (`p_pre`) and
with one (`p_post`), and explains when the expected utility `p_post - p_pre` reaches a threshold and the
explanation budget allows. Two simulators:

- `bkt` (default, offline, deterministic): `p_pre` from the learner model's BKT mastery of the step's skills,
  `P(L)(1 - slip) + (1 - P(L)) guess`; `p_post` lifts mastery by the learner's observed benefit from
  explanations (Laplace-smoothed success rate of explained items in the mental-model bank; 0.5 when none).
- `llm`: the teacher model simulates the learner from its demos (the paper's few-shot simulators) and returns
  a probability with structured output; chat APIs give no first-token log-probabilities, so the probability
  is asked for directly — a documented deviation from the paper.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from pedagraph.learner import DEFAULT_BKT, LearnerModel
from pedagraph.prompts import render

Simulator = Literal["bkt", "llm"]
DEFAULT_LIFT = 0.5


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
    utility = p_post - p_pre
    if budget_left <= 0:
        explain, reason = False, "explanation budget used up"
    elif utility >= threshold:
        explain, reason = True, f"expected utility {utility:.2f} >= {threshold:.2f}"
    else:
        explain, reason = False, f"expected utility {utility:.2f} < {threshold:.2f}"
    return InterventionDecision(
        round(p_pre, 4), round(p_post, 4), round(utility, 4), explain, reason, budget_left, simulator
    )
