"""Diagnosis of a learner turn.

The deterministic CLASS category and answer verdict, the Bridge error type, and a model's optional refinement of
the soft labels (which never overrides correctness).
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from pedagraph.answers import check_answer, compare, find_numbers, format_number, normalize_text
from pedagraph.llm import ManagedChatModel
from pedagraph.problems import Problem, Step, steps_of
from pedagraph.prompts import render
from pedagraph.reveal import RevealGate, is_extraction_attempt
from pedagraph.structured import ask
from pedagraph.taxonomy import Diagnosis, ErrorType, Inquiry, StudentResponse
from pedagraph.visible import stated_values, visible_text

_HINT_RE = re.compile(r"\b(?:hints?|clues?|help|stuck|nudge|tip)\b")
_SOLUTION_RE = re.compile(
    r"\b(?:solutions?|(?:tell|give|show)\s+(?:me\s+)?(?:the\s+)?(?:answer|result)|solve\s+it|reveal|what(?:'s|\s+is)\s+"
    r"the\s+(?:final\s+)?(?:answer|result))\b"
)
GO_BACK_RE = re.compile(
    r"\b(?:go(?:ing)?\s+back|back\s+up|previous\s+(?:step|question|part)|last\s+step|earlier\s+step|undo|step\s+back)\b"
)
_DONT_KNOW_RE = re.compile(
    r"\b(?:(?:i\s+)?(?:don'?t|do\s+not|dont)\s+(?:know|get\s+it|understand)|no\s+idea|not\s+sure|idk|confused|"
    r"i\s+give\s+up|no\s+clue|lost)\b"
)
_STOPWORDS = frozenset(
    "the and for you your are was were what how why who when where which that this with have has had does did "
    "can could would should will about from into then than them they she her his him its it's i'm just like "
    "know think want get got okay yes not but all any some there here out one many much these those please "
    "really very also".split()
)
_QUESTION_START_RE = re.compile(
    r"^\s*(?:what|why|how|when|where|which|who|can|could|would|should|is|are|do|does|did|may)\b"
)
_NUM = r"\$?\d[\d,]*(?:\.\d+)?"
_EXPRESSION_RE = re.compile(rf"\(?\s*{_NUM}\s*\)?(?:\s*[-+*/x×÷]\s*\(?\s*{_NUM}\s*\)?)+")
_AST_OPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_OP_NAMES = {"+": "addition", "-": "subtraction", "*": "multiplication", "/": "division"}


class EvaluatorDiagnosis(BaseModel):
    """A model's structured diagnosis of one learner turn."""

    model_config = ConfigDict(title="Diagnosis")

    category: StudentResponse = Field(description="CLASS code a-g of the learner's turn.")
    error_type: ErrorType | None = Field(None, description="Bridge error type, when the learner made an error.")
    misconception: str = Field("", description="One sentence describing the misconception, or empty.")


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z']{2,}", normalize_text(text)) if w not in _STOPWORDS}


def _stem(word: str) -> str:
    return re.sub(r"(?:'s|s|es|ed|ing)$", "", word)


def detect_inquiry(text: str) -> Inquiry | None:
    """Return what the learner asks for (hint, solution, go back, "I don't know", another question), if anything."""
    norm = normalize_text(text)
    if GO_BACK_RE.search(norm):
        return "go_back"
    if _SOLUTION_RE.search(norm):
        return "solution"
    if _HINT_RE.search(norm):
        return "hint"
    if _DONT_KNOW_RE.search(norm):
        return "dont_know"
    if "?" in norm or _QUESTION_START_RE.match(norm):
        return "question"
    return None


def evaluate_expression(text: str) -> float | None:
    """Value of the plain arithmetic a learner wrote without its result (`80000+50000`, `9 x 2`), else None."""
    m = _EXPRESSION_RE.search(normalize_text(text))
    if not m:
        return None
    source = m.group(0).replace(",", "").replace("x", "*").replace("×", "*").replace("÷", "/").replace("$", "")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return None

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _AST_OPS:
            return _AST_OPS[type(node.op)](value(node.left), value(node.right))
        raise ValueError("not plain arithmetic")

    try:
        result = value(tree.body)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def is_off_topic(text: str, problem: Problem, step: Step) -> bool:
    """Whether a turn without a number is about something else: at most a quarter of its words are the problem's."""
    words = {_stem(w) for w in _content_words(text)}
    if len(words) < 2:
        return False
    topic = {_stem(w) for w in _content_words(f"{problem.question}\n{step.question}\n{step.solution_text}")}
    return len(words & topic) <= 0.25 * len(words)


def _alternatives(operands: list[float]) -> list[tuple[str, float]]:
    """Results of other operations on a step's operands: (operation name, value)."""
    out: list[tuple[str, float]] = []
    if len(operands) >= 2:
        out.append(("addition", sum(operands)))
        out.append(("multiplication", math.prod(operands)))
    for i, a in enumerate(operands):
        for j, b in enumerate(operands):
            if i == j:
                continue
            out.append(("subtraction", a - b))
            if b:
                out.append(("division", a / b))
    return out


