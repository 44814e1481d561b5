"""Math word problems with known steps: parsed from GSM8K (Socratic or plain) and MathDial, or free text.

A `Problem` holds the question, its `Step`s (sub-question, worked text, hint, expression, answer) and the
final answer, so a tutor can check each step and hint from the worked solution without a model.

Parsing rules (one step per solution line; the GSM8K `#### 72` line gives the final answer):

* **Socratic GSM8K** lines read `Sub-question? ** step text`; the sub-question is used as is.
* **Plain GSM8K and MathDial** lines have no sub-question; one is made deterministically from the step text:
  (1) "<noun phrase> is/are/was/were <expression>" gives "What is <noun phrase>?" ("So the total amount of
  fabric is 2+1=3 bolts" -> "What is the total amount of fabric?"); (2) else, when the result is followed by a
  plural unit ("= 9 duck eggs a day"), "Step k: how many duck eggs?" ("Step k: how much money does this come
  to?" after `$`); (3) else "Step k: can you work out the next quantity?". Apart from its "Step k" label, a
  made-up question never contains the step's own result.
* **Step answer**: the result of the LAST calculator annotation in the line (`<<a*b=c>>` -> c). Lines without
  annotations (some Socratic lines, all of MathDial) take the number right after the last `=`, else the
  last number in the line.
* **Expression**: the left side of that annotation (`16-3-4` -> "16 - 3 - 4"); without annotations, the
  numbers and operators (+ - * / x × ÷) just before the last `=`, words between them skipped, taking the
  longest tail that evaluates to the step's answer ("3 bids * $50 per bid = $150" -> "3 * 50"); else None.
* **Hint**: the operation(s) and the numbers they combine ("Try subtraction with 16, 3 and 4."), never the
  result and never the set-up itself (the tutor shows the expression only one level later). When there is no
  expression, or the expression itself contains the result as a number (`<<18*1=18>>`), the hint names the operation(s)
  instead ("Which operation do you need here? Try multiplication with the quantities you have."), which has
  no numbers at all.
* **Skills** (per step, from the step's line and sub-question; the problem's skills are the union of its
  steps' skills and the keyword skills of its question):
  `addition` / `subtraction` / `multiplication` / `division` from the operators in the step's annotations (or
  its plain expression: + - * x × / ÷); `fractions` from a fraction literal whose denominator does not divide
  its numerator (`3/4`, `1/2*18`), or the words half/halves/quarter(s)/fraction, or "a|one|two|...|<digit>
  third(s)/fourth(s)/fifth(s)/..."; `percentages` from `%`, "percent", "percentage"; `rates` from "per",
  "each", "every", "rate", "speed", "mph", "a/an <hour|minute|day|week|month|year>"; `money` from `$ € £`,
  dollar(s), cent(s), price, cost(s), pay/paid, earn(s/ed), spend/spent, profit, salary, wage(s), money,
  budget, discount, tax, fee(s), charge(s/d); `time` from second(s)/minute(s)/hour(s)/day(s)/week(s)/month(s)/
  year(s), daily/weekly/monthly/yearly/hourly, o'clock, a.m./p.m.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import warnings
from collections.abc import Iterable, Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pedagraph.answers import compare, evaluate_arithmetic, find_numbers, format_number, normalize_text
from pedagraph.errors import DataError

__all__ = [
    "GSM8K_LICENSE",
    "MATHDIAL_LICENSE",
    "SKILLS",
    "Problem",
    "Step",
    "bundled_problems",
    "get_problem",
    "load_problems",
    "parse_gsm8k",
    "parse_gsm8k_socratic",
    "parse_mathdial",
    "pretty_expression",
    "skills_for",
]

SKILLS = (
    "addition",
    "subtraction",
    "multiplication",
    "division",
    "fractions",
    "percentages",
    "rates",
    "money",
    "time",
)
GSM8K_LICENSE = "MIT (GSM8K, Copyright (c) 2021 OpenAI; Cobbe et al. 2021)"
MATHDIAL_LICENSE = "CC BY-SA 4.0 (MathDial, Macina et al. 2023)"
_BUNDLED = ("data", "problems", "gsm8k_sample.jsonl")
_BUNDLED_PREFIX = "gsm8k-sample"


class Step(BaseModel):
    """One step of a worked solution: what to ask, the worked text, a hint and the checked answer."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(description="position in Problem.steps, from 0")
    question: str = Field(description="the sub-question this step answers")
    solution_text: str = Field(description="the worked step as plain text (calculator annotations removed)")
    hint: str = Field(description="a nudge that does not contain the step's own result")
    expression: str | None = Field(default=None, description='the computation, e.g. "16 - 3 - 4"')
    answer: str = Field(description='canonical answer text, e.g. "9" or "0.75"; "" when the step has no number')
    answer_value: float | None = None
    skills: list[str] = []

    @property
    def number(self) -> int:
        """The 1-based step number shown to learners."""
        return self.index + 1


