"""What a learner will see of a text, and the numbers it states in forms a plain number scan misses.

`visible_text` renders a reply the way the chat does (Markdown and HTML to text, entities decoded, comments and
invisible characters dropped, digits of any script folded to ASCII, digits split by markup joined), so the reveal
gate judges what is on screen, not the raw string. `stated_values` reads the values a text states without
writing the number plainly: arithmetic it shows ("9 + 9", "3 * 6"), simple phrases ("half of 36", "twice 9",
"one more than 17", "the number after 17"), Roman numerals, numbers in other bases where marked ("0b10010",
"10010 in binary"), and digits given backwards where the text says so; `ordinals` finds "18th".

`chat_text` is what the chat is allowed to show of a model's reply (plain text with limited Markdown: no raw
HTML, no images, no links, no format characters); the tutor stores and streams that string, so the gate reads
exactly what the browser renders. `read_values` is the allow-list's reader (every value a text writes, in any
numeric form Unicode knows, look-alike letters folded); `hidden_forms_in` finds one protected value in the forms
that are too loose to read in general (number words of every language `num2words` speaks, CJK numerals without
word boundaries, lower-case Roman numerals, letters spelled out with separators, words written backwards).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterator
from functools import lru_cache

from markdown_it import MarkdownIt

from pedagraph.answers import (
    compare,
    evaluate_arithmetic,
    find_numbers,
    format_number,
    normalize_text,
    number_to_words,
)

_MD = MarkdownIt("commonmark", {"html": True})
_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_TAG_RE = re.compile(r"<[^>\n]{0,200}>")
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me", "Cc"})


def _fold_char(ch: str) -> str:
    if ch in "\n\t":
        return ch
    category = unicodedata.category(ch)
    if category in _INVISIBLE_CATEGORIES:
        return ""
    if ch.isascii() or category[0] != "N":
        return ch
    if ch.isdecimal() or unicodedata.digit(ch, None) is not None:  # ٨, ❽, ➇, ⑧: a digit of a number
        return str(unicodedata.digit(ch))
    value = unicodedata.numeric(ch, None)  # Ⅻ, ⅐, 𐄢: a number of its own
    return f" {format_number(value)} " if value is not None else ch


_SUPERSCRIPTS, _SUBSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻", "₀₁₂₃₄₅₆₇₈₉₊₋"
_SCRIPTS_RE = re.compile(f"[{_SUPERSCRIPTS}]+|[{_SUBSCRIPTS}]+")


def _script(m: re.Match[str]) -> str:
    """A run of superscript digits as a power (`^12`), of subscript digits as a base (`_16`)."""
    text = m.group(0)
    if text[0] in _SUPERSCRIPTS:
        return "^" + text.translate(str.maketrans(_SUPERSCRIPTS, "0123456789+-"))
    return "_" + text.translate(str.maketrans(_SUBSCRIPTS, "0123456789+-"))


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
    plain = _SCRIPTS_RE.sub(_script, plain)  # before NFKC, which would join 10¹ into 101 and 12₁₆ into 1216
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


# -- what the chat may show ------------------------------------------------------------------------------------

CHAT_DISPLAY: dict[str, object] = {"render_markdown": True, "sanitize_html": True, "allow_tags": False,
                                   "latex_delimiters": []}  # fmt: skip
"""How a chat shows tutor text (Gradio `Chatbot` settings): Markdown rendered, HTML sanitised, no custom tags, no
LaTeX; with `chat_text` applied first, the browser shows what the reveal gate read."""

_SHOWN_DROP = frozenset({"Cf", "Cc", "Co", "Cs", "Cn"})
_IMAGE_RE = re.compile(r"!\[([^\]\n]{0,300})\]\s*(?:\([^)\n]{0,500}\)|\[[^\]\n]{0,100}\])")
_LINK_RE = re.compile(r"\[([^\]\n]{0,300})\]\s*\([^)\n]{0,500}\)")
_LINK_DEF_RE = re.compile(r"(?m)^\s{0,3}\[[^\]\n]+\]:\s*\S+.*$")
_HTML_TAG_RE = re.compile(r"</?[A-Za-z][^<>]{0,2000}>|<![^<>]{0,2000}>|<\?[^<>]{0,2000}>")
_URL_RE = re.compile(r"(?i)\b(?:https?://|ftp://|www\.)\S+|\b(?:mailto|javascript|data):\S+")
_OPEN_TAG_RE = re.compile(r"<(?=[A-Za-z!/?])")


def chat_text(text: str) -> str:
    """What the chat may show of a model-written reply: plain text with limited Markdown (emphasis, lists, code).

    Entities are decoded (to a fixed point), format and control characters dropped (bidi overrides, zero-width
    joiners), HTML comments and tags removed, images reduced to their alt text, links to their text, bare URLs
    removed, and a `<` that could still open a tag escaped; the result is shown as it is (the chat's own HTML
    sanitiser and LaTeX are off) and is what the reveal gate reads. Citations are bracketed text (`[notes p. 2]`).
    """
    out = text
    for _ in range(4):
        decoded = html.unescape(out)
        if decoded == out:
            break
        out = decoded
    out = "".join(ch for ch in out if ch in "\n\t" or unicodedata.category(ch) not in _SHOWN_DROP)
    out = _COMMENT_RE.sub("", out)
    out = _IMAGE_RE.sub(r"\1", out)
    out = _LINK_RE.sub(r"\1", out)
    out = _LINK_DEF_RE.sub("", out)
    while True:
        stripped = _HTML_TAG_RE.sub("", out)
        if stripped == out:
            break
        out = stripped
    out = _URL_RE.sub("", out)
    out = _OPEN_TAG_RE.sub("&lt;", out.replace("&", "&amp;")) if _OPEN_TAG_RE.search(out) else out
    return out


# -- look-alike letters ----------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _confusable_table() -> dict[int, str]:
    """Every character Unicode's confusables data makes look like an ASCII letter or digit, to that character.

    The data maps characters to a skeleton (Cyrillic І, Greek Ι and Latin I all to `l`); a look-alike is read as
    the ASCII character of its skeleton in its own case (an upper-case letter as `I`, a digit-like one as `1`).
    """
    import string

    from confusable_homoglyphs import utils

    skeleton: dict[str, str] = {}
    for char, glyphs in utils.load("confusables.json").items():
        ascii_glyphs = [g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii() and g["c"].isalnum()]
        if len(char) == 1 and ascii_glyphs:  # an ASCII character's own skeleton too: I -> l
            skeleton.setdefault(char, ascii_glyphs[0])
        elif len(char) == 1 and char.isascii() and char.isalnum():
            for glyph in glyphs:
                if len(glyph["c"]) == 1 and not glyph["c"].isascii():
                    skeleton.setdefault(glyph["c"], char)
    by_skeleton: dict[str, list[str]] = {}
    for a in string.ascii_letters + string.digits:
        by_skeleton.setdefault(skeleton.get(a, a), []).append(a)
    table: dict[int, str] = {}
    for char, key in skeleton.items():
        if char.isascii():
            continue
        options = list(dict.fromkeys([*by_skeleton.get(key, []), key]))
        category = unicodedata.category(char)
        preferred = [o for o in options if (o.isupper() if category == "Lu" else o.isdigit() if category[0] == "N"
                                            else o.islower())]  # fmt: skip
        table[ord(char)] = (preferred or options)[0]
    return table


def fold_confusables(text: str) -> str:
    """The text with look-alike letters and digits (Cyrillic Х, Greek Ι, mathematical 𝟏) read as ASCII."""
    if text.isascii():
        return text
    return text.translate(_confusable_table())


# -- the allow-list's reader -----------------------------------------------------------------------------------

_SCI_RE = re.compile(
    r"(\d+(?:\.\d+)?)\s*(?:e\s*\+?(-?\d+)\b|(?:[x×*·]|times)\s*10\s*(?:\^|\*\*)\s*\(?\s*\+?(-?\d+)\)?)"
)
_POWER_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:\^|\*\*)\s*(\d{1,2})(?![\d.])")
_PERCENT_OF_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:%|percent)\s+of\s+(\d+(?:\.\d+)?)")
_ROOT_RE = re.compile(r"(?:√|\bsqrt\s*|\bsquare root of\s*)\(?\s*(\d+(?:\.\d+)?)")
_CALL_RE = re.compile(r"\b(sum|max|min|len|abs|round|int|float)\s*\(\s*\[?\s*([\d.,\s+\-*/]+?)\s*\]?\s*\)")
_GROUPS = {"dozen": 12, "dozens": 12, "score": 20, "scores": 20, "gross": 144, "pair": 2, "pairs": 2}
_GROUP_RE = re.compile(r"(\d+(?:\.\d+)?)\s+(dozens?|scores?|gross|pairs?)\b")
_TAKE_RE = re.compile(
    r"(\d+(?:\.\d+)?)\s+(take away|less|minus|without|add|plus|more than|fewer than|less than|lots of|groups of|"
    r"sets of)\s+(\d+(?:\.\d+)?)"
)
_TAKE_OPS: dict[str, Callable[[float, float], float]] = {
    "take away": lambda a, b: a - b, "less": lambda a, b: a - b, "minus": lambda a, b: a - b,
    "without": lambda a, b: a - b, "add": lambda a, b: a + b,
    "plus": lambda a, b: a + b, "more than": lambda a, b: a + b, "fewer than": lambda a, b: b - a,
    "less than": lambda a, b: b - a, "lots of": lambda a, b: a * b, "groups of": lambda a, b: a * b,
    "sets of": lambda a, b: a * b,
}  # fmt: skip


def _notations(digits: str) -> Iterator[tuple[str, float]]:
    """Values written in notations: 1.8e1, 1.8 x 10^1, 1.8 × 10¹, 180% of 10, √324, sum([9, 9]), 1.5 dozen."""
    for m in _SCI_RE.finditer(digits):
        exponent = m.group(2) or m.group(3)
        if exponent is not None and abs(int(exponent)) <= 30:
            yield m.group(0), float(m.group(1)) * 10 ** int(exponent)
    for m in _POWER_RE.finditer(digits):
        if float(m.group(2)) <= 30:
            yield m.group(0), float(m.group(1)) ** float(m.group(2))
    for m in _PERCENT_OF_RE.finditer(digits):
        yield m.group(0), float(m.group(1)) * float(m.group(2)) / 100
    for m in _ROOT_RE.finditer(digits):
        yield m.group(0), float(m.group(1)) ** 0.5
    for m in _CALL_RE.finditer(digits):
        items = [v for part in m.group(2).split(",") if (v := _safe_eval(part.strip())) is not None]
        if not items:
            continue
        name = m.group(1)
        value = {"sum": sum, "max": max, "min": min, "len": len}.get(name, lambda xs: xs[0])(items)
        yield m.group(0), abs(float(value)) if name == "abs" else float(value)
    for m in _GROUP_RE.finditer(digits):
        yield m.group(0), float(m.group(1)) * _GROUPS[m.group(2)]
    for m in _TAKE_RE.finditer(digits):
        yield m.group(0), _TAKE_OPS[m.group(2)](float(m.group(1)), float(m.group(3)))


def readings(text: str) -> list[str]:
    """The texts the gate reads of a reply: as the chat shows it, and with look-alike characters folded."""
    seen = visible_text(text)
    folded = fold_confusables(seen)
    return [seen] if folded == seen else [seen, folded]


def read_values(text: str) -> list[tuple[str, float, bool]]:
    """Every value a text writes: (the text, the value, whether it is derived by arithmetic from written numbers).

    Written values are numbers in any script or notation (digits of every script, circled and other numeric
    characters, English words, Roman numerals in capitals, numbers marked with a base, look-alike letters folded);
    derived values are what the text computes from them (expressions, "half of", "1.8e1", "√324", "sum([9, 9])",
    "1.5 dozen", "180% of 10").
    """
    out: list[tuple[str, float, bool]] = []
    for seen in readings(text):
        norm = normalize_text(seen)
        for m in find_numbers(seen):
            out.extend((m.text, v, False) for v in m.values)
        for _start, _end, value in ordinals(norm):
            out.append((norm[_start:_end], value, False))
        for match, value in _romans(seen):
            out.append((match, value, False))
        for match, value in _bases(norm):
            out.append((match, value, False))
        digits = _digitized(norm)
        for source in (_expressions(digits), _phrases(digits), _notations(digits), _reversed(norm)):
            out.extend((match, value, True) for match, value in source)
    return out


# -- one protected value in loose forms ------------------------------------------------------------------------

_CJK_LANGS = ("ja", "ko", "th")
_RESULT_LETTER_RE = re.compile(r"(?:\b(?:is|are|equals?|answer|makes|gives|get|total)\b:?|=)\s*([a-z])\s*(?:[.!]|$)")
_LOOKALIKE_WORDS = frozenset(
    "to in on at an as is it be we he me my no of or so up us do go if by am ok hi ya yo la le de el un na ni "
    "due elf once sex set tie fem men van bat tin nam mot hai sau bon net per con dos tres ein".split()
)
"""Number words of other languages (and reversed number words) that are everyday English or Romance words."""
_SPELLED_RE = re.compile(r"(?<![a-z])(?:[a-z](?:[\s\-.,_*/|·•]+|\s*\u200b\s*)){2,}[a-z](?![a-z])")


@lru_cache(maxsize=512)
def foreign_forms(value: float) -> tuple[tuple[str, bool], ...]:
    """A value in words of every language `num2words` speaks: (the words, read without word boundaries)."""
    from num2words import CONVERTER_CLASSES, num2words

    if value != int(value) or not 0 <= value < 10**12:
        return ()
    forms: set[tuple[str, bool]] = set()
    for lang in CONVERTER_CLASSES:
        if lang.startswith("en"):  # English number words are read everywhere (`find_numbers`)
            continue
        try:
            words = num2words(int(value), lang=lang)
        except Exception:  # noqa: BLE001, S112 - a converter that cannot say this number says nothing
            continue
        words = normalize_text(str(words)).strip()
        bare = lang.split("_")[0] in _CJK_LANGS
        if words and (bare or len(words) >= 2) and words not in _LOOKALIKE_WORDS:
            forms.add((words, bare))
            if not bare and "-" in words:
                forms.add((words.replace("-", " "), False))
    return tuple(sorted(forms))


def _spelled_words(norm: str) -> Iterator[str]:
    """Letters spelled out with separators, joined ("e-i-g-h-t-e-e-n" -> "eighteen")."""
    for m in _SPELLED_RE.finditer(norm):
        yield re.sub(r"[^a-z]", "", m.group(0))


def hidden_forms_in(text: str, value: float) -> str | None:
    """Where a text writes `value` in a form too loose to read in general, as the matched text (None if nowhere).

    Number words of every language `num2words` speaks (CJK and Thai numerals inside running text, without word
    boundaries), lower-case Roman numerals, letters spelled out with separators and words written backwards.
    """
    import roman
    from num2words import num2words

    squeezed_words = {re.sub(r"[\s,-]+", "", w) for w, _bare in foreign_forms(value)}
    if value == int(value) and 0 <= value < 10**12:
        for words in (number_to_words(value), num2words(int(value))):  # "five hundred (and) forty"
            squeezed_words.add(re.sub(r"[\s,-]+", "", words))
    squeezed_words = {w for w in squeezed_words if len(w) >= 3}
    for seen in readings(text):
        norm = normalize_text(seen)
        squeezed = re.sub(r"\s+", "", norm)
        for words, bare in foreign_forms(value):
            if bare and re.sub(r"\s+", "", words) in squeezed:
                return words
            if not bare and re.search(r"(?<!\w)" + re.escape(words) + r"(?!\w)", norm):
                return words
        letters = re.sub(r"[\s,.;:!?-]+", "", norm)
        if any(w[::-1] in letters for w in squeezed_words if len(w) >= 6):  # a long number word backwards
            return next(w[::-1] for w in squeezed_words if len(w) >= 6 and w[::-1] in letters)
        for m in _RESULT_LETTER_RE.finditer(norm):  # "the answer is v."
            if m.group(1) in "ivxlcdm" and compare(float(roman.fromRoman(m.group(1).upper())), value):
                return m.group(1)
        for token in re.findall(r"[a-z]+", norm):
            if len(token) >= 2 and set(token) <= set("ivxlcdm"):
                try:
                    if compare(float(roman.fromRoman(token.upper())), value):
                        return token
                except roman.RomanError:
                    pass
            if len(token) >= 3 and token[::-1] in squeezed_words and token not in _LOOKALIKE_WORDS:
                return token
        for joined in _spelled_words(norm):
            if any(w in joined or w in joined[::-1] for w in squeezed_words):
                return joined
    return None
