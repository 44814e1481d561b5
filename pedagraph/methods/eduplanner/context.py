"""Run-time settings of an EduPlanner run (the `eduplanner` graph's context)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pedagraph.errors import DataError
from pedagraph.runtime import BaseContext, ModelOverride

__all__ = ["ORIGINAL", "Approval", "PlannerContext"]

Approval = Literal["none", "rounds", "end"]

ORIGINAL: dict[str, int] = {"rounds": 20, "candidates": 3, "survivors": 3, "test_problems": 8, "repeats": 5}
"""The original's parameters (methods.md §2.3): N rounds, K candidates, P survivors, T test problems, M repeats."""


@dataclass
class PlannerContext(BaseContext):
    """Settings of one lesson plan run; the defaults are the original's parameters, with an early stop."""

    planner_model: ModelOverride = None
    """Override of the planner model (question analyst, drafts, optimiser); default `get_model("planner")`."""
    rounds: int = ORIGINAL["rounds"]
    """N: optimisation rounds after the drafts (round 0), at most."""
    candidates: int = ORIGINAL["candidates"]
    """K: new plans per round (drafts in round 0, optimised plans after)."""
    survivors: int = ORIGINAL["survivors"]
    """P: best plans of the queue the optimiser builds on."""
    test_problems: int = ORIGINAL["test_problems"]
    """T: test problems each plan is scored on by the simulated learners."""
    repeats: int = ORIGINAL["repeats"]
    """M: repeated predictions per plan and test problem (their mean is the score)."""
    min_gain: float = 0.005
    """Early stop: the best predicted success must grow by more than this (0-1 scale)..."""
    patience: int = 1
    """...within this many rounds (0: never stop early)."""
    approval: Approval = "none"
    """Teacher approval: `none`, after every round (`rounds`) or once when the loop would stop (`end`)."""
    analyst: bool = True
    """Use the question analyst (False: the paper's ablation without it)."""
    skill_tree: bool = True
    """Give the planner the group's skill tree (False: the ablation; the simulated learners still see it)."""
    fan_out: bool = True
    """Evaluate candidates x problems x repeats in parallel with `Send` (False: one by one, as the original)."""
    seed: int = 0
    """Seed of the test-problem sample."""
    material_k: int = 3
    """Course-material passages the plan may cite (0: none)."""

    def check(self) -> None:
        """Refuse settings out of range (one DataError line)."""
        for name, low, high in (("rounds", 0, 100), ("candidates", 1, 10), ("survivors", 1, 10),
                                ("test_problems", 1, 40), ("repeats", 1, 20), ("patience", 0, 100),
                                ("material_k", 0, 10)):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise DataError(f"eduplanner: {name} must be a whole number from {low} to {high}, got {value!r}")
        if self.approval not in ("none", "rounds", "end"):
            raise DataError(f"eduplanner: approval must be none, rounds or end, got {self.approval!r}")
        if not 0.0 <= float(self.min_gain) <= 1.0:
            raise DataError(f"eduplanner: min_gain must be in [0, 1], got {self.min_gain!r}")
