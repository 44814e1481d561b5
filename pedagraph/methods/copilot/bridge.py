"""Bridge's decision model (Wang et al., NAACL 2024): error (A) -> strategy (B) -> intention (C) -> response.

* The labels: the dataset's codes mapped onto `ErrorType` / `Strategy` / `Intention` (`no_error` beside them for A);
  the expert's free-text labels mapped to `no_error` or `other` and counted (`gold_labels`).
* The paper's published predictions (`outputs/step_a_error`, `outputs/step_bc_strategy_intention`): the numbered
  options of its prompts (`PAPER_ERRORS`, ...) read back from each model's answer (`published_pick`).
* Model-made decisions: three structured calls in sequence (`decide_error`, `decide_strategy`, `decide_intention`,
  prompts `prompts/copilot/decide_*.md`), each checked by rules against the deterministic verdict
  (`check_decisions`), which replace only an invalid one; `write_response` words a reply from the decisions.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from pedagraph.errors import ModelError
from pedagraph.llm import ManagedChatModel
from pedagraph.llm.usage import record_decision
from pedagraph.prompts import render
from pedagraph.structured import ask
from pedagraph.taxonomy import ErrorType, Intention, Strategy

__all__ = [
    "ERROR_LABELS",
    "NO_ERROR",
    "PAPER_ERRORS",
    "PAPER_INTENTIONS",
    "PAPER_STRATEGIES",
    "BridgeDecisions",
    "ErrorDecision",
    "IntentionDecision",
    "StrategyDecision",
    "check_decisions",
    "conversation_key",
    "conversation_lines",
    "decide",
    "gold_labels",
    "published_pick",
    "random_decisions",
    "rule_decisions",
    "write_response",
]

NO_ERROR = "no_error"
ErrorLabel = Literal["guess", "misinterpret", "careless", "right_idea", "imprecise", "diagnose", "other", "no_error"]
ERROR_LABELS: tuple[str, ...] = (*(e.value for e in ErrorType), NO_ERROR)
"""Step A's labels: Bridge's error types, `other`, and `no_error` (the expert saw no mistake)."""

# The numbered options of the paper's step A and step B/C prompts, as its published outputs number them.
PAPER_ERRORS: tuple[str, ...] = ("guess", "misinterpret", "careless", "right_idea", "imprecise", "other", "diagnose")
PAPER_STRATEGIES: tuple[str, ...] = (
    "explain_concept", "ask_question", "provide_hint", "provide_strategy", "provide_example", "provide_correction",
    "provide_similar_problem", "simplify_question", "affirm_correct_answer", "encourage_student", "other",
)  # fmt: skip
PAPER_INTENTIONS: tuple[str, ...] = (
    "motivate_student", "elaborate_answer", "correct_mistake", "hint_mistake", "clarify_misunderstanding",
    "understand_topic", "diagnose_mistake", "support_thinking", "explain_mistake", "signal_goal", "other",
)  # fmt: skip

_NO_MISTAKE = re.compile(
    r"did(?:n't| not) make an? (?:mistake|error)|no (?:mistake|error)|don't see that the student made|"
    r"did get the correct answer|student answered question|student understands",
    re.IGNORECASE,
)


def _code(value: str) -> str:
    return value.strip().lower().replace("-", "_").replace(" ", "_")


def gold_label(step: Literal["error", "strategy", "intention"], raw: Any) -> tuple[str, bool]:
    """(label, mapped): the expert's label as a code; free text mapped to `no_error` or `other` (mapped=True)."""
    text = str(raw or "").strip()
    codes = {"error": ERROR_LABELS, "strategy": PAPER_STRATEGIES, "intention": PAPER_INTENTIONS}[step]
    if _code(text) in codes:
        return _code(text), False
    if step == "error" and _NO_MISTAKE.search(text):
        return NO_ERROR, True
    return "other", True


