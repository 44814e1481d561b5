"""Course material in tutoring: search the ingested passages, quote and cite them, answer a question from them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pedagraph.answers import normalize_text
from pedagraph.memory.tools import Retrieval, retrieve
from pedagraph.methods.tutor.acts import content_words
from pedagraph.methods.tutor.replies import template
from pedagraph.taxonomy import StudentResponse, TutorMove

MATERIAL_K = 3
"""Passages of course material retrieved per question."""
MATERIAL_MIN_SCORE = 0.3
"""Cosine similarity a passage needs to count as answering a learner's question (all-MiniLM-L6-v2 scores
unrelated text below about 0.2 and a matching passage above about 0.5)."""
QUOTE_CHARS = 360
"""Longest passage the scripted model quotes (whole sentences)."""
PROMPT_PASSAGE_CHARS = 600
"""Longest passage a real teacher is shown."""


_HEADING = re.compile(r"(?m)^\s*#{1,6}\s+.*$")
_SENTENCE_END = re.compile(r"[.!?]+[\"”')\]*_]*\s+(?=[A-Z0-9\"“(\[*_])")
SEARCH_POOL = 6
"""Passages fetched per question before reranking (the best `MATERIAL_K` are kept)."""
LEXICAL_WEIGHT = 0.15
"""How much a passage's share of the question's words (and its heading's) adds to its similarity score."""
RELATIVE_CUTOFF = 0.8
"""A passage scoring below this share of the best one's similarity is left out (it answers something else)."""
DEFINITION_WEIGHT = 0.1
"""What a passage that defines the term of a "what is X?" question adds to its score."""


def _bare(text: str) -> str:
    """Words only, lower case (to tell a sentence that repeats the learner's question)."""
    return " ".join(re.findall(r"[a-z0-9%]+", normalize_text(text)))


def sentences_of(text: str) -> list[str]:
    """A passage's sentences, Markdown heading lines dropped (the citation names the section), whitespace collapsed."""
    flat = " ".join(_HEADING.sub(" ", text).split())
    cuts = [0, *(m.end() for m in _SENTENCE_END.finditer(flat)), len(flat)]
    return [flat[a:b].strip() for a, b in zip(cuts, cuts[1:], strict=False) if flat[a:b].strip()]


def _best_window(sentences: list[str], query: str, limit: int) -> tuple[int, int]:
    """The run of whole sentences (start, end) within `limit` characters around the one the question is most about."""
    words = content_words(query)
    best = max(range(len(sentences)), key=lambda i: (len(words & content_words(sentences[i])), -i)) if words else 0
    start, end, size = best, best + 1, len(sentences[best])
    while True:
        grown = False
        if end < len(sentences) and size + 1 + len(sentences[end]) <= limit:
            size, end, grown = size + 1 + len(sentences[end]), end + 1, True
        if start > 0 and size + 1 + len(sentences[start - 1]) <= limit:
            size, start, grown = size + 1 + len(sentences[start - 1]), start - 1, True
        if not grown:
            return start, end


def trim_passage(text: str, limit: int = QUOTE_CHARS, query: str = "") -> str:
    """A passage for quoting: whole sentences only, the ones the question is most about, at most `limit` characters.

    Sentences left out are marked with "…"; a single sentence longer than `limit` is cut at a word.
    """
    asked = _bare(query)
    sentences = [s for s in sentences_of(text) if not asked or _bare(s) != asked]  # never echo the question back
    if not sentences:
        return ""
    if sum(len(s) + 1 for s in sentences) - 1 <= limit:
        return " ".join(sentences)
    start, end = _best_window(sentences, query, limit)
    body = " ".join(sentences[start:end])
    if len(body) > limit:
        body = body[:limit].rsplit(" ", 1)[0].rstrip(" ,;:") + " …"
        return body if start == 0 else f"… {body}"
    return ("… " if start > 0 else "") + body + (" …" if end < len(sentences) else "")


_FOCUS = [
    re.compile(r"\bwhat(?:'s| is| are)\s+(?:a |an |the )?(?P<term>[a-z][a-z -]*?)(?:\s+(?:of|in|for)\b.*)?\W*$"),
    re.compile(r"\bwhat does\s+(?:a |an |the )?(?P<term>[a-z][a-z -]*?)\s+mean\b"),
    re.compile(r"\b(?:define|definition of|meaning of)\s+(?:a |an |the )?(?P<term>[a-z][a-z -]*?)\W*$"),
]


def focus_term(question: str) -> str | None:
    """The term a "what is X?" / "what does X mean?" question asks about, if it is one."""
    norm = " ".join(normalize_text(question).split())
    for pattern in _FOCUS:
        m = pattern.search(norm)
        if m and m.group("term").strip():
            return m.group("term").strip()
    return None


def defines(text: str, term: str) -> bool:
    """Whether a passage has a sentence defining `term` ("the denominator is ...", "... is the denominator")."""
    t = re.escape(term).replace(r"\ ", r"\s+")
    pattern = (rf"(?:^|[.!?]\s+|\b(?:the|a|an)\s+){t}s?\s+(?:is|are|means?|tells?)\b"
               rf"|\b(?:is|are|called)\s+(?:the\s+|a\s+|an\s+)?{t}s?\b")  # fmt: skip
    return bool(re.search(pattern, " ".join(normalize_text(text).split())))


def rerank(hits: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """Hits best first: similarity, plus the question's words found in the passage and heading, plus a definition.

    A passage that defines what a "what is X?" question asks about gets `DEFINITION_WEIGHT` more.
    """
    words, term = content_words(query), focus_term(query)

    def score(hit: dict[str, Any]) -> float:
        base = float(hit.get("score") or 0.0)
        if term and defines(str(hit["text"]), term):
            base += DEFINITION_WEIGHT
        if not words:
            return base
        body = len(words & content_words(str(hit["text"]))) / len(words)
        heading = len(words & content_words(str(hit.get("citation", "")))) / len(words)
        return base + LEXICAL_WEIGHT * (body + heading)

    return sorted(hits, key=lambda h: -score(h))


def search_material(query: str, *, course: str | None, memory: Any, min_score: float | None = None,
                    shown: Callable[[str], bool] | None = None,
                    learner_id: str | None = None) -> Retrieval:  # fmt: skip
    """Search `materials` (one course, if given) and the learner's own notes for the best few passages.

    Each passage is cut to the sentences about `query`. The notes searched are only those of `learner_id` (the
    owner is part of the store's query; no learner: no notes). Passages are reranked (`rerank`); with `shown` (the
    reveal gate) a passage keeps only what may be quoted; a passage scoring below `RELATIVE_CUTOFF` of the best one
    left is dropped (it answers something else).
    """
    found = retrieve("materials", query, k=SEARCH_POOL, course=course, min_score=min_score, memory=memory)
    if learner_id:
        own = retrieve("notes", query, k=SEARCH_POOL, learner_id=learner_id, min_score=min_score, memory=memory)
        found = merged(found, own)
    passages = [
        {"id": h.get("id"), "citation": h["citation"],
         "text": trim_passage(str(h["text"]), PROMPT_PASSAGE_CHARS, query),
         "quote": trim_passage(str(h["text"]), QUOTE_CHARS, query), "score": h["score"], "query": query}
        for h in rerank(found.hits, query)
    ]  # fmt: skip
    if shown is not None:
        passages = [safe for p in passages if (safe := safe_passage(p, shown)) is not None]
    top = max((float(p["score"]) for p in passages if p.get("score") is not None), default=0.0)
    close = [p for p in passages if p.get("score") is None or float(p["score"]) >= RELATIVE_CUTOFF * top]
    status = found.status if passages or found.status != "found" else "no_match"
    return Retrieval(status, close[:MATERIAL_K], found.error)


def merged(first: Retrieval, second: Retrieval) -> Retrieval:
    """Two searches as one: every hit, the better status (`found` > `no_match` > `empty`; an error kept)."""
    order = ("found", "no_match", "error", "empty")
    status = min(first.status, second.status, key=order.index)
    return Retrieval(status, [*first.hits, *second.hits], first.error or second.error)


def quote_passages(passages: list[dict[str, Any]]) -> str:
    """The passages as the scripted model quotes them: citation in brackets, then the trimmed text."""
    return "\n\n".join(template("passage", citation=p["citation"], text=quote_of(p)) for p in passages)


def safe_passage(passage: dict[str, Any], shown: Callable[[str], bool]) -> dict[str, Any] | None:
    """The passage as it may be quoted: whole, else without the sentences the gate blocks, else None."""
    if shown(quote_of(passage)):
        return passage
    kept = [s for s in sentences_of(str(passage["text"])) if shown(s)]
    quote = trim_passage(" ".join(kept), QUOTE_CHARS, str(passage.get("query", ""))) if kept else ""
    if not quote or not shown(quote):
        return None
    return {**passage, "text": " ".join(kept), "quote": quote}


def quote_of(passage: dict[str, Any]) -> str:
    """The part of a passage the scripted model quotes (trimmed around the question when it was searched)."""
    return str(passage.get("quote") or trim_passage(str(passage["text"])))


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
    passages = [safe for p in found.hits if (safe := safe_passage(p, shown)) is not None]
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
