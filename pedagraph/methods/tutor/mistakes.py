"""What a wrong answer shows: the learner's stated working compared with the step's, or the number alone.

With working ("150% of 130000 is 195000"): a right set-up with a slip in the arithmetic, the wrong operation on
the right numbers, the wrong number with the right operation (named by what it is: another step's result, a
number from the problem), or a percent used as a whole number. Without working: the other part of a whole (what
was used, not what is left), a percent or unit mix-up, another operation on the step's numbers, a number copied
from the problem, a near miss, or a bare guess. Each finding has a record for the learner model and feedback
for the reply, both in the learner's terms (`prompts/tutor/mistakes/`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pedagraph.answers import compare, find_numbers, format_number
from pedagraph.methods.tutor.working import OPERATIONS, Calculation, Working, same_operands
from pedagraph.problems import Problem, Step, steps_of
from pedagraph.prompts import render
from pedagraph.taxonomy import ErrorType

_RECORDS = {"op_number": "wrong_operation"}
"""Kinds of mistake recorded in the learner model as another kind (the same misconception, found another way)."""
UNIT_FACTORS = (60, 100, 1000, 12, 24, 7)
"""Factors between units a learner may mix up (minutes/hours, cents/dollars, grams/kilograms, months/years...)."""
_ERROR_TYPES = {
    "slip": ErrorType.CARELESS,
    "slip_final": ErrorType.CARELESS,
    "close": ErrorType.CARELESS,
    "wrong_operation": ErrorType.MISINTERPRET,
    "wrong_operand": ErrorType.MISINTERPRET,
    "other_part": ErrorType.MISINTERPRET,
    "from_question": ErrorType.MISINTERPRET,
    "op_number": ErrorType.MISINTERPRET,
    "percent": ErrorType.IMPRECISE,
    "percent_number": ErrorType.IMPRECISE,
    "unit": ErrorType.IMPRECISE,
    "guess": ErrorType.GUESS,
    "other_working": ErrorType.MISINTERPRET,
}


@dataclass(frozen=True)
class Mistake:
    """A diagnosed mistake: its kind, Bridge error type, a record for the learner model and feedback for the reply."""

    kind: str
    error_type: ErrorType
    record: str
    feedback: str


def merged_expression(step: Step) -> str:
    """The step's calculation with a percent written as `N / 100` or `N * .01` read as one number (60 / 100 -> 0.6)."""
    merged = re.sub(r"(\d+(?:\.\d+)?)\s*(?:/\s*100|\*\s*0?\.01)\b(?!\.)",
                    lambda m: format_number(float(m.group(1)) / 100), step.expression or "")  # fmt: skip
    return re.sub(r"\b0?\.01\s*\*\s*(\d+(?:\.\d+)?)", lambda m: format_number(float(m.group(1)) / 100), merged)


def step_operands(step: Step) -> tuple[float, ...]:
    """The numbers the step's calculation uses (a percent as its decimal)."""
    return tuple(m.value for m in find_numbers(merged_expression(step)))


def step_operations(step: Step) -> tuple[str, ...]:
    """The operations of the step's calculation, in order, without repeats (a percent's `/ 100` is not one)."""
    expression = merged_expression(step)
    return tuple(dict.fromkeys(OPERATIONS[c] for c in re.findall(r"(?<=[\d\s)])[-+*/](?=[\s\d(.])", expression)))


def is_final(problem: Problem, step: Step) -> bool:
    """Whether the step is the problem's last (its result is the final answer)."""
    return step.index == len(steps_of(problem)) - 1


def _mistake(kind: str, final: bool, **values: object) -> Mistake:
    """Render a mistake's record and feedback (on the final step neither names the operation it needs)."""
    name = kind
    if final and "needed" in values:
        name, values = f"{kind}_final", {**values, "needed": render("tutor/mistakes/needed_final").strip()}
    record = render(f"tutor/mistakes/{_RECORDS.get(kind, kind)}_record", **values).strip()
    return Mistake(kind, _ERROR_TYPES[kind], record, render(f"tutor/mistakes/{name}", **values).strip())


def _meaning(value: float, problem: Problem, step: Step) -> str:
    """What a number the learner used is, in the problem: another step's result, or a number from the problem."""
    for other in steps_of(problem):
        if other.index != step.index and compare(other.answer_value, value):
            return render("tutor/mistakes/meaning_step", question=other.question.rstrip("?")).strip()
    if any(compare(value, n) for n in problem.numbers()):
        return render("tutor/mistakes/meaning_problem").strip()
    return ""


