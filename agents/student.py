"""The student of the `tutor` graph: a human learner behind an interrupt, or a simulated learner (MathDial-style).

Human mode pauses the graph with `interrupt({"type": "await_learner", "tutor": <last visible reply>})`; the
caller resumes with `Command(resume=<the learner's text>)` (a string, a `{"text": ...}` dict or a message).
Simulated mode asks the student model, prompted with `prompts/student/simulate.md` (a persona and the problem)
and the visible conversation with the roles swapped (the tutor speaks as the user) — never the tutor's hidden
decisions or the answer.

A simulated student whose model fails (a `ModelError`: timeout, connection, refusal, after the model layer's own
retries) ends the dialogue with `end_reason="student_failed"` and the one-line error in `student_error`; the
dialogue so far is kept, and the eval runner's `--retry-errors` runs such an item again.

`Context.student_simulator` swaps in another simulated student (a callable `(state, context) -> text`, or a
name: `persona` (the default above), `mathdial`, `probabilistic`):

* `mathdial_student` — the MathDial student (Macina et al. 2023; methods.md §6.3): the student model prompted
  with `prompts/student/mathdial.md`, a persona made from the MathDial record (profile, the confusion the
  teacher described, the student's incorrect solution; `mathdial_persona`), the problem and the visible
  dialogue. It believes its answer, changes its mind only after good reasoning questions, makes no
  arithmetic slips.
* `ProbabilisticStudent` — a cheap, offline, seeded learner with no model (peers.md A.4 item 6): on each
  turn it answers the current sub-question right with a probability that starts at `base` and rises by
  `learn` for every hint, strategy or probing question the tutor gave on that sub-question (twice that for a
  worked explanation), else gives a wrong value taken from its incorrect solution (or an off-by-operation
  error of the step's expression); now and then (`hint_rate`) it asks for a hint. It is a simulation with
  ground truth: it reads the current sub-question from the graph state's step index and knows the step's
  value, where an LLM student would read the sub-question from the tutor's last visible reply. Its draws
  depend only on the seed, the turn number and the step, so a run is reproducible.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pedagraph.prompts import load_prompt, render

from pedagraph.answers import compare, extract_numbers, find_numbers, format_number
from pedagraph.errors import DataError, ModelError
from pedagraph.messages import last_text, learner_text, swapped_roles
from pedagraph.methods.tutor.context import TutoringContext as Context
from pedagraph.problems import Problem, Step, steps_of
from pedagraph.redact import redact
from pedagraph.runtime import check_owner, context_of, role_model
from pedagraph.state import TutoringState as State
from pedagraph.taxonomy import Strategy

__all__ = ["SIMULATORS", "STUDENT_FAILED", "ProbabilisticStudent", "learner_text", "mathdial_persona",
           "mathdial_student", "simulate_student", "simulator_of", "student_turn"]  # fmt: skip


TURN_TOKENS = 64
"""New tokens of a simulated learner's turn on an in-process model with no `max_tokens` of its own (one to three
short sentences take ~15-60; a small model that loops would otherwise run to its 512-token default)."""
TURN_STOPS = ["\n\n", "\nTeacher:", "\nTutor:", "\nStudent:", "\nUser:"]
"""Where a simulated learner's turn ends: a blank line (a turn is one to three sentences) or the next speaker."""


def student_reply(model: Any, messages: list[BaseMessage]) -> str:
    """One simulated learner turn from the student model: cut at a speaker label, bounded on in-process models."""
    from pedagraph.llm import IN_PROCESS
    from pedagraph.settings import split_model_string

    kwargs: dict[str, Any] = {}
    inner = getattr(model, "inner", None)
    in_process = split_model_string(str(getattr(model, "model_spec", "") or ""))[0] in IN_PROCESS
    if in_process and getattr(inner, "max_tokens", 0) is None:
        kwargs["max_tokens"] = TURN_TOKENS
    text = learner_text(model.invoke(messages, stop=TURN_STOPS, **kwargs))
    if not text:  # the reply began with a blank line: ask again, cut at a speaker only
        text = learner_text(model.invoke(messages, stop=TURN_STOPS[1:], **kwargs))
    return text


def problem_of(state: State) -> Problem:
    """Return the session's problem."""
    return Problem.model_validate(state["problem"])


def last_tutor_reply(state: State) -> str:
    """Return the latest visible tutor reply."""
    return last_text(state.get("messages", []), AIMessage)