class Problem(BaseModel):
    """A word problem with its steps (possibly none), final answer, worked solution, source and licence."""

    model_config = ConfigDict(frozen=True)

    id: str
    question: str
    steps: list[Step] = []
    final_answer: str = ""
    final_value: float | None = None

    @field_validator("final_value")
    @classmethod
    def _bounded(cls, value: float | None) -> float | None:
        return checked_answer(value)
    solution: str = ""
    source: str = "user"
    skills: list[str] = []
    license: str = ""
    extras: dict[str, Any] = {}

    @property
    def has_steps(self) -> bool:
        """Whether the problem comes with known steps."""
        return bool(self.steps)

    def numbers(self) -> set[float]:
        """The numbers printed in the question (the reveal gate lets the tutor repeat these)."""
        return {m.value for m in find_numbers(self.question)}

    def step_values(self) -> list[float]:
        """The numeric answers of the steps, in order (steps without a number are skipped)."""
        return [s.answer_value for s in self.steps if s.answer_value is not None]

    @classmethod
    def from_text(cls, question: str, answer: str | float | None = None, *, id: str | None = None) -> Problem:
        """A free-form problem with no known steps; `answer` (a number or text with a number) is optional."""
        question = question.strip()
        if not question:
            raise DataError("the problem text is empty")
        value: float | None = None
        final = ""
        if isinstance(answer, int | float) and not isinstance(answer, bool):
            value = _answer_value(float(answer), str(answer))
            final = format_number(value)
        elif isinstance(answer, str) and answer.strip():
            found = find_numbers(answer[:200])
            value = _answer_value(found[-1].value, answer) if found else None
            final = format_number(value) if value is not None else answer.strip()[:200]
        pid = id or "text-" + hashlib.sha1(question.encode("utf-8")).hexdigest()[:10]
        return cls(
            id=pid,
            question=question,
            final_answer=final,
            final_value=value,
            source="user",
            skills=skills_for(question),
            license="",
        )


MAX_ANSWER = 1e15
"""The largest final answer a problem may have (by magnitude): beyond it a number is not a school answer, and
forms, words and digits of it are not computed (a 309-digit answer is infinite as a float)."""


def checked_answer(value: float | None) -> float | None:
    """A final answer as it may be kept: finite and at most `MAX_ANSWER` in magnitude (None stays None)."""
    if value is not None and not (math.isfinite(value) and abs(value) <= MAX_ANSWER):
        raise ValueError(f"the answer must be a finite number of at most {MAX_ANSWER:.0e} in magnitude")
    return value


def _answer_value(value: float, written: str) -> float:
    """The answer of an own problem, checked before a thread starts (a clear error, nothing kept)."""
    try:
        return checked_answer(value)  # type: ignore[return-value]
    except ValueError:
        shown = written.strip()[:20] + ("…" if len(written.strip()) > 20 else "")
        raise DataError(f"the answer {shown!r} is not a usable number",
                        hint=f"give a finite number of at most {MAX_ANSWER:.0e} in magnitude") from None  # fmt: skip


# --------------------------------------------------------------------------------------------------------------
# Skills
# --------------------------------------------------------------------------------------------------------------