def gold_labels(row: Mapping[str, Any]) -> dict[str, Any]:
    """The expert's three labels of a Bridge row and which of them were free text mapped to a code."""
    out: dict[str, Any] = {"mapped": []}
    for step, key in (("error", "e"), ("strategy", "z_what"), ("intention", "z_why")):
        label, mapped = gold_label(step, row.get(key))  # type: ignore[arg-type]
        out[step] = label
        if mapped:
            out["mapped"].append(step)
    return out


def conversation_key(row: Mapping[str, Any]) -> str:
    """A conversation's identity in Bridge's files: its id and its turns (ids repeat across cuts of one session)."""
    return json.dumps([row.get("c_id"), row.get("c_h")], sort_keys=True)


def conversation_lines(row: Mapping[str, Any]) -> str:
    """The conversation as `speaker: text` lines, as the paper's prompts quote it."""
    turns = row.get("c_h") or []
    return "\n".join(f"{t.get('user', '?')}: {' '.join(str(t.get('text', '')).split())}" for t in turns)


def _first_json_answer(text: str) -> dict[str, Any] | None:
    """The first `{...}` object after the first `### Assistant:` (Llama's raw generations) or in the text."""
    start = text.find("### Assistant:")
    tail = text[start:] if start >= 0 else text
    for match in re.finditer(r"\{[^{}]*\}", tail):
        try:
            value = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def published_pick(pred: Any, field_name: str, options: Sequence[str]) -> str | None:
    """A published model's pick for `field_name` (answer, strategy, intention) as a label; None when unreadable."""
    answer: Any = None
    if isinstance(pred, list) and pred and isinstance(pred[0], dict):
        answer = pred[0]
    elif isinstance(pred, dict):
        answer = pred
    elif isinstance(pred, str):
        answer = _first_json_answer(pred)
    if not isinstance(answer, dict):
        return None
    value = answer.get(field_name)
    try:
        index = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return options[index] if 0 <= index < len(options) else None


# -- model-made decisions --------------------------------------------------------------------------------------


class ErrorDecision(BaseModel):
    """Bridge step A: the student's error in the conversation."""

    error: ErrorLabel = Field(description="The type of the student's error (no_error when there is none).")
    reason: str = Field("", description="One sentence: why.")


class StrategyDecision(BaseModel):
    """Bridge step B: the remediation strategy, given the error."""

    strategy: Strategy = Field(description="The strategy of the tutor's next message.")
    reason: str = Field("", description="One sentence: why.")


class IntentionDecision(BaseModel):
    """Bridge step C: the intention of the message, given the error and the strategy."""

    intention: Intention = Field(description="What the tutor intends with the message.")
    reason: str = Field("", description="One sentence: why.")


@dataclass
class BridgeDecisions:
    """The three decisions of one turn, who made each (`model` or `rules`), and what the rules replaced."""

    error: str
    strategy: str
    intention: str
    by: dict[str, str] = field(default_factory=dict)
    replaced: dict[str, str] = field(default_factory=dict)
    """Step -> the model's invalid decision the rules replaced."""

    def dump(self) -> dict[str, Any]:
        """JSON-ready form (for traces and results)."""
        return {"error": self.error, "strategy": self.strategy, "intention": self.intention, "by": dict(self.by),
                "replaced": dict(self.replaced)}  # fmt: skip


_MISTAKE_INTENTIONS = frozenset({"correct_mistake", "hint_mistake", "explain_mistake", "diagnose_mistake"})
_CORRECTING = frozenset({"provide_correction", "provide_hint", "explain_concept", "simplify_question"})


def check_decisions(step: str, value: str, *, verdict: str | None, reveal: bool = False) -> str | None:
    """Why a decision contradicts the deterministic verdict (or the reveal rule); None when it is valid.

    `verdict` is the answer check of the student's turn (`correct`, `incorrect`, or None when ungraded).
    """
    if step == "error":
        if verdict == "correct" and value != NO_ERROR:
            return "an error type on a right answer"
        if verdict == "incorrect" and value == NO_ERROR:
            return "no error on a wrong answer"
    elif step == "strategy":
        if verdict == "incorrect" and value == "affirm_correct_answer":
            return "affirms a wrong answer"
        if verdict == "correct" and value in _CORRECTING:
            return "corrects a right answer"
        if value == "provide_correction" and verdict == "incorrect" and not reveal:
            return "gives the correction while the answer may not be revealed"
    elif step == "intention" and verdict == "correct" and value in _MISTAKE_INTENTIONS:
        return "treats a right answer as a mistake"
    return None


