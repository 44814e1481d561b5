"""The run-time settings of a strategy-distillation run (the `strategy_distill` graph's context)."""

from __future__ import annotations

from dataclasses import dataclass

from pedagraph.runtime import BaseContext, ModelOverride


@dataclass
class DistillContext(BaseContext):
    """Run-time settings of a distillation run: the models, the library, the loop's sizes and stopping rule.

    The roles: `teacher_model` is the small tutor being improved, `coach_model` the strong model that writes
    strategies and scenarios, `evaluator_model` the MRBench judge (scripted: deterministic labels).
    """

    coach_model: ModelOverride = None
    """Override of the coach model (the strong teacher); default: `get_model("coach")`."""
    library: str = "default"
    """The strategy library (a name in the memory's `strategies` collection) the loop reads and adds to."""
    rounds: int = 3
    """At most this many rounds of scenarios, judging, strategies and verification."""
    per_round: int = 6
    """Scenarios the tutor answers per round."""
    max_strategies: int = 4
    """Failures per round the coach writes a strategy for (the lowest-scored first)."""
    min_gain: float = 0.05
    """A strategy is kept only when it raises the judge score by at least this much on its verification set."""
    verify_siblings: int = 1
    """Other training scenarios of the same kind a strategy is also verified on (0: only its own)."""
    k: int = 3
    """Strategies the tutor retrieves per turn."""
    dimensions: str = ""
    """MRBench dimensions judged (comma-separated); empty: all eight with a real judge, the checkable five with
    the scripted one."""
    dataset: str = "mathdial/test.jsonl"
    """MathDial file of the dataset registry the scenarios come from when the input gives none."""
    held_out: float = 0.5
    """Share of the dataset's scenarios kept out of training (the `distill` suite evaluates on them)."""
    seed: int = 0
    """Seed of the train / held-out split."""