_OP_SKILLS = {"+": "addition", "-": "subtraction", "*": "multiplication", "/": "division"}
_KEYWORD_SKILLS = {
    "fractions": re.compile(
        r"\b(?:half|halves|halved|quarters?|fractions?)\b|\b(?:a|one|two|three|four|five|six|seven|eight|nine|ten|\d+)"
        r"[ -](?:thirds?|fourths?|fifths?|sixths?|sevenths?|eighths?|ninths?|tenths?|twelfths?)\b"
    ),
    "percentages": re.compile(r"%|\bpercent(?:age)?s?\b|\bper cent\b"),
    "rates": re.compile(
        r"\bper\b|\beach\b|\bevery\b|\brates?\b|\bspeed\b|\bmph\b|\ban? (?:hour|minute|day|week|month|year)\b"
    ),
    "money": re.compile(
        r"[$€£]|\bdollars?\b|\bcents?\b|\bprices?\b|\bcosts?\b|\bpa(?:y|ys|id)\b|\bearn(?:s|ed)?\b|\bspen[dt]s?\b"
        r"|\bprofit\b|\bsalary\b|\bwages?\b|\bmoney\b|\bbudget\b|\bdiscount\b|\btax\b|\bfees?\b|\bcharge[sd]?\b"
    ),
    "time": re.compile(
        r"\b(?:seconds|minutes?|hours?|days?|weeks?|months?|years?|daily|weekly|monthly|yearly|hourly|o'clock)\b"
        r"|\b[ap]\.m\."
    ),
}
_FRACTION_LITERAL = re.compile(r"(?<![\d./])(\d+)/(\d+)(?![\d/])")


def steps_of(problem: Problem) -> list[Step]:
    """Return the problem's steps; a stepless problem is one step: the whole question and its final answer."""
    if problem.steps:
        return list(problem.steps)
    return [
        Step(
            index=0,
            question=problem.question,
            solution_text=problem.solution,
            hint="",
            expression=None,
            answer=problem.final_answer,
            answer_value=problem.final_value,
            skills=list(problem.skills),
        )
    ]


def without_result(text: str, value: float | None) -> str:
    """Return `text` with every occurrence of `value` replaced by `?` (a worked step without its result)."""
    if not text or value is None:
        return text
    norm = normalize_text(text)
    base = text if len(norm) == len(text) else norm
    out, last = [], 0
    for m in find_numbers(text):
        if any(compare(v, value) for v in m.values):
            out.append(base[last : m.start])
            out.append("?")
            last = m.end
    out.append(base[last:])
    return "".join(out)


def _operators(expression: str) -> list[str]:
    """Binary operators in an expression, in order (a leading or bracket-opening minus is a sign)."""
    ops = []
    prev = ""
    for ch in expression.replace(" ", ""):
        if ch in "+-*/x×÷" and prev and (prev.isdigit() or prev in ").%"):
            ops.append({"x": "*", "×": "*", "÷": "/"}.get(ch, ch))
        prev = ch
    return ops


def skills_for(text: str, expressions: Iterable[str] = ()) -> list[str]:
    """Tag skills from the operators in `expressions` and keywords in `text` (rules in the module docstring)."""
    found: set[str] = set()
    exprs = list(expressions)
    for expr in exprs:
        found.update(_OP_SKILLS[op] for op in _operators(expr))
    low = normalize_text(text)
    for skill, pattern in _KEYWORD_SKILLS.items():
        if pattern.search(low):
            found.add(skill)
    for chunk in [low, *exprs]:
        for num, den in _FRACTION_LITERAL.findall(chunk):
            if int(den) and int(num) % int(den):
                found.add("fractions")
    return [s for s in SKILLS if s in found]


# --------------------------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------------------------

_ANNOTATION = re.compile(r"<<([^<>]*)>>")
_OP_NAMES = {"+": "addition", "-": "subtraction", "*": "multiplication", "/": "division"}
_EXPR_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?|\.\d+|[-+*/x×÷()%]", re.IGNORECASE)
_NP_QUESTION = re.compile(
    r"^(?:so|thus|therefore|then|hence|now|in total|altogether|overall|finally|this means)?,?\s*"
    r"(?P<np>(?:the|her|his|their|its|our|my|your|each|one)\b[^=\d$]{2,80}?)\s+(?P<verb>is|are|was|were)\b",
    re.IGNORECASE,
)
_UNIT_STOP = {
    "a", "an", "the", "to", "in", "for", "every", "each", "per", "so", "and", "because", "since", "on", "at",
    "of", "from", "with", "that", "this", "which", "is", "are", "was", "were", "left", "total", "altogether",
    "by", "as", "than", "if", "when", "then", "it", "he", "she", "they", "we", "you", "i",
}  # fmt: skip


