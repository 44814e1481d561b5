"""The class view: every learner of a class in one table, built from the shared learner model (read-only).

What a teacher looks at before planning a lesson: mastery per learner and skill (a heatmap), the most frequent
active misconceptions with the learners who hold them, and each learner's recent sessions (from the session ids
of their graded observations and misconception evidence). It reads only through `LearnerStore`'s public API.

The learner store has no notion of a course: a class is the list of learner ids given (all stored learners by
default), optionally narrowed by an id prefix (e.g. `7b-` for learners named `7b-ana`, `7b-ben`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pedagraph.errors import DataError
from pedagraph.learner import LearnerModel, LearnerStore

__all__ = ["ClassView", "LearnerRow", "class_csv", "class_view", "select_learners"]

RECENT_SESSIONS = 3
"""Sessions listed per learner (the most recent)."""
MAX_LEARNERS = 200


@dataclass(frozen=True)
class LearnerRow:
    """One learner's line of the class view."""

    learner_id: str
    mastery: dict[str, float | None]
    """Skill -> P(mastered), None where the learner has no graded evidence on the skill."""
    misconceptions: int
    sessions: list[dict[str, Any]]
    """The most recent sessions: id, last activity (ISO), graded answers and how many were right."""
    error: str | None = None
    """Why the record could not be read (a corrupt row), else None."""


@dataclass(frozen=True)
class ClassView:
    """The class: skills (columns), one row per learner, the most frequent misconceptions with who holds them."""

    skills: list[str]
    rows: list[LearnerRow]
    misconceptions: list[dict[str, Any]] = field(default_factory=list)

    def matrix(self) -> list[list[float | None]]:
        """Mastery as learners x skills (None: no evidence)."""
        return [[row.mastery.get(s) for s in self.skills] for row in self.rows]


def select_learners(
    store: LearnerStore, wanted: Iterable[str] | str | None = None, *, course: str | None = None
) -> list[str]:
    """The class's learner ids: those listed (comma-separated or a list; `prefix*` matches a prefix), else all.

    With a course, only the learners tutored in it (the learner model's `courses`).
    """
    every = store.list_learners()
    if course and course.strip():
        every = [i for i in every if course.strip() in store.get(i).courses]
        if not every:
            raise DataError(f"no learner has been tutored in course {course.strip()!r}",
                            hint="leave the course empty to list every learner")  # fmt: skip
    if wanted is None or (isinstance(wanted, str) and not wanted.strip()):
        return every[:MAX_LEARNERS]
    parts = [p.strip() for p in (wanted.split(",") if isinstance(wanted, str) else wanted) if str(p).strip()]
    out: list[str] = []
    for part in parts:
        matches = [i for i in every if i.startswith(part[:-1])] if part.endswith("*") else [part] * (part in every)
        if not matches:
            raise DataError(f"no stored learner matches {part!r}", hint="leave the box empty to list every learner")
        out += [m for m in matches if m not in out]
    return out[:MAX_LEARNERS]


def _sessions(model: LearnerModel) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for state in model.skills.values():
        for obs in state.history:
            entry = seen.setdefault(obs.session_id, {"session": obs.session_id, "last": obs.at, "answers": 0,
                                                     "right": 0})  # fmt: skip
            entry["answers"] += 1
            entry["right"] += int(obs.correct)
            entry["last"] = max(entry["last"], obs.at)
    for m in model.misconceptions:
        for ev in m.evidence:
            if ev.session_id:
                entry = seen.setdefault(ev.session_id, {"session": ev.session_id, "last": ev.at, "answers": 0,
                                                        "right": 0})  # fmt: skip
                entry["last"] = max(entry["last"], ev.at)
    recent = sorted(seen.values(), key=lambda e: e["last"], reverse=True)[:RECENT_SESSIONS]
    return [{**e, "last": e["last"].isoformat(timespec="minutes") if isinstance(e["last"], datetime) else e["last"]}
            for e in recent]  # fmt: skip


def class_view(store: LearnerStore, learner_ids: Sequence[str]) -> ClassView:
    """Build the class view of these learners (a corrupt record is shown with its error, never hidden)."""
    rows: list[LearnerRow] = []
    skills: list[str] = []
    held: dict[tuple[str, str], dict[str, Any]] = {}
    for learner_id in learner_ids:
        try:
            model = store.get(learner_id)
        except DataError as exc:
            rows.append(LearnerRow(learner_id, {}, 0, [], error=str(exc)))
            continue
        mastery = {name: (s.p_mastery if s.has_evidence else None) for name, s in model.skills.items()}
        skills += [s for s in mastery if s not in skills]
        active = model.active_misconceptions()
        for m in active:
            entry = held.setdefault((m.skill, m.description.strip().lower()), {
                "skill": m.skill, "description": m.description.strip(), "error_type": m.error_type.value,
                "learners": []})  # fmt: skip
            if learner_id not in entry["learners"]:
                entry["learners"].append(learner_id)
        rows.append(LearnerRow(learner_id, mastery, len(active), _sessions(model)))
    common = sorted(held.values(), key=lambda e: (-len(e["learners"]), e["skill"], e["description"]))
    return ClassView(skills=sorted(skills), rows=rows, misconceptions=common)


def class_csv(view: ClassView) -> str:
    """The class as CSV: one row per learner, a mastery column per skill, misconceptions, recent sessions."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["learner_id", *[f"mastery:{s}" for s in view.skills], "active_misconceptions",
                     "recent_sessions", "last_active", "error"])  # fmt: skip
    for row in view.rows:
        cells = ["" if row.mastery.get(s) is None else f"{row.mastery[s]:.3f}" for s in view.skills]
        last = row.sessions[0]["last"] if row.sessions else ""
        writer.writerow([row.learner_id, *cells, row.misconceptions, ";".join(s["session"] for s in row.sessions),
                         last, row.error or ""])  # fmt: skip
    return out.getvalue()