def decide(
    model: ManagedChatModel,
    *,
    topic: str,
    conversation: str,
    rules: Mapping[str, str],
    verdict: str | None = None,
    reveal: bool = False,
    node: str = "bridge",
) -> BridgeDecisions:
    """Steps A, B, C as three structured decisions in sequence, each checked; `rules` fill a missing or invalid one.

    Each later step is asked given the earlier ones as they stand after the check. A failed call and an invalid
    decision are both the rules' (the failure is counted by `structured.ask`; the replacement is in `replaced`).
    """
    out = BridgeDecisions(error=rules["error"], strategy=rules["strategy"], intention=rules["intention"])
    steps: tuple[tuple[str, type[BaseModel], str], ...] = (
        ("error", ErrorDecision, "copilot/decide_error"),
        ("strategy", StrategyDecision, "copilot/decide_strategy"),
        ("intention", IntentionDecision, "copilot/decide_intention"),
    )
    for step, schema, prompt_name in steps:
        prompt = render(prompt_name, topic=topic, conversation=conversation, error=out.error, strategy=out.strategy)
        answer = ask(model, schema, prompt, node=f"{node}.{step}")
        if answer is None:
            out.by[step] = "rules"
            record_decision(f"bridge.{step}", "rules")
            continue
        value = str(getattr(answer, step))
        problem = check_decisions(step, value, verdict=verdict, reveal=reveal)
        if problem is not None:
            out.replaced[step] = f"{value} ({problem})"
            out.by[step] = "rules"
            record_decision(f"bridge.{step}", "replaced")
            continue
        setattr(out, step, value)
        out.by[step] = "model"
        record_decision(f"bridge.{step}", "model")
    return out


def rule_decisions(rules: Mapping[str, str]) -> BridgeDecisions:
    """The rules' decisions when no model decides (the scripted teacher), counted as `bridge.<step>` by rules."""
    for step in ("error", "strategy", "intention"):
        record_decision(f"bridge.{step}", "rules")
    return BridgeDecisions(error=rules["error"], strategy=rules["strategy"], intention=rules["intention"],
                           by=dict.fromkeys(("error", "strategy", "intention"), "rules"))  # fmt: skip


def random_decisions(rng: random.Random) -> dict[str, str]:
    """The paper's random condition: an error, strategy and intention drawn uniformly from its lists."""
    return {"error": rng.choice(PAPER_ERRORS[:5] + PAPER_ERRORS[6:]),
            "strategy": rng.choice(PAPER_STRATEGIES[:-1]), "intention": rng.choice(PAPER_INTENTIONS[:-1])}  # fmt: skip


def decision_lines(decisions: Mapping[str, str] | None) -> str:
    """The decisions as the response prompt states them ('' for the no-decision condition)."""
    if not decisions:
        return ""
    return render("copilot/decisions", error=decisions["error"].replace("_", " "),
                  strategy=decisions["strategy"].replace("_", " "),
                  intention=decisions["intention"].replace("_", " ")).strip()  # fmt: skip


def write_response(
    model: ManagedChatModel, *, topic: str, conversation: str, decisions: Mapping[str, str] | None
) -> str | None:
    """A one-sentence tutor response written from the decisions (None when the model fails)."""
    from langchain_core.messages import SystemMessage

    from pedagraph.messages import message_text

    prompt = render("copilot/bridge_respond", topic=topic, conversation=conversation,
                    decisions=decision_lines(decisions))  # fmt: skip
    try:
        return message_text(model.invoke([SystemMessage(content=prompt)])).strip() or None
    except ModelError:
        return None