def _parse_value(text: str) -> float | None:
    text = text.strip().replace(",", "").replace("$", "").rstrip("%").strip()
    try:
        return float(text)
    except ValueError:
        found = find_numbers(text)
        return found[-1].value if len(found) == 1 else None


def pretty_expression(expr: str) -> str | None:
    """Return a calculator expression with spaces around operators ("16-3-4" -> "16 - 3 - 4")."""
    tokens = _EXPR_TOKEN.findall(expr.replace("$", ""))
    if not tokens or not any(t[0].isdigit() or t[0] == "." for t in tokens):
        return None
    out: list[str] = []
    prev = ""
    for tok in tokens:
        op = {"x": "*", "X": "*", "×": "*", "÷": "/"}.get(tok, tok)
        if op in "+-*/" and len(op) == 1:
            if op == "-" and (not prev or prev in "+-*/("):
                out.append("-")  # a sign, glued to the number
            else:
                out.append(f" {op} ")
        elif op == "(":
            out.append("(")
        elif op == ")" or op == "%":
            out.append(op)
        else:
            out.append(op.replace(",", ""))
        prev = op
    return re.sub(r"\s+", " ", "".join(out)).strip()


def _contains_value(text: str, value: float | None) -> bool:
    """Whether `text` has `value` as a standalone number (in any form the scanner reads)."""
    if value is None:
        return False
    return any(compare(m.value, value) for m in find_numbers(text))


def _make_hint(expression: str | None, value: float | None, ops: list[str]) -> str:
    names = " and ".join(_OP_NAMES[o] for o in dict.fromkeys(ops))
    if expression and names and not _contains_value(expression, value):
        operands = [format_number(m.value) for m in find_numbers(expression)]
        if operands:
            listed = operands[0] if len(operands) == 1 else ", ".join(operands[:-1]) + " and " + operands[-1]
            return f"Which operation do you need here? Try {names} with {listed}."
    if names:
        return f"Which operation do you need here? Try {names} with the quantities you have."
    return "Reread the question: which quantities does this step combine, and how?"


def _unit_after(text: str, end: int) -> str:
    words = []
    for word in re.findall(r"[A-Za-z'-]+|\S", text[end:])[:6]:
        if not re.fullmatch(r"[A-Za-z'-]+", word) or word.lower() in _UNIT_STOP:
            break
        words.append(word.lower())
    return " ".join(words[:3])


def _derive_question(solution_text: str, number: int, value: float | None) -> str:
    """Make a sub-question for a step that has none (rules in the module docstring)."""
    m = _NP_QUESTION.match(solution_text.strip())
    if m:
        np = m.group("np").strip().rstrip(",")
        question = f"What {m.group('verb').lower()} {np[0].lower() + np[1:]}?"
        if not _contains_value(question, value):
            return question
    if value is not None:
        result = None
        for found in find_numbers(solution_text):
            if compare(found.value, value):
                result = found
        if result is not None:
            if result.money or solution_text[max(0, result.start - 1) : result.start] == "$":
                return f"Step {number}: how much money does this come to?"
            unit = _unit_after(normalize_text(solution_text), result.end)
            if unit.endswith("s") and not re.search(r"\d", unit):
                return f"Step {number}: how many {unit}?"
    return f"Step {number}: can you work out the next quantity?"


_LOOSE_TOKEN = re.compile(r"\$?\s?(\d[\d,]*(?:\.\d+)?|\.\d+)\s?%?|(?<![a-z])([-+*/×÷()]|x)(?![a-z])|([a-z]+)")
def _evaluate(expression: str) -> float | None:
    """Evaluate + - * / arithmetic on numbers (nothing else); None if it is not such an expression."""
    return evaluate_arithmetic(expression.replace("%", ""))


