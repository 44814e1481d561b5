"""A tutoring session's state when a problem starts afresh."""

from __future__ import annotations

from collections.abc import Mapping
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
        "earlier_sessions": {},
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


CLEARED_INPUTS: dict[str, Any] = {"problem_id": None, "problem_text": None, "problem_data": None, "answer": None,
                                  "restart": None, "question": None}  # fmt: skip
"""The state update that clears a run's inputs once they were read."""


def input_problem_id(state: Mapping[str, Any]) -> str | None:
    """The id of the problem given as input, without loading it (None when no problem is given)."""
    if state.get("problem_id"):
        return str(state["problem_id"])
    if state.get("problem_data"):
        return str((state["problem_data"] or {}).get("id") or "") or None
    if state.get("problem_text"):
        return Problem.from_text(str(state["problem_text"]), state.get("answer")).id
    return None


def continues_active(state: Mapping[str, Any]) -> bool:
    """Whether the input names the problem already active on the thread (and does not ask to restart it)."""
    active = state.get("problem") and not state.get("done")
    same = input_problem_id(state) == (state.get("problem") or {}).get("id")
    return bool(active) and not state.get("restart") and same
