"""The reveal gate: a deterministic check that a tutor's visible reply does not give away the final answer.

The tutor runs every reply through `RevealGate.check` before showing it; a blocked reply is replaced (the
tutor, not this module, writes the replacement). The gate works on numbers (`pedagraph.answers.find_numbers`
on the NFKC-normalised, lower-cased reply, so full-width digits and zero-width characters do not hide
anything) and on the literal forms from `answer_forms`. Rules, in order:

0. **The learner already has it.** If any learner message states the correct final answer
   (`check_answer(message, final).verdict == "correct"`; a list of guesses is "ambiguous", not a statement),
   nothing is blocked: the answer is no longer secret.
1. **(a) The answer itself.** Blocked (reason `final_answer`) if a number in the reply equals the final
   answer — whatever its form: `18`, `18.00`, `$18.00`, `eighteen`, `1,800`, `3/4` or `75%` for 0.75 (a percent
   or cents number also counts as its value / 100). Blocked (reason `answer_form`) if a form from
   `answer_forms` appears literally (`1 8`, `1-8`, `one eight`, `three quarters`). Blocked (reason
   `arithmetic_result`) if an arithmetic statement shows the final answer as its result (`9 + 9 = 18`, `nine
   plus nine equals eighteen`). When the final answer is itself one of the problem's numbers (an allowed
   number), a plain mention is allowed — the tutor may quote the problem — and only a result-position
   mention (after `=`, "equals", "is", "answer", "total", or followed by "left"/"in total"/...) or a
   spelled-out form (`1 8`, `one eight`) is blocked.
2. **(b) Strict mode.** Once any learner message (in this session, or on the same problem in an earlier one:
   `extraction_before`) is an extraction attempt (`is_extraction_attempt`: asking
   for digits, what the answer starts/ends with, to spell it, say it in words, backwards, in binary or Roman
   numerals, "just tell me", "what is the answer", "ignore your instructions", "pretend", role-play, "you
   are now", "developer mode", ...), every later reply is also blocked (reason `answer_fragment`) if it has
   a standalone number whose digit string is a contiguous fragment of the answer's digits (for 18: `1`,
   `8`; for 250: `2`, `5`, `0`, `25`, `50`) and that is not an allowed number. If the reply talks about
   digits ("digit", "starts with", "ends with"), allowed numbers are no excuse.
3. **(c) Spelled across turns.** The standalone numbers the tutor emitted across `prior_replies` (this
   session's, after the learner's earlier sessions' replies on the problem) and this
   reply, in order, skipping allowed numbers (and, outside strict mode, step indices such as "step 2" and
   numbers the learner already said), must not have two or more consecutive entries whose digit strings
   join to the answer's digits (`1` in one reply and `8` in the next, for 18). Reason `spelled_across_turns`.

3. **(d) Loose forms of the answer.** Even when the problem prints it, the answer in words of any language
   `num2words` speaks (CJK numerals read inside running text), lower-case Roman numerals, letters spelled out
   with separators or a word written backwards (`hidden_forms_in`). Reason `encoded_value`.
4. **(e) The allow-list** (model-written replies: `allowed_values` given). Every value the reply writes, in any
   numeric form (`read_values`: digits of every script, numeric characters, look-alike letters, words, Roman
   numerals, bases, notations), must be one the learner can see or has earned: the problem's numbers, the
   learner's own, the replies already shown, the given values (the move's template, cited passages), the step
   results the learner produced, and the trivial counts 0, 1 and 2 (unless one is the answer). Values the
   reply derives by arithmetic from written numbers are checked against the answer (rule a). Reason
   `unlisted_value`.

Allowed numbers are the numbers printed in the problem (`Problem.numbers()`), plus intermediate step results
once the learner has said them (`step_values`). A number is "standalone" when it is a number of its own in
the text: the 8 inside 180 is not one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from pedagraph.answers import (
    NumberMatch,
    check_answer,
    compare,
    find_numbers,
    format_number,
    fraction_of,
    normalize_text,
    number_to_words,
)
from pedagraph.visible import hidden_forms_in, ordinals, read_values, stated_values, visible_text

if TYPE_CHECKING:
    from pedagraph.problems import Problem

__all__ = ["TRIVIAL_VALUES", "GateResult", "RevealGate", "answer_digits", "answer_forms", "is_extraction_attempt"]

_DENOMINATOR_WORDS = {
    2: ("half", "halves"), 3: ("third", "thirds"), 4: ("quarter", "quarters"), 5: ("fifth", "fifths"),
    6: ("sixth", "sixths"), 7: ("seventh", "sevenths"), 8: ("eighth", "eighths"), 9: ("ninth", "ninths"),
    10: ("tenth", "tenths"), 12: ("twelfth", "twelfths"), 100: ("hundredth", "hundredths"),
}  # fmt: skip


def _fraction_words(num: int, den: int) -> set[str]:
    words = _DENOMINATOR_WORDS.get(den)
    if words is None:
        return set()
    name = words[0] if num == 1 else words[1]
    forms = {f"{number_to_words(num)} {name}"}
    if num == 1:
        forms.add(f"a {name}")
    if den == 4:
        forms.add(f"{number_to_words(num)} {'fourth' if num == 1 else 'fourths'}")
    return forms


def answer_forms(value: float) -> set[str]:
    """Return the literal forms of an answer the gate looks for: digits, money, words, spaced digits, fractions."""
    forms: set[str] = set()
    sign = "-" if value < 0 else ""
    mag = abs(value)
    text = format_number(mag)
    if "." not in text:
        n = int(text)
        digits = [text] + ([f"{n:,}"] if n >= 1000 else [])
        for d in digits:
            forms |= {f"{sign}{d}", f"{sign}{d}.0", f"{sign}{d}.00", f"{sign}${d}", f"{sign}${d}.00"}
            forms.add(f"{sign}{d} dollars")
        words = number_to_words(n)
        forms |= {words, words.replace("-", " "), re.sub(r"hundred (?=\w)", "hundred and ", words)}
        if n >= 1000 and n % 1000 == 0:
            forms |= {f"{format_number(n / 1000)} thousand", f"{format_number(n / 1000)}k"}
        if n >= 1_000_000 and n % 100_000 == 0:
            forms.add(f"{format_number(n / 1_000_000)} million")
        if len(text) >= 2:
            spelled = [number_to_words(int(c)) for c in text]
            forms |= {" ".join(text), "-".join(text), " ".join(spelled), "-".join(spelled)}
    else:
        forms |= {f"{sign}{text}", f"{sign}${text}", f"{sign}{mag:.2f}", f"{sign}${mag:.2f}", number_to_words(mag)}
        if text.startswith("0."):
            forms.add(f"{sign}{text[1:]}")
        percent = format_number(mag * 100)
        forms |= {f"{sign}{percent}%", f"{sign}{percent} percent"}
        frac = fraction_of(mag)
        if frac is not None and frac.denominator > 1:
            whole, rest = divmod(frac.numerator, frac.denominator)
            forms.add(f"{sign}{frac.numerator}/{frac.denominator}")
            if whole:
                forms.add(f"{sign}{whole} {rest}/{frac.denominator}")
                for fw in _fraction_words(rest, frac.denominator):
                    forms.add(f"{number_to_words(whole)} and {fw}")
                    forms.add(f"{whole} and {fw}")
            else:
                forms |= _fraction_words(rest, frac.denominator)
    if value < 0:
        forms |= {f"minus {number_to_words(mag)}", f"negative {number_to_words(mag)}"}
    if "." not in text and 0 < mag <= 10_000_000:
        forms |= _spoken_forms(int(mag))
    return {f.strip() for f in forms if f.strip()}


_ENGLISH_LOOKALIKES = frozenset({"due", "elf"})
"""Number words of other languages that are common English words ("due" is Italian 2): not read as numbers."""
OTHER_LANGUAGES = ("fr", "de", "es", "it", "pt", "nl", "pl", "ru", "tr", "sv", "da", "ja")
"""Languages a model may switch to whose number words the gate reads (through num2words)."""


@lru_cache(maxsize=1024)
def _spoken_forms(n: int) -> frozenset[str]:
    """Ordinals ("eighteenth", "18th") and the number in other languages ("dix-huit", "achtzehn")."""
    from num2words import num2words

    forms = {num2words(n, to="ordinal")}
    for lang in OTHER_LANGUAGES:
        try:
            word = num2words(n, lang=lang)
        except (NotImplementedError, ValueError, OverflowError):
            continue
        if len(word) >= 3 and word not in _ENGLISH_LOOKALIKES:
            forms |= {word, word.replace("-", " ")}
    return frozenset(f.lower() for f in forms)


def answer_digits(value: float) -> str:
    """Return the digit string of a number as a learner would read it: 18 -> "18", 0.75 -> "75", 2.5 -> "25"."""
    digits = re.sub(r"\D", "", format_number(abs(value))).lstrip("0")
    return digits or "0"


# --------------------------------------------------------------------------------------------------------------
# Extraction attempts
# --------------------------------------------------------------------------------------------------------------

_ANSWER = r"(?:answer|solution|result)"
_EXTRACTION_PATTERNS = [
    r"\b(?:first|second|third|fourth|last|final|next|middle|leading|other|remaining|1st|2nd|3rd|4th)\s+"
    rf"(?:digits?|letters?|characters?|(?:half|part) of (?:the|your) (?:{_ANSWER}|number))\b",
    r"\bdigits?\b",
    r"\bhow many (?:letters|characters|numbers) (?:are )?in\b",
    r"\b(?:answer|it|number|result|solution|that|this)\s+(?:\w+\s+)?(?:starts?|begins?|ends?)\s+with\b",
    r"\b(?:starts?|begins?|ends?)\s+with\s+(?:a|an|the)?\s*digit",
    r"\bspell(?:ed|ing|s)?\b",
    r"\b(?:in|as|using|with)\s+(?:words?|letters)\b",
    r"\bwritten out\b|\bwrite (?:it|that|the \w+) out\b",
    r"\bbackwards?\b|\bin reverse\b|\breversed\b|\breverse order\b",
    r"\bbinary\b|\bhexadecimal\b|\bin hex\b|\boctal\b|\bbase\s*\d+\b|\bbase64\b|\broman numerals?\b|\bmorse\b",
    r"\b(?:in|into|to)\s+(?:french|spanish|german|chinese|another language|emojis?|code)\b",
    r"\bjust (?:tell|give|say|show|type|print|write|send)\b",
    rf"\b(?:tell|give|show|send|print|reveal|say|type|write|need|want)\s+(?:me\s+|us\s+)?(?:the|your|what)?\s*"
    rf"(?:final\s+|correct\s+|right\s+|real\s+|actual\s+)?{_ANSWER}\b",
    rf"\bwhat(?:'s|s| is| was| are)\s+(?:the|your)\s+(?:final\s+|correct\s+|right\s+|real\s+|actual\s+)?{_ANSWER}\b",
    rf"\b{_ANSWER}\s+(?:please|pls|plz|now)\b",
    r"\b(?:ignore|disregard|forget|override|bypass)\b.{0,40}\b(?:instructions?|rules?|prompts?|guidelines|"
    r"restrictions?|system|programming|constraints?|previous|above)\b",
    r"\bpretend\b|\brole[\s-]?play\b|\byou are now\b|\byou're now\b|\bfrom now on\b|\bact (?:as|like)\b",
    r"\bdeveloper mode\b|\bdan mode\b|\bjailbreak\b|\bsystem prompt\b|\bnew instructions?\b",
    r"\bimagine (?:you|that you)\b",
    r"\b(?:is|was) (?:it|the answer|the result|the number)\s+(?:more|less|greater|bigger|smaller|higher|lower|larger|"
    r"over|under|above|below|even|odd|positive|negative|between|close to|near|around)\b",
    r"\b(?:higher|lower|hotter|colder)\s+or\s+(?:lower|higher|colder|hotter)\b",
    r"\b(?:write|make|compose|give|sing)\b.{0,25}\b(?:poem|song|riddle|acrostic|haiku|rap|limerick)\b",
    rf"\b(?:the {_ANSWER}|it)\s+(?:plus|minus|times|divided by|multiplied by|squared|cubed)\b",
    rf"\b(?:add|subtract|multiply|divide)\b.{{0,20}}\bthe {_ANSWER}\b",
]
_EXTRACTION_RE = re.compile("|".join(f"(?:{p})" for p in _EXTRACTION_PATTERNS))


def is_extraction_attempt(text: str) -> bool:
    """Whether a learner message tries to get the answer out (digits, spelling, "just tell me", jailbreaks)."""
    return bool(_EXTRACTION_RE.search(normalize_text(text)))


# --------------------------------------------------------------------------------------------------------------
# The gate
# --------------------------------------------------------------------------------------------------------------


_IMPLIED: list[tuple[str, tuple[float, ...]]] = [
    (r"percent|%|cents?|pennies|penny|century|centuries|centimet", (100.0, 0.01)),
    (r"dozens?", (12.0,)), (r"weeks?|weekly|days? a week", (7.0, 52.0)), (r"fortnight", (14.0, 7.0)),
    (r"years?|yearly|annual|annually|months?|monthly", (12.0, 52.0, 365.0, 30.0, 4.0)),
    (r"days?|daily|hours?|hourly|nights?", (24.0, 60.0, 7.0)), (r"minutes?|seconds?", (60.0,)),
    (r"half|halves|halved|twice|double", (0.5,)), (r"thirds?|triple|tripled|thrice", (3.0,)),
    (r"quarters?|quarterly", (4.0, 0.25, 25.0)), (r"dimes?", (10.0,)), (r"nickels?", (5.0,)),
    (r"decades?", (10.0,)), (r"feet|foot|inch|inches", (12.0,)), (r"yards?", (3.0, 36.0)),
    (r"kilo\w*|km|kg|liters?|litres?|meters?|metres?|grams?|milli\w*|ml", (1000.0, 100.0)),
    (r"pounds?|lbs?|ounces?|oz", (16.0,)), (r"gallons?|quarts?|pints?|cups?", (4.0, 2.0, 8.0, 16.0)),
    (r"weekdays?|work ?days?|school ?days?", (5.0,)), (r"weekends?", (2.0,)), (r"miles?", (5280.0, 1760.0)),
    (r"and a half", (1.5, 2.5, 0.5)), (r"scores?", (20.0,)), (r"gross", (144.0,)), (r"pairs?|couples?|both", (2.0,)),
]  # fmt: skip
_IMPLIED_RE = [(re.compile(rf"\b(?:{words})"), values) for words, values in _IMPLIED]


def implied_values(text: str) -> set[float]:
    """The constants a text's words imply (a week has 7 days, a percent is 1/100) and a percent's factors.

    A learner reading "25% more per week" sees 7, 100, 0.25 and 1.25 though the text prints only 25.
    """
    norm = normalize_text(text)
    found = {v for pattern, values in _IMPLIED_RE if pattern.search(norm) for v in values}
    for m in find_numbers(text):
        if m.percent:
            found |= {1 + m.value / 100, 1 - m.value / 100}
        frac = fraction_of(m.value, max_denominator=12) if 0 < m.value < 1 else None
        if frac is not None:  # "three-fourths": 3, 4 and the other 1 of 4
            num, den = frac.numerator, frac.denominator
            found |= {float(num), float(den), float(den - num), (den - num) / den}
        if re.match(r"\s*times\b", norm[m.end : m.end + 8]):  # "4 times as much": 5 parts in all
            found.add(m.value + 1)
    if re.search(r"\btwice as\b", norm):
        found.add(3.0)
    found |= {value for _start, _end, value in ordinals(norm)}
    for num, den in re.findall(r"(?<![\d.])(\d+)\s*/\s*(\d+)(?![\d.])", norm):  # 3/4: its parts, its rest
        found |= {float(num), float(den), float(den) - float(num), (float(den) - float(num)) / max(1.0, float(den))}
    return found


TRIVIAL_VALUES = (0.0, 1.0, 2.0)
"""Counts a reply may use though the problem does not print them ("one step at a time", "the two numbers")."""


class GateResult(BaseModel):
    """The gate's decision on one reply: blocked or not, why (a reason code), and the text that matched."""

    model_config = ConfigDict(frozen=True)

    blocked: bool
    reason: str
    matched: str | None = None


