"""The CLASS tutoring policy: from a diagnosis and the session's progress to a tutor move, and the reveal rules.

Per learner turn on the current step (Sonkar et al. 2023; methods.md §4):

* b correct: affirm and ask the next step's question (state y), or close the problem (z);
* a incorrect: 1st failed attempt: probe (ask how they got their number); later: hint (the step's hint), then
  strategy (the step's expression without its result), repeated. From the 2nd failed attempt the
  Theory-of-Mind decision may replace that move with one explanation of the step's worked method (result
  removed) while the explanation budget lasts. After `step_tell_after` failures on a non-final step its result
  is told and the tutor moves on (action 2); on the final step the answer is told only as the reveal policy
  allows (`after_attempts`);
* c partial: a number that is another step's result gets an acknowledgement and a hint; the right calculation
  written without its result is confirmed ("what does it come to?") and is not a failed attempt;
* d ambiguous: ask to clarify; e off-topic: redirect; f inquiry: hint request / "I don't know" -> next hint
  level; solution request (or any extraction attempt) -> refusal with a hint unless the policy allows the
  answer (`on_request`); go back -> previous step; another question -> answered (a real model) or noted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pedagraph.answers import format_number
from pedagraph.errors import PedagraphError
from pedagraph.learner import LearnerModel
from pedagraph.llm import ManagedChatModel
from pedagraph.llm.usage import asking_from
from pedagraph.mental_model import decide_intervention
from pedagraph.problems import Problem, Step, steps_of
from pedagraph.structured import record_fallback
from pedagraph.taxonomy import Diagnosis, StudentResponse, SubproblemState, TutorAction, TutorMove
from pedagraph.tutoring.replies import expression_of, hint_of, method_of, template


class TutorPolicy(Protocol):
    """The policy settings a tutoring context carries (the tutor graph's `Context` is one)."""

    reveal_policy: str
    reveal_after: int
    step_tell_after: int
    explanation_budget: int
    tom_threshold: float
    tom_simulator: str


@dataclass(frozen=True)
class Progress:
    """Where the learner is in a problem: the current step and, per step, failed attempts, hint level, explained."""

    step_index: int
    attempts: tuple[int, ...]
    hint_level: tuple[int, ...]
    explained: tuple[bool, ...]
    budget_used: int = 0
    learner_solved: bool = False


TOM_NODE = "plan_move.tom_decision"
"""The name the Theory-of-Mind simulation's structured calls are counted under."""

Decide = Callable[[Step], dict[str, Any] | None]
"""The Theory-of-Mind explain-or-not decision for a step (JSON-ready), asked only when the policy needs it."""


def reveal_permitted(progress: Progress, policy: TutorPolicy, diagnosis: Diagnosis | None) -> tuple[bool, str]:
    """Whether the final answer may be stated now, and why: the learner said it, or the policy allows it."""
    if progress.learner_solved:
        return True, "learner_has_answer"
    if policy.reveal_policy == "after_attempts":
        attempts = progress.attempts or (0,)
        if attempts[-1] >= policy.reveal_after:
            return True, f"after_attempts: {attempts[-1]} failed attempts on the final step"
    if policy.reveal_policy == "on_request" and diagnosis is not None and diagnosis.inquiry == "solution":
        return True, "on_request: the learner asked for the solution"
    return False, f"policy {policy.reveal_policy}"


def tom_decision(
    policy: TutorPolicy, learner: LearnerModel, step: Step, budget_used: int, teacher: ManagedChatModel | None
) -> dict[str, Any]:
    """The Theory-of-Mind explain-or-not decision for a step (Saha et al. 2023), JSON-ready.

    `teacher` (a real model) simulates the learner when the policy asks for the `llm` simulator; without one,
    or when it fails, the decision is made from BKT mastery.
    """
    budget_left = max(0, policy.explanation_budget - budget_used)
    kwargs: dict[str, Any] = {"budget_left": budget_left, "threshold": policy.tom_threshold}
    if policy.tom_simulator == "llm" and teacher is not None:
        llm = {"simulator": "llm", "model": teacher, "question": step.question, "answer": step.answer}
        try:
            with asking_from(TOM_NODE):
                decision = decide_intervention(learner, list(step.skills), **kwargs, **llm, explanation=method_of(step))
            return decision.to_dict()
        except PedagraphError:
            record_fallback(teacher, TOM_NODE)  # the simulating model failed: decide from mastery instead
    return decide_intervention(learner, list(step.skills), **kwargs).to_dict()


def _correct(problem: Problem, d: Diagnosis, idx: int) -> TutorMove:
    steps = steps_of(problem)
    if d.solved_final or idx == len(steps) - 1:
        values = {"answer": problem.final_answer or format_number(d.value or 0)}
        return TutorMove.make("affirm_done", d.category, idx, "affirm_done", values, sub_state=SubproblemState.DONE)
    values = {"question": steps[idx + 1].question}
    return TutorMove.make("affirm_next", d.category, idx + 1, "affirm_next", values, sub_state=SubproblemState.FINISHED)


def _reveal(problem: Problem, cat: StudentResponse, action: TutorAction, question: str) -> TutorMove:
    last = len(steps_of(problem)) - 1
    values = {"answer": problem.final_answer, "solution": problem.solution or question}
    return TutorMove.make("reveal", cat, last, "reveal", values, sub_state=SubproblemState.DONE, action=action,
                          reveal=True)  # fmt: skip


def _escalate(step: Step, cat: StudentResponse, hint_template: str, action: TutorAction | None, level: int
              ) -> TutorMove:  # fmt: skip
    if min(level, 2) <= 1:
        values = {"hint": hint_of(step), "question": step.question}
        return TutorMove.make("hint", cat, step.index, hint_template, values, action=action, hint_level=1)
    values = {"expression": expression_of(step), "question": step.question}
    return TutorMove.make("strategy", cat, step.index, "strategy", values, action=action, hint_level=2)


def _mistake(problem: Problem, d: Diagnosis, progress: Progress, policy: TutorPolicy, decide: Decide | None
             ) -> TutorMove:  # fmt: skip
    """Incorrect or partial: reveal or tell when the rules say so, else probe / hint / strategy / explain."""
    steps, idx = steps_of(problem), progress.step_index
    step, last, cat = steps[idx], len(steps) - 1, d.category
    attempts, hint_level = progress.attempts[idx], progress.hint_level[idx]
    partial = cat == StudentResponse.PARTIAL
    after_failures = TutorAction.SOLUTION_AFTER_FAILURES_PARTIAL if partial else TutorAction.SOLUTION_AFTER_FAILURES
    if idx == last and policy.reveal_policy == "after_attempts" and reveal_permitted(progress, policy, d)[0]:
        return _reveal(problem, cat, after_failures, step.question)
    if idx < last and attempts >= policy.step_tell_after:
        values = {"method": step.solution_text, "value": step.answer, "question": steps[idx + 1].question}
        return TutorMove.make("correction", cat, idx + 1, "correction", values, sub_state=SubproblemState.FINISHED,
                              action=after_failures, told_step=idx)  # fmt: skip
    decision = decide(step) if decide is not None else None
    number = format_number(d.value) if d.value is not None else ""
    if partial:
        values = {"number": number, "hint": hint_of(step), "question": step.question}
        move = TutorMove.make("partial", cat, idx, "partial", values, hint_level=max(1, hint_level))
    elif attempts <= 1:
        name, values = ("probe", {"number": number}) if number else ("probe_no_number", {})
        move = TutorMove.make("probe", cat, idx, name, values)
    else:
        move = _escalate(step, cat, "hint", None, hint_level + 1)
    if decision is not None and decision["explain"] and attempts >= 2 and not progress.explained[idx]:
        method = method_of(step)
        move = TutorMove.make("explain", cat, idx, "explain", {"method": method, "question": step.question},
                              action=move.action, explanation=method, spends_budget=True)  # fmt: skip
    return move.model_copy(update={"intervention": decision})


def _inquiry(problem: Problem, d: Diagnosis, progress: Progress, policy: TutorPolicy) -> TutorMove:
    steps, idx = steps_of(problem), progress.step_index
    step, cat, hint_level = steps[idx], d.category, progress.hint_level[idx]
    if d.inquiry == "solution":
        if reveal_permitted(progress, policy, d)[0]:
            return _reveal(problem, cat, TutorAction.SOLUTION_ON_REQUEST, step.question)
        values = {"hint": hint_of(step), "question": step.question}
        return TutorMove.make("refuse", cat, idx, "refuse", values, hint_level=max(1, hint_level), refused=True)
    if d.inquiry in ("hint", "dont_know"):
        return _escalate(step, cat, "hint_request", TutorAction.HINT_ON_REQUEST, hint_level + 1)
    if d.inquiry == "go_back":
        if idx == 0:
            return TutorMove.make("go_back", cat, 0, "go_back_first", {"question": step.question})
        return TutorMove.make("go_back", cat, idx - 1, "go_back", {"question": steps[idx - 1].question})
    values = {"notice": template("scripted_notice"), "question": step.question}
    return TutorMove.make("inquiry", cat, idx, "inquiry", values)


def choose_move(
    *, problem: Problem, diagnosis: Diagnosis, progress: Progress, policy: TutorPolicy, decide: Decide | None = None
) -> TutorMove:
    """The deterministic CLASS policy: from the diagnosis, attempts and hint level to a tutor move."""
    cat, idx = diagnosis.category, progress.step_index
    question = steps_of(problem)[idx].question
    if cat == StudentResponse.CORRECT:
        return _correct(problem, diagnosis, idx)
    if cat == StudentResponse.PARTIAL and diagnosis.setup:
        return TutorMove.make("setup", cat, idx, "setup_right", {"question": question})
    if cat in (StudentResponse.INCORRECT, StudentResponse.PARTIAL):
        return _mistake(problem, diagnosis, progress, policy, decide)
    if cat == StudentResponse.INQUIRY:
        return _inquiry(problem, diagnosis, progress, policy)
    if cat == StudentResponse.OFF_TOPIC:
        values = {"notice": template("scripted_notice"), "question": question}
        return TutorMove.make("redirect", cat, idx, "redirect", values)
    return TutorMove.make("clarify", StudentResponse.AMBIGUOUS, idx, "clarify", {"question": question})
