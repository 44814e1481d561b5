"""The CLASS tutoring policy: from a diagnosis and the session's progress to a tutor move, and the reveal rules.

Per learner turn on the current step (Sonkar et al. 2023; methods.md §4), after the turn's dialogue act was read:

* b correct: affirm and ask the next step's question (state y), or close the problem (z);
* a incorrect: 1st failed attempt: say what the working shows (the diagnosed mistake) or probe (ask how they got
  their number, echoed in their own form); later: the hint ladder (`ladder.py`: concept, quantities, operation,
  worked example, set-up), led by what the working shows. From the 2nd failed attempt the Theory-of-Mind
  decision may replace that move with one explanation of the step's method while the explanation budget lasts.
  After `step_tell_after` failures on a non-final step its result is told and the tutor moves on (action 2); on
  the final step the answer is told only as the reveal policy allows (`after_attempts`);
* c partial: a number that is another step's result gets an acknowledgement and the next hint; the right
  calculation written without its result is confirmed ("what does it come to?"), and so is the right method;
* d ambiguous: ask to clarify (one number, please); e off-topic: redirect; g greeting: answer it, carry on;
* f inquiry: a hint request or "I don't know" climbs the ladder (past its top, a non-final step is told); a
  request for the answer, a comparison or an extraction attempt is refused with the next hint unless the policy
  allows the answer (`on_request`); go back -> previous step; a question is answered from the glossary (the
  graph answers from course material first) or pointed at the problem; a question about the session is
  answered (the next problem comes once this one is finished).

No wording is said twice in a problem's conversation: every reply is chosen among variants, and the ladder's
worked examples are always fresh (`said` holds the replies so far; `shown` is the reveal gate).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pedagraph.answers import format_number
from pedagraph.errors import PedagraphError
from pedagraph.learner import LearnerModel
from pedagraph.llm import ManagedChatModel
from pedagraph.llm.usage import asking_from
from pedagraph.methods.tom.mental_model import decide_intervention
from pedagraph.methods.tutor.ladder import ladder_hint, method_of
from pedagraph.methods.tutor.mistakes import is_final, step_operations
from pedagraph.methods.tutor.questions import question_move
from pedagraph.methods.tutor.replies import pick_variant, sentence, template, variants
from pedagraph.problems import Problem, Step, steps_of
from pedagraph.structured import record_fallback
from pedagraph.taxonomy import Diagnosis, StudentResponse, SubproblemState, TutorAction, TutorMove

LADDER_KINDS = {1: "hint", 2: "hint", 3: "hint", 4: "example", 5: "strategy"}
"""The move kind of each rung of the hint ladder."""


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
Shown = Callable[[str], bool]
"""Whether a text may reach the learner now (the reveal gate against the conversation so far)."""


@dataclass(frozen=True)
class Turn:
    """What a move is chosen from: the problem, the diagnosis, progress, the replies said so far, the gate."""

    problem: Problem
    diagnosis: Diagnosis
    progress: Progress
    said: Sequence[str] = ()
    shown: Shown = lambda _text: True

    @property
    def step(self) -> Step:
        """The current step."""
        return steps_of(self.problem)[self.progress.step_index]

    @property
    def last(self) -> bool:
        """Whether the current step is the problem's last."""
        return is_final(self.problem, self.step)


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
    policy: TutorPolicy, learner: LearnerModel, step: Step, budget_used: int, teacher: ManagedChatModel | None,
    problem: Problem | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The Theory-of-Mind explain-or-not decision for a step (Saha et al. 2023), JSON-ready.

    `teacher` (a real model) simulates the learner when the policy asks for the `llm` simulator; without one,
    or when it fails, the decision is made from BKT mastery.
    """
    budget_left = max(0, policy.explanation_budget - budget_used)
    kwargs: dict[str, Any] = {"budget_left": budget_left, "threshold": policy.tom_threshold}
    if policy.tom_simulator == "llm" and teacher is not None:
        llm = {"simulator": "llm", "model": teacher, "question": step.question, "answer": step.answer}
        try:
            explanation = method_of(step, problem)
            with asking_from(TOM_NODE):
                decision = decide_intervention(learner, list(step.skills), **kwargs, **llm, explanation=explanation)
            return decision.to_dict()
        except PedagraphError:
            record_fallback(teacher, TOM_NODE)  # the simulating model failed: decide from mastery instead
    return decide_intervention(learner, list(step.skills), **kwargs).to_dict()


def _say(turn: Turn, lead: str, question: str | None = None) -> dict[str, str]:
    """Values of a reply made of a lead paragraph and the step's question."""
    return {"lead": lead.strip(), "question": question if question is not None else turn.step.question}


