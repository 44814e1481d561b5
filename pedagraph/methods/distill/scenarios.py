"""Tutoring scenarios: a problem and a student with a misconception (MathDial records as seeds).

A scenario's `kind` is the student's difficulty, one of the six MathDial student profiles (relevant
information, underlying ideas, what the problem asks, operations, problem type, procedure). The missing-skill
profile of the distillation loop is kept per kind, and new scenarios are drawn where the tutor is weakest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from pedagraph.errors import DataError
from pedagraph.problems import Problem, load_problems

KINDS: dict[str, str] = {
    "relevant_information": "which pieces of information are relevant",
    "underlying_ideas": "underlying ideas and principles",
    "what_is_asked": "what the problem is asking",
    "operations": "correct order in the equation or determine the correct operation",
    "problem_type": "recognize the problem type",
    "procedure": "what steps or procedures are required",
}
"""Scenario kinds: the MathDial student profiles' difficulties (kind -> a phrase of the profile that names it)."""
OTHER = "other"

_MAX_MESSAGE = 600


def kind_of(profile: str) -> str:
    """The scenario kind a MathDial student profile describes (`other` when none matches)."""
    low = " ".join(profile.lower().split())
    for kind, phrase in KINDS.items():
        if phrase in low:
            return kind
    return OTHER


def difficulty_of(profile: str) -> str:
    """The profile's sentence about the student's difficulty (one naming a known kind, else its last sentence)."""
    parts = [p.strip() for p in re.split(r"(?<=\.)\s+", profile.strip()) if p.strip()]
    named = [p for p in parts if kind_of(p) != OTHER]
    return named[0] if named else parts[-1] if parts else ""


class Scenario(BaseModel):
    """A tutoring situation: a problem, what the student said, the student's difficulty and misconception."""

    id: str
    kind: str = OTHER
    problem: dict[str, Any] = Field(description="The problem (a `Problem` dump).")
    student_message: str = Field(description="The student's turn the tutor answers (an incorrect solution).")
    profile: str = ""
    misconception: str = ""
    source: str = "mathdial"
    """Where the scenario came from: `mathdial` (a record) or `coach` (written by the coach model)."""
    seed_id: str = ""
    """The record a generated scenario was derived from."""

    def problem_obj(self) -> Problem:
        """The scenario's problem."""
        return Problem.model_validate(self.problem)


def situation_text(learner: str, diagnosis: str = "", profile: str = "") -> str:
    """The text a situation is retrieved by: the student's difficulty, the tutor's diagnosis, what they said.

    The same function makes a stored scenario's key and the tutor's query at run time, so they match.
    """
    lines = []
    if profile.strip():
        lines.append(f"Student difficulty: {difficulty_of(profile)}")
    if diagnosis.strip():
        lines.append(f"Diagnosis: {diagnosis.strip()}")
    lines.append(f"Student: {' '.join(learner.split())[:300]}")
    return "\n".join(lines)


def from_problem(problem: Problem) -> Scenario | None:
    """A scenario from a MathDial problem record (None when it has no incorrect solution or no steps)."""
    extras = problem.extras or {}
    message = " ".join(str(extras.get("student_incorrect_solution") or "").split())
    if not message or not problem.has_steps:
        return None
    profile = str(extras.get("student_profile") or "")
    return Scenario(id=problem.id, kind=kind_of(profile), problem=problem.model_dump(mode="json"),
                    student_message=message[:_MAX_MESSAGE], profile=profile,
                    misconception=str(extras.get("teacher_described_confusion") or ""))  # fmt: skip


def load_scenarios(path: str | Path) -> list[Scenario]:
    """The scenarios of a MathDial file (.jsonl or .csv); a one-line DataError when there are none."""
    found = [s for s in (from_problem(p) for p in load_problems(Path(path))) if s is not None]
    if not found:
        raise DataError(f"{path}: no MathDial scenarios (records with a student's incorrect solution and steps)")
    return found


def registry_scenarios(key: str = "mathdial/test.jsonl") -> list[Scenario]:
    """The scenarios of a MathDial file from the dataset registry (local copy or fetched)."""
    from pedagraph import datasets

    return load_scenarios(datasets.require(key, suite="distill").path)


def held_out(key: str, share: float, seed: int = 0) -> bool:
    """Whether a key (a scenario's problem) is in the held-out part of a split (a stable hash of seed and key)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()
    return int(digest[:8], 16) / 0xFFFFFFFF < share


def problem_key(scenario: Scenario) -> str:
    """The problem a scenario is about (its question, whitespace and case folded): several dialogues share one."""
    return " ".join(str(scenario.problem.get("question", "")).lower().split()) or scenario.id


def split(scenarios: Sequence[Scenario], share: float = 0.5, seed: int = 0) -> tuple[list[Scenario], list[Scenario]]:
    """(training, held-out) scenarios: a stable split by hash of the problem, the same for every run with the seed.

    Split by problem, not by dialogue: MathDial has several dialogues per problem, and a held-out scenario whose
    problem the library was trained on would measure recall, not transfer.
    """
    train = [s for s in scenarios if not held_out(problem_key(s), share, seed)]
    test = [s for s in scenarios if held_out(problem_key(s), share, seed)]
    return train, test


def balanced(scenarios: Iterable[Scenario], n: int, kinds: Sequence[str] | None = None,
             exclude: Iterable[str] = ()) -> list[Scenario]:  # fmt: skip
    """Up to `n` scenarios not excluded, taken round-robin over `kinds` (in that order; default: all kinds)."""
    skip = set(exclude)
    by_kind: dict[str, list[Scenario]] = {}
    for s in scenarios:
        if s.id not in skip:
            by_kind.setdefault(s.kind, []).append(s)
    order = [k for k in (kinds or sorted(by_kind)) if by_kind.get(k)]
    out: list[Scenario] = []
    while len(out) < n and any(by_kind.get(k) for k in order):
        for kind in order:
            if by_kind.get(kind) and len(out) < n:
                out.append(by_kind[kind].pop(0))
    return out
