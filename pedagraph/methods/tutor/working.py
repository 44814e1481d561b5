"""The learner's working, read from their message: the calculations they wrote, in symbols or in words.

`read_working` finds each calculation ("16 - 3 - 4 = 9", "150% of 130000 is 195000", "I subtracted 3 and 4 from
16 and got 9", "multiply 9 by 2"), with its operations, operands, value and the result the learner stated.
`mentioned_operations` reads the operations a learner names without numbers ("I think we subtract").
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from pedagraph.answers import NumberMatch, compare, evaluate_arithmetic, find_numbers, format_number, normalize_text

OPERATIONS = {"+": "addition", "-": "subtraction", "*": "multiplication", "/": "division"}
"""Operation names by symbol."""

_N = r"#(\d+)"
# rewrites of worded calculations into symbols, on text whose numbers are placeholders (#0, #1, ...)
_REWRITES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\b(?:subtract(?:ed|ing)?|took|take|taking)\s+{_N}\s+and\s+{_N}\s+(?:away\s+)?from\s+{_N}"),
     r"#\3 - #\1 - #\2"),
    (re.compile(rf"\b(?:subtract(?:ed|ing)?|took|take|taking)\s+{_N}\s+(?:away\s+)?from\s+{_N}"), r"#\2 - #\1"),
    (re.compile(rf"\b(?:add(?:ed|ing)?|sum(?:med)?)\s+(?:up\s+)?{_N}\s*,?\s+(?:and|to|plus|with)\s+{_N}"),
     r"#\1 + #\2"),
    (re.compile(rf"\bmultipl(?:y|ied|ying)\s+{_N}\s+(?:by|and|with|times)\s+{_N}"), r"#\1 * #\2"),
    (re.compile(rf"\bdivid(?:e|ed|ing)\s+{_N}\s+(?:by|into)\s+{_N}"), r"#\1 / #\2"),
    (re.compile(rf"\b(?:twice|double)\s+(?:of\s+)?{_N}"), r"2 * #\1"),
    (re.compile(rf"\btriple\s+{_N}"), r"3 * #\1"),
    (re.compile(r"\s+(?:plus|and then add|added to)\s+"), " + "),
    (re.compile(r"\s+(?:minus|take away|less)\s+"), " - "),
    (re.compile(r"\s*(?:\btimes\b|\bmultiplied by\b|[x×])\s*(?=#|\d|\()"), " * "),
    (re.compile(r"\s*(?:\bdivided by\b|÷)\s*"), " / "),
]  # fmt: skip
_PART_OF = re.compile(rf"{_N}\s*(?:percent|per cent)?\s+of\s+(?:the\s+|a\s+|an\s+)?{_N}")
_CHAIN = re.compile(r"(?:#\d+|\d+(?:\.\d+)?)(?:\s*[-+*/]\s*(?:#\d+|\d+(?:\.\d+)?))+")
_RESULT_AFTER = re.compile(
    r"^\s*,?\s*(?:and\s+|to\s+|so\s+|which\s+|that\s+|i\s+|it\s+|then\s+){0,2}"
    r"(?:=|equals?|is|are|makes?|gives?|gets?|got|comes? to|leaves?|that's|it's|so)\s*(?:about\s+)?#(\d+)"
)
_WORD_OPERATIONS: dict[str, re.Pattern[str]] = {
    "addition": re.compile(r"\b(?:add(?:ed|ing|s)?|plus|sum|altogether|combined?|put (?:them )?together)\b"),
    "subtraction": re.compile(
        r"\b(?:subtract(?:ed|ing|s)?|minus|take (?:it )?away|took (?:it )?away|difference|take off|left over)\b"
    ),
    "multiplication": re.compile(r"\b(?:multipl(?:y|ied|ying|ication)|times|product|double|twice|triple)\b"),
    "division": re.compile(r"\b(?:divid(?:e|ed|ing)|division|split|share (?:it |them )?equally|halve)\b"),
}


@dataclass(frozen=True)
class Calculation:
    """One calculation a learner wrote: as read (in digits), its operations, operands, value and stated result."""

    text: str
    operations: tuple[str, ...]
    operands: tuple[float, ...]
    value: float | None
    stated: float | None = None
    stated_text: str | None = None


@dataclass(frozen=True)
class Working:
    """Everything a message shows of the learner's working."""

    calculations: tuple[Calculation, ...] = ()
    operations: tuple[str, ...] = ()

    @property
    def shown(self) -> bool:
        """Whether the message shows a calculation."""
        return bool(self.calculations)

    @property
    def last(self) -> Calculation | None:
        """The last calculation written (the one that leads to the learner's answer)."""
        return self.calculations[-1] if self.calculations else None

    def dump(self) -> dict[str, Any]:
        """JSON-ready form (kept in the diagnosis)."""
        return asdict(self)


