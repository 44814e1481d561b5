"""The typed state of the `strategy_distill` graph, which its nodes (`agents/distill.py`) read."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from typing_extensions import TypedDict

__all__ = ["DistillState"]


class DistillState(TypedDict, total=False):
    """One distillation run: the scenario pool, the rounds' attempts, candidates, kept strategies and summaries."""

    pool: list[dict[str, Any]]
    """The training scenarios (`Scenario` dumps)."""
    scenarios: list[dict[str, Any]]
    """The current round's scenarios."""
    used: list[str]
    """Ids of the pool scenarios used so far."""
    round: int
    """The current round (from 1)."""
    attempts: Annotated[list[dict[str, Any]], operator.add]
    """Every judged reply of the tutor: scenario, round, reply, strategies used, labels, score, failed skills."""
    profile: dict[str, Any]
    """The latest round's missing-skill profile: per kind the mean score and failure rates; weakest kinds."""
    failures: list[dict[str, Any]]
    """The round's failures the coach writes strategies for (attempt and skill)."""
    candidates: Annotated[list[dict[str, Any]], operator.add]
    """Every strategy written, with its verification: before, after, gain."""
    kept: Annotated[list[dict[str, Any]], operator.add]
    """The strategies stored in the library (with their library ids)."""
    rounds: Annotated[list[dict[str, Any]], operator.add]
    """One summary per round: scenarios, mean score, failures, candidates, kept."""
    stop_reason: str | None
    """Why the loop stopped: `no_gain`, `nothing_failed`, `rounds_done`, `pool_exhausted` (None while running)."""
