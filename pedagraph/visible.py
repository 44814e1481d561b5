"""What a learner will see of a text, and the numbers it states in forms a plain number scan misses.

`visible_text` renders a reply the way the chat does (Markdown and HTML to text, entities decoded, comments and
invisible characters dropped, digits of any script folded to ASCII, digits split by markup joined), so the reveal
gate judges what is on screen, not the raw string. `stated_values` reads the values a text states without
writing the number plainly: arithmetic it shows ("9 + 9", "3 * 6"), simple phrases ("half of 36", "twice 9",
"one more than 17", "the number after 17"), Roman numerals, numbers in other bases where marked ("0b10010",
"10010 in binary"), and digits given backwards where the text says so; `ordinals` finds "18th".
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterator
from functools import lru_cache

from markdown_it import MarkdownIt

from pedagraph.answers import evaluate_arithmetic, find_numbers, format_number, normalize_text

_MD = MarkdownIt("commonmark", {"html": True})
_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_TAG_RE = re.compile(r"<[^>\n]{0,200}>")
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Cc"})


def _fold_char(ch: str) -> str:
    if ch in "\n\t":
        return ch
    if unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
        return ""
    if not ch.isascii() and ch.isdecimal():
        return str(unicodedata.decimal(ch))
    return ch


@lru_cache(maxsize=4096)
def visible_text(text: str) -> str:
    """The text as the chat shows it: Markdown/HTML rendered to plain text, entities decoded, invisibles dropped."""
    raw = html.unescape(html.unescape(text))
    raw = _COMMENT_RE.sub("", raw)
    try:
        rendered = _MD.render(raw)
    except Exception:  # noqa: BLE001 - markdown-it never should, but a gate must not crash on input
        rendered = raw
    plain = html.unescape(_TAG_RE.sub("", _COMMENT_RE.sub("", rendered)))
    plain = unicodedata.normalize("NFKC", plain)
    plain = "".join(_fold_char(ch) for ch in plain)
    return re.sub(r"[ \t]+", " ", plain).strip()


# -- values stated in other forms ------------------------------------------------------------------------------

_NUM = r"\d+(?:\.\d+)?"
_EXPR_RE = re.compile(rf"\(?\s*{_NUM}\s*\)?(?:\s*[-+*/x×÷]\s*\(?\s*{_NUM}\s*\)?)+")
_WORD_OPS = {"plus": "+", "minus": "-", "times": "*", "multiplied by": "*", "divided by": "/", "over": "/"}
_WORD_EXPR_RE = re.compile(rf"({_NUM})\s+(plus|minus|times|multiplied by|divided by)\s+({_NUM})")
_ROMAN_RE = re.compile(r"\b(?=[MDCLXVI]{2,}\b)M{0,4}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})\b")
_BASE_PREFIX_RE = re.compile(r"\b0([bxo])([0-9a-f]+)\b")
_BASE_WORDS = {"binary": 2, "base 2": 2, "octal": 8, "base 8": 8, "hex": 16, "hexadecimal": 16, "base 16": 16}
_BASE_MARKED_RE = re.compile(
    r"\b([0-9a-f]+)\s*(?:\(|in |as |is |=)?\s*(binary|octal|hexadecimal|hex|base \d+)\b"
    r"|\b(binary|octal|hexadecimal|hex|base \d+)\s*(?:number|form|notation)?\s*[:=]?\s*([0-9a-f]+)\b"
    r"|\b([0-9a-f]+)_\{?(\d+)\}?"
)
_REVERSE_RE = re.compile(r"\bbackwards?\b|\breversed?\b|\bin reverse\b|\bflip(?:ped)?\b")
_ORDINAL_SUFFIX_RE = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b(?!\s+(?:step|part|question|stage|line|one))")


def _safe_eval(source: str) -> float | None:
    return evaluate_arithmetic(source.replace("x", "*").replace("×", "*").replace("÷", "/"))


def _expressions(norm: str) -> Iterator[tuple[str, float]]:
    flat = norm.replace(",", "").replace("$", "")
    for m in _EXPR_RE.finditer(flat):
        value = _safe_eval(m.group(0))
        if value is not None:
            yield m.group(0).strip(), value
    for m in _WORD_EXPR_RE.finditer(flat):
        value = _safe_eval(f"{m.group(1)} {_WORD_OPS[m.group(2)]} {m.group(3)}")
        if value is not None:
            yield m.group(0), value


def _number_after(norm: str, pattern: str) -> Iterator[tuple[str, float]]:
    """Values of the numbers that follow a phrase (digits or words), with the matched text."""
    for m in re.finditer(pattern, norm):
        tail = norm[m.end() : m.end() + 40]
        found = find_numbers(tail)
        if found and found[0].start <= 2:
            yield m.group(0) + tail[: found[0].end], found[0].value


_PHRASES: list[tuple[str, Callable[[float], float]]] = [
    (r"\bhalf (?:of )?", lambda v: v / 2),
    (r"\b(?:a )?third of ", lambda v: v / 3),
    (r"\b(?:a )?quarter of ", lambda v: v / 4),
    (r"\b(?:twice|double|two times) ", lambda v: v * 2),
    (r"\b(?:triple|three times) ", lambda v: v * 3),
    (r"\b(?:one|1) (?:more|greater|bigger|larger) than ", lambda v: v + 1),
    (r"\b(?:one|1) (?:less|fewer|smaller) than ", lambda v: v - 1),
    (r"\b(?:the )?(?:number|integer|one) (?:right |just |that comes )?after ", lambda v: v + 1),
    (r"\b(?:the )?(?:number|integer|one) (?:right |just |that comes )?before ", lambda v: v - 1),
    (r"\b(?:ten|10) (?:more|greater) than ", lambda v: v + 10),
    (r"\b(?:ten|10) (?:less|fewer) than ", lambda v: v - 10),
    (r"\bsquare of ", lambda v: v * v),
]


def _phrases(norm: str) -> Iterator[tuple[str, float]]:
    for pattern, apply in _PHRASES:
        for text, value in _number_after(norm, pattern):
            yield text, apply(value)


_ROMAN_SINGLE_RE = re.compile(r"\b[VXLCDM]\b")


def _romans(visible: str) -> Iterator[tuple[str, float]]:
    import roman

    singles = _ROMAN_SINGLE_RE.finditer(visible) if re.search(r"(?i)\broman\b", visible) else iter(())
    for m in [*_ROMAN_RE.finditer(visible), *singles]:
        try:
            yield m.group(0), float(roman.fromRoman(m.group(0)))
        except roman.RomanError:
            continue


def _bases(norm: str) -> Iterator[tuple[str, float]]:
    for m in _BASE_PREFIX_RE.finditer(norm):
        base = {"b": 2, "x": 16, "o": 8}[m.group(1)]
        yield from _parse_base(m.group(0), m.group(2), base)
    for m in _BASE_MARKED_RE.finditer(norm):
        digits, word = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        if m.group(5):
            digits, word = m.group(5), f"base {m.group(6)}"
        if digits is None or word is None:
            continue
        base = int(word.split()[-1]) if word.startswith("base") else _BASE_WORDS.get(word)
        if base:
            yield from _parse_base(m.group(0), digits, base)


def _parse_base(text: str, digits: str, base: int) -> Iterator[tuple[str, float]]:
    if 2 <= base <= 36:
        try:
            yield text, float(int(digits, base))
        except ValueError:
            return


def ordinals(norm: str) -> Iterator[tuple[int, int, float]]:
    """Numbers written as ordinals with a suffix ("18th"), not naming a step: (start, end, value)."""
    for m in _ORDINAL_SUFFIX_RE.finditer(norm):
        yield m.start(), m.end(), float(m.group(1))


def _reversed(norm: str) -> Iterator[tuple[str, float]]:
    if not _REVERSE_RE.search(norm):
        return
    for m in find_numbers(norm):
        digits = re.sub(r"\D", "", m.text)
        if len(digits) >= 2:
            yield f"{m.text} (reversed)", float(digits[::-1])


def _digitized(norm: str) -> str:
    """The text with every number written in digits ("nine plus nine" -> "9 plus 9")."""
    norm = re.sub(r"\b(thousand|million|billion),\s+(?=[a-z])", r"\1 ", norm)  # "sixty thousand, nine hundred"
    out = norm
    for m in reversed(find_numbers(norm)):
        if m.percent or m.money or (m.value < 1 and not re.search(r"\d", m.text)):  # "half of" stays a phrase
            continue
        out = out[: m.start] + format_number(m.value) + out[m.end :]
    return out


def stated_values(text: str) -> list[tuple[str, float]]:
    """Values a text states in forms other than a plain number: (the matched text, its value)."""
    seen = visible_text(text)
    norm = normalize_text(seen)
    digits = _digitized(norm)
    found: list[tuple[str, float]] = []
    sources = (_expressions(digits), _phrases(digits), _romans(seen), _bases(norm), _reversed(norm))
    for source in sources:
        found.extend(source)
    return found
