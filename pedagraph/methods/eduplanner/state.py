"""The typed state of the `eduplanner` graph, which its nodes (`agents/planner.py`) read."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from typing_extensions import TypedDict

__all__ = ["PlannerState"]


class PlannerState(TypedDict, total=False):
    """One lesson plan run: the input, the group, problems, the analyst's forecast, the plan queue and rounds."""

    topic: str
    """What the lesson is about (optional when problems are given)."""
    problems: list[Any]
    """Target problems: texts or `{question, answer}` objects (optional when a topic is given)."""
    levels: Any
    """The group as a skill-tree profile: five levels 1-5 (a list in EduPlanner's order or a mapping)."""
    learners: list[str]
    """The group as real learners (ids in the learner store); used instead of `levels` when given."""
    group: dict[str, Any]
    """The group formed by `setup` (`Group` dump: levels, learners, misconceptions)."""
    targets: list[dict[str, Any]]
    """The problems the lesson teaches (`Problem` dumps)."""
    tests: list[dict[str, Any]]
    """The T test problems the simulated learners are scored on."""
    material: list[dict[str, Any]]
    """Course passages the plan may cite: citation and quote."""
    analysis: dict[str, Any]
    """The question analyst's forecast per target problem id."""
    round: int
    """The current round (0: the drafts)."""
    candidates: list[dict[str, Any]]
    """The plans being evaluated now (`Plan` dumps)."""
    predictions: Annotated[list[dict[str, Any]], operator.add]
    """Every simulated learner's prediction: plan id, problem id, repeat, probability, reason, suggestions."""
    judgements: Annotated[list[dict[str, Any]], operator.add]
    """Every CIDDP judgement: plan id and the five scores with reasons."""
    queue: list[dict[str, Any]]
    """Every plan scored so far (`ScoredPlan` dumps), best first."""
    rounds: list[dict[str, Any]]
    """Each round's figures (best and mean success, best CIDDP, the queue's best)."""
    stop: str
    """Why the loop would stop now (empty: it goes on)."""
    notes: list[str]
    """The teacher's comments, passed to the optimiser."""
    approval: dict[str, Any]
    """The teacher's last decision."""
    calls: Annotated[int, operator.add]
    """Model calls made (real models only)."""
    result: dict[str, Any]
    """The final plan and the run's figures."""
    summary: dict[str, Any]
    """`result` without the plan (its worked examples carry the problems' answers)."""
