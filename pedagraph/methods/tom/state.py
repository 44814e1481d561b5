"""The typed state of the `tom_teacher` graph, which its nodes (`agents/tom.py`) read."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from typing_extensions import TypedDict

__all__ = ["TomState"]


class TomState(TypedDict, total=False):
    """One teaching episode: items, the seed's setup, per-item scores, the plan, answers and the result."""

    items: list[dict[str, Any]]
    """The test items (`TeachItem` dumps)."""
    pool: list[dict[str, Any]]
    """Training items to calibrate on (default: the dataset's pool from the registry)."""
    setup: dict[str, Any]
    """The seed's `SeedSetup`: the student's demos, mental-model banks, personalised demos, calibration summary."""
    scores: Annotated[list[dict[str, Any]], operator.add]
    """One record per item from `score_item` (probabilities, explanation, measured answers, costs)."""
    plan: list[dict[str, Any]]
    """The items in ranked order, each with its `InterventionDecision` (explain or not, and why)."""
    plan_kind: str
    """The explanation type the plan was made for."""
    answers: Annotated[list[dict[str, Any]], operator.add]
    """The student's answers made after the plan."""
    result: dict[str, Any]
    """Accuracy, explanations spent, per-item rows, calls and tokens."""
    summary: dict[str, Any]
    """`result` without its per-item rows (which hold the gold labels and the student's answers)."""