def _swapped_history(state: State) -> list[BaseMessage]:
    """The current problem's visible conversation with the roles swapped: the tutor speaks as the user."""
    return swapped_roles(state.get("messages", []), state.get("problem_start", 0))


def simulate_student(state: State, ctx: Context) -> str:
    """Ask the student model for the simulated learner's next turn (the tutor speaks as the user)."""
    model = role_model(ctx, "student")
    system = render(
        "student/simulate",
        persona=ctx.student_persona or render("student/default_persona").strip(),
        problem=problem_of(state).question,
    )
    return student_reply(model, [SystemMessage(content=system), *_swapped_history(state)])


# --------------------------------------------------------------------------------------------------------------
# MathDial student (LLM)
# --------------------------------------------------------------------------------------------------------------


def mathdial_persona(record: Mapping[str, Any]) -> str:
    """The persona of a MathDial record (its `student_profile`, `teacher_described_confusion`, incorrect solution).

    `record` is the MathDial row or a `Problem.extras` parsed from it; a missing field reads as not given.
    """
    profile = str(record.get("student_profile") or "").strip() or render("student/default_persona").strip()
    return render(
        "student/mathdial_persona",
        profile=profile,
        confusion=str(record.get("teacher_described_confusion") or "").strip() or "(not described)",
        solution=str(record.get("student_incorrect_solution") or "").strip() or "(none written down)",
    ).strip()


def mathdial_student(state: State, ctx: Context) -> str:
    """The MathDial student's next turn: the student model with the MathDial rules, persona and dialogue."""
    model = role_model(ctx, "student")
    problem = problem_of(state)
    persona = ctx.student_persona or mathdial_persona(problem.extras)
    system = render("student/mathdial", persona=persona, problem=problem.question)
    return student_reply(model, [SystemMessage(content=system), *_swapped_history(state)])


# --------------------------------------------------------------------------------------------------------------
# Probabilistic student (no model)
# --------------------------------------------------------------------------------------------------------------

# How much one tutor turn on the current sub-question teaches (in units of `learn`), by Bridge strategy.
EXPOSURE: dict[str, float] = {
    Strategy.ASK_QUESTION.value: 1.0,
    Strategy.PROVIDE_HINT.value: 1.0,
    Strategy.PROVIDE_STRATEGY.value: 1.0,
    Strategy.SIMPLIFY_QUESTION.value: 1.0,
    Strategy.PROVIDE_EXAMPLE.value: 1.0,
    Strategy.PROVIDE_SIMILAR_PROBLEM.value: 1.0,
    Strategy.EXPLAIN_CONCEPT.value: 2.0,
}
_OPS: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else float("nan"),
}
_RESULT_AFTER_EQ = re.compile(r"=\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?)")


@cache
def _phrasings(name: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in load_prompt(f"student/templates/{name}").splitlines() if line.strip())


def _say(rng: random.Random, name: str, **values: str) -> str:
    text = rng.choice(_phrasings(name))
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def incorrect_results(solution: str) -> list[float]:
    """The results of an incorrect solution, in order: numbers right after `=`, else every number."""
    found = [float(m.replace(",", "")) for m in _RESULT_AFTER_EQ.findall(solution or "")]
    return found or extract_numbers(solution or "")


def off_by_operation(step: Step) -> tuple[str, float] | None:
    """A wrong result of the step made with another operation on its first two operands (`12 + 3` -> `12 - 3`)."""
    if not step.expression or step.answer_value is None:
        return None
    operands = [m.value for m in find_numbers(step.expression)]
    if len(operands) < 2:
        return None
    a, b = operands[0], operands[1]
    for op in ("-", "+", "*", "/"):
        value = _OPS[op](a, b)
        if value == value and value >= 0 and not compare(value, step.answer_value):
            if op == "/" and not compare(value, round(value, 2)):
                continue
            return f"{format_number(a)} {op} {format_number(b)}", value
    return None


