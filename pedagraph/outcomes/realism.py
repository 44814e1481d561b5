"""How far the simulated students are from real ones: their next message on real Bridge turns, side by side.

Bridge (Wang et al., NAACL 2024) holds real tutoring conversations cut at a student's mistake: the last message
of `c_h` is the real student's. The simulated student gets the conversation before it (the tutor speaks as the
user) and writes its own next message. Both messages are described by the same `MessageTraits`: length in
words, whether a number is stated, whether a question is asked, and the Bridge error type a judge assigns (the
evaluator model through `structured.ask` with `prompts/outcomes/error_type.md`; on the scripted evaluator a
rule reads it from the words, see `rule_error_type`). The suite reports the distance between the two
distributions: the 1-Wasserstein distance of lengths, the difference of the number and question rates, the
total variation distance of the error types, and how often the judge gives the two messages the same type
(and, for reference, how often it agrees with the expert's label on the real message).

The offline student needs a problem with steps to work; on Bridge's free conversations it answers what the
tutor's last message asks with the reading it has (`offline_reply`): a number from an operation it names on the
numbers it gives (right or wrong at the learner's chance), else a short acknowledgement or an "I don't know".
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from pedagraph.answers import extract_numbers, format_number
from pedagraph.errors import DataError
from pedagraph.messages import learner_text, swapped_roles
from pedagraph.methods.tutor.working import read_working
from pedagraph.prompts import render

__all__ = ["ERROR_TYPES", "MessageTraits", "bridge_turns", "judge_error_type", "offline_reply", "rule_error_type",
           "traits_of"]  # fmt: skip

ERROR_TYPES = ("guess", "misinterpret", "careless", "right_idea", "imprecise", "diagnose", "no_error")
_UNSURE = re.compile(r"\b(?:i don'?t know|idk|not sure|no idea|maybe|i guess|i think)\b|\?", re.IGNORECASE)


class ErrorJudgement(BaseModel):
    """The judge's Bridge error type of a student message."""

    error_type: Literal["guess", "misinterpret", "careless", "right_idea", "imprecise", "diagnose", "no_error"]


@dataclass(frozen=True)
class MessageTraits:
    """What is compared between a real and a simulated student message."""

    words: int
    states_number: bool
    asks: bool
    error_type: str

    def dump(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _norm_error(value: str) -> str:
    v = (value or "").strip().lower().replace("-", "_").replace(" ", "_")
    return v if v in ERROR_TYPES else ("no_error" if "no" in v and "error" in v else "other")


def bridge_turns(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Bridge conversations usable here: the history before the real student's message, that message, the label."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"outcomes: cannot read Bridge file {path}: {exc}") from None
    if not isinstance(rows, list):
        raise DataError(f"outcomes: {path} is not a Bridge file (a JSON list of conversations)")
    out = []
    for row in rows:
        history = [m for m in row.get("c_h") or [] if isinstance(m, dict) and str(m.get("text") or "").strip()]
        if len(history) < 2 or history[-1].get("user") != "student" or history[-2].get("user") != "tutor":
            continue
        out.append({
            "c_id": str(row.get("c_id")), "topic": str(row.get("lesson_topic") or ""),
            "history": [{"user": m["user"], "text": str(m["text"])} for m in history[:-1]],
            "real": str(history[-1]["text"]), "expert_error": _norm_error(str(row.get("e") or "")),
        })  # fmt: skip
        if limit is not None and len(out) >= limit:
            break
    return out


def rule_error_type(text: str) -> str:
    """The scripted judge: unsure words or a question -> guess; a number -> careless; else misinterpret."""
    if _UNSURE.search(text or ""):
        return "guess"
    if extract_numbers(text or ""):
        return "careless"
    return "misinterpret"


def judge_error_type(evaluator: Any, history: list[dict[str, str]], message: str) -> str:
    """The Bridge error type of `message` after `history`: the evaluator's, else the rule's."""
    if evaluator is None or getattr(evaluator, "is_scripted", True):
        return rule_error_type(message)
    from pedagraph.structured import ask

    convo = "\n".join(f"{m['user']}: {m['text']}" for m in history[-8:])
    prompt = render("outcomes/error_type", conversation=convo, message=message)
    judged = ask(evaluator, ErrorJudgement, prompt, node="outcomes.error_type")
    return judged.error_type if judged is not None else rule_error_type(message)


def traits_of(message: str, error_type: str) -> MessageTraits:
    """The traits of one student message."""
    return MessageTraits(
        words=len(message.split()), states_number=bool(extract_numbers(message)), asks="?" in message,
        error_type=error_type,
    )  # fmt: skip


def offline_reply(tutor_text: str, p_right: float, rng: random.Random) -> str:
    """The offline student's next message after a tutor message (module docstring)."""
    from pedagraph.outcomes.learner import _phrase

    working = read_working(tutor_text)
    numbers = extract_numbers(tutor_text)
    ops = {"addition": lambda a, b: a + b, "subtraction": lambda a, b: a - b,
           "multiplication": lambda a, b: a * b, "division": lambda a, b: a / b if b else a}  # fmt: skip
    if len(numbers) >= 2 and working.operations:
        op = working.operations[0]
        if rng.random() >= p_right:
            op = rng.choice([o for o in ops if o != op])
        return _phrase(rng, "answer", value=format_number(round(ops[op](numbers[0], numbers[1]), 2)))
    if "?" in tutor_text:
        if numbers and rng.random() < 0.5:
            return _phrase(rng, "answer", value=format_number(numbers[-1] + rng.choice([-1, 1])))
        return _phrase(rng, "hint")
    return _phrase(rng, "ungraded")


def llm_reply(model: Any, history: list[dict[str, str]], topic: str, persona: str) -> str:
    """The student model's next message after the history (the tutor speaks as the user)."""
    messages: list[BaseMessage] = [
        AIMessage(content=m["text"]) if m["user"] == "tutor" else HumanMessage(content=m["text"]) for m in history
    ]
    system = render("student/simulate", persona=persona, problem=topic or "(a maths lesson)")
    return learner_text(model.invoke([SystemMessage(content=system), *swapped_roles(messages)]))
