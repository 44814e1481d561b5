"""Course material in tutoring: search the ingested passages, quote and cite them, answer a question from them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pedagraph.memory.tools import Retrieval, retrieve
from pedagraph.taxonomy import StudentResponse, TutorMove
from pedagraph.tutoring.replies import template

MATERIAL_K = 3
"""Passages of course material retrieved per question."""
MATERIAL_MIN_SCORE = 0.3
"""Cosine similarity a passage needs to count as answering a learner's question (all-MiniLM-L6-v2 scores
unrelated text below about 0.2 and a matching passage above about 0.5)."""
QUOTE_CHARS = 280
"""Longest passage the scripted model quotes (trimmed at a word boundary)."""
PROMPT_PASSAGE_CHARS = 600
"""Longest passage a real teacher is shown."""


def trim_passage(text: str, limit: int = QUOTE_CHARS) -> str:
    """One line of a passage for quoting: Markdown heading marks dropped, whitespace collapsed, cut at a word."""
    flat = " ".join(re.sub(r"(?m)^\s*#{1,6}\s+", "", text).split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0].rstrip(" ,;:") + " …"


def search_material(query: str, *, course: str | None, memory: Any, min_score: float | None = None) -> Retrieval:
    """Search `materials` (one course, if given) through the memory package; passages trimmed for a prompt."""
    found = retrieve("materials", query, k=MATERIAL_K, course=course, min_score=min_score, memory=memory)
    passages = [
        {"citation": h["citation"], "text": trim_passage(str(h["text"]), PROMPT_PASSAGE_CHARS), "score": h["score"]}
        for h in found.hits
    ]
    return Retrieval(found.status, passages, found.error)


def quote_passages(passages: list[dict[str, Any]]) -> str:
    """The passages as the scripted model quotes them: citation in brackets, then the trimmed text."""
    return "\n\n".join(template("passage", citation=p["citation"], text=trim_passage(p["text"])) for p in passages)


def material_lines(passages: list[dict[str, Any]]) -> str:
    """The passages as a real teacher sees them in its prompt (`(none)` without any)."""
    lines = [f"- [{p['citation']}] {trim_passage(p['text'], PROMPT_PASSAGE_CHARS)}" for p in passages]
    return "\n".join(lines) or "(none)"


def cited(passages: list[dict[str, Any]], reply: str) -> list[str]:
    """Citations of the passages a reply cites in brackets."""
    return [p["citation"] for p in passages if f"[{p['citation']}]" in reply]


def course_scope(course: str | None) -> str:
    """` for the course "NAME"` when a course is named, else empty."""
    return f" {template('course_scope', course=course)}" if course else ""


def material_inquiry(move: TutorMove, found: Retrieval, shown: Callable[[str], bool], question: str,
                     notice: str = "") -> TutorMove:  # fmt: skip
    """Answer a question or off-topic turn from matching course material instead of `move` (when any passes).

    `shown` tells whether a quoted passage may reach the learner (the reveal gate); without a passage that
    passes, the move is kept and only records the search status.
    """
    passages = [p for p in found.hits if shown(trim_passage(p["text"]))]
    if not passages:
        return move.model_copy(update={"material_search": found.status})
    values = {"notice": notice, "passages": quote_passages(passages), "question": question}
    return TutorMove.make(
        "inquiry", StudentResponse(move.category), move.step_index, "material_inquiry", values,
        material_search=found.status, material=passages,
    )  # fmt: skip


def question_reply(found: Retrieval, scope: str, notice: str) -> tuple[str, dict[str, Any]]:
    """The template (name, values) answering a course question from what a search found, without a model."""
    if found.status == "error":
        return "material_error", {"error": found.error}
    if found.status == "empty":
        return "material_none", {"scope": scope}
    if found.hits:
        return "material_answer", {"notice": notice, "passages": quote_passages(found.hits)}
    return "material_no_match", {"notice": notice, "scope": scope}
