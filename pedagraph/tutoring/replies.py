"""The tutor's deterministic words: reply templates, the content a real model words in its own way, fallbacks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pedagraph.problems import Step, without_result
from pedagraph.prompts import render
from pedagraph.taxonomy import TutorMove


def template(name: str, **values: Any) -> str:
    """Render a deterministic reply template from `prompts/tutor/templates/`."""
    return render(f"tutor/templates/{name}", **values).strip()


def hint_of(step: Step) -> str:
    """The step's hint (a generic nudge when it has none)."""
    return step.hint.strip() or template("no_hint")


def method_of(step: Step) -> str:
    """The step's worked method with its result removed (what an explanation shows)."""
    text = without_result(step.solution_text, step.answer_value).strip()
    if text:
        return text
    return f"{step.expression} = ?" if step.expression else hint_of(step)


def expression_of(step: Step) -> str:
    """The step's set-up without its result (the strategy rung of the hint ladder)."""
    return without_result(step.expression, step.answer_value) if step.expression else hint_of(step)


def template_reply(move: TutorMove, *, live: bool = False) -> str:
    """The deterministic reply of a move (on a real model: the content the model puts in its own words)."""
    values = dict(move.values)
    if live and "notice" in values:
        values["notice"] = ""
    text = template(move.template, **values)
    if move.closing and not live:
        text = f"{text}\n\n{template('turn_limit')}"
    return re.sub(r"[ \t]+\n", "\n", text).strip()


def safe_replacements(step: Step) -> Iterator[str]:
    """Replies that say the tutor will not give the answer, most helpful first (for a blocked reply)."""
    yield template("withheld", hint=hint_of(step), question=step.question)
    yield template("withheld", hint=template("no_hint"), question=step.question)
    yield template("withheld_plain")
