"""Deterministic answer checking: find the numbers in a learner's text and judge the final one.

Numbers recognised by `find_numbers` / `extract_numbers` (text is NFKC-normalised first, so full-width
digits count, zero-width characters are dropped and `½`-style fractions become `1/2`):

* digits with thousands separators (`1,200`), decimals (`12.5`, `.05`), negatives (`-3`, `minus 3`,
  `negative three`) — a `-` or `minus` right after a number is subtraction, not a sign;
* money and percent marks: `$12.50`, `12 dollars`, `50 cents`, `12%`, `12 percent` — the value is the number
  as written (`12%` is 12); percent and cents numbers also carry the alternative value/100 (`12%` may mean
  0.12), which `check_answer` and the reveal gate accept;
* fractions `3/4` and mixed numbers `1 3/4`. A slash between integers where the denominator divides the
  numerator (`48/2`) is a division to carry out, not a way of writing 24: it gives the two numbers 48 and 2;
* scale words after digits (`2 million`, `1.5 thousand`, `200k`);
* numbers in words: zero to nineteen, the tens, hundred/thousand/million/billion (`a hundred`,
  `one hundred and twenty-five`), `point` decimals (`two point five`), fractions (`half`, `a quarter`,
  `two thirds`, `three quarters`, `twelve and a half`). "Dozen" is a unit, not a multiplier: GSM8K asks "how
  many dozen", so `20 dozen` reads as 20 and `a dozen` as no number. Ordinals are not numbers
  (`first`, `second`, `third day`, `1st`, `18th`), neither is "one" used as a pronoun (`the one`, `which
  one`, `no one`), nor `once`/`twice`/`double`.

`check_answer` picks the learner's final stated number (see its docstring for the rules) and compares it with
`compare` (relative and absolute tolerance 1e-6), so 18, 18.0, "$18", "eighteen" and "18 dollars" are equal.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict

__all__ = [
    "AnswerCheck",
    "NumberMatch",
    "Verdict",
    "check_answer",
    "compare",
    "extract_numbers",
    "find_numbers",
    "format_number",
    "fraction_of",
    "normalize_text",
    "number_to_words",
]

Verdict = Literal["correct", "incorrect", "no_answer", "ambiguous"]
_Kind = Literal["digits", "fraction", "words"]

# --------------------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------------------

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000, "trillion": 1_000_000_000_000}
_SINGULAR_DENOMS = {
    "half": 2, "third": 3, "quarter": 4, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "twelfth": 12, "twentieth": 20, "hundredth": 100, "thousandth": 1000,
}  # fmt: skip
_PLURAL_DENOMS = {
    "halves": 2, "thirds": 3, "quarters": 4, "fourths": 4, "fifths": 5, "sixths": 6, "sevenths": 7,
    "eighths": 8, "ninths": 9, "tenths": 10, "twelfths": 12, "twentieths": 20, "hundredths": 100,
    "thousandths": 1000,
}  # fmt: skip
_DIGIT_SCALES = {"hundred": 100, **_SCALES}
_ORDINAL_SUFFIXES = {"st", "nd", "rd", "th"}
# "one" after these words is a pronoun ("the one", "which one"), not the number 1.
_ONE_PRONOUN_BEFORE = {
    "the", "this", "that", "which", "each", "every", "any", "no", "another", "some", "other", "next", "last",
    "previous", "same", "new", "different", "similar", "harder", "easier", "hard", "easy", "tricky", "better",
    "right", "wrong", "first", "second", "third", "current", "old", "whole",
}  # fmt: skip
"""Words after which "one" is a pronoun ("the next one", "a harder one"), not the number 1."""
_CURRENCY = {"$": "USD", "€": "EUR", "£": "GBP"}
_VULGAR = {
    "½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅕": "1/5", "⅖": "2/5", "⅗": "3/5", "⅘": "4/5",
    "⅙": "1/6", "⅚": "5/6", "⅛": "1/8", "⅜": "3/8", "⅝": "5/8", "⅞": "7/8",
}  # fmt: skip
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)

_TOKEN_RE = re.compile(
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d|,\d)|\d+(?:\.\d+)?|\.\d+)"
    r"|(?P<word>[a-z]+(?:'[a-z]+)?)"
    r"|(?P<sym>\S)"
)


def normalize_text(text: str) -> str:
    """Return `text` NFKC-normalised and lower-cased, without zero-width characters, minus signs as `-`."""
    for char, plain in _VULGAR.items():
        if char in text:
            text = re.sub(rf"(?<=\d){char}", f" {plain}", text).replace(char, plain)
    text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    return text.replace("\u2212", "-").replace("\u2013", "-").replace("\u2044", "/").replace("’", "'").lower()


# --------------------------------------------------------------------------------------------------------------
# Scanning
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberMatch:
    """One number found in a text: its value and where it is (offsets into `normalize_text(text)`)."""

    value: float
    start: int
    end: int
    text: str
    kind: _Kind
    percent: bool = False
    money: bool = False
    cents: bool = False

    @property
    def values(self) -> tuple[float, ...]:
        """The value and, for percent or cents numbers, the value divided by 100."""
        if self.percent or self.cents:
            return (self.value, self.value / 100)
        return (self.value,)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    start: int
    end: int


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = [
            _Tok(m.lastgroup or "sym", m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)
        ]
        self.out: list[NumberMatch] = []

    # -- token helpers --------------------------------------------------------------------------------------
    def tok(self, i: int) -> _Tok | None:
        return self.toks[i] if 0 <= i < len(self.toks) else None

    def adjacent(self, i: int, j: int) -> bool:
        a, b = self.tok(i), self.tok(j)
        return a is not None and b is not None and a.end == b.start

    def is_word(self, i: int, *words: str) -> bool:
        t = self.tok(i)
        return t is not None and t.kind == "word" and (not words or t.text in words)

    def is_sym(self, i: int, *syms: str) -> bool:
        t = self.tok(i)
        return t is not None and t.kind == "sym" and t.text in syms

    def next_word(self, i: int) -> int | None:
        """Index of the word after token i: separated by space, or joined by a hyphen ("twenty-five")."""
        if self.is_word(i + 1) and not self.adjacent(i, i + 1):
            return i + 1
        if self.is_sym(i + 1, "-") and self.adjacent(i, i + 1) and self.adjacent(i + 1, i + 2) and self.is_word(i + 2):
            return i + 2
        return None

    def follows_number(self, i: int) -> bool:
        """Whether the token before i ends a number or a bracket, so a `-`/`minus` at i is subtraction."""
        prev = self.tok(i - 1)
        if prev is None:
            return False
        if prev.kind == "num" or prev.text in {")", "%"}:
            return True
        return bool(self.out) and self.out[-1].end == prev.end

    # -- main loop ------------------------------------------------------------------------------------------
    def scan(self) -> list[NumberMatch]:
        i = 0
        while i < len(self.toks):
            t = self.toks[i]
            if t.kind == "num":
                i = self.digits(i)
            elif t.kind == "word":
                i = self.words(i)
            else:
                i += 1
        return self.out

    def sign_and_currency(self, i: int) -> tuple[int, bool, bool]:
        """For a number token at i: (start index of the match, negative?, money?)."""
        start, neg, money = i, False, False
        if self.is_sym(i - 1, *_CURRENCY) and self.adjacent(i - 1, i):
            start, money = i - 1, True
            if self.is_sym(i - 2, "-") and self.adjacent(i - 2, i - 1) and not self.follows_number(i - 2):
                start, neg = i - 2, True
        elif self.is_sym(i - 1, "-") and self.adjacent(i - 1, i) and not self.follows_number(i - 1):
            start, neg = i - 1, True
            if self.is_sym(i - 2, *_CURRENCY) and self.adjacent(i - 2, i - 1):
                start, money = i - 2, True
        if not neg and self.is_word(start - 1, "negative", "minus") and not self.follows_number(start - 1):
            start, neg = start - 1, True
        return start, neg, money

    def emit(
        self,
        value: float,
        si: int,
        ei: int,
        kind: _Kind,
        *,
        neg: bool,
        money: bool = False,
        percent: bool = False,
        cents: bool = False,
    ) -> None:
        start, end = self.toks[si].start, self.toks[ei].end
        self.out.append(
            NumberMatch(
                value=-value if neg else value,
                start=start,
                end=end,
                text=self.text[start:end],
                kind=kind,
                percent=percent,
                money=money,
                cents=cents,
            )
        )

    def suffixes(self, j: int) -> tuple[int, bool, bool, bool]:
        """Percent/money/cents marks after the number ending at token j: (last index, percent, money, cents)."""
        if self.is_sym(j + 1, "%"):
            return j + 1, True, False, False
        nxt = self.next_word(j)
        if nxt is not None:
            word = self.toks[nxt].text
            if word == "percent":
                return nxt, True, False, False
            if word == "per" and self.is_word(nxt + 1, "cent"):
                return nxt + 1, True, False, False
            if word in {"dollar", "dollars", "bucks", "euros", "pounds"}:
                return j, False, True, False
            if word in {"cent", "cents"}:
                return j, False, True, True
        return j, False, False, False

    # -- digits ---------------------------------------------------------------------------------------------
    def digits(self, i: int) -> int:
        t = self.toks[i]
        # ordinals: 1st, 2nd, 18th
        if self.is_word(i + 1) and self.adjacent(i, i + 1) and self.toks[i + 1].text in _ORDINAL_SUFFIXES:
            return i + 2
        start, neg, money = self.sign_and_currency(i)
        plain_int = "." not in t.text and "," not in t.text
        value = float(t.text.replace(",", ""))
        end, kind = i, cast(_Kind, "digits")
        # a/b: a fraction unless b divides a (then it is a division to do); dates a/b/c are left alone.
        if (
            plain_int
            and self.is_sym(i + 1, "/")
            and self.adjacent(i, i + 1)
            and self.adjacent(i + 1, i + 2)
            and (nt := self.tok(i + 2)) is not None
            and nt.kind == "num"
            and "." not in nt.text
            and "," not in nt.text
            and not (self.is_sym(i + 3, "/") and self.adjacent(i + 2, i + 3))
            and not (self.is_sym(i - 1, "/") and self.adjacent(i - 1, i))
        ):
            num, den = int(t.text), int(nt.text)
            if den != 0 and num % den != 0:
                value, end, kind = num / den, i + 2, "fraction"
        # mixed number: 1 3/4
        if (
            kind == "digits"
            and plain_int
            and (nt := self.tok(i + 1)) is not None
            and nt.kind == "num"
            and not self.adjacent(i, i + 1)
            and self.is_sym(i + 2, "/")
            and self.adjacent(i + 1, i + 2)
            and self.adjacent(i + 2, i + 3)
            and (dt := self.tok(i + 3)) is not None
            and dt.kind == "num"
            and nt.text.isdigit()
            and dt.text.isdigit()
            and 0 < int(nt.text) < int(dt.text)
            and not (self.is_sym(i + 4, "/") and self.adjacent(i + 3, i + 4))
        ):
            value, end, kind = value + int(nt.text) / int(dt.text), i + 3, "fraction"
        # 200k
        if kind == "digits" and self.is_word(end + 1, "k") and self.adjacent(end, end + 1):
            value, end = value * 1000, end + 1
        # 2 million, 3 hundred thousand
        while kind == "digits" and (nxt := self.next_word(end)) is not None and self.toks[nxt].text in _DIGIT_SCALES:
            value, end = value * _DIGIT_SCALES[self.toks[nxt].text], nxt
        # 12 and a half
        if self.is_word(end + 1, "and") and not self.adjacent(end, end + 1):
            frac = self.fraction_words(end + 2, allow_alone=False)
            if frac is not None:
                value, end = value + frac[0], frac[1]
        last, percent, money2, cents = self.suffixes(end)
        last_index = last if percent else end
        self.emit(value, start, last_index, kind, neg=neg, money=money or money2, percent=percent, cents=cents)
        return last + 1

    # -- words ----------------------------------------------------------------------------------------------
    def fraction_words(self, i: int, *, allow_alone: bool) -> tuple[float, int] | None:
        """Parse 'a half', 'one quarter', 'three quarters', 'two thirds' (and 'half' if allow_alone) at i."""
        t = self.tok(i)
        if t is None or t.kind != "word":
            return None
        if t.text in {"a", "an"}:
            nxt = self.next_word(i)
            if nxt is not None and self.toks[nxt].text in _SINGULAR_DENOMS:
                return 1 / _SINGULAR_DENOMS[self.toks[nxt].text], nxt
            return None
        if t.text == "half" and allow_alone:
            return 0.5, i
        card = self.cardinal(i)
        if card is None:
            return None
        value, j = card
        nxt = self.next_word(j)
        if nxt is None:
            return None
        word = self.toks[nxt].text
        if value == 1 and word in _SINGULAR_DENOMS:
            return 1 / _SINGULAR_DENOMS[word], nxt
        if value > 1 and word in _PLURAL_DENOMS:
            return value / _PLURAL_DENOMS[word], nxt
        return None

    def cardinal(self, i: int) -> tuple[float, int] | None:
        """Parse a cardinal number in words starting at token i: (value, index of its last token)."""
        total, current, last_kind, end = 0, 0, None, None
        j: int | None = i
        if self.is_word(i, "a", "an"):
            nxt = self.next_word(i)
            if nxt is None or self.toks[nxt].text not in {"hundred", *_SCALES}:
                return None
            current, last_kind, end, j = 1, "unit", i, nxt
        last_scale = math.inf
        while j is not None and self.is_word(j):
            word = self.toks[j].text
            if word in _UNITS:
                val = _UNITS[word]
                if last_kind in (None, "hundred", "scale", "and") or (last_kind == "ten" and 0 < val < 10):
                    current += val
                    last_kind = "unit" if last_kind != "ten" else "unit_after_ten"
                else:
                    break
            elif word in _TENS:
                if last_kind in (None, "hundred", "scale", "and"):
                    current += _TENS[word]
                    last_kind = "ten"
                else:
                    break
            elif word == "hundred":
                if last_kind in ("unit", "unit_after_ten") and current < 100:
                    current *= 100
                    last_kind = "hundred"
                else:
                    break
            elif word in _SCALES:
                scale = _SCALES[word]
                if last_kind in ("unit", "unit_after_ten", "ten", "hundred") and scale < last_scale:
                    total += current * scale
                    current, last_kind, last_scale = 0, "scale", scale
                else:
                    break
            elif word == "and":
                nxt = self.next_word(j)
                if (
                    last_kind in ("hundred", "scale")
                    and nxt is not None
                    and (self.toks[nxt].text in _UNITS or self.toks[nxt].text in _TENS)
                    and self.toks[nxt].text != "zero"
                ):
                    last_kind = "and"
                else:
                    break
            else:
                break
            if last_kind != "and":
                end = j
            j = self.next_word(j)
        if end is None:
            return None
        return float(total + current), end

    def words(self, i: int) -> int:
        t = self.toks[i]
        word = t.text
        if word in {"negative", "minus"}:
            return i + 1  # handled as a prefix of the number that follows
        neg = False
        start = i
        if self.is_word(i - 1, "negative", "minus") and not self.follows_number(i - 1):
            neg, start = True, i - 1
        if word == "half" or word in {"a", "an"}:
            frac = self.fraction_words(i, allow_alone=True)
            if frac is not None:
                self.emit(frac[0], start, frac[1], "fraction", neg=neg)
                return frac[1] + 1
        card = self.cardinal(i)
        if card is None:
            return i + 1
        value, end = card
        if word == "one" and end == i and self.is_word(i - 1, *_ONE_PRONOUN_BEFORE):
            return i + 1
        nxt = self.next_word(i)
        if word == "one" and end == i and nxt is not None and self.toks[nxt].text in {"another", "anyone"}:
            return i + 1
        kind: _Kind = "words"
        nxt = self.next_word(end)
        if nxt is not None:
            nword = self.toks[nxt].text
            if value == 1 and nword in _SINGULAR_DENOMS:
                value, end, kind = 1 / _SINGULAR_DENOMS[nword], nxt, "fraction"
            elif value > 1 and nword in _PLURAL_DENOMS:
                value, end, kind = value / _PLURAL_DENOMS[nword], nxt, "fraction"
            elif nword == "point":
                digits, k = "", self.next_word(nxt)
                while k is not None and _UNITS.get(self.toks[k].text, 10) < 10:
                    digits += str(_UNITS[self.toks[k].text])
                    end = k
                    k = self.next_word(k)
                if digits:
                    value = float(f"{int(value)}.{digits}")
            elif nword == "and":
                frac = self.fraction_words(nxt + 1, allow_alone=False) if self.next_word(nxt) == nxt + 1 else None
                if frac is not None:
                    value, end, kind = value + frac[0], frac[1], "fraction"
        last, percent, money, cents = self.suffixes(end)
        self.emit(value, start, last if percent else end, kind, neg=neg, money=money, percent=percent, cents=cents)
        return last + 1


def find_numbers(text: str) -> list[NumberMatch]:
    """Return every number in `text` with its position in `normalize_text(text)`, in reading order."""
    return list(_scan_cached(text))


@lru_cache(maxsize=4096)
def _scan_cached(text: str) -> tuple[NumberMatch, ...]:
    # the reveal gate re-reads every earlier reply on each turn: scanning a text once is enough
    return tuple(_Scanner(normalize_text(text)).scan())


def extract_numbers(text: str) -> list[float]:
    """Return the values of every number in `text` (digits, money, percent, fractions, words), in order."""
    return [m.value for m in find_numbers(text)]


# --------------------------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------------------------


def format_number(value: float) -> str:
    """Return the canonical text of a number: `18` for 18.0, `0.75`, `12.5` (no trailing zeros)."""
    if math.isfinite(value) and abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


_ONES_WORDS = [w for w, _ in sorted(_UNITS.items(), key=lambda kv: kv[1])]
_TENS_WORDS = {v: w for w, v in _TENS.items()}
_SCALE_WORDS = [(1_000_000_000_000, "trillion"), (1_000_000_000, "billion"), (1_000_000, "million"), (1000, "thousand")]


def _below_thousand(n: int) -> str:
    parts = []
    if n >= 100:
        parts.append(f"{_ONES_WORDS[n // 100]} hundred")
        n %= 100
    if n >= 20:
        tens, ones = divmod(n, 10)
        parts.append(_TENS_WORDS[tens * 10] + (f"-{_ONES_WORDS[ones]}" if ones else ""))
    elif n or not parts:
        parts.append(_ONES_WORDS[n])
    return " ".join(parts)


def number_to_words(n: float) -> str:
    """Return a number in English words: 18 -> "eighteen", -5 -> "minus five", 2.5 -> "two point five"."""
    if not math.isfinite(n):
        raise ValueError(f"cannot write {n!r} in words")
    if n < 0:
        return "minus " + number_to_words(-n)
    text = format_number(n)
    if "." in text:
        whole, frac = text.split(".")
        return number_to_words(int(whole)) + " point " + " ".join(_ONES_WORDS[int(d)] for d in frac)
    value = int(text)
    if value >= 1000 * _SCALE_WORDS[0][0]:
        return text
    if value < 1000:
        return _below_thousand(value)
    parts = []
    for scale, name in _SCALE_WORDS:
        if value >= scale:
            parts.append(f"{_below_thousand(value // scale)} {name}")
            value %= scale
    if value:
        parts.append(_below_thousand(value))
    return " ".join(parts)


# --------------------------------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------------------------------


def compare(a: float | None, b: float | None, *, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> bool:
    """Whether two numbers are equal within a relative or absolute tolerance (None never equals anything)."""
    if a is None or b is None:
        return False
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)


class AnswerCheck(BaseModel):
    """The verdict on a learner's answer, the number judged and every number found."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    value: float | None = None
    numbers: list[float] = []
    candidates: list[float] = []

    @property
    def correct(self) -> bool:
        """Whether the verdict is "correct"."""
        return self.verdict == "correct"