def _expression_for(left: str, value: float) -> str | None:
    """The arithmetic at the end of `left` (the text before '=') that evaluates to `value`, words skipped.

    "3 bids * $50 per bid" gives "3 * 50"; the longest such suffix that evaluates to `value` wins, so a stray
    earlier number ("3 people ... so 3 bids * $50") is left out. None when no suffix checks out.
    """
    tokens: list[str] = []
    for m in _LOOSE_TOKEN.finditer(left.lower()):
        if m.group(1):
            tokens.append(m.group(1).replace(",", ""))
        elif m.group(2):
            tokens.append({"x": "*", "×": "*", "÷": "/"}.get(m.group(2), m.group(2)))
    best = None
    for start in range(len(tokens)):
        suffix = tokens[start:]
        if not any(t in "+-*/" for t in suffix) or suffix[0] in "+*/)":
            continue
        result = _evaluate(" ".join(suffix))
        if result is not None and compare(result, value):
            best = suffix
            break
    return pretty_expression(" ".join(best)) if best else None


def _plain_answer(text: str) -> tuple[float | None, str | None]:
    """For a line without annotations: (the number right after the last '=' else the last number, expression)."""
    norm = normalize_text(text)
    matches = find_numbers(text)
    if not matches:
        return None, None
    after_eq = [m for m in matches if re.search(r"=\s*\$?\s*$", norm[: m.start])]
    chosen = after_eq[-1] if after_eq else matches[-1]
    expression = None
    if after_eq:
        left = norm[: chosen.start].rstrip()
        expression = _expression_for(left[: left.rfind("=")], chosen.value)
    return chosen.value, expression


def _build_step(index: int, body: str, question: str | None) -> Step:
    """Parse one solution line (without its Socratic sub-question) into a Step."""
    annotations = _ANNOTATION.findall(body)
    solution_text = re.sub(r"\s+", " ", _ANNOTATION.sub("", body)).strip()
    value: float | None = None
    expression: str | None = None
    exprs: list[str] = []
    for ann in annotations:
        if "=" in ann:
            exprs.append(ann.rsplit("=", 1)[0])
    if annotations and "=" in annotations[-1]:
        left, right = annotations[-1].rsplit("=", 1)
        value = _parse_value(right)
        expression = pretty_expression(left)
    if value is None:
        value, plain_expr = _plain_answer(solution_text)
        expression = expression or plain_expr
    if not exprs and expression:
        exprs.append(expression)
    ops = [op for e in exprs for op in _operators(e)]
    if question is None:
        question = _derive_question(solution_text, index + 1, value)
    return Step(
        index=index,
        question=question.strip(),
        solution_text=solution_text,
        hint=_make_hint(expression, value, ops),
        expression=expression,
        answer=format_number(value) if value is not None else "",
        answer_value=value,
        skills=skills_for(f"{question}\n{solution_text}", exprs),
    )


def _guard_hints(steps: list[Step], final_value: float | None, question: str) -> list[Step]:
    """Replace a hint that shows the final answer (as an operand of an earlier step) by an operation hint."""
    if final_value is None or _contains_value(question, final_value):
        return steps
    out = []
    for step in steps:
        if _contains_value(step.hint, final_value):
            ops = _operators(step.expression or "")
            step = step.model_copy(update={"hint": _make_hint(None, None, ops)})
        out.append(step)
    return out


def _union(lists: Iterable[list[str]]) -> list[str]:
    found = {s for lst in lists for s in lst}
    return [s for s in SKILLS if s in found]


def _solution_text(steps: list[Step], final: str) -> str:
    lines = [s.solution_text for s in steps]
    if final:
        lines.append(f"Final answer: {final}")
    return "\n".join(lines)