def _correct(turn: Turn) -> TutorMove:
    steps, idx, d = steps_of(turn.problem), turn.progress.step_index, turn.diagnosis
    if d.solved_final or idx == len(steps) - 1:
        answer = d.value_text or turn.problem.final_answer or format_number(d.value or 0)
        values = {"answer": answer, "next": ""}
        return TutorMove.make("affirm_done", d.category, idx, "affirm_done", values, sub_state=SubproblemState.DONE)
    values = {"question": steps[idx + 1].question, "number": d.value_text or format_number(d.value or 0)}
    if not any("well done! next step:" in s.lower() for s in turn.said):
        return TutorMove.make("affirm_next", d.category, idx + 1, "affirm_next", values,
                              sub_state=SubproblemState.FINISHED)  # fmt: skip
    lead = pick_variant("tutor/templates/affirm_next_again", turn.said, start=idx, **values)
    return TutorMove.make("affirm_next", d.category, idx + 1, "reply_with_question", {"lead": lead, "question": ""},
                          sub_state=SubproblemState.FINISHED)  # fmt: skip


def _reveal(problem: Problem, cat: StudentResponse, action: TutorAction, question: str) -> TutorMove:
    last = len(steps_of(problem)) - 1
    solution = " ".join(sentence(line) for line in problem.solution.splitlines() if line.strip()) or question
    values = {"answer": problem.final_answer, "solution": solution, "next": ""}
    return TutorMove.make("reveal", cat, last, "reveal", values, sub_state=SubproblemState.DONE, action=action,
                          reveal=True)  # fmt: skip


def _climb(turn: Turn, opening: str, action: TutorAction | None, kind: str | None = None) -> TutorMove:
    """The next rung of the hint ladder on the current step, led by `opening`."""
    level = turn.progress.hint_level[turn.progress.step_index] + 1
    said = list(turn.said)
    hint = ladder_hint(turn.problem, turn.step, level, said, turn.shown)
    move_kind = kind or LADDER_KINDS.get(hint.rung, "hint")
    return TutorMove.make(move_kind, turn.diagnosis.category, turn.step.index, "reply_with_question",
                          _say(turn, f"{opening} {hint.text}"), action=action, hint_level=level)  # fmt: skip


def _tell_step(turn: Turn, action: TutorAction, **extra: Any) -> TutorMove:
    """Tell a non-final step's worked result and move on to the next step (CLASS action 2)."""
    steps, idx = steps_of(turn.problem), turn.progress.step_index
    method = re.sub(r"^(?:so|thus|therefore|hence|then|and)\b,?\s*", "", turn.step.solution_text.strip(), flags=re.I)
    values = {"method": sentence(method[:1].upper() + method[1:]), "value": turn.step.answer,
              "question": steps[idx + 1].question}  # fmt: skip
    return TutorMove.make("correction", turn.diagnosis.category, idx + 1, "correction", values,
                          sub_state=SubproblemState.FINISHED, action=action, told_step=idx, **extra)  # fmt: skip


def _first_wrong(turn: Turn) -> TutorMove:
    """The first wrong answer on a step: what the working shows, else a probe about the learner's own number."""
    d, idx = turn.diagnosis, turn.progress.step_index
    number = d.value_text or (format_number(d.value) if d.value is not None else "")
    if d.feedback:
        opening = pick_variant("tutor/openings/wrong", turn.said, start=len(turn.said))
        values = {**_say(turn, f"{opening} {d.feedback}"), "number": number}
        return TutorMove.make("probe", d.category, idx, "reply_with_question", values)
    name = "tutor/templates/probe" if number else "tutor/templates/probe_no_number"
    lead = pick_variant(name, turn.said, start=len(turn.said), number=number)
    return TutorMove.make("probe", d.category, idx, "reply_with_question", {"lead": lead, "question": "",
                                                                           "number": number})  # fmt: skip