def _operand(match: NumberMatch) -> float:
    """A number's value as an operand: a percent is its fraction (150% -> 1.5)."""
    return match.value / 100 if match.percent else match.value


def _placeholders(norm: str, matches: list[NumberMatch]) -> str:
    """`norm` with each number replaced by `#i` (its index in `matches`)."""
    out, last = [], 0
    for i, m in enumerate(matches):
        out.append(norm[last : m.start])
        out.append(f"#{i}")
        last = m.end
    out.append(norm[last:])
    return "".join(out).replace("$", "")


def _calculation(chain: str, after: str, matches: list[NumberMatch], original: str) -> Calculation:
    """Read one symbolic chain (`#0 - #1 - #2`) and the text after it (`= #3`) into a Calculation."""
    operands: list[float] = []

    def number(m: re.Match[str]) -> str:
        if m.group(0).startswith("#"):
            operands.append(_operand(matches[int(m.group(1))]))
        else:
            operands.append(float(m.group(0)))
        return repr(operands[-1])

    source = re.sub(r"#(\d+)|\d+(?:\.\d+)?", number, chain)
    ops = tuple(OPERATIONS[c] for c in re.findall(r"[-+*/]", chain))
    spaced = re.sub(r"\s*([-+*/])\s*", r" \1 ", chain).strip()
    text = re.sub(r"#(\d+)", lambda m: _shown(matches[int(m.group(1))], original), spaced)
    first = re.match(r"#(\d+) \* ", spaced)
    if first and (matches[int(first.group(1))].percent or matches[int(first.group(1))].kind == "fraction"):
        text = text.replace(" * ", " of ", 1)  # "150% of 130000", as a learner says it
    stated = _RESULT_AFTER.match(after)
    if stated is None:
        return Calculation(text, ops, tuple(operands), evaluate_arithmetic(source))
    result = matches[int(stated.group(1))]
    return Calculation(text, ops, tuple(operands), evaluate_arithmetic(source), result.value, _shown(result, original))


def _shown(match: NumberMatch, original: str) -> str:
    """A number as the learner wrote it (their spelling and case, when the text kept its length)."""
    if len(normalize_text(original)) == len(original):
        return original[match.start : match.end]
    return match.text


def _part_of(m: re.Match[str], matches: list[NumberMatch]) -> str:
    """`#a of #b` is a multiplication when #a is a percent or a fraction ("150% of", "half of", "1/6 of")."""
    part = matches[int(m.group(1))]
    if part.percent or part.kind == "fraction" or part.value < 1:
        return f"#{m.group(1)} * #{m.group(2)}"
    return m.group(0)


def read_working(text: str) -> Working:
    """The calculations a message shows, in the order written, and the operations it names."""
    norm = normalize_text(text)
    matches = find_numbers(text)
    named = tuple(name for name, pattern in _WORD_OPERATIONS.items() if pattern.search(norm))
    if len(matches) < 2 and not re.search(r"\b(?:twice|double|triple)\b", norm):
        return Working(operations=named)
    symbolic = _PART_OF.sub(lambda m: _part_of(m, matches), _placeholders(norm, matches))
    for pattern, replacement in _REWRITES:
        symbolic = pattern.sub(replacement, symbolic)
    calculations = [
        _calculation(m.group(0), symbolic[m.end() :], matches, text) for m in _CHAIN.finditer(symbolic)
    ]
    ops = tuple(dict.fromkeys([op for c in calculations for op in c.operations] + list(named)))
    return Working(calculations=tuple(calculations), operations=ops)


def mentioned_operations(text: str) -> tuple[str, ...]:
    """Operations a message names in words ("we subtract", "times"), in a fixed order."""
    norm = normalize_text(text)
    return tuple(name for name, pattern in _WORD_OPERATIONS.items() if pattern.search(norm))


def same_operands(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether two operand lists hold the same numbers (in any order)."""
    rest = list(b)
    for x in a:
        hit = next((i for i, y in enumerate(rest) if compare(x, y)), None)
        if hit is None:
            return False
        rest.pop(hit)
    return not rest


def describe(value: float) -> str:
    """A number in canonical digits (for descriptions that are not the learner's own words)."""
    return format_number(value)
