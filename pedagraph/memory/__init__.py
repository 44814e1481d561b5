"""Retrieval memory: Chroma collections with sentence-transformers embeddings, and ingestion.

Importing this package is cheap: Chroma, the embedding model and LangChain load on first use.

    from pedagraph.memory import get_memory
    mem = get_memory()
    mem.add("episodes", ["confused numerator and denominator"], [{"learner_id": "ana", "skill": "fractions"}])
    hits = mem.search("materials", "how do I add fractions?", k=4, course="math-5")
    print(hits[0].citation)   # notes.md § Fractions > Adding, part 3
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pedagraph.memory.store import (
    COLLECTIONS,
    Hit,
    LearnerScopeError,
    Memory,
    check_collection,
    get_memory,
    reset_memories,
)

if TYPE_CHECKING:
    from pedagraph.memory.ingest import IngestReport, ingest_paths
    from pedagraph.memory.tools import make_retrieve_node, search_course_material

_LAZY = {
    "make_retrieve_node": "pedagraph.memory.tools",
    "search_course_material": "pedagraph.memory.tools",
    "ingest_paths": "pedagraph.memory.ingest",
    "IngestReport": "pedagraph.memory.ingest",
}

__all__ = [
    "COLLECTIONS",
    "Hit",
    "IngestReport",
    "LearnerScopeError",
    "Memory",
    "check_collection",
    "get_memory",
    "ingest_paths",
    "make_retrieve_node",
    "reset_memories",
    "search_course_material",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pedagraph.memory' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
