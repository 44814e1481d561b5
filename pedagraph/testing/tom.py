"""Test doubles for the Theory-of-Mind teacher: a student of known behaviour and a teacher that sees it.

Give the two stand-ins different `model_name`s: the response cache tells models apart by name and parameters.

`KnownStudent` answers each item right or wrong as its truth table says, without and with an explanation, and
follows an explanation that states an answer ("The answer to this question is X", the scripted teacher's and the
misleading templates). `SeeingTeacher` plays the teacher: its mental model returns the student's true behaviour as
first-token probabilities (`p_right` / `1 - p_right`), it explains with the human explanation and it is confident
in the gold answer. Both are reply functions for `StandInChatModel(reply_fn=...)`; nothing in pedagraph's
production code knows about them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage

from pedagraph.methods.tom.items import TeachItem
from pedagraph.prompts import load_prompt
from pedagraph.testing.logprobs import reply_with_probs


def prompt_opening(name: str, words: int = 4) -> str:
    """The first words of a prompt file: how a test double tells which prompt it was sent."""
    return " ".join(load_prompt(name).split()[:words])


EXPLAIN_OPENING = prompt_opening("teacher/explain")
MENTAL_MODEL_OPENING = prompt_opening("teacher/mental_model")

__all__ = ["KnownStudent", "SeeingTeacher", "synthetic_items"]

_STATED = re.compile(r"answer to this question is (\w+)", re.I)


def synthetic_items(n: int, *, prefix: str = "q", dataset: str = "synthetic") -> list[TeachItem]:
    """`n` yes/no items `q0..` with human explanations, alternating gold answers."""
    return [
        TeachItem(id=f"{prefix}{i:03d}", dataset=dataset, kind="yes_no", question=f"Is statement {prefix}{i:03d} true?",
                  gold=i % 2 == 0, explanation=f"Fact about {prefix}{i:03d}.")  # fmt: skip
        for i in range(n)
    ]


def _last(text: str) -> tuple[str, str | None] | None:
    """The prompt's last question and the explanation given with it (None when none)."""
    start = text.rfind("Question: ")
    if start < 0:
        return None
    lines = text[start:].splitlines()
    question = lines[0][len("Question: ") :].strip()
    explanation = next((ln[len("Explanation: ") :].strip() for ln in lines[1:] if ln.startswith("Explanation: ")), None)
    return question, (explanation or None)


@dataclass
class KnownStudent:
    """A student whose answers are known: `truth[item id] = (right unaided, right with an explanation)`."""

    items: Sequence[TeachItem]
    truth: dict[str, tuple[bool, bool]]
    by_question: dict[str, TeachItem] = field(init=False)

    def __post_init__(self) -> None:
        self.by_question = {i.prompt_question(): i for i in self.items}

    @classmethod
    def random(cls, items: Sequence[TeachItem], *, p_pre: float, p_help: float, p_hurt: float = 0.0,
               seed: int = 0) -> KnownStudent:  # fmt: skip
        """A random truth table: right unaided with p_pre; with an explanation, wrong turns right with p_help.

        A right item turns wrong with an explanation with p_hurt.
        """
        rng = random.Random(seed)
        truth = {}
        for item in items:
            pre = rng.random() < p_pre
            post = (rng.random() >= p_hurt) if pre else (rng.random() < p_help)
            truth[item.id] = (pre, post)
        return cls(items, truth)

    def answer(self, item: TeachItem, explanation: str | None) -> str:
        """The label this student gives."""
        if explanation:
            stated = _STATED.search(explanation)
            if stated:
                return stated.group(1).lower()
        right = self.truth[item.id][1 if explanation else 0]
        return item.gold_label if right else item.wrong_label()

    def __call__(self, call: Any) -> str:
        """Reply function: answer the last question of the prompt."""
        found = _last(call.last_user)
        if found is None or found[0] not in self.by_question:
            return "no"
        return self.answer(self.by_question[found[0]], found[1])


@dataclass
class SeeingTeacher:
    """A teacher whose mental model sees the student's true behaviour, and who explains with the human text."""

    student: KnownStudent
    p_right: float = 0.9
    logprobs: bool = True

    def _probs(self, item: TeachItem, right: bool) -> AIMessage | str:
        p = self.p_right if right else 1 - self.p_right
        gold, wrong = item.gold_label, item.wrong_label()
        label = gold if p >= 0.5 else wrong
        return reply_with_probs(label, {gold: p, wrong: 1 - p}) if self.logprobs else label

    def __call__(self, call: Any) -> AIMessage | str:
        """Reply function for the teacher role's prompts."""
        text = call.last_user
        found = _last(text)
        item = self.student.by_question.get(found[0]) if found else None
        if item is None:
            return "I cannot tell."
        if text.startswith(MENTAL_MODEL_OPENING):
            explained = "after reading an explanation" in text
            return self._probs(item, self.student.truth[item.id][1 if explained else 0])
        if text.startswith(EXPLAIN_OPENING) and text.rstrip().endswith("Answer:"):  # rationalize: answer first
            return f"{item.gold_label}\nExplanation: {item.explanation}"
        if text.startswith(EXPLAIN_OPENING):
            return f"{item.explanation}\nAnswer: {item.gold_label}"
        if "Wrong answer:" in text:
            wrong = re.search(r"Wrong answer: (\w+)\s*\nExplanation:\s*$", text)
            return f"The answer to this question is {wrong.group(1) if wrong else item.wrong_label()}."
        return self._probs(item, True)
