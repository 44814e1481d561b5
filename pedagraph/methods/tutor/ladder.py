"""The CLASS hint ladder: each further hint on a step gives a little more, and never the same words twice.

Rungs, in order (Sonkar et al. 2023, escalation "hints first"; methods.md §4): 1 a conceptual nudge (what kind of
step it is, no numbers), 2 the relevant quantities (quoted from the problem, or earlier results), 3 the operation
(with its numbers, except on the final step), 4 a similar worked example with other numbers, 5 the step's set-up
without its result (on the final step only its first amount and the operation: a final-step hint never names
both amounts and the operation together). Past the top, fresh worked examples follow. Each rung has several
wordings (`prompts/tutor/ladder/`, variants separated by `---`); the first one not already said in the session is
used, and a worked example with new numbers is always fresh.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pedagraph.answers import NumberMatch, compare, evaluate_arithmetic, find_numbers, format_number, normalize_text
from pedagraph.methods.tutor.mistakes import is_final, step_operands, step_operations
from pedagraph.methods.tutor.replies import fresh_variant, is_fresh, pick_variant, sentence, template, variants
from pedagraph.problems import Problem, Step, steps_of, without_result
from pedagraph.prompts import render

RUNGS = ("concept", "quantities", "operation", "example", "setup")
"""The rungs of the ladder, from the least to the most help."""
_VERBS = {"addition": "add", "subtraction": "subtract", "multiplication": "multiply by", "division": "divide by"}
_SYMBOLS = {"addition": "+", "subtraction": "-", "multiplication": "*", "division": "/"}
_DELTAS = (1, 2, 3, 4, -1, 5, 6, -2, 7, 8, 9, 10, -3, 11, 12)
_CLAUSE_END = re.compile(r"[.;:?!](?:\s|$)|,(?!\d)|\n")


@dataclass(frozen=True)
class Hint:
    """One hint of the ladder: its rung (1-5; 4 for the examples past the top) and its words."""

    rung: int
    text: str


def rung_of(level: int) -> int:
    """The rung a hint level asks for (levels past the top ask for fresh worked examples)."""
    return min(max(level, 1), len(RUNGS)) if level <= len(RUNGS) else 4


def idea_of(step: Step) -> str:
    """Which conceptual nudge fits a step: percentages, fractions, else its main operation."""
    ops = step_operations(step)
    if any(0 < v < 1 for v in step_operands(step)) and "percentages" in step.skills and "multiplication" in ops:
        return "percentages"
    if "fractions" in step.skills and set(ops) & {"division", "multiplication"}:
        return "fractions"
    return ops[-1] if ops else "general"


def _phrase(problem: Problem, value: float) -> str | None:
    """The words of the problem around a number (“eats three for breakfast”), for pointing at a quantity."""
    text = problem.question
    norm = normalize_text(text)
    source = text if len(norm) == len(text) else norm
    for m in find_numbers(text):
        if not any(compare(v, value) for v in (*m.values, m.value / 100)):
            continue
        before = [b.end() for b in _CLAUSE_END.finditer(norm, 0, m.start)]
        after = _CLAUSE_END.search(norm, m.end)
        words_before = source[before[-1] if before else 0 : m.start].split()[-4:]
        words_after = source[m.end : after.start() if after else len(norm)].split()[:4]
        return f"“{' '.join([*words_before, source[m.start : m.end], *words_after])}”"
    return None


def quantities_of(problem: Problem, step: Step) -> str:
    """The amounts a step uses, in words: quoted from the problem, or the learner's earlier results."""
    parts: list[str] = []
    for value in step_operands(step):
        earlier = next((s for s in steps_of(problem)[: step.index] if compare(s.answer_value, value)), None)
        part = f"your answer to “{earlier.question}”" if earlier is not None else _phrase(problem, value)
        if part and part not in parts:
            parts.append(part)
    if not parts:
        return "the amounts in the problem that this step talks about"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _scale(value: float) -> int:
    """The step by which to change a number so it stays as round as it was (80000 -> 10000, 60 -> 10, 16 -> 1)."""
    digits = len(format_number(int(value)))
    scale = 1
    while scale * 10 < 10 ** (digits - 1) + 1 and value % (scale * 10) == 0:
        scale *= 10
    return scale


def _candidates(match: NumberMatch) -> list[float]:
    """Numbers that may stand in for one of the step's numbers in an example (itself, for a constant)."""
    if match.value < 1 or compare(match.value, 100) or ("." in match.text and match.value < 10):
        return [match.value]
    scale = _scale(match.value)
    values = [match.value + d * scale for d in _DELTAS] + [match.value * k for k in (2, 3, 4, 5, 6, 10)]
    return [v for v in dict.fromkeys(values) if v >= 2 and not compare(v, 100)]


@lru_cache(maxsize=512)
def _examples_of(expression: str, whole: bool, taken: tuple[float, ...]) -> tuple[str, ...]:
    """Worked examples of `expression` with other numbers, the smallest changes first (at most 24)."""
    found = [m for m in find_numbers(expression) if m.kind == "digits"]
    options = [_candidates(m) for m in found]
    combos = sorted(itertools.product(*[range(len(o)) for o in options]), key=lambda c: (sum(c), c))
    out: list[str] = []
    for combo in combos[:3000]:
        new = [options[i][k] for i, k in enumerate(combo)]
        changed = [v for v, m in zip(new, found, strict=True) if not compare(v, m.value)]
        if not changed:
            continue
        example = _substitute(expression, found, [format_number(v) for v in new])
        result = evaluate_arithmetic(example)
        if result is None or result <= 0 or abs(result * 100 - round(result * 100)) > 1e-6:
            continue
        result = round(result, 2)
        if whole and not result.is_integer():
            continue
        if any(compare(v, t) for v in [*changed, result] for t in taken):
            continue
        out.append(f"{example} = {format_number(result)}")
        if len(out) >= 24:
            break
    return tuple(out)


