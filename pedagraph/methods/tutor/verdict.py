"""Does a reply agree with the deterministic verdict and with the problem?

A reply to a wrong attempt never affirms it, a reply to a right one never denies it, and the numbers it
attributes to the problem are the problem's.

Affirming a wrong attempt harms a learner as much as a leak (MRBench's mistake identification); small models do
it readily ("That's correct. You're right." to "16 - 3 = 13"). Checked in code, next to the answer check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pedagraph.answers import compare, find_numbers, normalize_text
from pedagraph.problems import Problem
from pedagraph.taxonomy import Diagnosis, StudentResponse

_NEGATED_RE = re.compile(
    r"\b(?:not|n't|never|hardly)\s+(?:quite\s+|exactly\s+|entirely\s+|completely\s+)?(?:correct|right|it)\b"
    r"|\bisn'?t\s+(?:quite\s+)?(?:correct|right)\b"
)
_STRONG_AFFIRM_RE = re.compile(
    r"\b(?:that'?s|that is|you'?re|you are|it'?s|this is|your answer is|you got it)\s+"
    r"(?:exactly\s+|absolutely\s+|totally\s+|completely\s+|perfectly\s+|100%\s+)?(?:correct|right)\b"
    r"|(?:^|[.!]\s*)(?:correct|exactly right|that'?s it|spot on)\s*[.!]"
    r"|\byou(?:'ve| have)? (?:got it|nailed it|solved it)\b|\bwell done\b"
)
_WEAK_AFFIRM_RE = re.compile(
    r"(?:^|[.!]\s*)(?:yes|yep|exactly|perfect|excellent|great|good job|great job|nice work|nice job|awesome)\b"
)
_DENY_RE = re.compile(
    r"\b(?:not (?:quite )?(?:correct|right)|incorrect|(?:that'?s|that is|it'?s|is) wrong|not quite|isn'?t right"
    r"|try again|(?:there'?s|you made) (?:a|an) (?:mistake|error)|doesn'?t look right|check (?:that|it) again)\b"
)
_QUOTED_RE = re.compile(r'"[^"]{0,300}"')
_ANSWER_IS_RE = re.compile(r"\bthe (?:correct |right |final )?answer\b[^?.!]{0,120}?\b(?:is|equals)\s+")
_QUANTITY_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s+([a-z]{3,})")
_WORD_RE = re.compile(r"[a-z][a-z']{2,}")
_COMMON = frozenset("the and for that this with are was were has have had each per day every she they her his".split())


@dataclass(frozen=True)
class Disagreement:
    """Why a reply disagrees with the verdict or the problem: a reason code and the text that showed it."""

    reason: str
    matched: str


def _stem(word: str) -> str:
    return re.sub(r"(?:'s|es|s)$", "", word)


def _without_negations(norm: str) -> str:
    return _NEGATED_RE.sub(" ", norm)


def verdict_disagreement(reply: str, diagnosis: Diagnosis | None) -> Disagreement | None:
    """A reply that affirms a wrong or non-answer, or denies a right one (None when it agrees)."""
    if diagnosis is None:
        return None
    norm = normalize_text(reply)
    plain = _without_negations(norm)
    attempt_wrong = diagnosis.verdict == "incorrect" or (
        diagnosis.category in (StudentResponse.INCORRECT, StudentResponse.PARTIAL) and not diagnosis.setup
    )
    if diagnosis.verdict == "correct" or diagnosis.solved_final:
        m = _DENY_RE.search(norm)
        return Disagreement("denies_right_answer", m.group(0)) if m else None
    if diagnosis.setup:
        return None  # the right calculation, not worked out: "that's right, now work it out" agrees
    m = _STRONG_AFFIRM_RE.search(plain) or (_WEAK_AFFIRM_RE.search(plain) if attempt_wrong else None)
    if m:
        return Disagreement("affirms_wrong_answer" if attempt_wrong else "affirms_non_answer", m.group(0).strip())
    stated = _stated_as_the_answer(norm, diagnosis.value) if attempt_wrong else None
    return Disagreement("affirms_wrong_answer", stated) if stated else None


def _stated_as_the_answer(norm: str, value: float | None) -> str | None:
    """A statement (not a question) that "the answer ... is" the learner's wrong value, as the text that says so.

    Small models give the learner's number back as the answer ("The answer to the question ... is 13.") with no
    word of praise; "your answer is 13" only restates it and is left alone.
    """
    if value is None:
        return None
    for sentence in _sentences(_QUOTED_RE.sub("it", norm)):  # a quoted question is not the sentence's end
        if sentence.rstrip().endswith("?"):
            continue
        for m in _ANSWER_IS_RE.finditer(sentence):
            after = find_numbers(sentence[m.end() :])
            if after and after[0].start <= 2 and compare(after[0].value, value):
                return sentence.strip()
    return None


def _sentences(norm: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.?!])\s+|\n+", norm) if s.strip()]


def misquoted_quantity(reply: str, problem: Problem) -> Disagreement | None:
    """A number the reply attributes to the problem ("her ducks lay 9 eggs") that the problem does not say.

    A quantity is attributed when its sentence shares two content words with the problem sentence that gives
    the same thing (the same noun) a number; it is misquoted when it differs from every number given there.
    """
    stated: dict[str, list[tuple[float, set[str]]]] = {}
    for sentence in _sentences(normalize_text(problem.question)):
        words = {_stem(w) for w in _WORD_RE.findall(sentence)} - _COMMON
        for value, noun in _QUANTITY_RE.findall(sentence.replace(",", "")):
            stated.setdefault(_stem(noun), []).append((float(value), words - {_stem(noun)}))
    for sentence in _sentences(normalize_text(reply)):
        words = {_stem(w) for w in _WORD_RE.findall(sentence)} - _COMMON
        for value, noun in _QUANTITY_RE.findall(sentence.replace(",", "")):
            given = [v for v, context in stated.get(_stem(noun), []) if len(words & context) >= 2]
            if given and not any(compare(float(value), v) for v in given):
                return Disagreement("misquotes_problem", f"{value} {noun}")
    return None