# Text just before a number that marks it as the stated answer ("the answer is 18", "#### 18").
_CUE_RE = re.compile(
    r"(?:\banswers?|\bresult|\bsolution|\bfinal(?:ly)?)\b[^\d.?!;]{0,20}$|####\s*$"
    r"|(?:\bin total|\baltogether|\bin all|\btotal\s*(?:is|was|=|:|comes to|would be|will be))[^\d.?!;]{0,12}$"
)
# Text just before a number that marks it as a result ("= 18", "equals 18", "it's 18", "I got 18").
_RESULT_RE = re.compile(
    r"(?:=|\bequals?(?: to)?|\bis|\bare|\bwas|\bwere|\bmakes?|\bgives?|\bget|\bgets|\bgot|\bcomes? to|\bleaves?"
    r"|\bleft with|\bbe|'s|\bthat's|\bit's|\bso|\bthen|\bthus|\btherefore|\bhence)\s*(?:about|approximately|exactly)?"
    r"\s*$"
)
_OPERATOR_AFTER_RE = re.compile(r"^\s*(?:[-+*/x×÷^]|plus\b|minus\b|times\b|divided\b|multiplied\b|over\b)")
_OPERATOR_BEFORE_RE = re.compile(
    r"(?:[-+*/x×÷^]|\bplus|\bminus|\btimes|\bby|\bover|\bmultiply|\bdivide|\badd|\bsubtract)\s*\$?\s*$"
)
_ALTERNATIVE_RE = re.compile(
    r"^[\s,?.!]*(?:or|maybe|perhaps|possibly)\b(?:\s+(?:maybe|perhaps|possibly|is it|it's|it is|was it))?"
    r"[\s,?.!]*$"
)
_CORRECTION_RE = re.compile(r"\b(?:wait|no|actually|sorry|oops|i mean|correction|instead|scratch that)\b")
_JUSTIFICATION_RE = re.compile(r"\b(?:because|since)\b")


