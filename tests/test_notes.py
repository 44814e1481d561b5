"""Learners' private notes: kept in the `notes` collection with their owner, quoted only by that learner's tutor.

The owner is part of the store's query (`Memory` refuses to search or list notes without one), so another
learner's tutor never retrieves a note that is not theirs; generated owners and texts (hypothesis) check it.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pedagraph.errors import DataError
from pedagraph.memory.store import LearnerScopeError, Memory
from pedagraph.memory.tools import add_note, delete_note, list_notes
from pedagraph.methods.tutor.material import search_material


class WordHashEmbedder:
    """A fast deterministic embedder (hashed words and letter pairs): which texts exist matters here, not meaning."""

    dim = 384

    def embed(self, texts, *, batch_size: int = 32):  # noqa: ARG002 - the Embedder protocol
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            low = text.lower()
            for part in [*low.split(), *(low[i : i + 2] for i in range(len(low) - 1))]:
                out[row, int(hashlib.sha256(part.encode()).hexdigest()[:8], 16) % self.dim] += 1.0
            out[row, 0] += 1e-3  # never the zero vector
            out[row] /= np.linalg.norm(out[row])
        return out


@pytest.fixture(scope="module")
def memory(tmp_path_factory):
    return Memory(tmp_path_factory.mktemp("notes-home"), embedder=WordHashEmbedder())


def test_notes_need_their_owner_to_be_written_searched_listed_or_deleted(memory):
    nid = add_note(memory, "user:ana", "The denominator is the bottom number.")
    with pytest.raises(LearnerScopeError):
        memory.search("notes", "denominator")
    with pytest.raises(LearnerScopeError):
        memory.get("notes")
    with pytest.raises(LearnerScopeError):
        memory.add("notes", ["no owner"])
    assert [n.id for n in list_notes(memory, "user:ana")] == [nid]
    assert list_notes(memory, "user:ben") == []
    assert not delete_note(memory, "user:ben", nid)  # another learner deletes nothing
    assert [n.id for n in list_notes(memory, "user:ana")] == [nid]
    for bad in ("", "   ", "x" * 2001):
        with pytest.raises(DataError):
            add_note(memory, "user:ana", bad)
    assert delete_note(memory, "user:ana", nid) and list_notes(memory, "user:ana") == []


def test_the_tutor_searches_the_class_material_and_only_the_learners_own_notes(memory):
    memory.add("materials", ["Fractions: the denominator counts the equal parts."],
               [{"course": "CLASSA", "source": "a.md"}])  # fmt: skip
    memory.add("materials", ["Fractions in class B: the denominator is below."],
               [{"course": "CLASSB", "source": "b.md"}])  # fmt: skip
    mine = add_note(memory, "user:cat", "My trick: the denominator is down, like d for down.")
    theirs = add_note(memory, "user:dan", "Dan's secret: the denominator trick he found.")
    found = search_material("what is the denominator?", course="CLASSA", memory=memory, learner_id="user:cat")
    cited = {p["citation"] for p in found.hits}
    ids = {p["id"] for p in found.hits}
    assert mine in ids and theirs not in ids and "b.md" not in cited and "a.md" in cited
    without = search_material("what is the denominator?", course="CLASSA", memory=memory)
    assert not {mine, theirs} & {p["id"] for p in without.hits}  # no learner: no notes at all
    delete_note(memory, "user:cat", mine)
    delete_note(memory, "user:dan", theirs)


OWNERS = [f"user:{n}" for n in ("ana", "ben", "cy", "dee")]
WORDS = st.sampled_from("fraction denominator numerator add half quarter sum carry borrow ten place the is".split())
NOTE = st.lists(WORDS, min_size=1, max_size=12).map(" ".join) | st.text(min_size=1, max_size=120)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(notes=st.lists(st.tuples(st.sampled_from(OWNERS), NOTE), min_size=1, max_size=12),
       query=st.lists(WORDS, min_size=1, max_size=6).map(" ".join), who=st.sampled_from(OWNERS))  # fmt: skip
def test_no_learners_tutor_ever_retrieves_a_note_that_is_not_theirs(memory, notes, query, who):
    owned: dict[str, str] = {}
    for owner, text in notes:
        try:
            owned[add_note(memory, owner, text)] = owner
        except DataError:
            continue  # an empty or too long note is refused, one line
    try:
        found = search_material(query, course="CLASSA", memory=memory, learner_id=who)
        assert found.status != "error", found.error
        returned = {p["id"] for p in found.hits} & set(owned)
        assert all(owned[i] == who for i in returned), (who, [owned[i] for i in returned])
        assert {n.id for n in list_notes(memory, who)} == {i for i, o in owned.items() if o == who}
    finally:
        for note_id, owner in owned.items():
            delete_note(memory, owner, note_id)