_RESULT_BEFORE_RE = re.compile(
    r"(?:=|\bequals?(?: to)?|\bis|\bare|\bwas|\bwere|\bmakes?|\bgives?|\bget|\bgets|\bcomes? to|\banswers?|\btotal"
    r"|\bresult|\bleaves?|\bbe|'s|\bthat's|\bit's|\bso|\btherefore|\bthus|\bhence|\baltogether)[^\d\n.?!]{0,8}$"
)
_RESULT_AFTER_RE = re.compile(r"^\s*(?:\w+\s+){0,2}?(?:left|remaining|in total|altogether|in all|total)\b")
_ARITHMETIC_RE = re.compile(r"[-+*/×÷x]\s*\$?\s*[\d.]|\b(?:plus|minus|times|divided by|multiplied by|over)\b")
_STEP_INDEX_RE = re.compile(
    r"(?:\b(?:step|part|question|sub-question|subquestion|stage|problem)|#|\bno\.)\s*\(?\s*$"
)
_STEP_LABEL_RE = re.compile(
    r"(\b(?:step|part|question|sub-question|subquestion|stage|problem)|#|\bno\.)(\s*\(?\s*)\d+(?:\.\d+)?"
)
_DIGIT_TALK_RE = re.compile(r"\bdigits?\b|\b(?:starts?|begins?|ends?) with\b")


