"""The run-time settings of a tutoring session (the `tutor` graph's context; other tutoring graphs extend it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pedagraph.runtime import BaseContext

StudentMode = Literal["human", "simulated"]
RevealPolicy = Literal["never", "after_attempts", "on_request"]


@dataclass
class TutoringContext(BaseContext):
    """Run-time settings of a tutoring session (not checkpointed: pass them on every call)."""

    student_mode: StudentMode = "human"
    """`human`: wait for the learner with an interrupt; `simulated`: the student model answers."""
    reveal_policy: RevealPolicy = "never"
    """When the tutor may state the final answer: never, after `reveal_after` failed final attempts, on request."""
    reveal_after: int = 3
    """Failed attempts on the final step after which `after_attempts` allows the answer."""
    step_tell_after: int = 3
    """Failed attempts after which a non-final step's result is told and the tutor moves on (CLASS action 2)."""
    explanation_budget: int = 3
    """Worked explanations the Theory-of-Mind decision may spend per problem."""
    tom_threshold: float = 0.15
    """Minimum expected utility p_post - p_pre for the tutor to explain (Saha et al. 2023)."""
    tom_simulator: Literal["bkt", "llm"] = "bkt"
    """How the Theory-of-Mind decision predicts the learner: from BKT mastery (offline, deterministic) or by the
    teacher model simulating the learner from their demos (a real teacher only; falls back to BKT)."""
    leak_check: bool = True
    """With a real evaluator model, also ask it whether a reply the deterministic gate passed gives the answer
    away (it can only block; the deterministic gate stays the guarantee)."""
    max_turns: int = 12
    """Learner turns per problem before the session ends."""
    guess_limit: int = 3
    """Bare guesses (a number without working) in a row on one step after which the tutor asks for the working
    before it confirms a value (0: never asks)."""
    student_persona: str = ""
    """Who the simulated student is (MathDial-style profile); simulated mode only."""
    student_simulator: Any = None
    """Who answers in simulated mode: None (the student model with `student_persona`), a name (`persona`,
    `mathdial`, `probabilistic`) or a callable `(state, context) -> text` (see `agents/student.py`)."""
    strategies: Any = None
    """Strategies a real teacher reads (strategy-teaching distillation): None (none), a library name in the
    memory's `strategies` collection (the entries for the most similar situations are retrieved each turn), a
    list of strategies used as they are, or `{"library": name, "given": [...]}`; the turn's trace names them."""
    strategy_k: int = 3
    """How many strategies are retrieved per turn."""
    strategy_approved_only: bool = False
    """Use only strategies a person approved (the app's strategy tab)."""
    decisions: Literal["class", "bridge"] = "class"
    """What a real teacher decides each turn, checked by the rules: `class` (the CLASS turn: evaluation, action,
    subproblem state) or `bridge` (Bridge's error -> strategy -> intention, the copilot's default)."""
