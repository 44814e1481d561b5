"""Drop-ins for graphs: a LangGraph retrieval node factory and a LangChain tool, both thin wrappers over Memory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.tools import tool

from pedagraph.errors import DataError, PedagraphError
from pedagraph.memory.store import PRIVATE, Hit, Memory, check_collection, get_memory

NOTE_SOURCE = "your notes"
"""The source (and so the citation) of a learner's own note, as their tutor cites it."""
MAX_NOTE = 2000
"""Characters a note may have."""
MAX_NOTES = 200
"""Notes a learner may keep."""


def _state_value(state: Any, key: str) -> Any:
    if isinstance(state, Mapping):
        return state.get(key)
    return getattr(state, key, None)


def _query_text(value: Any) -> str:
    """Turn a state value into a query: a string, or the last message's text of a message list."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        for item in reversed(value):
            content = item.get("content") if isinstance(item, Mapping) else getattr(item, "content", item)
            if isinstance(content, list):  # multimodal content blocks
                content = " ".join(b.get("text", "") for b in content if isinstance(b, Mapping))
            if isinstance(content, str) and content.strip():
                return content
        return ""
    return str(getattr(value, "content", value))


def _default_memory() -> Memory:
    """The configured home's Memory, looked up through the package (so `pedagraph.memory.get_memory` can be swapped)."""
    import pedagraph.memory

    return pedagraph.memory.get_memory()


@dataclass
class Retrieval:
    """What a search found: `empty` (nothing stored in scope), `found`, `no_match` (all below `min_score`), `error`."""

    status: Literal["empty", "found", "no_match", "error"]
    hits: list[dict[str, Any]] = field(default_factory=list)
    """`Hit.to_dict()` of the hits kept, best first."""
    error: str = ""


def retrieve(
    collection: str,
    query: str,
    *,
    k: int = 4,
    where: Mapping[str, Any] | None = None,
    learner_id: str | None = None,
    course: str | None = None,
    min_score: float | None = None,
    memory: Memory | None = None,
    strict: bool = False,
) -> Retrieval:
    """Search a collection, keeping hits scoring at least `min_score`; cheap when nothing was ever stored.

    The embedding model is loaded only when the collection holds something in scope. Errors of the store
    (an unreadable database, a missing optional package) come back as status `error` with a one-line message,
    or are raised with `strict=True`.
    """
    try:
        mem = memory if memory is not None else _default_memory()
        chroma_dir = getattr(mem, "chroma_dir", None)
        if isinstance(chroma_dir, Path) and not chroma_dir.exists():
            return Retrieval("empty")  # nothing was ever stored: do not even open the store
        scope: dict[str, Any] = {"where": dict(where) if where else None, "learner_id": learner_id, "course": course}
        if mem.count(collection, **scope) == 0:
            return Retrieval("empty")
        hits = mem.search(collection, query, k=k, **scope)
    except ImportError as exc:
        if strict:
            raise
        return Retrieval("error", error=f"{type(exc).__name__}: {exc}")
    except PedagraphError as exc:
        if strict:
            raise
        return Retrieval("error", error=exc.one_line())
    kept = [h.to_dict() for h in hits if min_score is None or h.score is None or h.score >= min_score]
    return Retrieval("found" if kept else "no_match", kept)


def make_retrieve_node(
    collection: str = "materials",
    *,
    query_key: str = "query",
    k: int = 4,
    output_key: str = "retrieved",
    where: Mapping[str, Any] | None = None,
    learner_key: str = "learner_id",
    course_key: str | None = "course",
    memory: Memory | None = None,
) -> Callable[[Any], dict[str, Any]]:
    """Build a LangGraph node `state -> {output_key: [hit dicts]}` that searches memory with `state[query_key]`.

    `query_key` may hold a string or a message list (the last message is the query). For `episodes` the
    learner id is read from `state[learner_key]` (required); a `state[course_key]`, when set, filters by course.
    Hits are plain dicts (`Hit.to_dict()`: id, text, score, source, position, citation, metadata).
    """
    check_collection(collection)
    if not isinstance(k, int) or k < 1:
        raise DataError(f"k must be a positive integer, got {k!r}")
    fixed_where = dict(where) if where else None

    def retrieve_node(state: Any) -> dict[str, Any]:
        query = _query_text(_state_value(state, query_key)).strip()
        if not query:
            return {output_key: []}
        learner = _state_value(state, learner_key) if collection in PRIVATE else None
        course = _state_value(state, course_key) if course_key else None
        found = retrieve(
            collection,
            query,
            k=k,
            where=fixed_where,
            learner_id=str(learner) if learner else None,
            course=str(course) if course else None,
            memory=memory,
            strict=True,
        )
        return {output_key: found.hits}

    retrieve_node.__name__ = f"retrieve_{collection}"
    return retrieve_node


def add_note(memory: Memory, learner_id: str, text: str) -> str:
    """Keep a private note of one learner (collection `notes`, owned by `learner_id`); its id."""
    clean = " ".join(str(text or "").split())
    if not clean:
        raise DataError("the note is empty")
    if len(clean) > MAX_NOTE:
        raise DataError(f"a note has at most {MAX_NOTE} characters")
    if memory.count("notes", learner_id=learner_id) >= MAX_NOTES:
        raise DataError(f"you keep {MAX_NOTES} notes already: delete one first")
    [note_id] = memory.add("notes", [clean], [{"learner_id": learner_id, "source": NOTE_SOURCE}])
    return note_id


def list_notes(memory: Memory, learner_id: str) -> list[Hit]:
    """One learner's notes, oldest first (nobody else's: the store's query is pinned to the owner)."""
    chroma_dir = getattr(memory, "chroma_dir", None)
    if isinstance(chroma_dir, Path) and not chroma_dir.exists():
        return []
    return sorted(memory.get("notes", learner_id=learner_id), key=lambda h: float(h.metadata.get("added_at", 0)))


def delete_note(memory: Memory, learner_id: str, note_id: str) -> bool:
    """Delete one of the learner's own notes; False when they have no note of that id (another's stays)."""
    return memory.delete("notes", ids=[str(note_id)], learner_id=learner_id) > 0


def format_hits(hits: list[Hit]) -> str:
    """Render hits as numbered passages with their citations."""
    if not hits:
        return "No matching course material."
    return "\n\n".join(f"[{i}] {h.citation} (score {h.score or 0:.2f})\n{h.text}" for i, h in enumerate(hits, 1))


@tool(response_format="content_and_artifact")
def search_course_material(query: str, course: str | None = None, k: int = 4) -> tuple[str, list[dict[str, Any]]]:
    """Search the ingested course material for passages relevant to a query; returns them with citations.

    Args:
        query: what to look for, in plain words.
        course: only material of this course, if given.
        k: how many passages to return (1-20).
    """
    k = max(1, min(int(k), 20))
    hits = get_memory().search("materials", query, k=k, course=course or None)
    return format_hits(hits), [h.to_dict() for h in hits]
