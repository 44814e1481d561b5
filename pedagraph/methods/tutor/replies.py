"""The tutor's deterministic words: reply templates, the content a real model words in its own way, fallbacks."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from pedagraph.problems import Step
from pedagraph.prompts import render
from pedagraph.taxonomy import TutorMove


def template(name: str, **values: Any) -> str:
    """Render a deterministic reply template from `prompts/tutor/templates/`."""
    return render(f"tutor/templates/{name}", **values).strip()


def variants(name: str, **values: Any) -> list[str]:
    """The wordings of a prompt file whose variants are separated by a line `---`, each rendered."""
    return [v.strip() for v in re.split(r"(?m)^---\s*$", render(name, **values)) if v.strip()]


@lru_cache(maxsize=8192)
def _flat(text: str) -> str:
    return " ".join(text.split()).lower()


def is_fresh(text: str, said: Sequence[str]) -> bool:
    """Whether `text` was not said already (not contained in any earlier reply, whitespace and case aside)."""
    flat = _flat(text)
    return bool(flat) and not any(flat in _flat(s) for s in said)


def fresh_variant(name: str, said: Sequence[str], *, start: int = 0, **values: Any) -> str | None:
    """The first wording of `name` (counting from the `start`-th, round) not said already, else None."""
    options = variants(name, **values)
    turned = options[start % len(options) :] + options[: start % len(options)]
    return next((v for v in turned if is_fresh(v, said)), None)


def pick_variant(name: str, said: Sequence[str], *, start: int = 0, **values: Any) -> str:
    """The first fresh wording of `name` from the `start`-th one, else (all said) the `start`-th one."""
    options = variants(name, **values)
    return fresh_variant(name, said, start=start, **values) or options[start % len(options)]


def hint_of(step: Step) -> str:
    """The step's hint (a generic nudge when it has none)."""
    return step.hint.strip() or template("no_hint")


def sentence(text: str) -> str:
    """`text` as a sentence: stripped, ending with a full stop unless it ends with other punctuation."""
    text = text.strip()
    return text if not text or text[-1] in ".!?…:”\"')" else f"{text}."


def template_reply(move: TutorMove, *, live: bool = False) -> str:
    """The deterministic reply of a move (on a real model: the content the model puts in its own words)."""
    values = dict(move.values)
    if live and "notice" in values:
        values["notice"] = ""
    options = variants(f"tutor/templates/{move.template}", **values)
    text = options[move.variant] if move.variant < len(options) else options[0]
    if move.closing and not live:
        text = f"{text}\n\n{template('turn_limit')}"
    return re.sub(r"[ \t]+\n", "\n", text).strip()


def safe_replacements(hints: Sequence[str], question: str) -> Iterator[str]:
    """Replies that say the tutor will not give the answer (for a blocked reply), with each hint, then plainly."""
    for hint in hints:
        yield template("withheld", hint=hint, question=question)
    yield template("withheld", hint=template("no_hint"), question=question)
    yield template("withheld_plain")
