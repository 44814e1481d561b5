"""The reveal gate as the tutor applies it: per problem, against the visible conversation, under the policy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pedagraph.problems import Problem
from pedagraph.reveal import RevealGate


def make_gate(problem: Problem) -> RevealGate | None:
    """Return the reveal gate of a problem, or None when its final answer is unknown (nothing to protect)."""
    if problem.final_value is None:
        return None
    key = problem.model_dump_json(include={"id", "question", "final_value", "steps"})
    gate = _GATES.get(key)
    if gate is None:
        if len(_GATES) >= 256:
            _GATES.clear()
        gate = _GATES[key] = RevealGate.for_problem(problem)
    return gate


_GATES: dict[str, RevealGate] = {}
"""One gate per distinct problem, reused across turns (a gate keeps no state between checks)."""


def gate_check(gate: RevealGate | None, text: str, learner: Sequence[str], prior: Sequence[str]) -> dict[str, Any]:
    """Run the reveal gate on a text; a JSON-ready result."""
    if gate is None:
        return {"blocked": False, "reason": "no_final_answer", "matched": None}
    result = gate.check(text, learner_messages=learner, prior_replies=prior)
    return {"blocked": result.blocked, "reason": result.reason, "matched": result.matched}


def passes(gate: RevealGate | None, learner: Sequence[str], prior: Sequence[str], *, allowed: bool = False
           ) -> Callable[[str], bool]:  # fmt: skip
    """A check for a streamed reply: True when the text may be shown (always, when revealing is allowed)."""

    def check(text: str) -> bool:
        return allowed or not gate_check(gate, text, learner, prior)["blocked"]

    return check
