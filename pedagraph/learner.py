"""The shared learner model: one typed, versioned record per learner that every graph reads and updates.

A `LearnerModel` holds what pedagraph knows about one learner (a person or a simulated LLM student):

* `skills` — per-skill mastery estimated with Bayesian Knowledge Tracing (BKT). Mastery changes only
  through `LearnerStore.record_evidence`, which takes a boolean outcome and a `GradedEvidence` naming the
  grader (an answer check, a step check, a rubric or a human). No API takes prose; `save` and `update`
  refuse any change to mastery they did not make themselves.
* `misconceptions` — diagnosed errors (Bridge error types) with evidence and an active/remediated status.
* `demos` — what the learner did on an item with and without an explanation: the Theory-of-Mind
  mental-model bank of Saha et al. 2023; `useful_explanations()` is derived from it.
* `persona_text` and `stats`; `ability_levels()` derives EduPlanner's five-ability skill tree from mastery.

Records live in SQLite (`PEDAGRAPH_HOME/learners.sqlite`), or in PostgreSQL when `PEDAGRAPH_DATABASE_URL` is
set (`pedagraph.learner_pg`), keyed by learner id — never by a LangGraph
thread id — so they outlive sessions. Rows written by an older schema version are migrated on read
(`migrate`) and rewritten at the next write. See docs/learner-model.md.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sqlite3
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pedagraph.errors import DataError
from pedagraph.taxonomy import ErrorType

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "DEFAULT_BKT",
    "ErrorType",
    "LEVEL_THRESHOLDS",
    "Ability",
    "BKTParams",
    "BridgeErrorType",
    "GateHistory",
    "GradedEvidence",
    "Grader",
    "LearnerConflictError",
    "LearnerKind",
    "LearnerModel",
    "LearnerStats",
    "LearnerStore",
    "LearnerUpdate",
    "Misconception",
    "MisconceptionEvidence",
    "MistakeType",
    "ProblemEvent",
    "ProblemRecord",
    "Observation",
    "SkillState",
    "TeachingDemo",
    "TurnText",
    "ability_levels",
    "bkt_update",
    "get_learner_store",
    "mastery_to_level",
    "migrate",
    "validate_learner_id",
]

CURRENT_SCHEMA_VERSION = 3
"""Version of the `LearnerModel` JSON layout written by this code. See `migrate` for older versions."""

STORE_FILENAME = "learners.sqlite"
MAX_ID_LENGTH = 128
MAX_SKILL_HISTORY = 100
"""Most recent observations kept per skill (older ones are dropped; counts and mastery keep them)."""
MAX_MISCONCEPTION_EVIDENCE = 50
MAX_DEMOS = 500
"""Most recent teaching demos kept per learner (the oldest are dropped first)."""
MAX_PROBLEM_REPLIES = 30
"""Most recent tutor replies kept per problem (the reveal gate reads them across sessions)."""
MAX_EXTRACTION_ATTEMPTS = 20
"""Most recent extraction attempts kept per problem."""
MAX_PROBLEMS = 300
"""Problems with a record kept per learner (the least recently active are dropped first)."""
MAX_TURN_TEXT = 2000
MAX_COURSES = 50
MAX_COUNTED_TURNS = 500
DERIVED_KEY = "derived"
"""Key under which `LearnerStore.export` adds derived, recomputable data; ignored when loading."""
_STORAGE_LAYOUT = 1  # PRAGMA user_version of the SQLite file: the table layout, not the JSON schema.


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


Timestamp = Annotated[datetime, AfterValidator(_aware)]


# --------------------------------------------------------------------------- enums


class _NormalisingEnum(StrEnum):
    """A string enum that also accepts `Right-Idea`, `right idea` or a member's label for `right_idea`."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            norm = value.strip().lower().replace("-", "_").replace(" ", "_")
            for member in cls:
                if member.value == norm:
                    return member
        return None


BridgeErrorType = ErrorType
"""Bridge student error types (Wang et al., NAACL 2024), shared from `pedagraph.taxonomy.ErrorType`."""


def _error_type(value: object) -> object:
    """Accept the Bridge dataset's spellings (`right-idea`, `Right idea`) for `ErrorType` members."""
    if isinstance(value, str) and not isinstance(value, ErrorType):
        norm = value.strip().lower().replace("-", "_").replace(" ", "_")
        if norm in ErrorType._value2member_map_:
            return ErrorType(norm)
    return value


ErrorTypeField = Annotated[ErrorType, BeforeValidator(_error_type)]


class MistakeType(_NormalisingEnum):
    """EduPlanner's Question-Analyst catalogue of six common mistake types."""

    TRANSPOSITION = "transposition"
    CALCULATION = "calculation"
    ALGEBRAIC_SIMPLIFICATION = "algebraic_simplification"
    IGNORING_CONDITIONS = "ignoring_conditions"
    MISREADING_PROBLEM = "misreading_problem"
    MISAPPLYING_FORMULA = "misapplying_formula"


class Ability(_NormalisingEnum):
    """EduPlanner's five skill-tree abilities, each scored at a level 1-5; `Numerical Calculation` works too."""

    NUMERICAL_CALCULATION = "numerical_calculation"
    ABSTRACT_THINKING = "abstract_thinking"
    LOGICAL_REASONING = "logical_reasoning"
    ANALOGY_ASSOCIATION = "analogy_association"
    SPATIAL_IMAGINATION = "spatial_imagination"

    @property
    def label(self) -> str:
        """Return the name as EduPlanner writes it, e.g. `Numerical Calculation`."""
        return self.value.replace("_", " ").title()


class Grader(StrEnum):
    """Who decided that an answer was right or wrong: the only sources allowed to move mastery."""

    ANSWER_CHECK = "answer_check"
    STEP_CHECK = "step_check"
    RUBRIC = "rubric"
    HUMAN = "human"


LearnerKind = Literal["human", "llm_student"]