@dataclass
class ProbabilisticStudent:
    """A seeded learner with a per-sub-question success probability that rises with the tutor's help.

    Call it as a simulator: `(state, context) -> the learner's text`. See the module docstring.
    """

    seed: int = 0
    base: float = 0.35
    """Probability of answering a sub-question right before any help."""
    learn: float = 0.15
    """Added to the probability per hint, strategy or probing turn on the sub-question (twice for an explanation)."""
    hint_rate: float = 0.1
    """Probability of asking for a hint instead of answering."""
    max_p: float = 0.95
    """Ceiling of the probability."""

    def exposures(self, state: State, step_index: int) -> float:
        """Weighted number of teaching turns the tutor spent on this sub-question so far."""
        total = 0.0
        for trace in state.get("turns", []):
            plan = trace.get("plan") or {}
            if plan.get("step_index") == step_index:
                total += EXPOSURE.get(str(plan.get("strategy")), 0.0)
        return total

    def probability(self, state: State, step_index: int) -> float:
        """Probability of answering the sub-question right on this turn."""
        return max(0.0, min(self.max_p, self.base + self.learn * self.exposures(state, step_index)))

    def wrong_answer(self, problem: Problem, step: Step, target: float, rng: random.Random) -> tuple[str | None, float]:
        """A wrong value for the step: from the incorrect solution, else off by an operation, else off by one."""
        steps = steps_of(problem)
        avoid = [target, problem.final_value]
        own = incorrect_results(str(problem.extras.get("student_incorrect_solution") or ""))
        own = [v for v in own if not any(compare(v, a) for a in avoid)]
        if own:
            if step.index == len(steps) - 1:
                return None, own[-1]  # on the last step: the answer it believes in
            return None, own[step.index] if step.index < len(own) else rng.choice(own)
        off = off_by_operation(step)
        if off is not None and not any(compare(off[1], a) for a in avoid):
            return off
        value = target + 1
        while any(compare(value, a) for a in avoid):
            value += 1
        return None, value

    def __call__(self, state: State, ctx: Context) -> str:
        """The learner's next turn."""
        problem = problem_of(state)
        steps = steps_of(problem)
        idx = min(state.get("step_index", 0), len(steps) - 1)
        step = steps[idx]
        rng = random.Random(f"{self.seed}:{state.get('turn_count', 0)}:{idx}")
        roll_hint, roll_right = rng.random(), rng.random()
        last = idx == len(steps) - 1
        target = problem.final_value if last and problem.final_value is not None else step.answer_value
        asked = (state.get("last_plan") or {}).get("template") == "ask_working"
        if asked and step.expression and target is not None:  # asked how it got its guess: it shows the work
            return _say(rng, "work", work=step.expression, value=format_number(target))
        if roll_hint < self.hint_rate:
            return _say(rng, "hint")
        if target is None:
            return _say(rng, "ungraded")
        if roll_right < self.probability(state, idx):
            return _say(rng, "answer", value=format_number(target))
        work, value = self.wrong_answer(problem, step, target, rng)
        if work is not None:
            return _say(rng, "work", work=work, value=format_number(value))
        return _say(rng, "answer", value=format_number(value))


STUDENT_FAILED = "student_failed"
"""The end reason of a simulated dialogue whose student model failed (timed out, refused, unreachable)."""

SIMULATORS: dict[str, Callable[[State, Context], str]] = {
    "persona": simulate_student,
    "mathdial": mathdial_student,
    "probabilistic": ProbabilisticStudent(),
}
"""Simulated students by name (`Context.student_simulator` may name one)."""


def simulator_of(ctx: Context) -> Callable[[State, Context], str]:
    """The simulated student of a run: the context's callable or named simulator, else `simulate_student`."""
    chosen = getattr(ctx, "student_simulator", None)
    if chosen is None or chosen == "":
        return simulate_student
    if callable(chosen):
        return chosen
    if isinstance(chosen, str) and chosen in SIMULATORS:
        return SIMULATORS[chosen]
    raise DataError(
        f"unknown student simulator {chosen!r}",
        hint=f"use one of {', '.join(SIMULATORS)} or a callable (state, context) -> text",
    )


def student_turn(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Get the learner's next turn: wait for a human (interrupt) or ask the simulated student."""
    ctx = context_of(runtime, Context)
    check_owner(state.get("learner_id"), ctx.learner_id)
    if ctx.student_mode == "simulated":
        try:
            text = simulator_of(ctx)(state, ctx)
        except ModelError as exc:  # the dialogue so far is kept: it ends here, with the reason recorded
            return {"end_reason": STUDENT_FAILED, "student_error": redact(exc.one_line())[:300]}
    else:
        text = learner_text(interrupt({"type": "await_learner", "tutor": last_tutor_reply(state)}))
    return {"messages": [HumanMessage(content=text)], "turn_count": state.get("turn_count", 0) + 1}
