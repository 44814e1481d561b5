"""A tutoring session's state when a problem starts afresh."""

from __future__ import annotations

from typing import Any

from pedagraph.problems import Problem, steps_of
from pedagraph.taxonomy import SubproblemState


def fresh_session_state(problem: Problem, learner_id: str, *, problem_start: int = 0) -> dict[str, Any]:
    """The session state for starting `problem` afresh (what the tutor sets when a new problem is loaded)."""
    n = len(steps_of(problem))
    return {
        "learner_id": learner_id,
        "problem_id": None,
        "problem_text": None,
        "problem_data": None,
        "answer": None,
        "problem": problem.model_dump(mode="json"),
        "problem_start": problem_start,
        "step_index": 0,
        "attempts": [0] * n,
        "hint_level": [0] * n,
        "explained": [False] * n,
        "subproblem_state": SubproblemState.IN_PROGRESS.value,
        "learner_solved": False,
        "revealed": False,
        "solution_requested": False,
        "extraction_flag": False,
        "turn_count": 0,
        "budget_used": 0,
        "done": False,
        "end_reason": None,
        "greeted": False,
        "mode": "problem",
        "last_diagnosis": {},
        "last_plan": {},
        "draft_reply": "",
        "streamed_text": "",
        "pending_learning": {},
    }
