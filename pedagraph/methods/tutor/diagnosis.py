"""Diagnosis of a learner turn.

The deterministic CLASS category and answer verdict, the Bridge error type, and a model's optional refinement of
the soft labels (which never overrides correctness).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from pedagraph.answers import check_answer, compare, find_numbers, format_number, normalize_text
from pedagraph.llm import ManagedChatModel
from pedagraph.methods.tutor.acts import (
    DONT_KNOW_RE,
    GO_BACK_RE,
    HINT_RE,
    SOLUTION_RE,
    ActReading,
    act_as,
    is_question,
    learner_form,
    looks_like_code,
    offered_outside_request,
    read_act,
)
from pedagraph.methods.tutor.mistakes import diagnose_mistake
from pedagraph.methods.tutor.working import read_working
from pedagraph.problems import Problem, Step, steps_of
from pedagraph.prompts import render
from pedagraph.reveal import RevealGate, is_extraction_attempt
from pedagraph.structured import ask
from pedagraph.taxonomy import (
    GRADED_ACTS,
    Diagnosis,
    DialogueAct,
    ErrorType,
    Greeting,
    Inquiry,
    StudentResponse,
    learner_words,
)
from pedagraph.visible import stated_values, visible_text

_THANKS_RE = re.compile(r"\b(?:thanks?|thx|ty)\b")
_HELLO_RE = re.compile(r"\b(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening))\b")
_BYE_RE = re.compile(r"\b(?:bye|goodbye|see you)\b")


class EvaluatorDiagnosis(BaseModel):
    """A model's structured diagnosis of one learner turn."""

    model_config = ConfigDict(title="Diagnosis")

    category: StudentResponse = Field(description="CLASS code a-g of the learner's turn.")
    act: DialogueAct | None = Field(None, description="What the learner's message does (dialogue act).")
    error_type: ErrorType | None = Field(None, description="Bridge error type, when the learner made an error.")
    misconception: str = Field("", description="One sentence describing the misconception, or empty.")


def detect_inquiry(text: str) -> Inquiry | None:
    """What the learner asks for (hint, solution, go back, "I don't know", another question), if anything."""
    norm = normalize_text(text)
    if GO_BACK_RE.search(norm):
        return "go_back"
    if SOLUTION_RE.search(norm):
        return "solution"
    if HINT_RE.search(norm):
        return "hint"
    if DONT_KNOW_RE.search(norm):
        return "dont_know"
    return "question" if is_question(text) else None


def evaluate_expression(text: str) -> float | None:
    """Value of the plain arithmetic a learner wrote without its result (`80000+50000`, `9 x 2`), else None."""
    last = read_working(text).last
    return last.value if last is not None else None


def greeting_of(text: str) -> Greeting:
    """Which kind of greeting a message is: thanks, hello, goodbye or a plain acknowledgement."""
    norm = normalize_text(text)
    if _THANKS_RE.search(norm):
        return "thanks"
    if _BYE_RE.search(norm):
        return "bye"
    return "hello" if _HELLO_RE.search(norm) else "ok"


_INQUIRIES: dict[str, Inquiry] = {
    "answer_request": "solution", "hint_request": "hint", "dont_know": "dont_know", "go_back": "go_back",
    "problem_question": "question", "course_question": "question", "meta": "question",
}  # fmt: skip


def _wrong(d: Diagnosis, reading: ActReading, problem: Problem, step: Step, text: str) -> Diagnosis:
    """The diagnosis of a wrong number: another step's result (partial), or incorrect with what the working shows."""
    value = float(reading.value) if reading.value is not None else math.nan
    shown = reading.value_text or format_number(value)
    update: dict = {"verdict": "incorrect", "value": reading.value, "value_text": shown, "correct": False}
    others = [s.index for s in steps_of(problem) if s.index != step.index and compare(s.answer_value, value)]
    last = reading.working.last if reading.working is not None else None
    if others and not (last is not None and compare(last.value, step.answer_value)):  # not a slip in a right set-up
        return d.model_copy(update={**update, "category": StudentResponse.PARTIAL, "partial_step": others[0]})
    mistake = diagnose_mistake(value, shown, reading.working, problem, step, text)
    update["category"] = StudentResponse.INCORRECT
    said = [c.text for c in reading.working.calculations] if reading.working is not None else []
    if mistake is not None and not all(withholds_results(_without(t, said), problem, step)
                                       for t in (mistake.record, mistake.feedback)):  # fmt: skip
        mistake = None  # what the learner would read states a result: say nothing about the mistake
    if mistake is not None:
        update.update(error_type=mistake.error_type, misconception=mistake.record, feedback=mistake.feedback or None)
    return d.model_copy(update=update)