def classify_error(value: float, step: Step, text: str) -> tuple[ErrorType | None, str]:
    """Guess the Bridge error type of a wrong number: misinterpret, careless or guess (with a description)."""
    expected = step.answer_value
    if expected is None:
        return None, ""
    operands = [m.value for m in find_numbers(step.expression or "")]
    used = {_OP_NAMES[c] for c in (step.expression or "") if c in _OP_NAMES}
    for name, alt in _alternatives(operands):
        if name not in used and compare(alt, value):
            return (
                ErrorType.MISINTERPRET,
                f"used {name} where the step needs {' and '.join(sorted(used)) or 'another operation'}",
            )
    if any(compare(value, o) for o in operands):
        return ErrorType.MISINTERPRET, "answered with a number from the question instead of computing the step"
    digits_v, digits_e = re.sub(r"\D", "", format_number(value)), re.sub(r"\D", "", format_number(expected))
    close = abs(value - expected) <= max(1.0, 0.1 * abs(expected))
    if (
        close
        or (len(digits_v) > 1 and sorted(digits_v) == sorted(digits_e))
        or compare(value, expected * 10)
        or compare(value * 10, expected)
    ):
        return ErrorType.CARELESS, "right method, slip in the arithmetic"
    if len(re.findall(r"[a-zA-Z]+", text)) <= 3:
        return ErrorType.GUESS, "gave a number without any working"
    return None, ""


def _incorrect(d: Diagnosis, value: float | None, problem: Problem, step_index: int, text: str) -> Diagnosis:
    """The diagnosis of a wrong number: partial (another step's result) or incorrect with its error type."""
    steps = steps_of(problem)
    update: dict = {"verdict": "incorrect", "value": value, "correct": False}
    number = float(value) if value is not None else math.nan
    others = [s.index for s in steps if s.index != step_index and compare(s.answer_value, number)]
    if others:
        return d.model_copy(update={**update, "category": StudentResponse.PARTIAL, "partial_step": others[0]})
    etype, desc = classify_error(number, steps[step_index], text)
    update["category"] = StudentResponse.INCORRECT
    if etype is not None:
        update.update(error_type=etype, misconception=desc)
    return d.model_copy(update=update)


def classify_turn(text: str, problem: Problem, step_index: int) -> Diagnosis:
    """Deterministic CLASS diagnosis of a learner turn against the current step and the final answer."""
    step = steps_of(problem)[step_index]
    d = Diagnosis(extraction=is_extraction_attempt(text))
    correct = {"category": StudentResponse.CORRECT, "verdict": "correct", "correct": True}
    if problem.final_value is not None and check_answer(text, problem.final_value).correct:
        return d.model_copy(update={**correct, "solved_final": True, "value": problem.final_value})
    check = check_answer(text, step.answer_value) if step.answer_value is not None else None
    if check is not None and check.correct:  # a right step answer counts, whatever else the turn asks
        return d.model_copy(update={**correct, "value": check.value})
    if d.extraction:
        return d.model_copy(update={"category": StudentResponse.INQUIRY, "inquiry": "solution"})
    if GO_BACK_RE.search(normalize_text(text)):
        return d.model_copy(update={"category": StudentResponse.INQUIRY, "inquiry": "go_back"})
    if check is not None and check.verdict == "incorrect":
        return _incorrect(d, check.value, problem, step_index, text)
    if check is not None and check.verdict == "ambiguous":
        return d.model_copy(update={"verdict": "ambiguous", "value": check.value})
    if check is None and find_numbers(text):
        d = d.model_copy(update={"value": find_numbers(text)[-1].value})  # nothing to check it against
    setup = evaluate_expression(text)
    if setup is not None and step.answer_value is not None and compare(setup, step.answer_value):
        # the right calculation, not worked out yet
        return d.model_copy(update={"category": StudentResponse.PARTIAL, "setup": True, "value": None})
    inquiry = detect_inquiry(text)
    if problem.has_steps and step.answer_value is None and text.strip() and inquiry is None:
        # a step without a numeric result cannot be checked: take the learner's turn and move on (ungraded)
        return d.model_copy(update={"category": StudentResponse.CORRECT, "verdict": "ungraded"})
    if inquiry is not None and inquiry != "question":
        return d.model_copy(update={"category": StudentResponse.INQUIRY, "inquiry": inquiry})
    if is_off_topic(text, problem, step):
        return d.model_copy(update={"category": StudentResponse.OFF_TOPIC})
    if inquiry == "question":
        return d.model_copy(update={"category": StudentResponse.INQUIRY, "inquiry": inquiry})
    return d


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
        if model.misconception.strip():
            update["misconception"] = model.misconception.strip()[:500]
    return rules.model_copy(update=update)