# --------------------------------------------------------------------------- validation


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise DataError(f"{what} must be a string, got {type(value).__name__}")
    if not value or not value.strip():
        raise DataError(f"{what} must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise DataError(f"{what} is {len(value)} characters long; at most {MAX_ID_LENGTH} are allowed")
    if value != value.strip():
        raise DataError(f"{what} {value!r} has leading or trailing whitespace", hint="strip it first")
    bad = [ch for ch in value if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")]
    if bad:
        raise DataError(f"{what} {value!r} contains control character(s)", hint="use printable characters only")
    return value


def validate_learner_id(learner_id: object) -> str:
    """Check a learner id (non-empty, at most 128 characters, no control characters) and return it."""
    return _check_name("learner id", learner_id)


def _pyd_name(what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            return _check_name(what, value)
        except DataError as exc:
            raise ValueError(str(exc)) from None

    return check


LearnerId = Annotated[str, AfterValidator(_pyd_name("learner id"))]
SkillName = Annotated[str, AfterValidator(_pyd_name("skill name"))]


# --------------------------------------------------------------------------- BKT


class BKTParams(BaseModel):
    """Parameters of Bayesian Knowledge Tracing (Corbett & Anderson 1995) for one skill.

    Defaults: `p_init` 0.3 (prior probability the skill is already known), `p_transit` 0.15 (probability of
    learning it at each practice opportunity), `p_slip` 0.1 (a learner who knows it answers wrongly),
    `p_guess` 0.2 (a learner who does not know it answers rightly). `p_slip + p_guess` must be below 1,
    otherwise a correct answer would not be evidence of mastery (the degenerate case of BKT).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    p_init: float = Field(0.3, ge=0.0, le=1.0)
    p_transit: float = Field(0.15, ge=0.0, le=1.0)
    p_slip: float = Field(0.1, ge=0.0, lt=1.0)
    p_guess: float = Field(0.2, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _not_degenerate(self) -> BKTParams:
        if self.p_slip + self.p_guess >= 1.0:
            raise ValueError("p_slip + p_guess must be < 1, or a correct answer is not evidence of mastery")
        return self


DEFAULT_BKT = BKTParams()


def bkt_update(p: float, correct: bool, params: BKTParams = DEFAULT_BKT) -> float:
    """Return P(mastered) after one graded observation: the BKT posterior, then the learning transition.

    Corbett, A. T. & Anderson, J. R. (1995). Knowledge tracing: Modeling the acquisition of procedural
    knowledge. User Modeling and User-Adapted Interaction 4(4), 253-278. With slip `s`, guess `g` and
    transit `t`::

        correct:   p' = p(1-s) / (p(1-s) + (1-p)g)
        incorrect: p' = p s   / (p s   + (1-p)(1-g))
        then:      p_next = p' + (1-p') t

    An observation the parameters call impossible (zero denominator) leaves `p` unchanged before the
    transition.
    """
    if isinstance(p, bool) or not isinstance(p, int | float) or not math.isfinite(p) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    if not isinstance(correct, bool):
        raise TypeError(f"correct must be a bool, got {type(correct).__name__}")
    s, g, t = params.p_slip, params.p_guess, params.p_transit
    if correct:
        num, den = p * (1.0 - s), p * (1.0 - s) + (1.0 - p) * g
    else:
        num, den = p * s, p * s + (1.0 - p) * (1.0 - g)
    posterior = num / den if den > 0.0 else float(p)
    return min(1.0, max(0.0, posterior + (1.0 - posterior) * t))


# --------------------------------------------------------------------------- records


class GradedEvidence(BaseModel):
    """Where a graded outcome came from: the grader and the session turn (and item) it graded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    grader: Grader
    session_id: str = Field(min_length=1, max_length=256)
    turn: int | None = Field(None, ge=0, description="Turn index in the session; with item_id it dedupes.")
    item_id: str | None = Field(None, max_length=256)
    at: Timestamp = Field(default_factory=_now)


class Observation(BaseModel):
    """One graded observation of a skill, kept for audit: outcome, provenance and mastery before/after."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    correct: bool
    grader: Grader
    session_id: str
    turn: int | None = None
    item_id: str | None = None
    at: Timestamp
    p_before: float = Field(ge=0.0, le=1.0)
    p_after: float = Field(ge=0.0, le=1.0)


class SkillState(BaseModel):
    """Mastery of one skill. Immutable: a new state is made only by `LearnerStore.record_evidence`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    p_mastery: float = Field(ge=0.0, le=1.0)
    n_obs: int = Field(0, ge=0)
    n_correct: int = Field(0, ge=0)
    last_seen: Timestamp | None = None
    params: BKTParams = DEFAULT_BKT
    abilities: tuple[Ability, ...] = ()
    history: tuple[Observation, ...] = ()

    @model_validator(mode="after")
    def _counts(self) -> SkillState:
        if self.n_correct > self.n_obs:
            raise ValueError(f"n_correct ({self.n_correct}) exceeds n_obs ({self.n_obs})")
        return self

    @classmethod
    def prior(cls, params: BKTParams = DEFAULT_BKT, abilities: Iterable[Ability | str] = ()) -> SkillState:
        """Return the state of a skill with no evidence yet: mastery at `params.p_init`."""
        return cls(p_mastery=params.p_init, params=params, abilities=_as_abilities(abilities))

    @property
    def has_evidence(self) -> bool:
        """Whether mastery rests on graded evidence (or on an older schema's estimate), not the prior."""
        return self.n_obs > 0 or self.last_seen is not None


class MisconceptionEvidence(BaseModel):
    """What the learner said or did that shows a misconception, and where."""

    model_config = ConfigDict(extra="forbid")

    session_id: str | None = None
    turn: int | None = Field(None, ge=0)
    text: str = ""
    at: Timestamp = Field(default_factory=_now)


class Misconception(BaseModel):
    """A diagnosed misconception about a skill, with its Bridge error type, evidence and status."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12], min_length=1, max_length=64)
    skill: SkillName
    error_type: ErrorTypeField
    mistake_type: MistakeType | None = None
    description: str
    """What the learner sees: the rules' sentence or the taxonomy's words for the type (never a model's)."""
    note: str = Field("", max_length=500)
    """A model's sentence about the misconception: shown to teachers only."""
    evidence: list[MisconceptionEvidence] = Field(default_factory=list)
    status: Literal["active", "remediated"] = "active"
    confidence: float = Field(0.5, ge=0.0, le=1.0)
    first_seen: Timestamp = Field(default_factory=_now)
    last_seen: Timestamp = Field(default_factory=_now)
    remediated_at: Timestamp | None = None


class TeachingDemo(BaseModel):
    """What the learner answered on one item, with or without an explanation (Saha et al. 2023 demos)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12], min_length=1, max_length=64)
    item_id: str | None = None
    question: str = Field(min_length=1)
    explanation: str | None = None
    learner_answer: str
    correct: bool
    with_explanation: bool
    skill: str | None = None
    session_id: str | None = None
    at: Timestamp = Field(default_factory=_now)

    @model_validator(mode="before")
    @classmethod
    def _derive_with_explanation(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            expl = data.get("explanation")
            if isinstance(expl, str) and not expl.strip():
                data["explanation"] = expl = None
            data.setdefault("with_explanation", expl is not None)
        return data

    @model_validator(mode="after")
    def _consistent(self) -> TeachingDemo:
        if self.with_explanation != (self.explanation is not None):
            raise ValueError("with_explanation must be true exactly when an explanation is given")
        return self

    @property
    def key(self) -> str:
        """Return the item this demo is about: `item_id`, or the question text when there is none."""
        return self.item_id or self.question


class TurnText(BaseModel):
    """A text said in one turn of one session (a tutor reply shown, a learner message), and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: str
    turn: int = Field(ge=0)
    text: str = Field(max_length=MAX_TURN_TEXT)
    at: Timestamp = Field(default_factory=_now)


class ProblemRecord(BaseModel):
    """What happened on one problem across the learner's sessions, as the reveal gate needs it.

    The tutor replies the learner was shown (so digits spread over replies of different sessions still join
    up) and the learner's attempts to extract the answer (so one session's fishing makes later ones strict).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    replies: list[TurnText] = Field(default_factory=list)
    extraction_attempts: list[TurnText] = Field(default_factory=list)
    last_seen: Timestamp = Field(default_factory=_now)


class GateHistory(BaseModel):
    """A problem's history from the learner's other sessions: the reveal gate's cross-session evidence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extraction: bool = False
    """The learner tried to extract this problem's answer in an earlier session."""
    replies: tuple[str, ...] = ()
    """Tutor replies shown on this problem in earlier sessions, oldest first."""


class LearnerStats(BaseModel):
    """Counters over a learner's sessions."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    sessions: int = Field(0, ge=0)
    hints_received: int = Field(0, ge=0)
    answers_revealed: int = Field(0, ge=0)


class LearnerModel(BaseModel):
    """Everything pedagraph knows about one learner; one record per learner id, shared by every graph."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    schema_version: int = CURRENT_SCHEMA_VERSION
    learner_id: LearnerId
    kind: LearnerKind = "human"
    created_at: Timestamp = Field(default_factory=_now)
    updated_at: Timestamp = Field(default_factory=_now)
    revision: int = Field(0, ge=0, description="Writes so far; save() refuses a stale copy.")
    persona_text: str = ""
    skills: dict[SkillName, SkillState] = Field(default_factory=dict)
    misconceptions: list[Misconception] = Field(default_factory=list)
    demos: list[TeachingDemo] = Field(default_factory=list)
    stats: LearnerStats = Field(default_factory=LearnerStats)
    problems: dict[str, ProblemRecord] = Field(default_factory=dict)
    """Per problem id: replies shown and extraction attempts, for the reveal gate across sessions."""
    courses: list[str] = Field(default_factory=list)
    """Courses the learner was tutored in (a session's `course`), first seen first: a teacher's class."""
    counted_turns: list[str] = Field(default_factory=list)
    """The turns (`session|turn`) whose counters `stats` holds, the latest `MAX_COUNTED_TURNS`: a turn committed
    twice (a crash between the commit and the checkpoint) counts once."""

    @field_validator("schema_version")
    @classmethod
    def _current(cls, v: int) -> int:
        if v != CURRENT_SCHEMA_VERSION:
            raise ValueError(f"schema_version {v} is not {CURRENT_SCHEMA_VERSION}; load it with from_data()")
        return v

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> LearnerModel:
        """Build a model from stored or exported JSON data of any known schema version (migrating it)."""
        data = {k: v for k, v in dict(data).items() if k != DERIVED_KEY}
        current = migrate(data)
        try:
            return cls.model_validate(current)
        except ValidationError as exc:
            raise DataError(
                f"learner record {current.get('learner_id')!r} is invalid: {_first_error(exc)}",
                hint="export or delete the learner; see docs/learner-model.md",
            ) from None

    def mastery(self, skill: str) -> float | None:
        """Return P(mastered) of a skill, or None if the learner has no state for it."""
        state = self.skills.get(skill)
        return state.p_mastery if state else None

    def active_misconceptions(self, skill: str | None = None) -> list[Misconception]:
        """Return the active misconceptions, optionally only those about one skill."""
        return [m for m in self.misconceptions if m.status == "active" and (skill is None or m.skill == skill)]

    def mental_model_bank(self) -> dict[str, list[TeachingDemo]]:
        """Return the demos split as Saha et al.'s pre (no explanation) and post (with explanation) banks."""
        return {
            "pre": [d for d in self.demos if not d.with_explanation],
            "post": [d for d in self.demos if d.with_explanation],
        }

    def problems_worked(self) -> dict[str, set[int]]:
        """Problems the learner answered steps of (from the demo bank): problem id -> steps answered right."""
        out: dict[str, set[int]] = {}
        for demo in self.demos:
            pid, sep, step = (demo.item_id or "").rpartition("#")
            if not sep or not step.isdigit():
                continue
            right = out.setdefault(pid, set())
            if demo.correct:
                right.add(int(step))
        return out

    def gate_history(self, problem_id: str, *, before_session: str | None = None) -> GateHistory:
        """Return a problem's cross-session evidence for the reveal gate (sessions other than `before_session`)."""
        record = self.problems.get(problem_id)
        if record is None:
            return GateHistory()
        replies = tuple(r.text for r in record.replies if r.session_id != before_session)
        tried = any(a.session_id != before_session for a in record.extraction_attempts)
        return GateHistory(extraction=tried, replies=replies)

    def useful_explanations(self) -> list[TeachingDemo]:
        """Return explanations that helped: right with this explanation on an item answered wrong without one.

        This is Saha et al.'s personalised-teacher demo set, derived (never stored) from `demos`; an item's
        latest unexplained attempt before the explained one must have been wrong.
        """
        useful: list[TeachingDemo] = []
        ordered = sorted(enumerate(self.demos), key=lambda pair: (pair[1].at, pair[0]))
        last_plain: dict[str, TeachingDemo] = {}
        for _, demo in ordered:
            if not demo.with_explanation:
                last_plain[demo.key] = demo
            elif demo.correct and demo.key in last_plain and not last_plain[demo.key].correct:
                useful.append(demo)
        return useful


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(record)"
    return f"{loc}: {err['msg']}"


def _as_abilities(value: Ability | str | Iterable[Ability | str] | None) -> tuple[Ability, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    out: list[Ability] = []
    for item in items:
        try:
            ability = Ability(item)
        except ValueError:
            raise DataError(
                f"unknown ability {item!r}", hint=f"use one of: {', '.join(a.value for a in Ability)}"
            ) from None
        if ability not in out:
            out.append(ability)
    return tuple(out)


# --------------------------------------------------------------------------- ability levels

LEVEL_THRESHOLDS: tuple[float, float, float, float] = (0.2, 0.4, 0.6, 0.8)
"""Mastery from which EduPlanner levels 2, 3, 4 and 5 start; below 0.2 is level 1."""
NO_EVIDENCE_LEVEL = 3


def mastery_to_level(p: float) -> int:
    """Map a mastery probability to an EduPlanner level: [0,.2)->1, [.2,.4)->2, ..., [.8,1]->5."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"mastery must be in [0, 1], got {p!r}")
    return 1 + sum(p >= t for t in LEVEL_THRESHOLDS)


def ability_levels(
    model: LearnerModel,
    skill_to_ability: Mapping[str, Ability | str | Iterable[Ability | str]] | None = None,
) -> dict[Ability, int]:
    """Return EduPlanner's five ability levels (1-5), derived from mastery of the skills tagged with each.

    For each ability, the mastery of the learner's skills tagged with it (by `skill_to_ability`, or else by
    each skill's own `abilities`) that rest on evidence is averaged, then bucketed with `mastery_to_level`.
    An ability with no such skill gets level 3, the middle of the scale. The result is in EduPlanner's order.
    """
    if skill_to_ability is None:
        tags = {name: state.abilities for name, state in model.skills.items()}
    else:
        tags = {name: _as_abilities(value) for name, value in skill_to_ability.items()}
    levels: dict[Ability, int] = {}
    for ability in Ability:
        ps = [
            model.skills[name].p_mastery
            for name, tagged in tags.items()
            if ability in tagged and name in model.skills and model.skills[name].has_evidence
        ]
        levels[ability] = mastery_to_level(sum(ps) / len(ps)) if ps else NO_EVIDENCE_LEVEL
    return levels


# --------------------------------------------------------------------------- migrations

_V1_KEYS = {
    "schema_version",
    "learner_id",
    "kind",
    "created",
    "updated",
    "persona",
    "mastery",
    "misconceptions",
    "sessions",
}


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1, the first draft: flat `mastery: {skill: p}`, `misconceptions: [text]`, `persona`, `sessions`."""
    unknown = set(data) - _V1_KEYS
    if unknown:
        raise DataError(
            f"schema_version 1 record has unknown key(s) {', '.join(sorted(unknown))}",
            hint="refusing to migrate rather than drop data",
        )
    mastery = data.get("mastery") or {}
    texts = data.get("misconceptions") or []
    if not isinstance(mastery, dict) or not isinstance(texts, list):
        raise DataError("schema_version 1 record: `mastery` must be an object and `misconceptions` a list")
    created = data.get("created")
    updated = data.get("updated") or created
    return {
        "schema_version": 2,
        "learner_id": data.get("learner_id"),
        "kind": data.get("kind", "human"),
        "created_at": created,
        "updated_at": updated,
        "revision": 0,
        "persona_text": data.get("persona") or "",
        # v1 estimates came from graded answers too, but their counts were not kept: n_obs stays 0 and
        # last_seen (the v1 record's last update) marks them as resting on evidence, not on the prior.
        "skills": {
            skill: {"p_mastery": p, "n_obs": 0, "n_correct": 0, "last_seen": updated} for skill, p in mastery.items()
        },
        "misconceptions": [
            {
                "id": f"v1-{i}",
                "skill": "unspecified",
                "error_type": "other",
                "description": text,
                "confidence": 0.5,
                "first_seen": updated,
                "last_seen": updated,
            }
            for i, text in enumerate(texts)
        ],
        "stats": {"sessions": data.get("sessions", 0)},
    }


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """v2 had no per-problem record and no courses: v3 adds `problems` and `courses`, empty."""
    return {**data, "schema_version": 3, "problems": {}, "courses": []}


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2, 2: _v2_to_v3}
"""`MIGRATIONS[v]` turns a version-v record into a version v+1 record."""


def migrate(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of a stored learner record upgraded to CURRENT_SCHEMA_VERSION, one step at a time.

    Raises DataError for a record without a version, of an unknown older version, or written by a newer
    pedagraph (which this code cannot read without dropping data).
    """
    if not isinstance(data, Mapping):
        raise DataError(f"learner record must be a JSON object, got {type(data).__name__}")
    out = dict(data)  # current-version records are only read (validated), so a shallow copy suffices
    version = out.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise DataError(f"learner record {out.get('learner_id')!r} has no integer schema_version")
    if version > CURRENT_SCHEMA_VERSION:
        raise DataError(
            f"learner record {out.get('learner_id')!r} has schema_version {version}, newer than the "
            f"{CURRENT_SCHEMA_VERSION} this pedagraph knows",
            hint="upgrade pedagraph; the record was left untouched",
        )
    if version < CURRENT_SCHEMA_VERSION:
        out = copy.deepcopy(out)  # migrations build new records; never alias the caller's nested data
    while version < CURRENT_SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise DataError(f"learner record {out.get('learner_id')!r}: no migration from schema_version {version}")
        out = step(out)
        version = out["schema_version"]
    return out


# --------------------------------------------------------------------------- store


class LearnerConflictError(DataError):
    """`save` was given a copy of a learner that changed in the store after the copy was read."""


def _mastery_part(state: SkillState) -> dict[str, Any]:
    return state.model_dump(exclude={"abilities"})


def _check_mastery_untouched(before: LearnerModel, after: LearnerModel) -> None:
    rule = "mastery changes only through record_evidence() with graded evidence"
    hint = "call LearnerStore.record_evidence(learner_id, skill, correct, GradedEvidence(...))"
    who = f"learner {after.learner_id!r}"
    for name, old in before.skills.items():
        new = after.skills.get(name)
        if new is None:
            raise DataError(f"{who}: skill {name!r} was removed; {rule}", hint=hint)
        if _mastery_part(new) != _mastery_part(old):
            raise DataError(f"{who}: mastery of skill {name!r} was changed directly; {rule}", hint=hint)
    for name in after.skills.keys() - before.skills.keys():
        new = after.skills[name]
        if new.n_obs or new.n_correct or new.history or new.last_seen or new.p_mastery != new.params.p_init:
            raise DataError(
                f"{who}: new skill {name!r} must start at its prior (p_init, no evidence); {rule}", hint=hint
            )


# --------------------------------------------------------------------------- changes


class EvidenceUpdate(BaseModel):
    """One graded outcome of a skill, to be recorded with BKT."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skill: SkillName
    correct: bool
    evidence: GradedEvidence
    params: BKTParams | None = None
    abilities: tuple[Ability, ...] = ()

    @classmethod
    def checked(
        cls,
        skill: str,
        correct: bool,
        evidence: GradedEvidence,
        *,
        params: BKTParams | None = None,
        abilities: Iterable[Ability | str] | None = None,
    ) -> EvidenceUpdate:
        """Validate the parts of a graded outcome with the store's error messages."""
        skill = _check_name("skill name", skill)
        if not isinstance(correct, bool):
            raise TypeError(f"correct must be a bool from a grader, got {type(correct).__name__}")
        if not isinstance(evidence, GradedEvidence):
            raise TypeError("evidence must be a GradedEvidence naming its grader and source turn")
        if params is not None and not isinstance(params, BKTParams):
            raise TypeError("params must be BKTParams")
        return cls(skill=skill, correct=correct, evidence=evidence, params=params, abilities=_as_abilities(abilities))


class MisconceptionUpdate(BaseModel):
    """A diagnosed misconception to merge into the learner's record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skill: SkillName
    error_type: ErrorType
    description: str
    evidence: MisconceptionEvidence | None = None
    confidence: float = 0.5
    mistake_type: MistakeType | None = None
    note: str = Field("", max_length=500)
    """A model's sentence about the misconception (teachers only)."""

    @classmethod
    def checked(
        cls,
        skill: str,
        error_type: ErrorType | str,
        description: str,
        *,
        evidence: MisconceptionEvidence | None = None,
        confidence: float = 0.5,
        mistake_type: MistakeType | str | None = None,
        note: str = "",
    ) -> MisconceptionUpdate:
        """Validate the parts of a misconception with the store's error messages."""
        skill = _check_name("skill name", skill)
        try:
            etype = ErrorType(_error_type(error_type))
            mtype = MistakeType(mistake_type) if mistake_type is not None else None
        except ValueError as exc:
            raise DataError(
                f"{exc}; Bridge error types: {', '.join(e.value for e in ErrorType)}; "
                f"mistake types: {', '.join(m.value for m in MistakeType)}"
            ) from None
        if not isinstance(description, str) or not description.strip():
            raise DataError("a misconception needs a non-empty description")
        if not 0.0 <= confidence <= 1.0:
            raise DataError(f"confidence must be in [0, 1], got {confidence!r}")
        if evidence is not None and not isinstance(evidence, MisconceptionEvidence):
            raise TypeError("evidence must be a MisconceptionEvidence")
        return cls(
            skill=skill,
            error_type=etype,
            description=description.strip(),
            evidence=evidence,
            confidence=confidence,
            mistake_type=mtype,
            note=(note or "").strip()[:500],
        )


class MisconceptionResolution(BaseModel):
    """Graded evidence that contradicts the learner's active misconceptions about a skill: they are remediated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skill: SkillName
    evidence: MisconceptionEvidence
    error_type: ErrorType | None = None
    """Only misconceptions of this Bridge error type (None: every active one of the skill)."""


class StatsDelta(BaseModel):
    """Non-negative amounts to add to a learner's session counters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sessions: int = 0
    hints_received: int = 0
    answers_revealed: int = 0
    turn_key: str = Field("", max_length=2 * MAX_ID_LENGTH + 12)
    """`session|turn` of the turn these counts come from ("" for none): counted once per learner."""

    @classmethod
    def checked(cls, **deltas: Any) -> StatsDelta:
        """Validate the amounts with the store's error messages."""
        for name, value in deltas.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DataError(f"{name} must be a non-negative integer, got {value!r}")
        return cls(**deltas)

    def __add__(self, other: StatsDelta) -> StatsDelta:
        counts = {name: getattr(self, name) + getattr(other, name) for name in COUNTERS}
        return StatsDelta(**counts, turn_key=self.turn_key or other.turn_key)


COUNTERS = ("sessions", "hints_received", "answers_revealed")
"""The counters of `LearnerStats` a `StatsDelta` adds to."""


class ProblemEvent(BaseModel):
    """One thing to remember about a problem: a tutor reply shown, or an attempt to extract its answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    problem_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    kind: Literal["reply", "extraction"]
    said: TurnText


class LearnerUpdate(BaseModel):
    """Changes to one learner model gathered over a turn and stored in one transaction (`LearnerStore.apply`).

    JSON-ready, so a graph can keep it in its checkpointed state between the node that grades a turn and the
    node that commits it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    evidence: tuple[EvidenceUpdate, ...] = ()
    misconceptions: tuple[MisconceptionUpdate, ...] = ()
    demos: tuple[TeachingDemo, ...] = ()
    stats: StatsDelta = Field(default_factory=StatsDelta)
    resolved: tuple[MisconceptionResolution, ...] = ()
    """Misconceptions that graded evidence now contradicts (applied before this update's new misconceptions)."""
    problem_events: tuple[ProblemEvent, ...] = ()
    """Replies shown and extraction attempts, per problem (the reveal gate's evidence across sessions)."""
    courses: tuple[str, ...] = ()
    """Courses to add to the learner's (a session in a course)."""

    def __add__(self, other: LearnerUpdate) -> LearnerUpdate:
        return LearnerUpdate(
            evidence=self.evidence + other.evidence,
            misconceptions=self.misconceptions + other.misconceptions,
            demos=self.demos + other.demos,
            stats=self.stats + other.stats,
            resolved=self.resolved + other.resolved,
            problem_events=self.problem_events + other.problem_events,
            courses=self.courses + other.courses,
        )

    @property
    def is_empty(self) -> bool:
        """True when applying it would change nothing."""
        parts = (self.evidence, self.misconceptions, self.demos, self.resolved, self.problem_events, self.courses)
        return not (any(parts) or any(getattr(self.stats, name) for name in COUNTERS))


def apply_evidence(model: LearnerModel, item: EvidenceUpdate) -> bool:
    """Record one graded outcome on `model` in place (BKT, deduplicated per session/turn/item); True if changed."""
    skill, correct, evidence, params = item.skill, item.correct, item.evidence, item.params
    state = model.skills.get(skill) or SkillState.prior(params or DEFAULT_BKT)
    if evidence.turn is not None:
        for obs in state.history:
            if (obs.session_id, obs.turn, obs.item_id) == (evidence.session_id, evidence.turn, evidence.item_id):
                if obs.correct != correct:
                    raise DataError(
                        f"learner {model.learner_id!r}, skill {skill!r}: session {evidence.session_id!r} turn "
                        f"{evidence.turn} was already graded correct={obs.correct}",
                        hint="grade each turn once, or give the item an item_id",
                    )
                return False
    use = params or state.params
    p_after = bkt_update(state.p_mastery, correct, use)
    obs = Observation(
        correct=correct,
        grader=evidence.grader,
        session_id=evidence.session_id,
        turn=evidence.turn,
        item_id=evidence.item_id,
        at=evidence.at,
        p_before=state.p_mastery,
        p_after=p_after,
    )
    new = SkillState(
        p_mastery=p_after,
        n_obs=state.n_obs + 1,
        n_correct=state.n_correct + int(correct),
        last_seen=max(state.last_seen, evidence.at) if state.last_seen else evidence.at,
        params=use,
        abilities=state.abilities + tuple(a for a in item.abilities if a not in state.abilities),
        history=(state.history + (obs,))[-MAX_SKILL_HISTORY:],
    )
    model.skills = {**model.skills, skill: new}
    return True


def apply_misconception(model: LearnerModel, item: MisconceptionUpdate) -> tuple[bool, Misconception]:
    """Merge a misconception into `model` in place; (changed, the entry)."""
    evidence = item.evidence
    for entry in model.misconceptions:
        if entry.status == "active" and entry.skill == item.skill and entry.error_type == item.error_type:
            if evidence is not None and any(
                (e.session_id, e.turn, e.text) == (evidence.session_id, evidence.turn, evidence.text)
                for e in entry.evidence
            ):
                return False, entry
            if evidence is not None:
                entry.evidence = (entry.evidence + [evidence])[-MAX_MISCONCEPTION_EVIDENCE:]
            entry.confidence = 1.0 - (1.0 - entry.confidence) * (1.0 - item.confidence)
            entry.last_seen = _now()
            if entry.mistake_type is None and item.mistake_type is not None:
                entry.mistake_type = item.mistake_type
            if item.note and not entry.note:
                entry.note = item.note
            return True, entry
    entry = Misconception(
        skill=item.skill,
        error_type=item.error_type,
        mistake_type=item.mistake_type,
        description=item.description,
        note=item.note,
        evidence=[evidence] if evidence is not None else [],
        confidence=item.confidence,
    )
    model.misconceptions = model.misconceptions + [entry]
    return True, entry


def apply_resolution(model: LearnerModel, item: MisconceptionResolution) -> bool:
    """Mark the active misconceptions `item` contradicts remediated, in place (not those its own turn showed)."""
    changed = False
    here = (item.evidence.session_id, item.evidence.turn)
    for entry in model.misconceptions:
        if entry.status != "active" or entry.skill != item.skill:
            continue
        if item.error_type is not None and entry.error_type != item.error_type:
            continue
        if any((e.session_id, e.turn) == here for e in entry.evidence):
            continue
        entry.status = "remediated"
        entry.remediated_at = _now()
        entry.evidence = (entry.evidence + [item.evidence])[-MAX_MISCONCEPTION_EVIDENCE:]
        changed = True
    return changed


def apply_demo(model: LearnerModel, demo: TeachingDemo) -> bool:
    """Add a teaching demo to `model` in place (an id already there is kept once); True if changed."""
    if any(d.id == demo.id for d in model.demos):
        return False
    model.demos = (model.demos + [demo.model_copy(deep=True)])[-MAX_DEMOS:]
    return True


def apply_stats(model: LearnerModel, delta: StatsDelta) -> bool:
    """Add session counters to `model` in place, once per turn key; True if any amount was added."""
    if not any(getattr(delta, name) for name in COUNTERS):
        return False
    if delta.turn_key:
        if delta.turn_key in model.counted_turns:
            return False
        model.counted_turns = [*model.counted_turns, delta.turn_key][-MAX_COUNTED_TURNS:]
    for name in COUNTERS:
        setattr(model.stats, name, getattr(model.stats, name) + getattr(delta, name))
    return True


def apply_problem_event(model: LearnerModel, event: ProblemEvent) -> bool:
    """Remember a reply shown or an extraction attempt on a problem, in place (once per session and turn)."""
    record = model.problems.get(event.problem_id) or ProblemRecord()
    kept = record.replies if event.kind == "reply" else record.extraction_attempts
    said = event.said
    if any((t.session_id, t.turn) == (said.session_id, said.turn) for t in kept):
        return False
    limit = MAX_PROBLEM_REPLIES if event.kind == "reply" else MAX_EXTRACTION_ATTEMPTS
    kept = (kept + [said])[-limit:]
    field = "replies" if event.kind == "reply" else "extraction_attempts"
    record = record.model_copy(update={field: kept, "last_seen": max(record.last_seen, said.at)})
    problems = {**model.problems, event.problem_id: record}
    if len(problems) > MAX_PROBLEMS:
        keep = set(sorted(problems, key=lambda pid: problems[pid].last_seen)[-MAX_PROBLEMS:])
        problems = {pid: record for pid, record in problems.items() if pid in keep}
    model.problems = problems
    return True


def apply_courses(model: LearnerModel, courses: Iterable[str]) -> bool:
    """Add courses to the learner's list in place (each once, the first MAX_COURSES kept); True if changed."""
    new = [c.strip()[:MAX_ID_LENGTH] for c in courses if c and c.strip() and c.strip() not in model.courses]
    new = list(dict.fromkeys(new))[: max(0, MAX_COURSES - len(model.courses))]
    if new:
        model.courses = [*model.courses, *new]
    return bool(new)


def apply_update(model: LearnerModel, update: LearnerUpdate) -> bool:
    """Apply every part of a `LearnerUpdate` to `model` in place, in order; True if anything changed."""
    changed = apply_courses(model, update.courses)
    for event in update.problem_events:
        changed |= apply_problem_event(model, event)
    for evidence in update.evidence:
        changed |= apply_evidence(model, evidence)
    for demo in update.demos:
        changed |= apply_demo(model, demo)
    for resolution in update.resolved:
        changed |= apply_resolution(model, resolution)
    for misconception in update.misconceptions:
        changed |= apply_misconception(model, misconception)[0]
    changed |= apply_stats(model, update.stats)
    return changed


class LearnerStore:
    """Durable learner records in one SQLite file (WAL), safe for concurrent threads and processes.

    Every read-modify-write runs in its own `BEGIN IMMEDIATE` transaction on a fresh connection, so
    concurrent writers queue up (for up to `timeout` seconds) instead of losing updates.
    """

    def __init__(self, path: str | Path | None = None, *, timeout: float = 30.0) -> None:
        if path is None:
            from pedagraph.settings import ensure_home, load_settings

            path = ensure_home(load_settings()) / STORE_FILENAME
        self.path = Path(path).expanduser()
        self._start(timeout)

    def __repr__(self) -> str:
        return f"LearnerStore({str(self.path)!r})"

    # -- plumbing

    def _start(self, timeout: float) -> None:
        """Set up the per-thread connections and create the table (a subclass's `__init__` calls it too)."""
        self.timeout = timeout
        self._init_lock = threading.Lock()
        self._initialised = False
        self._generation = 0
        self._local = threading.local()
        self._init_db()

    def _init_db(self) -> None:
        with self._init_lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DataError(f"cannot create {self.path.parent}: {exc}", hint="set PEDAGRAPH_HOME") from None
            conn = self._open()
            try:
                layout = conn.execute("PRAGMA user_version").fetchone()[0]
                if layout > _STORAGE_LAYOUT:
                    raise DataError(
                        f"{self.path}: storage layout {layout} is newer than this pedagraph's", hint="upgrade pedagraph"
                    )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS learners ("
                    " learner_id TEXT PRIMARY KEY,"
                    " schema_version INTEGER NOT NULL,"
                    " updated_at TEXT NOT NULL,"
                    " data TEXT NOT NULL)"
                )
                if layout == 0:
                    conn.execute(f"PRAGMA user_version = {_STORAGE_LAYOUT}")
            except sqlite3.DatabaseError as exc:
                raise DataError(
                    f"{self.path}: not a usable learner database: {exc}",
                    hint="move the file away or point PEDAGRAPH_HOME elsewhere",
                ) from None
            finally:
                conn.close()
            self._initialised = True
            self._generation += 1  # connections opened before (on a wiped file) are not reused

    def _open(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise DataError(f"cannot open learner database {self.path}: {exc}") from None

    def _thread_connection(self) -> sqlite3.Connection:
        """This thread's connection, opened once (closing the last WAL connection checkpoints: costly per call)."""
        key = (self._generation, os.getpid())
        cached = getattr(self._local, "conn", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        if cached is not None:
            cached[1].close()
        conn = self._open()
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a killed process, no fsync per commit
        self._local.conn = (key, conn)
        return conn

    def _drop_thread_connection(self) -> None:
        cached = getattr(self._local, "conn", None)
        self._local.conn = None
        if cached is not None:
            cached[1].close()

    @contextmanager
    def _connection(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        if not self.path.exists():  # home wiped while this store was cached
            self._init_db()
        conn = self._thread_connection()
        try:
            if write:
                conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if write:
                    conn.rollback()
                raise
            if write:
                conn.commit()
        except sqlite3.DatabaseError as exc:
            self._drop_thread_connection()
            raise DataError(
                f"learner database {self.path}: {exc}",
                hint="if it is locked, another process holds a long write; retry",
            ) from None

    @staticmethod
    def _read(conn: sqlite3.Connection, learner_id: str) -> LearnerModel | None:
        row = conn.execute("SELECT data FROM learners WHERE learner_id = ?", (learner_id,)).fetchone()
        return None if row is None else LearnerStore._decode(learner_id, row[0])

    @staticmethod
    def _decode(learner_id: str, raw: str) -> LearnerModel:
        """Return the model stored as JSON text `raw` for `learner_id`, migrated; DataError if unusable."""
        try:
            data = json.loads(raw)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"learner {learner_id!r}: stored record is not valid JSON ({exc})",
                hint=f"delete it with LearnerStore.delete({learner_id!r}) or restore a backup",
            ) from None
        try:
            model = LearnerModel.from_data(data)
        except DataError as exc:
            raise DataError(f"learner {learner_id!r}: {exc}", hint=exc.hint) from None
        if model.learner_id != learner_id:
            raise DataError(f"learner {learner_id!r}: stored record belongs to {model.learner_id!r}")
        return model

    @staticmethod
    def _write(conn: sqlite3.Connection, model: LearnerModel) -> LearnerModel:
        """Store `model` (owned by the caller's transaction) with its revision advanced; returns it."""
        model.revision += 1
        model.updated_at = _now()
        conn.execute(
            "INSERT INTO learners (learner_id, schema_version, updated_at, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(learner_id) DO UPDATE SET schema_version = excluded.schema_version, "
            "updated_at = excluded.updated_at, data = excluded.data",
            (model.learner_id, model.schema_version, model.updated_at.isoformat(), model.model_dump_json()),
        )
        return model

    def _modify(self, learner_id: str, change: Callable[[LearnerModel], bool]) -> LearnerModel:
        """Run `change` on the stored (or a fresh) model in one write transaction; write if it returns True."""
        learner_id = validate_learner_id(learner_id)
        with self._connection(write=True) as conn:
            model = self._read(conn, learner_id) or LearnerModel(learner_id=learner_id)
            if change(model):
                model = self._write(conn, model)
        return model

    # -- public API

    def get(self, learner_id: str, *, kind: LearnerKind = "human") -> LearnerModel:
        """Return a learner's model, migrated to the current schema; a fresh one (unsaved) if absent."""
        learner_id = validate_learner_id(learner_id)
        with self._connection(write=False) as conn:
            model = self._read(conn, learner_id)
        return model if model is not None else LearnerModel(learner_id=learner_id, kind=kind)

    def exists(self, learner_id: str) -> bool:
        """Return whether a record is stored for this learner id."""
        learner_id = validate_learner_id(learner_id)
        with self._connection(write=False) as conn:
            return conn.execute("SELECT 1 FROM learners WHERE learner_id = ?", (learner_id,)).fetchone() is not None

    def save(self, model: LearnerModel) -> LearnerModel:
        """Store a model read with `get`; refuses stale copies and any direct change of mastery.

        On success `model.revision` and `model.updated_at` are advanced in place and the model is returned.
        """
        if not isinstance(model, LearnerModel):
            raise TypeError(f"save() takes a LearnerModel, got {type(model).__name__}")
        learner_id = validate_learner_id(model.learner_id)
        try:
            candidate = LearnerModel.model_validate(model.model_dump(warnings=False))
        except ValidationError as exc:
            raise DataError(f"learner {learner_id!r} is invalid: {_first_error(exc)}") from None
        with self._connection(write=True) as conn:
            stored = self._read(conn, learner_id)
            stored_rev = stored.revision if stored else 0
            if candidate.revision != stored_rev:
                raise LearnerConflictError(
                    f"learner {learner_id!r} changed since this copy was read "
                    f"(copy revision {candidate.revision}, stored {stored_rev})",
                    hint="re-read it with get(), or use update(learner_id, fn) for an atomic change",
                )
            _check_mastery_untouched(stored or LearnerModel(learner_id=learner_id), candidate)
            written = self._write(conn, candidate)
        model.revision = written.revision
        model.updated_at = written.updated_at
        return model

    def update(self, learner_id: str, fn: Callable[[LearnerModel], LearnerModel | None]) -> LearnerModel:
        """Apply `fn` to the current model atomically and store the result; return the stored model.

        `fn` may change the model in place (returning None) or return a replacement. It must not change
        mastery (use `record_evidence`) nor call this store (the write lock is held while it runs).
        """
        learner_id = validate_learner_id(learner_id)

        def change(model: LearnerModel) -> bool:
            before = model.model_copy(deep=True)
            result = fn(model)
            new = model if result is None else result
            if not isinstance(new, LearnerModel):
                raise TypeError(f"update fn must return a LearnerModel or None, got {type(new).__name__}")
            if new.learner_id != learner_id:
                raise DataError(f"update fn changed the learner id from {learner_id!r} to {new.learner_id!r}")
            try:
                checked = LearnerModel.model_validate(new.model_dump(warnings=False))
            except ValidationError as exc:
                raise DataError(f"learner {learner_id!r} is invalid after update: {_first_error(exc)}") from None
            _check_mastery_untouched(before, checked)
            checked.revision = before.revision
            for field in LearnerModel.model_fields:
                setattr(model, field, getattr(checked, field))
            return True

        return self._modify(learner_id, change)

    def record_evidence(
        self,
        learner_id: str,
        skill: str,
        correct: bool,
        evidence: GradedEvidence,
        *,
        params: BKTParams | None = None,
        abilities: Iterable[Ability | str] | None = None,
    ) -> SkillState:
        """Update a skill's mastery from one graded outcome (BKT); the only way mastery ever changes.

        `params` (if given) become the skill's BKT parameters from this observation on; `abilities` are added
        to the skill's EduPlanner ability tags. Recording the same (session_id, turn, item_id) twice for a
        skill — a retried or replayed graph node — counts once; recording it with the opposite outcome
        raises DataError. Evidence without a turn is never deduplicated.
        """
        item = EvidenceUpdate.checked(skill, correct, evidence, params=params, abilities=abilities)
        model = self._modify(learner_id, lambda m: apply_evidence(m, item))
        return model.skills[item.skill]

    def add_misconception(
        self,
        learner_id: str,
        skill: str,
        error_type: ErrorType | str,
        description: str,
        *,
        evidence: MisconceptionEvidence | None = None,
        confidence: float = 0.5,
        mistake_type: MistakeType | str | None = None,
    ) -> Misconception:
        """Record a diagnosed misconception, merging it into an active one of the same skill and error type.

        A merge appends the evidence (unless the same session/turn/text is already there) and raises the
        confidence as a noisy-OR: `c = 1 - (1 - c_old)(1 - confidence)`; the first description is kept.
        """
        item = MisconceptionUpdate.checked(
            skill, error_type, description, evidence=evidence, confidence=confidence, mistake_type=mistake_type
        )
        result: dict[str, Misconception] = {}

        def change(model: LearnerModel) -> bool:
            changed, result["m"] = apply_misconception(model, item)
            return changed

        self._modify(learner_id, change)
        return result["m"].model_copy(deep=True)

    def resolve_misconception(
        self, learner_id: str, misconception_id: str, *, evidence: MisconceptionEvidence | None = None
    ) -> Misconception:
        """Mark a misconception remediated (idempotent), optionally with the evidence that showed it."""
        result: dict[str, Misconception] = {}

        def change(model: LearnerModel) -> bool:
            for entry in model.misconceptions:
                if entry.id == misconception_id:
                    result["m"] = entry
                    if entry.status == "remediated":
                        return False
                    entry.status = "remediated"
                    entry.remediated_at = _now()
                    if evidence is not None:
                        entry.evidence = (entry.evidence + [evidence])[-MAX_MISCONCEPTION_EVIDENCE:]
                    return True
            raise DataError(f"learner {learner_id!r} has no misconception {misconception_id!r}")

        self._modify(learner_id, change)
        return result["m"].model_copy(deep=True)

    def add_demo(self, learner_id: str, demo: TeachingDemo) -> TeachingDemo:
        """Add a with/without-explanation demo to the learner's mental-model bank (same id: kept once)."""
        if not isinstance(demo, TeachingDemo):
            raise TypeError("demo must be a TeachingDemo")
        self._modify(learner_id, lambda model: apply_demo(model, demo))
        return demo

    def increment_stats(
        self, learner_id: str, *, sessions: int = 0, hints_received: int = 0, answers_revealed: int = 0
    ) -> LearnerStats:
        """Add non-negative amounts to the learner's session counters and return the new counters."""
        delta = StatsDelta.checked(sessions=sessions, hints_received=hints_received, answers_revealed=answers_revealed)
        return self._modify(learner_id, lambda model: apply_stats(model, delta)).stats

    def apply(self, learner_id: str, update: LearnerUpdate) -> LearnerModel:
        """Apply a whole `LearnerUpdate` (evidence, misconceptions, demos, stats) in one write transaction.

        Each part follows the rules of its single-change method (deduplication included); an empty update
        writes nothing. Returns the stored model.
        """
        if not isinstance(update, LearnerUpdate):
            raise TypeError("update must be a LearnerUpdate")
        return self._modify(learner_id, lambda model: apply_update(model, update))

    def list_learners(self) -> list[str]:
        """Return the ids of all stored learners, sorted (corrupt records are listed too)."""
        with self._connection(write=False) as conn:
            return [row[0] for row in conn.execute("SELECT learner_id FROM learners ORDER BY learner_id")]

    def delete(self, learner_id: str) -> bool:
        """Delete a learner's record (even a corrupt one); return whether there was one."""
        learner_id = validate_learner_id(learner_id)
        with self._connection(write=True) as conn:
            return conn.execute("DELETE FROM learners WHERE learner_id = ?", (learner_id,)).rowcount > 0

    def export(self, learner_id: str) -> dict[str, Any]:
        """Return a stored learner as JSON-ready data, plus derived views under `derived`.

        `LearnerModel.from_data(export)` reads it back (the derived part is recomputed, not loaded).
        """
        learner_id = validate_learner_id(learner_id)
        with self._connection(write=False) as conn:
            model = self._read(conn, learner_id)
        if model is None:
            raise DataError(f"no stored learner {learner_id!r}", hint="list them with list_learners()")
        data = model.model_dump(mode="json")
        data[DERIVED_KEY] = {
            "ability_levels": {a.value: level for a, level in ability_levels(model).items()},
            "useful_explanations": [d.model_dump(mode="json") for d in model.useful_explanations()],
        }
        return data


_STORES: dict[Path | str, LearnerStore] = {}
_STORES_LOCK = threading.Lock()


def get_learner_store(home: str | Path | None = None) -> LearnerStore:
    """Return the LearnerStore of a PEDAGRAPH_HOME (default: the configured one), one instance per home.

    With no `home` and a configured database URL (`PEDAGRAPH_DATABASE_URL`), the store is the PostgreSQL one
    (`pedagraph.learner_pg.PostgresLearnerStore`), one instance per URL.
    """
    if home is None:
        from pedagraph.settings import ensure_home, load_settings

        settings = load_settings()
        if settings.database_url is not None:
            url = settings.database_url.get_secret_value()
            with _STORES_LOCK:
                store = _STORES.get(url)
                if store is None:
                    from pedagraph.learner_pg import PostgresLearnerStore

                    store = _STORES[url] = PostgresLearnerStore(url)
                return store
        home_path = ensure_home(settings)
    else:
        home_path = Path(home).expanduser()
    key = home_path.resolve()
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = LearnerStore(key / STORE_FILENAME)
        return store