def _examples(problem: Problem, step: Step) -> list[str]:
    """Worked examples of the step's kind of calculation with other numbers ("20 - 5 - 6 = 9").

    Numbers below 1 and 100 (percent constants) are kept, every other number changes (never to 0, 1 or 100); a
    step whose result is whole gets whole results. No number of an example is a result of the problem's steps,
    its final answer or a number of the problem.
    """
    if not step.expression:
        return []
    whole = step.answer_value is not None and float(step.answer_value).is_integer()
    taken = {s.answer_value for s in steps_of(problem)} | {problem.final_value, *problem.numbers()}
    return list(_examples_of(step.expression, whole, tuple(sorted(v for v in taken if v is not None))))


def similar_example(problem: Problem, step: Step, variant: int = 0) -> str | None:
    """The `variant`-th worked example of the step's kind with other numbers (None when there is none)."""
    found = _examples(problem, step)
    return found[variant] if variant < len(found) else None


def _substitute(expression: str, found: Sequence[NumberMatch], new: list[str]) -> str:
    """`expression` with its numbers replaced, in order, by `new`."""
    out, last = [], 0
    norm = normalize_text(expression)
    for m, text in zip(found, new, strict=True):
        out.append(norm[last : m.start])
        out.append(text)
        last = m.end
    out.append(norm[last:])
    return "".join(out)


def _setup_final(step: Step) -> dict[str, str] | None:
    """The final step's partial set-up: its first amount and operation, the rest left as gaps."""
    ops = step_operations(step)
    operands = step_operands(step)
    if not ops or len(operands) < 2:
        return None
    first = format_number(operands[0])
    if any(compare(v, operands[0]) for v in operands[1:]):  # naming it would name every amount ("4 * 4")
        return {"verb": _VERBS[ops[0]].split()[0]}
    gaps = f" {_SYMBOLS[ops[0]]} ".join([first] + ["?"] * (len(operands) - 1))
    return {"first": first, "verb": _VERBS[ops[0]], "partial": gaps}


def _rung_values(problem: Problem, step: Step, rung: str) -> tuple[str, dict[str, str]] | None:
    """The ladder template and its values for a rung (None when the step gives nothing for it)."""
    final = is_final(problem, step)
    ops = step_operations(step)
    if rung == "quantities":
        return "quantities", {"quantities": quantities_of(problem, step)}
    if rung == "operation" and ops:
        operation = " and ".join(ops)
        values = {"operation": operation, "operation_article": "an" if operation[0] in "aeiou" else "a"}
        if final:
            return "operation_final", values
        numbers = [format_number(v) for v in step_operands(step)]
        listed = numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + " and " + numbers[-1]
        return "operation", {**values, "numbers": listed}
    if rung == "setup" and step.expression:
        if final:
            values = _setup_final(step)
            if values is None:
                return None
            return ("setup_final", values) if "first" in values else ("setup_final_blind", values)
        return "setup", {"expression": without_result(step.expression, step.answer_value)}
    return None


def ladder_hint(problem: Problem, step: Step, level: int, said: Sequence[str],
                shown: Callable[[str], bool] = lambda _text: True) -> Hint:  # fmt: skip
    """The hint for `level`: the rung's first wording not said yet and shown by the gate, else a fresh example."""
    rung = rung_of(level)
    # every reveal rule needs a number in the text: a hint without one needs no gate check
    ok = lambda text: bool(text) and (not find_numbers(text) or shown(text))  # noqa: E731
    if rung == 1:
        for idea in variants(f"tutor/ideas/{idea_of(step)}"):
            text = fresh_variant("tutor/ladder/concept", said, start=level, idea=idea)
            if text and ok(text):
                return Hint(1, text)
    elif rung != 4:
        named = _rung_values(problem, step, RUNGS[rung - 1])
        text = fresh_variant(f"tutor/ladder/{named[0]}", said, start=level, **named[1]) if named else None
        if text and ok(text):
            return Hint(rung, text)
    for example in _examples(problem, step):
        if not is_fresh(example, said):
            continue
        text = pick_variant("tutor/ladder/example", said, start=level, example=example)
        if ok(text):
            return Hint(4, text)
    fallback = [v for v in variants("tutor/ideas/general") if is_fresh(v, said) and ok(v)]
    return Hint(rung, fallback[0] if fallback else variants("tutor/ideas/general")[level % 3])


def method_of(step: Step, problem: Problem | None = None) -> str:
    """The step's worked method without its result; on the final step a worked example with other numbers.

    (The final step's own method would name both its amounts and its operation.)
    """
    if problem is not None and is_final(problem, step):
        examples = _examples(problem, step)
        if examples:
            return render("tutor/ladder/explain_final", example=examples[0]).strip()
    text = without_result(step.solution_text, step.answer_value).strip()
    if text:
        return sentence(text)
    return f"{step.expression} = ?" if step.expression else (step.hint.strip() or template("no_hint"))
