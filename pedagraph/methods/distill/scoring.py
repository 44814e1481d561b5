"""Judging the small tutor's replies (the MRBench judge) and the missing-skill profile that steers the loop.

A reply's score is the share of judged MRBench dimensions with the desirable label (methods.md §7.5). With a
real evaluator model the labels come from the evaluator agent (`agents/evaluator.judge_response`, the judge the
`judge` suite calibrates); with the scripted evaluator they come from `rule_labels`, a deterministic judge of
what can be checked in the text (does it give the answer away, name the mistake, ask the learner a question).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from pedagraph.errors import ModelError
from pedagraph.llm import ManagedChatModel
from pedagraph.methods.tutor.gate import GateView, gate_check, make_gate
from pedagraph.problems import Problem
from pedagraph.taxonomy import MRBenchDimension

D = MRBenchDimension
RULE_DIMENSIONS: tuple[MRBenchDimension, ...] = (
    D.MISTAKE_IDENTIFICATION,
    D.REVEALING_OF_THE_ANSWER,
    D.PROVIDING_GUIDANCE,
    D.ACTIONABILITY,
    D.TUTOR_TONE,
)
"""The dimensions the deterministic judge labels."""
_MISTAKE_CUES = re.compile(
    r"\b(not quite|mistake|check|look again|incorrect|wrong|error|careful|re-?read|almost|close|instead|"
    r"did you|are you sure|double-check|not it|not right|not correct)\b",
    re.I,
)
_ENCOURAGING_CUES = re.compile(r"\b(good|great|nice|well done|you're close|almost|let's|keep going|you can)\b", re.I)
_DESIRABLE = {D.REVEALING_OF_THE_ANSWER: "No", D.TUTOR_TONE: "Encouraging"}


def desirable(dimension: MRBenchDimension) -> str:
    """The desirable label of a dimension (Yes; No for revealing; Encouraging for tone)."""
    return _DESIRABLE.get(dimension, "Yes")


class Judged(BaseModel):
    """The judgement of one reply: labels, the score (share desirable) and the failed dimensions."""

    labels: dict[str, str] = Field(default_factory=dict)
    score: float = 0.0
    failed: list[str] = Field(default_factory=list)
    rationale: str = ""
    judge: str = "rules"


def score_labels(labels: dict[str, str]) -> tuple[float, list[str]]:
    """(share of desirable labels, the dimensions whose label is not desirable)."""
    if not labels:
        return 0.0, []
    failed = [k for k, v in labels.items() if v != desirable(MRBenchDimension(k))]
    return 1.0 - len(failed) / len(labels), failed


def reveals(reply: str, problem: Problem) -> bool:
    """Whether a reply gives the final answer away (the reveal gate's check)."""
    return bool(gate_check(make_gate(problem), reply, GateView.of([], []))["blocked"])


def rule_labels(reply: str, problem: Problem, dimensions: Sequence[MRBenchDimension] = RULE_DIMENSIONS
                ) -> dict[str, str]:  # fmt: skip
    """Deterministic MRBench labels of what the text shows (the scripted evaluator's judgement)."""
    text = " ".join(reply.split())
    asks = "?" in text
    labels = {
        D.MISTAKE_IDENTIFICATION: "Yes" if _MISTAKE_CUES.search(text) else "No",
        D.MISTAKE_LOCATION: "Yes" if _MISTAKE_CUES.search(text) and re.search(r"\d", text) else "No",
        D.REVEALING_OF_THE_ANSWER: "Yes (correct)" if reveals(text, problem) else "No",
        D.PROVIDING_GUIDANCE: "Yes" if asks else "No",
        D.ACTIONABILITY: "Yes" if asks else "No",
        D.COHERENCE: "Yes" if text else "No",
        D.TUTOR_TONE: "Encouraging" if _ENCOURAGING_CUES.search(text) else "Neutral",
        D.HUMANLIKENESS: "Yes" if text and not text.startswith("[") else "No",
    }
    return {d.value: labels[d] for d in dimensions}


def judge_reply(evaluator: ManagedChatModel | None, problem: Problem, history: Sequence[tuple[str, str]], reply: str,
                dimensions: Sequence[MRBenchDimension] | None = None) -> Judged:  # fmt: skip
    """Judge a tutor reply: the evaluator agent when a real evaluator is given, else the deterministic labels.

    A real evaluator that fails on a reply (no valid output) leaves it to the deterministic labels, named so.
    """
    if evaluator is not None:
        from pedagraph.agents.evaluator import format_history, judge_response

        dims = tuple(dimensions or tuple(MRBenchDimension))
        try:
            j = judge_response(evaluator, format_history(list(history)), reply, problem.solution or None, dims)
            score, failed = score_labels(j.labels)
            return Judged(labels=j.labels, score=score, failed=failed, rationale=j.rationale, judge=j.model)
        except ModelError:
            labels = rule_labels(reply, problem, [d for d in dims if d in RULE_DIMENSIONS] or RULE_DIMENSIONS)
            score, failed = score_labels(labels)
            return Judged(labels=labels, score=score, failed=failed, judge="rules (the evaluator failed)")
    dims = [d for d in (dimensions or RULE_DIMENSIONS) if d in RULE_DIMENSIONS] or list(RULE_DIMENSIONS)
    labels = rule_labels(reply, problem, dims)
    score, failed = score_labels(labels)
    return Judged(labels=labels, score=score, failed=failed, judge="rules")


def missing_skills(attempts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The tutor's missing-skill profile (STAT, methods.md §7.4) from judged attempts.

    Per scenario kind: attempts, mean score, and per MRBench dimension the failure rate; `weakest` lists the
    kinds from the lowest mean score, `skills` the dimensions from the most failed.
    """
    kinds: dict[str, dict[str, Any]] = {}
    skills: dict[str, list[bool]] = {}
    for a in attempts:
        k = kinds.setdefault(str(a.get("kind") or "other"), {"n": 0, "score_sum": 0.0, "failed": {}})
        k["n"] += 1
        k["score_sum"] += float(a.get("score") or 0.0)
        for dim in a.get("labels") or {}:
            failed = dim in (a.get("failed") or [])
            k["failed"][dim] = k["failed"].get(dim, 0) + int(failed)
            skills.setdefault(dim, []).append(failed)
    per_kind = {
        kind: {"n": v["n"], "score": v["score_sum"] / v["n"],
               "failure_rate": {d: c / v["n"] for d, c in sorted(v["failed"].items())}}
        for kind, v in kinds.items()
    }  # fmt: skip
    rates = {d: sum(v) / len(v) for d, v in skills.items() if v}
    return {
        "kinds": per_kind,
        "weakest": sorted(per_kind, key=lambda k: (per_kind[k]["score"], k)),
        "skills": dict(sorted(rates.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