def _mistake(turn: Turn, policy: TutorPolicy, decide: Decide | None) -> TutorMove:
    """Incorrect or partial: reveal or tell when the rules say so, else feedback / probe / the ladder / explain."""
    d, progress, idx = turn.diagnosis, turn.progress, turn.progress.step_index
    partial = d.category == StudentResponse.PARTIAL
    after_failures = TutorAction.SOLUTION_AFTER_FAILURES_PARTIAL if partial else TutorAction.SOLUTION_AFTER_FAILURES
    attempts = progress.attempts[idx]
    if turn.last and policy.reveal_policy == "after_attempts" and reveal_permitted(progress, policy, d)[0]:
        return _reveal(turn.problem, d.category, after_failures, turn.step.question)
    if not turn.last and attempts >= policy.step_tell_after:
        return _tell_step(turn, after_failures)
    decision = decide(turn.step) if decide is not None else None
    if partial:
        number = d.value_text or format_number(d.value or 0)
        opening = pick_variant("tutor/openings/partial", turn.said, start=attempts, number=number)
        move = _climb(turn, opening, None, kind="partial")
    elif attempts <= 1:
        move = _first_wrong(turn)
    else:
        opening = d.feedback or pick_variant("tutor/openings/wrong", turn.said, start=attempts)
        move = _climb(turn, opening, None)
    if decision is not None and decision["explain"] and attempts >= 2 and not progress.explained[idx]:
        method = method_of(turn.step, turn.problem)
        move = TutorMove.make("explain", d.category, idx, "explain", {"method": method, "question": turn.step.question},
                              action=move.action, explanation=method, spends_budget=True)  # fmt: skip
    return move.model_copy(update={"intervention": decision})


def _refuse(turn: Turn, policy: TutorPolicy) -> TutorMove:
    """A request for the answer (or a comparison, or an extraction attempt): the answer if allowed, else a hint."""
    d = turn.diagnosis
    if reveal_permitted(turn.progress, policy, d)[0]:
        return _reveal(turn.problem, d.category, TutorAction.SOLUTION_ON_REQUEST, turn.step.question)
    name = "tutor/openings/guess" if d.act == "guess" else "tutor/openings/refuse"
    opening = pick_variant(name, turn.said, start=turn.progress.hint_level[turn.progress.step_index])
    move = _climb(turn, opening, TutorAction.HINT_ON_REQUEST, kind="refuse")
    return move.model_copy(update={"refused": True})


def _help(turn: Turn) -> TutorMove:
    """A hint request or "I don't know": the next rung; past the top, a non-final step is told."""
    d, level = turn.diagnosis, turn.progress.hint_level[turn.progress.step_index]
    if level >= 5 and not turn.last:
        return _tell_step(turn, TutorAction.SOLUTION_AFTER_FAILURES)
    name = "tutor/openings/dont_know" if d.inquiry == "dont_know" else "tutor/openings/hint"
    return _climb(turn, pick_variant(name, turn.said, start=level), TutorAction.HINT_ON_REQUEST)


def _session(turn: Turn) -> TutorMove:
    """A question about the session during a problem: who the tutor is, the worked solution, the next problem."""
    d, idx = turn.diagnosis, turn.progress.step_index
    notice = notice_once(turn.said)
    if d.meta == "about_tutor":
        return TutorMove.make("inquiry", d.category, idx, "about_tutor", {"notice": notice and f" {notice}",
                                                                          "question": turn.step.question})  # fmt: skip
    values = {"step": idx + 1, "steps": len(steps_of(turn.problem)), "question": turn.step.question}
    return TutorMove.make("inquiry", d.category, idx, "next_first", values)


def _inquiry(turn: Turn, policy: TutorPolicy, text: str) -> TutorMove:
    d, idx, steps = turn.diagnosis, turn.progress.step_index, steps_of(turn.problem)
    if d.inquiry == "solution" or d.meta == "review_solution":
        return _refuse(turn, policy)
    if d.inquiry in ("hint", "dont_know"):
        return _help(turn)
    if d.inquiry == "go_back":
        if idx == 0:
            return TutorMove.make("go_back", d.category, 0, "go_back_first", {"question": turn.step.question})
        return TutorMove.make("go_back", d.category, idx - 1, "go_back", {"question": steps[idx - 1].question})
    if d.act == "meta":
        return _session(turn)
    return question_move(turn.problem, turn.step, d, text, notice_once(turn.said), turn.shown)