def _split_gsm8k(record: dict[str, Any], id: str) -> tuple[str, list[str], str, float | None]:
    question, answer = record.get("question"), record.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise DataError(f"problem {id}: missing or empty 'question'")
    if not isinstance(answer, str) or not answer.strip():
        raise DataError(f"problem {id}: missing or empty 'answer'")
    lines = [ln.strip() for ln in answer.strip().split("\n")]
    final_lines = [i for i, ln in enumerate(lines) if ln.startswith("####")]
    if not final_lines:
        raise DataError(f"problem {id}: the answer has no '#### <final answer>' line")
    final_text = lines[final_lines[-1]][4:].strip()
    value = _parse_value(final_text)
    steps = [ln for ln in lines[: final_lines[-1]] if ln]
    final = format_number(value) if value is not None else final_text
    return question.strip(), steps, final, value


def parse_gsm8k_socratic(record: dict[str, Any], id: str) -> Problem:
    """Parse a GSM8K Socratic record ({"question", "answer"} with `Sub-question? ** step` lines)."""
    question, lines, final, value = _split_gsm8k(record, id)
    steps = []
    for i, line in enumerate(lines):
        if " ** " in line:
            sub, body = line.split(" ** ", 1)
            steps.append(_build_step(i, body, sub))
        else:
            steps.append(_build_step(i, line, None))
    return _gsm8k_problem(id, question, steps, final, value, "gsm8k-socratic")


def parse_gsm8k(record: dict[str, Any], id: str) -> Problem:
    """Parse a plain GSM8K record; each step's sub-question is derived from its line (see module docstring)."""
    if " ** " in str(record.get("answer", "")):
        return parse_gsm8k_socratic(record, id)
    question, lines, final, value = _split_gsm8k(record, id)
    steps = [_build_step(i, line, None) for i, line in enumerate(lines)]
    return _gsm8k_problem(id, question, steps, final, value, "gsm8k")


def _gsm8k_problem(
    id: str, question: str, steps: list[Step], final: str, value: float | None, source: str
) -> Problem:
    """Assemble a GSM8K problem from its parsed steps (hints guarded against the final answer)."""
    steps = _guard_hints(steps, value, question)
    return Problem(
        id=id,
        question=question,
        steps=steps,
        final_answer=final,
        final_value=value,
        solution=_solution_text(steps, final),
        source=source,
        skills=_union([skills_for(question), *(s.skills for s in steps)]),
        license=GSM8K_LICENSE,
    )


def _unescape(text: str) -> str:
    """MathDial's sample file writes newlines as a literal backslash-n."""
    return text.replace("\\n", "\n") if "\\n" in text and "\n" not in text else text


def parse_mathdial(record: dict[str, Any], id: str) -> Problem:
    """Parse a MathDial row (question + ground_truth); the other columns go into `extras`."""
    question, truth = record.get("question"), record.get("ground_truth")
    if not isinstance(question, str) or not question.strip():
        raise DataError(f"problem {id}: missing or empty 'question'")
    if not isinstance(truth, str) or not truth.strip():
        raise DataError(f"problem {id}: missing or empty 'ground_truth'")
    lines = [ln.strip() for ln in _unescape(truth).strip().split("\n") if ln.strip()]
    final_value: float | None = None
    if lines and re.fullmatch(r"(?:####\s*)?-?\$?\s*[\d,]*\.?\d+\s*%?", lines[-1]):
        final_value = _parse_value(lines[-1].lstrip("#").strip())
        lines = lines[:-1]
    steps = [_build_step(i, line, None) for i, line in enumerate(lines)]
    if final_value is None and steps:
        final_value = steps[-1].answer_value
    final = format_number(final_value) if final_value is not None else ""
    steps = _guard_hints(steps, final_value, question)
    extras = {k: _unescape(v) if isinstance(v, str) else v for k, v in record.items()}
    extras.pop("question", None)
    extras.pop("ground_truth", None)
    return Problem(
        id=id,
        question=_unescape(question).strip(),
        steps=steps,
        final_answer=final,
        final_value=final_value,
        solution=_solution_text(steps, final),
        source="mathdial",
        skills=_union([skills_for(question), *(s.skills for s in steps)]),
        license=MATHDIAL_LICENSE,
        extras=extras,
    )


# --------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------


def _parse_record(record: Any, id: str) -> Problem:
    if not isinstance(record, dict):
        raise DataError(f"problem {id}: expected a JSON object, got {type(record).__name__}")
    if "ground_truth" in record:
        return parse_mathdial(record, id)
    if "answer" in record:
        return parse_gsm8k(record, id)
    raise DataError(f"problem {id}: neither a GSM8K row ('question', 'answer') nor a MathDial row ('ground_truth')")


