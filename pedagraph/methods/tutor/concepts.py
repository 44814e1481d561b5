"""A short glossary the scripted tutor answers concept questions from ("what does remainder mean?").

One file per concept in `prompts/tutor/concepts/`: a `Keywords:` line (words or phrases, comma-separated), a
blank line, then the explanation. A question is matched to the concept whose keywords it uses most (ties: the
more specific concept, listed first in `ORDER`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pedagraph.answers import normalize_text
from pedagraph.prompts import load_prompt

ORDER = (
    "percent_change", "tax_discount", "interest", "percent", "fraction", "remainder", "profit", "dozen",
    "half_twice", "average", "difference", "total", "per", "operations",
)  # fmt: skip
"""Concept files, the more specific first (a tie goes to the earlier one)."""


@dataclass(frozen=True)
class Concept:
    """One glossary entry: its name, the phrases that call it up, its explanation."""

    name: str
    keywords: tuple[str, ...]
    text: str


@cache
def concepts() -> tuple[Concept, ...]:
    """Every glossary entry, in `ORDER` then any others by name."""
    folder = resources.files("pedagraph.prompts").joinpath("tutor", "concepts")
    names = sorted(p.name.removesuffix(".md") for p in folder.iterdir() if p.name.endswith(".md"))
    out = []
    for name in sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n)):
        head, _, body = load_prompt(f"tutor/concepts/{name}").partition("\n\n")
        keywords = tuple(k.strip().lower() for k in head.removeprefix("Keywords:").split(",") if k.strip())
        out.append(Concept(name, keywords, body.strip()))
    return tuple(out)


def _hits(concept: Concept, norm: str) -> int:
    return sum(bool(re.search(rf"(?<![\w%]){re.escape(k)}(?![\w])" if k != "%" else "%", norm))
               for k in concept.keywords)  # fmt: skip


def explain(question: str) -> Concept | None:
    """The glossary entry a question asks about (None when no keyword of any entry is in it)."""
    norm = normalize_text(question)
    scored = [(_hits(c, norm), -i, c) for i, c in enumerate(concepts())]
    best = max(scored, key=lambda t: (t[0], t[1]), default=None)
    return best[2] if best is not None and best[0] > 0 else None