def notice_once(said: Sequence[str], name: str = "scripted_notice") -> str:
    """A scripted-model notice (with a trailing space), unless it was said already in this conversation."""
    notice = template(name)
    return "" if any(notice in s for s in said) else f"{notice} "


def _other(turn: Turn, text: str) -> TutorMove:
    """Greetings, a method in words, off-topic talk and unclear turns."""
    d, idx, question = turn.diagnosis, turn.progress.step_index, turn.step.question
    if d.act == "greeting":
        lead = pick_variant(f"tutor/openings/{d.greeting or 'ok'}", turn.said)
        return TutorMove.make("greet", d.category, idx, "reply_with_question", _say(turn, lead))
    if d.act == "method" and d.working is not None:
        used = [op for op in d.working.get("operations", []) if op in step_operations(turn.step)]
        if used:
            lead = pick_variant("tutor/templates/method_right", turn.said, operation=used[0])
            return TutorMove.make("setup", StudentResponse.PARTIAL, idx, "reply_with_question", _say(turn, lead))
        opening = pick_variant("tutor/openings/method_wrong", turn.said, operation=d.working["operations"][0])
        return _climb(turn, opening, None)
    if d.category == StudentResponse.OFF_TOPIC:
        notice = notice_once(turn.said)
        values = {"notice": notice and f" {notice.strip()}", "question": question}
        return TutorMove.make("redirect", d.category, idx, "redirect", values, variant=_fresh_index(turn, "redirect",
                                                                                                   values))  # fmt: skip
    name = "clarify_guess" if d.verdict == "ambiguous" else "clarify"
    values = {"question": question}
    return TutorMove.make("clarify", StudentResponse.AMBIGUOUS, idx, name, values,
                          variant=_fresh_index(turn, name, values))  # fmt: skip


def _fresh_index(turn: Turn, name: str, values: dict[str, Any]) -> int:
    """The index of the first variant of a reply template not said yet (0 when all were)."""
    options = variants(f"tutor/templates/{name}", **values)
    chosen = pick_variant(f"tutor/templates/{name}", turn.said, start=len(turn.said), **values)
    return options.index(chosen)


def choose_move(
    *, problem: Problem, diagnosis: Diagnosis, progress: Progress, policy: TutorPolicy, decide: Decide | None = None,
    said: Sequence[str] = (), shown: Shown | None = None, text: str = "",
) -> TutorMove:  # fmt: skip
    """The deterministic CLASS policy: from the diagnosis, attempts and hint level to a tutor move.

    `said` is the tutor's replies so far in this problem (no wording is used twice), `shown` the reveal gate's
    check of a text against the conversation, `text` the learner's message (for answering questions).
    """
    turn = Turn(problem, diagnosis, progress, said, shown or (lambda _text: True))
    cat = diagnosis.category
    if diagnosis.needs_working:  # guessed too often in a row: the working first, then the value is confirmed
        number = diagnosis.value_text or format_number(diagnosis.value or 0)
        question = steps_of(problem)[progress.step_index].question
        return TutorMove.make("clarify", cat, progress.step_index, "ask_working", {"number": number,
                              "question": question})  # fmt: skip
    if cat == StudentResponse.CORRECT:
        return _correct(turn)
    if cat == StudentResponse.PARTIAL and diagnosis.setup:
        lead = pick_variant("tutor/templates/setup_right", said, start=len(said))
        return TutorMove.make("setup", cat, progress.step_index, "reply_with_question", {"lead": lead, "question": ""})
    if cat in (StudentResponse.INCORRECT, StudentResponse.PARTIAL):
        if diagnosis.verdict != "incorrect" and diagnosis.feedback and progress.attempts[progress.step_index] <= 1:
            return _first_wrong(turn)  # a wrong set-up without a result
        return _mistake(turn, policy, decide)
    if cat == StudentResponse.INQUIRY:
        return _inquiry(turn, policy, text)
    return _other(turn, text)
