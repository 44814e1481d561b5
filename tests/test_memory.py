"""Retrieval memory: add/search/get/count/delete, filters, citations, learner isolation, persistence, drop-ins.

The real all-MiniLM-L6-v2 model is used; it is loaded once per session (the `embedder` fixture).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import pytest

from pedagraph.errors import ConfigError, DataError
from pedagraph.memory import (
    COLLECTIONS,
    Hit,
    LearnerScopeError,
    Memory,
    get_memory,
    make_retrieve_node,
    reset_memories,
    search_course_material,
)
from pedagraph.memory.embeddings import get_embedder

REPO = Path(__file__).resolve().parents[1]

MATERIALS = [
    ("To add fractions with the same denominator, add the numerators and keep the denominator.", "math", "fractions"),
    ("Photosynthesis turns light, water and carbon dioxide into sugar and oxygen in chloroplasts.", "bio", "plants"),
    ("Mitochondria are the organelles that make ATP for the cell.", "bio", "cells"),
    ("The Pythagorean theorem says that a squared plus b squared equals c squared.", "math", "geometry"),
    ("Volcanoes erupt when molten rock called magma rises to the surface.", "geo", "volcanoes"),
]


@pytest.fixture(scope="session")
def embedder():
    """Load the real embedding model once for the whole session (offline: conftest sets HF_HUB_OFFLINE=1)."""
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    return get_embedder()


@pytest.fixture
def mem(home, embedder) -> Memory:
    reset_memories()
    return Memory(home)


def _add_materials(mem: Memory) -> list[str]:
    texts = [t for t, _, _ in MATERIALS]
    metas = [
        {"course": c, "skill": s, "source": f"/notes/{c}.md", "heading": s.title(), "chunk_index": i}
        for i, (_, c, s) in enumerate(MATERIALS)
    ]
    return mem.add("materials", texts, metas)


def test_model_loads_offline_and_embeds_meaningfully(embedder):
    vectors = embedder.embed(["a small cat", "a kitten", "corporate tax law"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert get_embedder() is embedder  # one load per process


def test_search_ranks_by_cosine_similarity(mem, embedder):
    ids = _add_materials(mem)
    assert mem.count("materials") == len(MATERIALS)
    hits = mem.search("materials", "how do plants make sugar from light?", k=3)
    assert len(hits) == 3
    assert hits[0].id == ids[1]
    assert "Photosynthesis" in hits[0].text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # the score is the cosine similarity of query and text embeddings
    q, t = embedder.embed(["how do plants make sugar from light?", hits[0].text])
    assert hits[0].score == pytest.approx(float(q @ t), abs=1e-3)
    assert hits[0].metadata["course"] == "bio" and hits[0].collection == "materials"


def test_k_larger_than_collection_and_empty_collection(mem):
    assert mem.search("materials", "anything", k=5) == []
    _add_materials(mem)
    assert len(mem.search("materials", "anything", k=50)) == len(MATERIALS)


def test_metadata_filters(mem):
    _add_materials(mem)
    bio = mem.search("materials", "fractions and numbers", k=5, course="bio")
    assert {h.metadata["course"] for h in bio} == {"bio"} and len(bio) == 2
    assert [h.metadata["skill"] for h in mem.search("materials", "cells", skill="volcanoes")] == ["volcanoes"]
    assert {h.source for h in mem.search("materials", "x", source="/notes/math.md")} == {"/notes/math.md"}
    both = mem.search("materials", "x", where={"course": "math", "skill": "geometry"})
    assert [h.metadata["skill"] for h in both] == ["geometry"]
    some = mem.search("materials", "x", k=5, where={"skill": {"$in": ["cells", "plants"]}}, course="bio")
    assert {h.metadata["skill"] for h in some} == {"cells", "plants"}
    assert mem.search("materials", "x", course="history") == []
    assert mem.count("materials", course="math") == 2
    assert len(mem.get("materials", course="geo")) == 1


def test_add_is_idempotent_and_ids_can_be_given(mem):
    first = _add_materials(mem)
    second = _add_materials(mem)
    assert first == second
    assert mem.count("materials") == len(MATERIALS)
    mem.add("materials", ["one text", "another text"], ids=["a", "b"])
    mem.add("materials", ["one text, edited"], ids=["a"])
    assert mem.count("materials") == len(MATERIALS) + 2
    assert mem.get("materials", ids=["a"])[0].text == "one text, edited"


def test_delete_by_ids_and_filter(mem):
    ids = _add_materials(mem)
    assert mem.delete("materials", ids=[ids[0], "not-there"]) == 1
    assert mem.count("materials") == len(MATERIALS) - 1
    assert mem.delete("materials", course="bio") == 2
    assert mem.count("materials") == len(MATERIALS) - 3
    assert all(h.metadata["course"] != "bio" for h in mem.get("materials"))
    assert mem.delete("materials", where={"course": "nothing"}) == 0
    with pytest.raises(DataError, match="refusing to delete everything"):
        mem.delete("materials")
    assert mem.count("materials") == len(MATERIALS) - 3


def test_citation_source_and_position():
    hit = Hit(
        id="x",
        text="t",
        score=0.5,
        metadata={
            "source": "/course/notes.md",
            "heading": "Fractions > Adding",
            "chunk_index": 2,
            "char_start": 10,
            "char_end": 90,
            "course": "math",
        },
        collection="materials",
    )
    assert hit.citation == "notes.md § Fractions > Adding, part 3"
    assert hit.source == "/course/notes.md"
    assert hit.position == {"heading": "Fractions > Adding", "chunk_index": 2, "char_start": 10, "char_end": 90}
    pdf = Hit("y", "t", 0.1, {"source": "/c/book.pdf", "page": 4, "chunk_index": 0})
    assert pdf.citation == "book.pdf, p. 4, part 1"
    bare = Hit("z", "t", None, {})
    assert bare.citation == "z" and bare.source is None and bare.position == {}
    d = hit.to_dict()
    assert d["citation"] == hit.citation and d["position"]["char_end"] == 90 and json.dumps(d)


def test_search_results_carry_citations(mem):
    _add_materials(mem)
    hit = mem.search("materials", "what produces ATP in a cell", k=1)[0]
    assert hit.citation == "bio.md § Cells, part 3"
    assert hit.position["chunk_index"] == 2


def test_episodes_need_a_learner(mem):
    with pytest.raises(LearnerScopeError, match="learner"):
        mem.add("episodes", ["mixed up numerator and denominator"], [{"skill": "fractions"}])
    mem.add("episodes", ["mixed up numerator and denominator"], [{"learner_id": "ana"}])
    with pytest.raises(LearnerScopeError, match="without a learner id"):
        mem.search("episodes", "fractions")
    with pytest.raises(LearnerScopeError):
        mem.search("episodes", "fractions", where={"skill": "fractions"})
    with pytest.raises(LearnerScopeError):  # an OR does not pin one learner
        mem.search("episodes", "fractions", where={"$or": [{"learner_id": "ana"}, {"learner_id": "ben"}]})
    with pytest.raises(LearnerScopeError):
        mem.search("episodes", "fractions", where={"learner_id": {"$ne": "ana"}})
    with pytest.raises(LearnerScopeError):
        mem.get("episodes")
    assert len(mem.search("episodes", "fractions", learner_id="ana")) == 1
    assert len(mem.search("episodes", "fractions", where={"learner_id": {"$eq": "ana"}})) == 1


def test_two_learners_never_see_each_others_episodes(mem):
    shared = "struggled with adding fractions with unlike denominators; a pizza picture helped"
    mem.add(
        "episodes",
        [shared, "prefers worked examples before practice", shared + " (again)"],
        [
            {"learner_id": "ana", "skill": "fractions"},
            {"learner_id": "ana", "skill": "general"},
            {"learner_id": "ben", "skill": "fractions"},
        ],
    )
    ana = mem.search("episodes", shared + " (again)", k=10, learner_id="ana")
    ben = mem.search("episodes", shared, k=10, learner_id="ben")
    assert {h.metadata["learner_id"] for h in ana} == {"ana"} and len(ana) == 2
    assert {h.metadata["learner_id"] for h in ben} == {"ben"} and len(ben) == 1
    assert mem.search("episodes", shared, k=10, learner_id="carl") == []
    assert mem.search("episodes", shared, learner_id="ana", where={"learner_id": "ben"}) == []
    assert mem.count("episodes", learner_id="ana") == 2
    assert mem.delete("episodes", learner_id="ben") == 1
    assert mem.count("episodes") == 2


def test_collection_names_are_validated(mem):
    assert COLLECTIONS == ("materials", "episodes", "strategies", "examples", "notes")
    for call in (
        lambda: mem.add("material", ["x"]),
        lambda: mem.search("Materials", "x"),
        lambda: mem.count("chroma"),
        lambda: mem.delete("", ids=["x"]),
        lambda: make_retrieve_node("note"),
    ):
        with pytest.raises(ConfigError) as info:
            call()
        assert "use one of: materials, episodes, strategies, examples, notes" in info.value.one_line()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m.search("materials", "   "), "query is empty"),
        (lambda m: m.search("materials", "x", k=0), "k must be"),
        (lambda m: m.add("materials", "a string"), "not one string"),
        (lambda m: m.add("materials", ["a", ""]), "text #1 is empty"),
        (lambda m: m.add("materials", ["a", "b"], [{}]), "2 texts but 1 metadatas"),
        (lambda m: m.add("materials", ["a"], [{"tags": {"x": 1}}]), "must be a str, int, float or bool"),
        (lambda m: m.add("materials", ["a", "a"]), "duplicate ids"),
        (lambda m: m.search("materials", "x", where={"course": {"$like": "m"}}), "rejected"),
    ],
)
def test_bad_input_gives_one_line_data_errors(mem, call, message):
    mem.add("materials", ["something to search"])
    with pytest.raises(DataError, match=message) as info:
        call(mem)
    assert "\n" not in info.value.one_line()


def test_persists_across_memory_objects_and_processes(home, embedder, tmp_path):
    ids = _add_materials(Memory(home))
    again = Memory(home)
    assert again.count("materials") == len(MATERIALS)
    script = textwrap.dedent(
        """
        import json
        from pedagraph.memory import get_memory
        hits = get_memory().search("materials", "volcano eruption and magma", k=2)
        print(json.dumps([[h.id, h.citation, h.score] for h in hits]))
        """
    )
    env = {**os.environ, "PEDAGRAPH_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found[0][0] == ids[4]
    assert found[0][1] == "geo.md § Volcanoes, part 5"
    assert found[0][2] > found[1][2]


def test_get_memory_is_cached_per_home(home, tmp_path):
    reset_memories()
    first = get_memory()
    assert first is get_memory() and first is get_memory(home)
    assert first.home == home.resolve()
    assert first.chroma_dir == home.resolve() / "chroma"
    other = get_memory(tmp_path / "elsewhere")
    assert other is not first and other.home == (tmp_path / "elsewhere").resolve()


def test_concurrent_searches_from_threads(mem):
    _add_materials(mem)
    expected = mem.search("materials", "right triangle sides", k=1)[0].id
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                results.append(mem.search("materials", "right triangle sides", k=1)[0].id)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [expected] * 20


class _State(TypedDict, total=False):
    query: str
    messages: list[Any]
    course: str
    learner_id: str
    retrieved: list[dict[str, Any]]


def test_retrieve_node_in_a_langgraph(mem, home):
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.graph import END, START, StateGraph

    _add_materials(mem)
    builder = StateGraph(_State)
    builder.add_node("retrieve", make_retrieve_node("materials", query_key="query", k=2, output_key="retrieved"))
    builder.add_edge(START, "retrieve")
    builder.add_edge("retrieve", END)
    graph = builder.compile()
    out = graph.invoke({"query": "what do chloroplasts do?"})
    assert len(out["retrieved"]) == 2
    top = out["retrieved"][0]
    assert "Photosynthesis" in top["text"] and top["citation"] == "bio.md § Plants, part 2"
    assert json.dumps(out["retrieved"])  # checkpointer-friendly
    filtered = graph.invoke({"query": "what do chloroplasts do?", "course": "math"})
    assert {h["metadata"]["course"] for h in filtered["retrieved"]} == {"math"}
    assert graph.invoke({"query": "  "})["retrieved"] == []

    node = make_retrieve_node(query_key="messages", k=1, output_key="docs", memory=mem)
    update = node({"messages": [HumanMessage("hello"), AIMessage("hi"), HumanMessage("tell me about magma")]})
    assert "Volcanoes" in update["docs"][0]["text"]


def test_retrieve_node_for_episodes_is_scoped_to_the_state_learner(mem):
    mem.add("episodes", ["needed a number line for negatives"], [{"learner_id": "ana"}])
    mem.add("episodes", ["needed a number line for negatives, twice"], [{"learner_id": "ben"}])
    node = make_retrieve_node("episodes", k=5, memory=mem)
    got = node({"query": "number line", "learner_id": "ana"})["retrieved"]
    assert [h["metadata"]["learner_id"] for h in got] == ["ana"]
    with pytest.raises(LearnerScopeError):
        node({"query": "number line"})


def test_search_course_material_tool(mem):
    from langchain_core.messages import ToolMessage

    _add_materials(mem)
    assert search_course_material.name == "search_course_material"
    assert set(search_course_material.args) == {"query", "course", "k"}
    text = search_course_material.invoke({"query": "making ATP", "course": "bio", "k": 1})
    assert text.startswith("[1] bio.md § Cells, part 3 (score ")
    assert "Mitochondria" in text and "Photosynthesis" not in text
    msg = search_course_material.invoke(
        {"name": "search_course_material", "args": {"query": "right triangles"}, "id": "call-1", "type": "tool_call"}
    )
    assert isinstance(msg, ToolMessage)
    assert msg.artifact[0]["metadata"]["skill"] == "geometry" and len(msg.artifact) == 4
    assert search_course_material.invoke({"query": "fractions", "course": "latin"}) == "No matching course material."


def test_importing_the_cli_and_memory_stays_light(tmp_path):
    code = (
        "import sys, pedagraph.cli, pedagraph.memory, pedagraph.memory.ingest; "
        "print(sorted(m for m in ('chromadb', 'sentence_transformers', 'torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