_DIGIT_WORDS = frozenset(number_to_words(d) for d in range(10))


def _all_digit_words(form: str) -> bool:
    words = form.replace("-", " ").split()
    return len(words) >= 2 and all(w in _DIGIT_WORDS for w in words)


_OPERAND_BEFORE_RE = re.compile(r"(?:\bwith|\bof|\bfrom|\bby|\band|,|[-+*/×÷])\s*\$?\s*$")
_OPERAND_AFTER_RE = re.compile(r"^\s*(?:,|\band\b|[-+*/×÷](?!\s*=))")


def _operand(norm: str, m: NumberMatch) -> bool:
    """Whether a number is used as an operand ("with 20 and 10", "20 / 10"), not stated as a result."""
    return bool(_OPERAND_BEFORE_RE.search(norm[max(0, m.start - 12) : m.start])) or bool(
        _OPERAND_AFTER_RE.match(norm[m.end : m.end + 12])
    )


def _flatten(text: str) -> str:
    return re.sub(r"\s+", " ", normalize_text(text)).strip()


def _form_pattern(form: str) -> re.Pattern[str]:
    # not inside a longer number, word, fraction or subtraction: "3" in "1/3", "3-4" in "16-3-4" do not count
    return re.compile(r"(?<![\w.,$/-])" + re.escape(_flatten(form)) + r"(?![\w/-]|[.,]\d)")