def _without(text: str, calculations: list[str]) -> str:
    """`text` without the learner's own calculations (echoing what they wrote tells them nothing new)."""
    for calc in calculations:
        text = text.replace(calc, "…")
    return text


def _setup(d: Diagnosis, reading: ActReading, problem: Problem, step: Step) -> Diagnosis:
    """A calculation without its result: the right one is confirmed; a wrong one gets feedback, ungraded."""
    calc = reading.working.last if reading.working is not None else None
    if calc is None or step.answer_value is None:
        return d
    if compare(calc.value, step.answer_value):
        return d.model_copy(update={"category": StudentResponse.PARTIAL, "setup": True, "value": None})
    mistake = diagnose_mistake(calc.value if calc.value is not None else math.nan, calc.text, reading.working,
                               problem, step, "")  # fmt: skip
    feedback = mistake.feedback if mistake is not None and mistake.kind != "slip" else None
    return d.model_copy(update={"category": StudentResponse.INCORRECT, "feedback": feedback or None})


def _correct_answer(text: str, problem: Problem, step: Step) -> Diagnosis | None:
    """A right answer to the problem or to the step, when the message states one (it counts whatever else it asks)."""
    correct = {"category": StudentResponse.CORRECT, "verdict": "correct", "correct": True}
    if problem.final_value is not None and check_answer(text, problem.final_value).correct:
        shown = learner_form(text, problem.final_value)
        return Diagnosis(**correct, solved_final=True, value=problem.final_value, value_text=shown)
    check = check_answer(text, step.answer_value) if step.answer_value is not None else None
    if check is not None and check.correct and check.value is not None:
        return Diagnosis(**correct, value=check.value, value_text=learner_form(text, check.value))
    return None


def _by_act(d: Diagnosis, reading: ActReading, problem: Problem, step: Step, text: str) -> Diagnosis:
    """The CLASS category of a turn that is not a right answer, from its dialogue act."""
    act = reading.act
    if act in GRADED_ACTS and reading.value is not None:
        return _wrong(d, reading, problem, step, text)
    if problem.has_steps and step.answer_value is None and act in ("attempt", "working", "setup", "method"):
        # a step without a numeric result cannot be checked: take the learner's turn and move on (ungraded)
        return d.model_copy(update={"category": StudentResponse.CORRECT, "verdict": "ungraded"})
    if act == "setup":
        return _setup(d, reading, problem, step)
    if act == "guess":
        if d.extraction:
            return d.model_copy(update={"category": StudentResponse.INQUIRY, "inquiry": "solution"})
        return d.model_copy(update={"verdict": "ambiguous", "value": reading.value})
    if act in _INQUIRIES:
        return d.model_copy(update={"category": StudentResponse.INQUIRY, "inquiry": _INQUIRIES[act]})
    if act == "off_topic":
        return d.model_copy(update={"category": StudentResponse.OFF_TOPIC})
    if act == "greeting":
        return d.model_copy(update={"category": StudentResponse.NOT_APPLICABLE, "greeting": greeting_of(text)})
    return d


