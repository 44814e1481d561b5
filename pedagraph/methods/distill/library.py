"""The strategy library: (situation, strategy) pairs in the memory's `strategies` collection.

Each entry is stored with its situation as the text (what retrieval compares a new situation with) and, as
metadata, the strategy, the scenario kind and MRBench skill it targets, the measured gain (judge score with the
strategy minus without, on the scenarios it was verified on), its provenance (coach, tutor and judge models,
round, scenario, time) and whether a person approved or edited it. Retrieval goes through
`pedagraph.memory.tools.retrieve`, the one retrieval path; a library is a `library` metadata value, so several
live side by side in one collection.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from pedagraph.errors import DataError, PedagraphError
from pedagraph.memory.store import Memory

COLLECTION = "strategies"
DEFAULT_LIBRARY = "default"
MIN_SCORE = 0.5
"""Cosine similarity below which a stored situation is not retrieved for a new one."""
_PROVENANCE = ("coach", "tutor", "judge", "round", "scenario_id", "source", "created_at")


class Strategy(BaseModel):
    """One library entry: a strategy, the situation it was written for, its measured gain and provenance."""

    id: str = ""
    strategy: str
    situation: str
    kind: str = ""
    skill: str = ""
    """The MRBench dimension the strategy targets (the tutor's failure it was written to fix)."""
    gain: float = 0.0
    before: float | None = None
    after: float | None = None
    n_verify: int = 0
    """Scenarios the gain was measured on."""
    approved: bool = False
    edited: bool = False
    library: str = DEFAULT_LIBRARY
    provenance: dict[str, Any] = Field(default_factory=dict)
    score: float | None = None
    """Similarity to the query, for a retrieved entry."""

    def metadata(self) -> dict[str, Any]:
        """The entry's metadata as stored (scalars only)."""
        meta: dict[str, Any] = {"library": self.library, "strategy": self.strategy, "kind": self.kind,
                                "skill": self.skill, "gain": float(self.gain), "n_verify": int(self.n_verify),
                                "approved": bool(self.approved), "edited": bool(self.edited)}  # fmt: skip
        if self.before is not None:
            meta["before"] = float(self.before)
        if self.after is not None:
            meta["after"] = float(self.after)
        for key in _PROVENANCE:
            value = self.provenance.get(key)
            if value is not None:
                meta[f"prov_{key}"] = value
        return meta

    @classmethod
    def from_hit(cls, hit: dict[str, Any]) -> Strategy:
        """An entry from a memory hit (`Hit.to_dict()` or a `Hit`)."""
        data = hit if isinstance(hit, dict) else hit.to_dict()
        meta = dict(data.get("metadata") or {})
        prov = {k[5:]: v for k, v in meta.items() if k.startswith("prov_")}
        return cls(id=str(data.get("id") or ""), strategy=str(meta.get("strategy") or ""),
                   situation=str(data.get("text") or ""), kind=str(meta.get("kind") or ""),
                   skill=str(meta.get("skill") or ""), gain=float(meta.get("gain") or 0.0),
                   before=meta.get("before"), after=meta.get("after"), n_verify=int(meta.get("n_verify") or 0),
                   approved=bool(meta.get("approved")), edited=bool(meta.get("edited")),
                   library=str(meta.get("library") or DEFAULT_LIBRARY), provenance=prov,
                   score=data.get("score"))  # fmt: skip

    def line(self) -> str:
        """The strategy as one prompt line."""
        return " ".join(self.strategy.split())


def entry_id(library: str, situation: str, strategy: str) -> str:
    """A stable id of an entry: the same strategy for the same situation is stored once."""
    return hashlib.sha256(f"{library}\n{situation}\n{strategy}".encode()).hexdigest()[:32]


class StrategyLibrary:
    """A named strategy library in a memory: add, list, approve, edit, delete and retrieve strategies."""

    def __init__(self, memory: Memory, name: str = DEFAULT_LIBRARY) -> None:
        if not isinstance(name, str) or not name.strip():
            raise DataError("a strategy library needs a non-empty name")
        self.memory = memory
        self.name = name.strip()

    def __repr__(self) -> str:
        return f"StrategyLibrary({self.name!r}, {self.memory!r})"

    def add(self, entries: Sequence[Strategy]) -> list[str]:
        """Store entries (replacing an entry with the same id); return their ids."""
        if not entries:
            return []
        now = time.time()
        ready = []
        for e in entries:
            if not e.strategy.strip() or not e.situation.strip():
                raise DataError("a strategy and its situation must not be empty")
            prov = {"created_at": now, **e.provenance}
            ready.append(e.model_copy(update={"library": self.name, "provenance": prov,
                                              "id": e.id or entry_id(self.name, e.situation, e.strategy)}))  # fmt: skip
        return self.memory.add(COLLECTION, [e.situation for e in ready], [e.metadata() for e in ready],
                               ids=[e.id for e in ready])  # fmt: skip

    def all(self, *, approved_only: bool = False) -> list[Strategy]:
        """Every entry of the library (only approved ones on request), best measured gain first."""
        where: dict[str, Any] = {"library": self.name}
        if approved_only:
            where["approved"] = True
        if not self.memory.chroma_dir.exists():
            return []
        hits = self.memory.get(COLLECTION, where=where)
        return sorted((Strategy.from_hit(h.to_dict()) for h in hits), key=lambda s: (-s.gain, s.id))

    def get(self, entry: str) -> Strategy:
        """One entry by id (a DataError when it is not in this library)."""
        hits = self.memory.get(COLLECTION, ids=[entry]) if self.memory.chroma_dir.exists() else []
        found = [Strategy.from_hit(h.to_dict()) for h in hits]
        if not found or found[0].library != self.name:
            raise DataError(f"no strategy {entry!r} in library {self.name!r}")
        return found[0]

    def count(self) -> int:
        """How many entries the library holds."""
        return self.memory.count(COLLECTION, where={"library": self.name}) if self.memory.chroma_dir.exists() else 0

    def approve(self, entry: str, approved: bool = True) -> Strategy:
        """Approve (or withdraw the approval of) an entry; return it updated."""
        updated = self.get(entry).model_copy(update={"approved": bool(approved)})
        self.add([updated])
        return updated

    def edit(self, entry: str, strategy: str) -> Strategy:
        """Replace an entry's strategy text (same id, marked edited, approval withdrawn: approve the new text)."""
        text = " ".join(str(strategy or "").split())
        if not text:
            raise DataError("the edited strategy is empty (delete it instead)")
        updated = self.get(entry).model_copy(update={"strategy": text, "edited": True, "approved": False})
        self.add([updated])
        return updated

    def delete(self, entry: str) -> bool:
        """Delete an entry; True when it existed."""
        self.get(entry)
        return self.memory.delete(COLLECTION, ids=[entry]) > 0

    def retrieve(self, situation: str, *, k: int = 3, approved_only: bool = False,
                 min_score: float | None = MIN_SCORE, strict: bool = True) -> list[Strategy]:  # fmt: skip
        """The entries written for the situations most similar to this one (best first).

        With `strict=False` a store that cannot be read gives no entries instead of an error.
        """
        from pedagraph.memory.tools import retrieve

        if not situation.strip():
            return []
        try:
            if self.count() == 0:
                return []  # an empty library costs no embedding of the situation
        except PedagraphError:
            if strict:
                raise
            return []
        where: dict[str, Any] = {"library": self.name}
        if approved_only:
            where["approved"] = True
        found = retrieve(COLLECTION, situation, k=k, where=where, min_score=min_score, memory=self.memory,
                         strict=strict)  # fmt: skip
        return [Strategy.from_hit(h) for h in found.hits]


def given_strategies(value: Any) -> list[Strategy]:
    """Strategies given directly (texts, dicts or `Strategy`), e.g. a candidate the loop is testing."""
    out = []
    for item in value or []:
        if isinstance(item, Strategy):
            out.append(item)
        elif isinstance(item, str) and item.strip():
            out.append(Strategy(strategy=item.strip(), situation="(given)", id="given"))
        elif isinstance(item, dict):
            out.append(Strategy.model_validate({"situation": "(given)", **item}))
        else:
            raise DataError(f"a strategy must be a text or a dict, got {type(item).__name__}")
    return out


def strategies_for(setting: Any, situation: str, *, memory: Memory, k: int = 3,
                   approved_only: bool = False) -> list[Strategy]:  # fmt: skip
    """The strategies a tutor uses in a situation (a library that cannot be read gives none: the turn goes on).

    `setting` is None (none), a library name (its entries retrieved for the situation), a list of strategies
    used as they are, or `{"library": name, "given": [...]}` (the given ones first, then the retrieved ones: how
    the distillation loop tests a candidate on top of the library). With `approved_only`, an unapproved strategy is
    never returned, given or retrieved.
    """
    if setting is None or setting == "" or setting is False:
        return []
    if isinstance(setting, dict):
        given, library = given_strategies(setting.get("given")), setting.get("library")
    elif isinstance(setting, str):
        given, library = [], setting
    else:
        given, library = given_strategies(setting), None
    given = [s for s in given if s.approved or not approved_only]  # every path honours the approval filter
    retrieved = []
    if isinstance(library, str) and library.strip():
        retrieved = StrategyLibrary(memory, library).retrieve(situation, k=k, approved_only=approved_only,
                                                              strict=False)  # fmt: skip
    if approved_only:  # never an unapproved entry, whichever way it came
        given, retrieved = [g for g in given if g.approved], [r for r in retrieved if r.approved]
    seen = {g.strategy for g in given}
    return given + [s for s in retrieved if s.strategy not in seen]
