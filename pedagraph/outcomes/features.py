"""What a simulated learner can take from a tutor's reply, read from its text alone (never the tutor's labels).

`read_reply(text, step, problem)` returns the `ReplyFeatures` of a reply about one step of a problem:

* `operation` — the reply names the step's operation, in words ("subtract", "times") or as a calculation's
  symbol (`methods.tutor.working.read_working`);
* `quantities` — the share of the step's operands (the numbers of its expression) that the reply names;
* `worked_example` — the reply shows a worked calculation: an expression with its result stated
  ("12 + 3 = 15"), whatever its numbers (a similar problem's counts too);
* `result_stated` — the reply states the step's own result (the learner can copy it without working);
* `final_stated` — the reply states the problem's final answer;
* `asks` — the reply asks the learner something (a question mark);
* `tokens` — the reply's length in word pieces (`count_tokens`).

Numbers that the problem statement itself prints are not counted as stated results (a reply quoting the
question gives nothing away).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from pedagraph.answers import compare, extract_numbers, find_numbers
from pedagraph.learning import OPERATION_SKILLS
from pedagraph.methods.tutor.working import read_working
from pedagraph.problems import Problem, Step

__all__ = ["ReplyFeatures", "count_tokens", "operations_in_order", "read_reply", "step_operations"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_NOUNS = {  # names of an operation that `read_working` (a learner's working) does not read
    "addition": re.compile(r"\b(?:addition|add up|total)\b", re.IGNORECASE),
    "subtraction": re.compile(r"\b(?:subtraction|take away|how many (?:are )?left|remain(?:s|ing|der)?)\b",
                              re.IGNORECASE),
    "multiplication": re.compile(r"\b(?:multiplication|multiply|lots of|groups of)\b", re.IGNORECASE),
    "division": re.compile(r"\b(?:division|divide|quotient|each gets?|per)\b", re.IGNORECASE),
}


_STEMS = {
    "addition": re.compile(r"\b(?:add|plus|sum|total)", re.IGNORECASE),
    "subtraction": re.compile(r"\b(?:subtract|minus|take away|took away|difference)", re.IGNORECASE),
    "multiplication": re.compile(r"\b(?:multipl|times|product|twice|double)", re.IGNORECASE),
    "division": re.compile(r"\b(?:divid|division|split|quotient|half|halve)", re.IGNORECASE),
}


def operations_in_order(text: str) -> list[str]:
    """The operations a text names, in the order it first names them ("subtracting instead of adding")."""
    found = [(m.start(), op) for op, pattern in _STEMS.items() if (m := pattern.search(text or ""))]
    return [op for _, op in sorted(found)]


def count_tokens(text: str) -> int:
    """Word pieces of a text (words and punctuation marks): one tokenizer for every policy and model."""
    return len(_TOKEN.findall(text or ""))


def step_operations(step: Step) -> tuple[str, ...]:
    """The operations of a step: from its expression, else its operation skill tags."""
    ops: tuple[str, ...] = ()
    if step.expression:
        ops = read_working(step.expression).operations
    return ops or tuple(s for s in step.skills if s in OPERATION_SKILLS)


@dataclass(frozen=True)
class ReplyFeatures:
    """What one reply offers a learner about one step (see the module docstring)."""

    operation: bool = False
    quantities: float = 0.0
    worked_example: bool = False
    result_stated: bool = False
    final_stated: bool = False
    asks: bool = False
    tokens: int = 0

    def dump(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _states(numbers: list[float], value: float | None, given: list[float]) -> bool:
    if value is None or any(compare(value, g) for g in given):
        return False
    return any(compare(value, n) for n in numbers)


def read_reply(text: str, step: Step | None, problem: Problem) -> ReplyFeatures:
    """The features of a reply about `step` of `problem` (all False for an empty reply or a step-less problem)."""
    text = text or ""
    if not text.strip():
        return ReplyFeatures()
    working = read_working(text)
    numbers = extract_numbers(text)
    given = extract_numbers(problem.question)
    final = _states(numbers, problem.final_value, given)
    asks = "?" in text
    example = any(c.stated is not None and c.value is not None and compare(c.value, c.stated)
                  for c in working.calculations)  # fmt: skip
    if step is None:
        return ReplyFeatures(worked_example=example, final_stated=final, asks=asks, tokens=count_tokens(text))
    ops = step_operations(step)
    named_ops = set(working.operations) | {op for op, pattern in _NOUNS.items() if pattern.search(text)}
    operation = bool(ops) and any(op in named_ops for op in ops)
    operands = [m.value for m in find_numbers(step.expression or "")]
    named = sum(1 for v in operands if any(compare(v, n) for n in numbers))
    quantities = named / len(operands) if operands else 0.0
    result = step.answer_value is not None and any(compare(step.answer_value, n) for n in numbers)
    if result and any(compare(step.answer_value, g) for g in given):
        result = False  # the problem prints it: saying it tells nothing
    return ReplyFeatures(
        operation=operation,
        quantities=round(quantities, 4),
        worked_example=example,
        result_stated=result,
        final_stated=final,
        asks=asks,
        tokens=count_tokens(text),
    )