def _window_before(text: str, matches: list[NumberMatch], k: int) -> str:
    """The text between the previous number (or sentence start) and number k."""
    lo = matches[k - 1].end if k > 0 else 0
    segment = text[lo : matches[k].start]
    cut = max(segment.rfind(". "), segment.rfind("? "), segment.rfind("! "), segment.rfind("\n"))
    return segment[cut + 1 :] if cut >= 0 else segment


def _between(text: str, a: NumberMatch, b: NumberMatch) -> str:
    return text[a.end : b.start]


def check_answer(text: str, expected_value: float, *, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> AnswerCheck:
    """Judge the learner's final stated number against `expected_value` (see `_check_answer` for the rules)."""
    return _check_answer_cached(text, float(expected_value), rel_tol, abs_tol).model_copy()


@lru_cache(maxsize=4096)
def _check_answer_cached(text: str, expected_value: float, rel_tol: float, abs_tol: float) -> AnswerCheck:
    # the reveal gate asks about every earlier learner message on each turn: judge a message once
    return _check_answer(text, expected_value, rel_tol=rel_tol, abs_tol=abs_tol)


def _check_answer(text: str, expected_value: float, *, rel_tol: float = 1e-6, abs_tol: float = 1e-6) -> AnswerCheck:
    """Judge the learner's final stated number against `expected_value`.

    The final number is, in order of preference: the last number right after an answer cue ("answer",
    "result", "total", "final", "####"); else the last number in a result position (after "=", "equals",
    "is", "got", "so", ... and not itself followed by an operator, so in "= 9 * 2" the 9 is an operand);
    else the last number before a "because"/"since" justification, if any; else the last number. The
    verdict is "no_answer" when there is no number, or when that fallback number is an operand of a
    computation not carried out ("9 * 2", "multiply 9 by 2", "what is 9 * 2?").

    The verdict is "ambiguous" when the learner offers several different final numbers and no rule decides:
    the chosen number is one of alternatives joined by "or"/"maybe"/"perhaps" ("17 or 18", "is it 17? or 18?"),
    or it sits in "between X and Y"; or two answer-cue numbers differ with no self-correction ("wait",
    "no", "actually", "I mean") between them — a self-correction drops every number before it, so "17, no
    wait, 18" is 18; or three or more different numbers are each asked as a
    question ("is it 16? is it 17? is it 18?"). Numbers that are equal ("18 or 18.0") are not alternatives.
    """
    norm = normalize_text(text)
    matches = _Scanner(norm).scan()
    numbers = [m.value for m in matches]
    if not matches:
        return AnswerCheck(verdict="no_answer", value=None, numbers=[])

    def operand(k: int) -> bool:
        return bool(_OPERATOR_AFTER_RE.match(norm[matches[k].end :]))

    windows = [_window_before(norm, matches, k) for k in range(len(matches))]
    # a self-correction ("17, no wait, 18") discards the numbers said before it
    first = 0
    for corr in _CORRECTION_RE.finditer(norm):
        later = [k for k in range(len(matches)) if matches[k].start >= corr.end()]
        if later and later[0] > 0:
            first = later[0]
    span = range(first, len(matches))
    cue = [k for k in span if _CUE_RE.search(windows[k]) and not operand(k)]
    result = [k for k in span if _RESULT_RE.search(windows[k]) and not operand(k)]
    if cue:
        chosen = cue[-1]
    elif result:
        chosen = result[-1]
    else:
        chosen = len(matches) - 1
        just = _JUSTIFICATION_RE.search(norm)
        if just:
            before = [k for k in span if matches[k].end <= just.start()]
            if before:
                chosen = before[-1]
        if operand(chosen) or _OPERATOR_BEFORE_RE.search(windows[chosen]):
            # "9 * 2", "multiply 9 by 2": a computation to do, not a stated result
            return AnswerCheck(verdict="no_answer", value=None, numbers=numbers)
    final = matches[chosen]

    def same(a: NumberMatch, b: NumberMatch) -> bool:
        return compare(a.value, b.value, rel_tol=rel_tol, abs_tol=abs_tol)

    alternatives: list[float] = []
    # chain of alternatives around the chosen number: 17 or 18, 16, 17 or 18
    lo = chosen
    while lo > first and (
        _ALTERNATIVE_RE.match(_between(norm, matches[lo - 1], matches[lo]))
        or (re.fullmatch(r"\s*,\s*", _between(norm, matches[lo - 1], matches[lo])) and lo != chosen)
    ):
        lo -= 1
    hi = chosen
    while hi + 1 < len(matches) and _ALTERNATIVE_RE.match(_between(norm, matches[hi], matches[hi + 1])):
        hi += 1
    group = matches[lo : hi + 1]
    if any(not same(m, final) for m in group):
        alternatives = [m.value for m in group]
    if not alternatives and chosen > 0:
        before = norm[max(0, matches[chosen - 1].start - 12) : matches[chosen - 1].start]
        joined = _between(norm, matches[chosen - 1], final)
        if re.search(r"\bbetween\s*\$?$", before) and re.fullmatch(r"\s*and\s*\$?", joined):
            alternatives = [matches[chosen - 1].value, final.value]
    if not alternatives and len(cue) >= 2:
        for a, b in zip(cue, cue[1:], strict=False):
            if not same(matches[a], matches[b]) and not _CORRECTION_RE.search(norm[matches[a].end : matches[b].start]):
                alternatives = [matches[k].value for k in cue]
                break
    if not alternatives:
        asked: list[float] = []
        for m in matches:
            if norm[m.end : m.end + 3].lstrip().startswith("?") and not any(compare(m.value, v) for v in asked):
                asked.append(m.value)
        if len(asked) >= 3:
            alternatives = asked
    if alternatives:
        return AnswerCheck(verdict="ambiguous", value=final.value, numbers=numbers, candidates=alternatives)
    ok = any(compare(v, expected_value, rel_tol=rel_tol, abs_tol=abs_tol) for v in final.values)
    return AnswerCheck(
        verdict="correct" if ok else "incorrect", value=final.value, numbers=numbers, candidates=[final.value]
    )


def fraction_of(value: float, max_denominator: int = 100) -> Fraction | None:
    """Return `value` as a fraction with a small denominator, or None when no such fraction is exact."""
    frac = Fraction(value).limit_denominator(max_denominator)
    return frac if compare(float(frac), value, rel_tol=1e-9, abs_tol=1e-9) else None


_ARITHMETIC_OPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def evaluate_arithmetic(source: str) -> float | None:
    """The value of plain + - * / arithmetic on numbers (unary minus and parentheses too), else None."""

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC_OPS:
            return _ARITHMETIC_OPS[type(node.op)](value(node.left), value(node.right))
        raise ValueError("not plain arithmetic")

    try:
        tree = ast.parse(source.strip(), mode="eval")  # one parse at a time: pedagraph._ast_lock
        result = value(tree.body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None
    return result if math.isfinite(result) else None
