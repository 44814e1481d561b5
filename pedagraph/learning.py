"""The learner-model rules every graph follows: what a graded turn, a session or a shown reply changes.

Each rule returns a `LearnerUpdate` (nothing is written here); a graph gathers a turn's updates and stores them
with `commit`, one transaction per turn. Mastery changes only from graded evidence (a deterministic check of
the learner's answer), never from a model's prose.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pedagraph.learner import (
    MAX_TURN_TEXT,
    EvidenceUpdate,
    GradedEvidence,
    LearnerModel,
    LearnerStore,
    LearnerUpdate,
    MisconceptionEvidence,
    MisconceptionResolution,
    MisconceptionUpdate,
    ProblemEvent,
    StatsDelta,
    TeachingDemo,
    TurnText,
    apply_update,
)
from pedagraph.problems import Problem, Step, steps_of
from pedagraph.taxonomy import Diagnosis, ErrorType

OPERATION_SKILLS = ("addition", "subtraction", "multiplication", "division")
MISCONCEPTION_CONFIDENCE: dict[ErrorType, float] = {
    ErrorType.MISINTERPRET: 0.6,
    ErrorType.CARELESS: 0.3,
    ErrorType.GUESS: 0.2,
}
"""How sure one diagnosed error makes us of a misconception, by Bridge error type (others: 0.5)."""


def primary_skill(skills: list[str]) -> str | None:
    """The skill a step's mistake is about: its first arithmetic operation, else its first tag."""
    return next((s for s in skills if s in OPERATION_SKILLS), skills[0] if skills else None)


def graded_turn(
    *,
    problem: Problem,
    step: Step,
    diagnosis: Diagnosis,
    learner_text: str,
    session_id: str,
    turn: int,
    explained: tuple[int, str | None] | None = None,
) -> LearnerUpdate:
    """What one diagnosed learner turn teaches the learner model: BKT evidence per skill, a demo, a misconception.

    Only a deterministic verdict is evidence: the final answer stated (graded on the last step) or a step answer
    checked right or wrong. `explained` is (step index, worked explanation) of the tutor's move before this turn:
    the graded step's demo is a with-explanation demo when it is that step (the Theory-of-Mind bank). A graded
    error is one misconception, filed under the step's operation skill; a graded right answer contradicts (and
    resolves) the active misconceptions about that skill diagnosed in earlier turns.
    """
    graded: list[Step] = []
    correct = False
    if diagnosis.solved_final:
        graded, correct = [steps_of(problem)[-1]], True
    elif diagnosis.verdict in ("correct", "incorrect") and step.answer_value is not None:
        graded, correct = [step], diagnosis.verdict == "correct"
    evidence: list[EvidenceUpdate] = []
    demos: list[TeachingDemo] = []
    for g in graded:
        item = f"{problem.id}#{g.index}"
        source = GradedEvidence(grader="step_check", session_id=session_id, turn=turn, item_id=item)
        evidence += [EvidenceUpdate.checked(skill, correct, source) for skill in g.skills]
        demo_id = hashlib.sha1(f"{session_id}|{turn}|{item}".encode()).hexdigest()[:16]
        demos.append(
            TeachingDemo(
                id=demo_id,
                item_id=item,
                question=g.question,
                explanation=(explained[1] or None) if explained and explained[0] == g.index else None,
                learner_answer=learner_text[:300] or "(empty)",
                correct=correct,
                skill=g.skills[0] if g.skills else None,
                session_id=session_id,
            )
        )
    seen = MisconceptionEvidence(session_id=session_id, turn=turn, text=learner_text[:500])
    misconceptions, resolved = _misconception_changes(problem, step, diagnosis, graded, correct, seen)
    return LearnerUpdate(evidence=tuple(evidence), demos=tuple(demos), misconceptions=misconceptions,
                         resolved=resolved)  # fmt: skip


Changes = tuple[tuple[MisconceptionUpdate, ...], tuple[MisconceptionResolution, ...]]


def _misconception_changes(problem: Problem, step: Step, diagnosis: Diagnosis, graded: list[Step], correct: bool,
                           seen: MisconceptionEvidence) -> Changes:  # fmt: skip
    """A graded error's misconception (under the step's operation skill); a graded right answer's resolutions."""
    skill = primary_skill(step.skills or problem.skills)
    if not graded or not skill:
        return (), ()
    if correct:
        skills = {primary_skill(g.skills) for g in graded} | {skill}
        return (), tuple(MisconceptionResolution(skill=s, evidence=seen) for s in sorted(k for k in skills if k))
    if diagnosis.error_type is None or not diagnosis.misconception:
        return (), ()
    confidence = MISCONCEPTION_CONFIDENCE.get(diagnosis.error_type, 0.5)
    update = MisconceptionUpdate.checked(skill, diagnosis.error_type, diagnosis.misconception, evidence=seen,
                                         confidence=confidence, note=diagnosis.misconception_note or "")  # fmt: skip
    return (update,), ()


def session_started(course: str | None = None) -> LearnerUpdate:
    """A new tutoring session (one problem) was opened, in a course or none."""
    return LearnerUpdate(stats=StatsDelta(sessions=1), courses=(course,) if course and course.strip() else ())


def _problem_event(kind: Literal["reply", "extraction"], problem_id: str, session_id: str, turn: int, text: str
                   ) -> tuple[ProblemEvent, ...]:  # fmt: skip
    if not problem_id or not text.strip():
        return ()
    said = TurnText(session_id=session_id, turn=turn, text=text.strip()[:MAX_TURN_TEXT])
    return (ProblemEvent(problem_id=problem_id, kind=kind, said=said),)


def reply_shown(*, hint: bool, revealed: bool, problem_id: str | None = None, session_id: str = "", turn: int = 0,
                text: str = "") -> LearnerUpdate:  # fmt: skip
    """A tutor reply reached the learner: count it as a hint and/or an answer revealed; remember it on its problem."""
    key = f"{session_id}|{turn}" if session_id else ""
    return LearnerUpdate(stats=StatsDelta(hints_received=int(hint), answers_revealed=int(revealed), turn_key=key),
                         problem_events=_problem_event("reply", problem_id or "", session_id, turn, text))  # fmt: skip


def extraction_tried(*, problem_id: str, session_id: str, turn: int, text: str) -> LearnerUpdate:
    """The learner tried to extract a problem's answer: remembered, so their later sessions on it start strict."""
    return LearnerUpdate(problem_events=_problem_event("extraction", problem_id, session_id, turn, text))


def pending(update: dict | None) -> LearnerUpdate:
    """Read a turn's pending update back from graph state (empty when there is none)."""
    return LearnerUpdate.model_validate(update) if update else LearnerUpdate()


def preview(store: LearnerStore, learner_id: str, update: LearnerUpdate) -> LearnerModel:
    """The learner model as it will be once `update` is committed (read, then applied in memory)."""
    model = store.get(learner_id)
    apply_update(model, update)
    return model


def commit(store: LearnerStore, learner_id: str, update: LearnerUpdate) -> None:
    """Store a turn's update in one transaction (nothing is written for an empty one)."""
    if not update.is_empty:
        store.apply(learner_id, update)
