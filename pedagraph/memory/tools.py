"""Drop-ins for graphs: a LangGraph retrieval node factory and a LangChain tool, both thin wrappers over Memory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.tools import tool

from pedagraph.errors import DataError
from pedagraph.memory.store import Hit, Memory, check_collection, get_memory


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

    def retrieve(state: Any) -> dict[str, Any]:
        query = _query_text(_state_value(state, query_key)).strip()
        if not query:
            return {output_key: []}
        learner = _state_value(state, learner_key) if collection == "episodes" else None
        course = _state_value(state, course_key) if course_key else None
        mem = memory if memory is not None else get_memory()
        hits = mem.search(
            collection,
            query,
            k=k,
            where=fixed_where,
            learner_id=str(learner) if learner else None,
            course=str(course) if course else None,
        )
        return {output_key: [h.to_dict() for h in hits]}

    retrieve.__name__ = f"retrieve_{collection}"
    return retrieve


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