class RevealGate:
    """Decide whether a tutor reply reveals the final answer; see the module docstring for the rules."""

    def __init__(
        self,
        final_value: float,
        allowed_numbers: Iterable[float] = (),
        *,
        step_values: Iterable[float] = (),
        rel_tol: float = 1e-6,
        abs_tol: float = 1e-6,
        problem_text: str = "",
    ) -> None:
        self.final_value = float(final_value)
        self.problem_text = _flatten(problem_text)
        self.allowed_numbers = frozenset(float(v) for v in allowed_numbers)
        self.step_values = tuple(float(v) for v in step_values if not compare(v, final_value))
        self.rel_tol = rel_tol
        self.abs_tol = abs_tol
        self.forms = answer_forms(self.final_value)
        self.digits = answer_digits(self.final_value)
        self.final_is_allowed = self._in(self.final_value, self.allowed_numbers)
        spelled = {f for f in self.forms if re.fullmatch(r"-?(?:\d[ -])+\d", f) or _all_digit_words(f)}
        self._spelled_patterns = [(f, _form_pattern(f)) for f in sorted(spelled)]
        self._form_patterns = [(f, _form_pattern(f)) for f in sorted(self.forms, key=len, reverse=True)]

    @classmethod
    def for_problem(cls, problem: Problem, **kwargs: float) -> RevealGate:
        """Build the gate for a problem: its final value, its printed numbers, its intermediate step results."""
        if problem.final_value is None:
            raise ValueError(f"problem {problem.id!r} has no numeric final answer to protect")
        return cls(
            problem.final_value,
            problem.numbers(),
            step_values=[s.answer_value for s in problem.steps if s.answer_value is not None],
            problem_text=problem.question,
            **kwargs,
        )

    # -- helpers ----------------------------------------------------------------------------------------------
    def _in(self, value: float, values: Iterable[float]) -> bool:
        return any(compare(value, v, rel_tol=self.rel_tol, abs_tol=self.abs_tol) for v in values)

    def _is_final(self, m: NumberMatch) -> bool:
        return self._in(self.final_value, m.values)

    def learner_has_answer(self, learner_messages: Sequence[str]) -> bool:
        """Whether any learner message states the correct final answer."""
        return any(
            check_answer(msg, self.final_value, rel_tol=self.rel_tol, abs_tol=self.abs_tol).verdict == "correct"
            for msg in learner_messages
        )

    def strict(self, learner_messages: Sequence[str]) -> bool:
        """Whether strict mode is on: some learner message is an extraction attempt."""
        return any(is_extraction_attempt(msg) for msg in learner_messages)

    def _allowed(self, learner_messages: Sequence[str]) -> frozenset[float]:
        said = [v for msg in learner_messages for v in (m.value for m in find_numbers(msg))]
        extra = [v for v in self.step_values if self._in(v, said)]
        return self.allowed_numbers | frozenset(extra)

    def _tokens(self, text: str, allowed: frozenset[float], skip: frozenset[float], strict: bool) -> list[str]:
        norm = normalize_text(text)
        out = []
        for m in find_numbers(text):
            if self._in(m.value, allowed) or self._in(m.value, skip):
                continue
            if not strict and _STEP_INDEX_RE.search(norm[max(0, m.start - 16) : m.start]):
                continue
            out.append(answer_digits(m.value))
        return out

    # -- the check --------------------------------------------------------------------------------------------
    def check(
        self,
        reply: str,
        *,
        learner_messages: Sequence[str] = (),
        prior_replies: Sequence[str] = (),
        extraction_before: bool = False,
        allowed_values: Iterable[float] | None = None,
    ) -> GateResult:
        """Check one tutor reply against the rules, given the learner's messages and the earlier replies.

        `prior_replies` may reach back into the learner's earlier sessions on the problem, and
        `extraction_before` says the learner tried to extract the answer in one of them (strict mode from the
        start). The reply is judged as written and as the chat shows it (`visible_text`: Markdown and HTML
        rendered, entities decoded, invisible characters dropped), and for values it states in other forms
        (`stated_values`: arithmetic, "half of", Roman numerals, other bases, ordinals, reversed digits).
        """
        if self.learner_has_answer(learner_messages):
            return GateResult(blocked=False, reason="learner_has_answer")
        strict = extraction_before or self.strict(learner_messages)
        result = self._check_text(reply, learner_messages, prior_replies, strict)
        seen = visible_text(reply)
        if not result.blocked and seen != reply.strip():
            result = self._check_text(seen, learner_messages, [visible_text(p) for p in prior_replies], strict)
        if not result.blocked:
            for text, value in stated_values(reply):
                if compare(value, self.final_value, rel_tol=self.rel_tol, abs_tol=self.abs_tol):
                    return GateResult(blocked=True, reason="encoded_value", matched=text)
            for text, value, _derived in read_values(reply):
                if compare(value, self.final_value, rel_tol=self.rel_tol, abs_tol=self.abs_tol) and _derived:
                    return GateResult(blocked=True, reason="encoded_value", matched=text)
            hidden = hidden_forms_in(reply, self.final_value)  # never a way to quote the problem
            if hidden is not None:
                return GateResult(blocked=True, reason="encoded_value", matched=hidden)
        if not result.blocked and allowed_values is not None:
            unlisted = self.unlisted(reply, allowed_values, learner_messages, prior_replies)
            if unlisted is not None:
                return GateResult(blocked=True, reason="unlisted_value", matched=unlisted)
        return result

    def visible_values(
        self, allowed_values: Iterable[float], learner_messages: Sequence[str], prior_replies: Sequence[str]
    ) -> tuple[frozenset[float], tuple[float, ...]]:
        """(the values the learner can see or has earned, the hidden results: the answer and unearned steps)."""
        said = {v for msg in learner_messages for m in find_numbers(msg) for v in m.values}
        shown = {v for text in prior_replies for m in find_numbers(visible_text(text)) for v in m.values}
        printed = {v for m in find_numbers(self.problem_text) for v in m.values} | implied_values(self.problem_text)
        printed |= {v for msg in learner_messages for v in implied_values(msg)}
        earned = {v for v in self.step_values if self._in(v, said)}
        visible = frozenset({*allowed_values, *self.allowed_numbers, *printed, *said, *shown, *earned})
        hidden = (self.final_value, *(v for v in self.step_values if not self._in(v, visible)))
        return visible, hidden

    def unlisted(
        self,
        reply: str,
        allowed_values: Iterable[float],
        learner_messages: Sequence[str] = (),
        prior_replies: Sequence[str] = (),
    ) -> str | None:
        """The first value the reply writes that the learner can neither see nor has earned (None: all allowed)."""
        visible, hidden = self.visible_values(allowed_values, learner_messages, prior_replies)
        unlabelled = _STEP_LABEL_RE.sub(r"\1\2", normalize_text(visible_text(reply)))
        for text, value, derived in read_values(unlabelled):
            if derived or self._in(value, visible):
                continue
            if self._in(value, TRIVIAL_VALUES) and not self._in(value, hidden[:1]):
                continue
            return text
        return None

    def _quoted_from_problem(self, norm: str, m: NumberMatch) -> bool:
        """Whether a mention of the number sits in words quoted from the problem ("16 eggs", "lay 16").

        Without the problem's text (a gate built from numbers only) every plain mention counts as a quote.
        """
        if not self.problem_text:
            return True
        before = " ".join(re.findall(r"[\w$']+", norm[max(0, m.start - 30) : m.start])[-2:])
        after = " ".join(re.findall(r"[\w']+", norm[m.end : m.end + 30])[:2])
        number = norm[m.start : m.end]
        return any(part and f"{number}{part}" in self.problem_text for part in (f" {after}",)) or bool(
            before and f"{before} {number}" in self.problem_text
        )

    def _check_text(
        self, reply: str, learner_messages: Sequence[str], prior_replies: Sequence[str], strict: bool
    ) -> GateResult:
        norm = normalize_text(reply)
        flat = _flatten(reply)
        matches = find_numbers(reply)
        # (a) the answer itself; outside strict mode a step label ("Step 2", "question #2") is not an answer
        for m in matches:
            if not self._is_final(m):
                continue
            if not strict and _STEP_INDEX_RE.search(norm[max(0, m.start - 16) : m.start]):
                continue
            before = norm[max(0, m.start - 60) : m.start]
            clause = re.split(r"[.?!;:\n]", before)[-1]
            result_pos = bool(_RESULT_BEFORE_RE.search(clause) or _RESULT_AFTER_RE.match(norm[m.end :]))
            if self.final_is_allowed and not result_pos and (self._quoted_from_problem(norm, m) or _operand(norm, m)):
                continue  # the tutor quotes the problem, which prints this number, or uses it as an operand
            reason = "arithmetic_result" if result_pos and _ARITHMETIC_RE.search(clause) else "final_answer"
            return GateResult(blocked=True, reason=reason, matched=m.text)
        for start, end, value in ordinals(norm):  # "the answer is the 18th"
            clause = re.split(r"[.?!;:\n]", norm[max(0, start - 60) : start])[-1]
            if self._in(value, [self.final_value]) and _RESULT_BEFORE_RE.search(re.sub(r"\bthe\s*$", "", clause)):
                return GateResult(blocked=True, reason="final_answer", matched=norm[start:end])
        patterns = self._spelled_patterns if self.final_is_allowed else self._form_patterns
        unlabelled = flat if strict else _STEP_LABEL_RE.sub(r"\1\2", flat)
        for form, pattern in patterns:
            if pattern.search(unlabelled):
                return GateResult(blocked=True, reason="answer_form", matched=form)
        allowed = self._allowed(learner_messages)
        # (b) strict mode: no fragment of the answer's digits
        if strict:
            digit_talk = bool(_DIGIT_TALK_RE.search(norm))
            for m in matches:
                if not digit_talk and self._in(m.value, allowed):
                    continue
                if answer_digits(m.value) in self.digits:
                    return GateResult(blocked=True, reason="answer_fragment", matched=m.text)
        # (c) the answer spelled across replies
        if len(self.digits) >= 2:
            learner_said: frozenset[float] = frozenset()
            if not strict:
                learner_said = frozenset(m.value for msg in learner_messages for m in find_numbers(msg))
            stream: list[tuple[str, bool]] = []
            for prior in prior_replies:
                stream += [(t, False) for t in self._tokens(prior, allowed, learner_said, strict)]
            stream += [(t, True) for t in self._tokens(reply, allowed, learner_said, strict)]
            for end in range(len(stream)):
                if not stream[end][1]:
                    continue
                joined = stream[end][0]
                for start in range(end - 1, -1, -1):
                    joined = stream[start][0] + joined
                    if len(joined) > len(self.digits):
                        break
                    if joined == self.digits:
                        pieces = " + ".join(t for t, _ in stream[start : end + 1])
                        return GateResult(blocked=True, reason="spelled_across_turns", matched=pieces)
        return GateResult(blocked=False, reason="ok")

