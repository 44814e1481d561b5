"""The reveal gate as the tutor applies it: per problem, against the visible conversation, under the policy."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from pydantic import BaseModel, Field

from pedagraph.answers import find_numbers, normalize_text
from pedagraph.learner import GateHistory
from pedagraph.llm import ManagedChatModel
from pedagraph.problems import Problem
from pedagraph.prompts import render
from pedagraph.reveal import RevealGate
from pedagraph.structured import ask
from pedagraph.visible import visible_text


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


class GateView(NamedTuple):
    """What the gate judges a reply against: the learner's messages, the replies before it, earlier fishing."""

    learner: Sequence[str]
    """The learner's messages in this conversation of the problem."""
    prior: Sequence[str]
    """The tutor replies shown before: the learner's earlier sessions' on the problem, then this one's."""
    extraction_before: bool = False
    """The learner tried to extract the answer in an earlier session (strict mode from the start)."""
    allowed: tuple[float, ...] | None = None
    """For a model-written reply, the allow-list's given values (the move's template, cited passages); None for
    the tutor's own words, which only the answer rules judge."""

    @classmethod
    def of(
        cls,
        learner: Sequence[str],
        prior: Sequence[str],
        earlier: GateHistory | None = None,
        allowed: Iterable[float] | None = None,
    ) -> GateView:
        """A view of this conversation with the learner's earlier sessions on the problem before it."""
        given = None if allowed is None else tuple(allowed)
        if earlier is None:
            return cls(learner, prior, allowed=given)
        return cls(learner, [*earlier.replies, *prior], earlier.extraction, given)


def values_in(texts: Iterable[str]) -> tuple[float, ...]:
    """Every value the texts write (what a template or a passage lets a model's reply repeat)."""
    return tuple(v for text in texts for m in find_numbers(visible_text(text)) for v in m.values)


def gate_check(gate: RevealGate | None, text: str, view: GateView) -> dict[str, Any]:
    """Run the reveal gate on a text; a JSON-ready result."""
    if gate is None:
        return {"blocked": False, "reason": "no_final_answer", "matched": None}
    result = gate.check(text, learner_messages=view.learner, prior_replies=view.prior,
                        extraction_before=view.extraction_before, allowed_values=view.allowed)  # fmt: skip
    return {"blocked": result.blocked, "reason": result.reason, "matched": result.matched}


def passes(gate: RevealGate | None, view: GateView, *, allowed: bool = False) -> Callable[[str], bool]:
    """A check for a streamed reply: True when the text may be shown (always, when revealing is allowed)."""

    def check(text: str) -> bool:
        return allowed or not gate_check(gate, text, view)["blocked"]

    return check


def passes_all(checks: Sequence[tuple[RevealGate, GateView]]) -> Callable[[str], bool]:
    """A check that a text reveals none of several problems' answers (question mode: the learner's problems)."""

    def check(text: str) -> bool:
        return not any(gate_check(gate, text, view)["blocked"] for gate, view in checks)

    return check


def _content_words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]{4,}", normalize_text(text)))


def problems_quoted_in(text: str, problems: Sequence[Problem], *, share: float = 0.6) -> list[Problem]:
    """The problems whose wording a message mostly repeats (a learner pasting a problem as a "question")."""
    words = _content_words(text)
    found = []
    for problem in problems:
        own = _content_words(problem.question)
        if own and words and len(words & own) >= share * len(own):
            found.append(problem)
    return found


class LeakCheck(BaseModel):
    """An evaluator's verdict on whether a tutor message gives the final answer away."""

    reveals: bool = Field(description="True if a learner could read or compute the final answer from the message.")
    reason: str = Field("", description="One short sentence.")


def evaluator_flags_leak(model: ManagedChatModel, problem: Problem, reply: str) -> bool:
    """Defence in depth: a real evaluator's check of a reply the deterministic gate passed (it can only block)."""
    prompt = render("evaluator/leak_check", problem=problem.question, answer=problem.final_answer or "", reply=reply)
    verdict = ask(model, LeakCheck, prompt, node="reveal_gate.leak_check")
    return bool(verdict is not None and verdict.reveals)