def _from_calculation(calc: Calculation, shown: str, problem: Problem, step: Step) -> Mistake | None:
    """Compare one written calculation with the step's: slip, wrong operation, wrong number, percent mix-up."""
    expected, final = step.answer_value, is_final(problem, step)
    needed_ops, needed = step_operations(step), step_operands(step)
    if calc.value is not None and compare(calc.value, expected):
        # on the final step the set-up itself is the answer in another form: it is not repeated back
        return _mistake("slip_final" if final else "slip", final, calculation=calc.text, number=shown)
    used_ops = tuple(dict.fromkeys(calc.operations))
    if same_operands(calc.operands, needed) and set(used_ops) != set(needed_ops):
        return _mistake("wrong_operation", final, calculation=calc.text, used=" and ".join(used_ops),
                        needed=" and ".join(needed_ops))  # fmt: skip
    if set(used_ops) != set(needed_ops):
        return None
    strange = [x for x in calc.operands if not any(compare(x, y) for y in needed)]
    for x in strange:
        if any(compare(x / 100, y) for y in needed):
            return _mistake("percent", final, calculation=calc.text, whole=format_number(x),
                            fraction=format_number(x / 100))  # fmt: skip
    if len(strange) == 1:
        meaning = _meaning(strange[0], problem, step)
        return _mistake("wrong_operand", final, calculation=calc.text, operand=format_number(strange[0]),
                        meaning=f" ({meaning})" if meaning else "")  # fmt: skip
    return None


def _alternatives(operands: tuple[float, ...]) -> list[tuple[str, float]]:
    """Results of other operations on a step's numbers: (operation name, value)."""
    out: list[tuple[str, float]] = []
    if len(operands) >= 2:
        out += [("addition", sum(operands)), ("multiplication", math.prod(operands))]
    for i, a in enumerate(operands):
        for j, b in enumerate(operands):
            if i != j:
                out.append(("subtraction", a - b))
                if b:
                    out.append(("division", a / b))
    return out


def _from_number(value: float, shown: str, problem: Problem, step: Step) -> Mistake | None:
    """What a wrong number alone suggests: the other part, a percent or unit mix-up, another operation, a copy."""
    expected, final = step.answer_value or 0.0, is_final(problem, step)
    wholes = {1.0, 100.0, *step_operands(step), *problem.numbers()}
    wholes |= {s.answer_value for s in steps_of(problem) if s.index < step.index and s.answer_value is not None}
    if value > 0 and expected > 0 and any(compare(value + expected, w) for w in wholes):
        return _mistake("other_part", final, number=shown)
    if compare(value, expected * 100) or compare(value * 100, expected):
        return _mistake("percent_number", final, number=shown)
    for k in UNIT_FACTORS:
        if compare(value, expected * k) or compare(value * k, expected):
            return _mistake("unit", final, number=shown)
    needed_ops = set(step_operations(step))
    for name, alt in _alternatives(step_operands(step)):
        if name not in needed_ops and compare(alt, value):
            return _mistake("op_number", final, number=shown, used=name, needed=" and ".join(step_operations(step)))
    if any(compare(value, o) for o in problem.numbers()):
        return _mistake("from_question", final, number=shown)
    return None


def _near_miss(value: float, expected: float) -> bool:
    """A number close to the expected one: within 10%, the same digits reordered, or ten times off."""
    digits_v, digits_e = re.sub(r"\D", "", format_number(value)), re.sub(r"\D", "", format_number(expected))
    close = abs(value - expected) <= 0.1 * abs(expected) and abs(expected) >= 10
    return close or (len(digits_v) > 1 and sorted(digits_v) == sorted(digits_e)) or compare(value, expected * 10) \
        or compare(value * 10, expected)  # fmt: skip


def diagnose_mistake(value: float, shown: str, working: Working | None, problem: Problem, step: Step,
                     text: str) -> Mistake | None:  # fmt: skip
    """The mistake a wrong answer shows, from the learner's working when they gave any, else from the number."""
    if step.answer_value is None:
        return None
    calcs = list(working.calculations) if working is not None else []
    chosen = next((c for c in reversed(calcs) if compare(c.stated, value)), calcs[-1] if calcs else None)
    if chosen is not None:
        found = _from_calculation(chosen, shown, problem, step)
        return found or _mistake("other_working", is_final(problem, step), calculation=chosen.text)
    found = _from_number(value, shown, problem, step)
    if found is not None:
        return found
    if _near_miss(value, step.answer_value):
        return _mistake("close", is_final(problem, step), number=shown)
    if chosen is None and len(re.findall(r"[a-zA-Z]+", text)) <= 3:
        return _mistake("guess", is_final(problem, step), number=shown)
    return None