def _rows(text: str, name: str, is_csv: bool) -> Iterator[tuple[int, Any, str | None]]:
    """Yield (line number, record or None, error) for each non-blank row."""
    if is_csv:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            for row in reader:
                yield reader.line_num, dict(row), None
        except csv.Error as exc:
            yield reader.line_num, None, f"CSV error: {exc}"
        return
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line), None
        except json.JSONDecodeError as exc:
            yield lineno, None, f"invalid JSON ({exc.msg} at column {exc.colno})"


def _load_text(
    text: str, name: str, *, is_csv: bool, limit: int | None, strict: bool, id_prefix: str
) -> list[Problem]:
    problems: list[Problem] = []
    skipped: list[str] = []
    seen: dict[str, int] = {}
    for lineno, record, error in _rows(text, name, is_csv):
        if limit is not None and len(problems) >= limit:
            break
        if error is None:
            if isinstance(record, dict) and "ground_truth" in record and record.get("qid") not in (None, ""):
                base = f"mathdial-{record['qid']}"
            else:
                base = f"{id_prefix}-{lineno}"
            seen[base] = seen.get(base, 0) + 1
            pid = base if seen[base] == 1 else f"{base}-{seen[base]}"
            try:
                problem = _parse_record(record, pid)
                problems.append(problem.model_copy(update={"extras": {**problem.extras, "line": lineno}}))
                continue
            except DataError as exc:
                error = str(exc)
        message = f"{name}, line {lineno}: {error}"
        if strict:
            raise DataError(message, hint="fix or remove the row, or load with strict=False to skip bad rows")
        skipped.append(message)
    if skipped:
        warnings.warn(f"skipped {len(skipped)} malformed row(s) in {name}; first: {skipped[0]}", stacklevel=3)
    return problems


def load_problems(
    path: str | Path, limit: int | None = None, *, strict: bool = True, id_prefix: str | None = None
) -> list[Problem]:
    """Load GSM8K (plain or Socratic, auto-detected by ` ** `) or MathDial (.jsonl or .csv) problems.

    Ids are `<id_prefix>-<line>` (prefix defaults to the file name without extension, `_` as `-`) for GSM8K and
    `mathdial-<qid>` for MathDial (`-2`, `-3`, ... for further dialogues about the same problem). A malformed
    row raises `DataError` naming the file and line; with `strict=False` it is skipped and one warning says
    how many rows were skipped.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"problem file not found: {p}", hint="give the path to a .jsonl or .csv file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {p}: {exc}") from exc
    prefix = id_prefix or p.stem.replace("_", "-")
    return _load_text(text, str(p), is_csv=p.suffix.lower() == ".csv", limit=limit, strict=strict, id_prefix=prefix)


@lru_cache(maxsize=1)
def _bundled() -> tuple[Problem, ...]:
    resource = resources.files("pedagraph").joinpath(*_BUNDLED)
    text = resource.read_text(encoding="utf-8")
    problems = _load_text(text, "/".join(_BUNDLED), is_csv=False, limit=None, strict=True, id_prefix=_BUNDLED_PREFIX)
    return tuple(problems)


def bundled_problems() -> list[Problem]:
    """The 40 GSM8K Socratic test problems shipped with pedagraph (ids `gsm8k-sample-1` ... `gsm8k-sample-40`)."""
    return list(_bundled())


def get_problem(problem_id: str) -> Problem:
    """Return the bundled problem with this id (`gsm8k-sample-7`; a bare `7` also works)."""
    wanted = problem_id.strip()
    if wanted.isdigit():
        wanted = f"{_BUNDLED_PREFIX}-{int(wanted)}"
    for problem in _bundled():
        if problem.id == wanted:
            return problem
    ids = [p.id for p in _bundled()]
    raise DataError(
        f"unknown problem id {problem_id!r}",
        hint=f"bundled problems are {ids[0]} ... {ids[-1]}" if ids else "no bundled problems are installed",
    )