def classify_turn(text: str, problem: Problem, step_index: int, *, context: Sequence[str] = (),
                  act: DialogueAct | None = None) -> Diagnosis:  # fmt: skip
    """Deterministic CLASS diagnosis of a learner turn: its dialogue act first, then a check of attempts only.

    A right answer (to the step or the whole problem) counts whenever the message offers it, even with a
    request ("18, can I have the next one?"); a question is never graded, whatever numbers it quotes. `context`
    is the tutor's recent replies (numbers it quoted are not offered answers); `act` imposes an act (the
    evaluator model's reading), which changes what is graded but never how.
    """
    step = steps_of(problem)[step_index]
    reading = read_act(text, problem, step, context) if act is None else act_as(act, text, problem, step)
    working = reading.working.dump() if reading.working is not None and reading.working.shown else None
    base = Diagnosis(extraction=is_extraction_attempt(text), act=reading.act, working=working, meta=reading.meta)
    offered = reading.act in GRADED_ACTS or (
        reading.act in ("answer_request", "go_back") and not looks_like_code(text) and offered_outside_request(text)
    )
    if offered:
        right = _correct_answer(text, problem, step)
        if right is not None:
            act_now = reading.act if reading.act in GRADED_ACTS else "attempt"
            return right.model_copy(update={"extraction": base.extraction, "act": act_now, "working": working})
    if reading.act not in GRADED_ACTS and reading.value is not None and reading.act != "guess":
        base = base.model_copy(update={"value": reading.value})
    return _by_act(base, reading, problem, step, text)


def evaluator_diagnosis(
    model: ManagedChatModel, problem: Problem, step: Step, text: str, rules: Diagnosis
) -> EvaluatorDiagnosis | None:
    """Ask the evaluator model for its diagnosis of a turn (None when it fails: the rules' diagnosis stands)."""
    prompt = render(
        "tutor/diagnose",
        problem=problem.question,
        step_question=step.question,
        step_answer=step.answer or "unknown",
        verdict=rules.verdict,
        act=rules.act or "unclear",
        learner=text,
    )
    result = ask(model, EvaluatorDiagnosis, prompt, node="diagnose")
    if result is not None and result.misconception and not withholds_results(result.misconception, problem, step):
        # the learner record is shown to the learner: a sentence that states the result is dropped
        result = result.model_copy(update={"misconception": ""})
    return result


def withholds_results(text: str, problem: Problem, step: Step) -> bool:
    """Whether a text learners will see states neither the step's result nor the final answer, in any form."""
    secrets = [v for v in (step.answer_value, problem.final_value) if v is not None]
    seen = visible_text(text)
    values = [m.value for m in find_numbers(seen)] + [v for _text, v in stated_values(text)]
    if any(compare(v, secret) for v in values for secret in secrets):
        return False
    gate = RevealGate.for_problem(problem) if problem.final_value is not None else None
    return gate is None or not gate.check(text).blocked


def merge_diagnosis(rules: Diagnosis, model: EvaluatorDiagnosis | None) -> Diagnosis:
    """Add a model's diagnosis to the rules' one; it never overrides a deterministic correctness verdict."""
    if model is None:
        return rules
    update: dict = {"source": "rules+evaluator"}
    soft = {StudentResponse.AMBIGUOUS, StudentResponse.OFF_TOPIC}
    if rules.category in soft and model.category in soft | {StudentResponse.INQUIRY}:
        update["category"] = model.category
        if model.category == StudentResponse.INQUIRY and not rules.inquiry:
            update["inquiry"] = "question"
    if rules.category in (StudentResponse.INCORRECT, StudentResponse.PARTIAL) and not rules.setup:
        if model.error_type is not None:
            update["error_type"] = model.error_type
        if model.misconception.strip():  # a model's sentence is for teachers; the learner sees the taxonomy's words
            update["misconception_note"] = model.misconception.strip()[:500]
            error_type = update.get("error_type") or rules.error_type
            if not rules.misconception and error_type is not None:
                update["misconception"] = learner_words(str(error_type))
    return rules.model_copy(update=update)


def refine_diagnosis(rules: Diagnosis, model: EvaluatorDiagnosis | None, text: str, problem: Problem,
                     step_index: int, context: Sequence[str] = ()) -> Diagnosis:  # fmt: skip
    """A real evaluator's reading on top of the rules': its act may change what is graded, never how.

    A number the model reads as a question is not graded; a question it reads as an attempt is checked; a right
    answer stays a right answer.
    """
    if model is None:
        return rules
    d = rules
    if model.act is not None and model.act != rules.act and rules.verdict != "correct":
        d = classify_turn(text, problem, step_index, context=context, act=model.act)
    return merge_diagnosis(d, model)
