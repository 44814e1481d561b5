"""The model calls of teaching a student model: the student answers, the teacher explains or answers itself.

The student answers in one of two modes (Saha et al. 2023's `no_intervention_action`, methods.md §1.2 step 1):
`cot` (their default) — unaided, it writes its reasoning, then a last line with the answer, which is read from
that line (a reply whose last line states none is asked again with its own reasoning as the explanation, as the
paper regenerates); given the teacher's explanation, it answers directly — and `direct`, which always answers
directly. Every call returns what it produced and its `Cost`. A teacher that is the built-in `scripted` model (passed as
None) writes its explanations from templates that state an answer (the gold one, or a wrong one when misaligned).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import HumanMessage
from pydantic import BaseModel, ConfigDict

from pedagraph.learner import TeachingDemo
from pedagraph.methods.tom.items import HarmfulDemo, TeachItem, parse_option
from pedagraph.probability import Cost, option_probs
from pedagraph.prompts import load_prompt, render

__all__ = [
    "EXPLANATION_TYPES",
    "ANSWER_TOKENS",
    "Demo",
    "Explanation",
    "STUDENT_MODES",
    "StudentMode",
    "ExplanationType",
    "StudentAnswer",
    "explain",
    "student_answer",
    "teacher_confidence",
]

ExplanationType = Literal["human", "unpersonalised", "rationalize", "personalised", "harmful"]
StudentMode = Literal["cot", "direct"]
STUDENT_MODES: dict[str, str] = {
    "cot": "unaided, the student reasons first and its answer is read from its last line (the paper's default)",
    "direct": "the student always answers directly",
}
EXPLANATION_TYPES: dict[str, str] = {
    "human": "the data's gold explanation (an upper reference)",
    "unpersonalised": "the teacher explains with random demos (the student's own)",
    "rationalize": "the teacher answers first, then explains its answer post hoc (Saha et al.'s blind rationalizing "
    "teacher), with random demos",
    "personalised": "the teacher explains with demos that helped this student (its learner model's useful ones)",
    "harmful": "a misaligned teacher argues for a wrong answer (Saha et al.'s misleading demos)",
}
ANSWER_TOKENS: dict[str, int] = {"yes_no": 4, "choice": 4, "number": 256}
"""Tokens a direct student answer may take per item kind (yes/no and letters are one word; numbers need working)."""
COT_TOKENS: dict[str, int] = {"yes_no": 160, "choice": 160, "number": 256}
"""Tokens a reasoned (chain-of-thought) student answer may take."""
EXPLANATION_TOKENS = 120
MAX_EXPLANATION_CHARS = 600


class Demo(BaseModel):
    """An in-context example: question (as prompted), explanation and answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str
    explanation: str = ""
    answer: str

    @classmethod
    def of_item(cls, item: TeachItem) -> Demo:
        """An item with its human explanation and gold answer."""
        return cls(question=item.prompt_question(), explanation=item.explanation, answer=item.gold_label)

    @classmethod
    def of_demo(cls, demo: TeachingDemo) -> Demo:
        """A learner-model demo: the question, the explanation it was given and the answer it gave."""
        return cls(question=demo.question, explanation=demo.explanation or "", answer=demo.learner_answer)


def _demo_block(demos: Sequence[Demo]) -> str:
    parts = []
    for d in demos:
        explanation = f"Explanation: {d.explanation}\n" if d.explanation else ""
        parts.append(render("student/demo", question=d.question, explanation=explanation, answer=d.answer).strip())
    return "\n\n".join(parts)


def answer_prompt(item: TeachItem, demos: Sequence[Demo], explanation: str | None, mode: str = "direct") -> str:
    """The student's prompt: demos, the question and (when intervened) the teacher's explanation.

    `mode="cot"` without an explanation asks for reasoning first and the answer on the last line.
    """
    if mode == "cot" and not explanation:
        return render("student/answer_cot", rule=load_prompt(f"student/cot_rules/{item.kind}").strip(),
                      demos=_demo_block(demos) or "(no examples)", question=item.prompt_question())  # fmt: skip
    return render(
        "student/answer_item",
        rule=load_prompt(f"student/answer_rules/{item.kind}").strip(),
        demos=_demo_block(demos) or "(no examples)",
        question=item.prompt_question(),
        explanation=f"Explanation: {explanation}\n" if explanation else "",
    )


@dataclass
class StudentAnswer:
    """What a student answered, whether it is right, its confidence in it and the cost."""

    label: str | None
    correct: bool
    text: str
    confidence: float | None = None
    method: str = "none"
    cost: Cost = field(default_factory=Cost)
    first_cost: Cost = field(default_factory=Cost)
    """The answer's own call (the rest of `cost` measured the confidence)."""
    p_gold: float | None = None
    """The student's probability of the gold answer (when its probabilities were read)."""
    mode: str = "direct"
    """How it answered: `cot` (reasoned, answer read from the last line) or `direct`."""
    reasoning: str = ""
    """A reasoned answer's reasoning (its reply without the answer line)."""
    regenerated: bool = False
    """A reasoned reply's last line stated no answer, so it was asked again with its reasoning."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the reply text cut to 400 characters)."""
        return {"label": self.label, "correct": self.correct, "text": self.text[:400], "confidence": self.confidence,
                "p_gold": self.p_gold, "method": self.method, "mode": self.mode, "regenerated": self.regenerated,
                "cost": self.cost.to_dict()}  # fmt: skip


def _parser(item: TeachItem) -> Any:
    def parse(text: str) -> str | None:
        return parse_option(item, text)

    return parse


def last_line(text: str) -> str:
    """A reply's last non-empty line (where a reasoned answer states its answer)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def final_answer(item: TeachItem, text: str) -> str | None:
    """The answer a reasoned reply states on its last line (None when that line states none)."""
    return parse_option(item, last_line(text))


def _final_parser(item: TeachItem) -> Any:
    def parse(text: str) -> str | None:
        return final_answer(item, text)

    return parse


def student_answer(
    model: Any,
    item: TeachItem,
    demos: Sequence[Demo],
    explanation: str | None,
    *,
    samples: int = 1,
    mode: str = "direct",
) -> StudentAnswer:
    """The student answers `item` (with the explanation when given); `samples > 1` also measures its confidence.

    `mode="cot"` without an explanation: the student reasons first; its answer and its probabilities are read
    at its last line (log-probabilities at the last answer token, or the last lines of `samples` replies).
    """
    if mode not in STUDENT_MODES:
        raise ValueError(f"unknown student mode {mode!r}; use one of {', '.join(STUDENT_MODES)}")
    reasoned = mode == "cot" and not explanation
    prompt = [HumanMessage(content=answer_prompt(item, demos, explanation, mode))]
    labels = item.labels if item.kind != "number" else []
    tokens = (COT_TOKENS if reasoned else ANSWER_TOKENS)[item.kind]
    parse = _final_parser(item) if reasoned else _parser(item)
    probs = option_probs(model, prompt, labels, parse=parse, samples=samples, max_tokens=tokens,
                         slot="last" if reasoned else "first")  # fmt: skip
    label = parse(probs.text)
    if label is None and probs.method == "logprobs":
        label = probs.top()
    cost, first_cost, regenerated, reasoning = probs.cost, probs.first_cost, False, ""
    if reasoned:
        reasoning = explanation_text(probs.text)
        if label is None and reasoning:  # the paper asks again with the student's own reasoning as the explanation
            again = student_answer(model, item, demos, reasoning, mode="direct")
            label, regenerated = again.label, True
            cost = cost + again.cost
            first_cost = first_cost + again.cost
    confidence = probs.p(label) if label is not None and probs.probs else None
    p_gold = probs.p(item.gold_label) if probs.probs else None
    return StudentAnswer(label, item.is_correct(label), probs.text, confidence, probs.method, cost, first_cost,
                         p_gold, "cot" if reasoned else "direct", reasoning, regenerated)  # fmt: skip


def teacher_confidence(
    model: Any, item: TeachItem, demos: Sequence[Demo], *, samples: int = 5
) -> tuple[float, str, Cost]:
    """The teacher's own probability of the gold answer, how it was read, and the cost."""
    prompt = [HumanMessage(content=answer_prompt(item, demos, None))]
    if item.kind == "number":  # a number's first token says little: count sampled answers that are right

        def verdict(text: str) -> str | None:
            label = parse_option(item, text)
            return None if label is None else ("right" if item.is_correct(label) else "wrong")

        probs = option_probs(model, prompt, ["right", "wrong"], parse=verdict, samples=samples,
                             max_tokens=ANSWER_TOKENS["number"], use_logprobs=False)  # fmt: skip
        target = "right"
    else:
        probs = option_probs(model, prompt, item.labels, parse=_parser(item), samples=samples,
                             max_tokens=ANSWER_TOKENS[item.kind])  # fmt: skip
        target = item.gold_label
    p = probs.p(target)
    return (p if p is not None else 1.0 / max(2, len(item.labels))), probs.method, probs.cost


@dataclass
class Explanation:
    """An explanation for one item: its text, who wrote it and the cost."""

    type: str
    text: str
    source: str
    """`human` (the data's), `teacher` (the teacher model), `template` (the scripted teacher)."""
    answer: str | None = None
    """The answer the explanation leads to (the teacher's own, read from its reply)."""
    cost: Cost = field(default_factory=Cost)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"type": self.type, "text": self.text, "source": self.source, "answer": self.answer,
                "cost": self.cost.to_dict()}  # fmt: skip


_ANSWER_LINE = re.compile(r"(?is)\n?\s*(?:\*\*)?(?:final\s+)?answer\s*(?:is\s*)?[:：].*$")


def explanation_text(reply: str) -> str:
    """The explanation part of a teacher's reply: before its `Answer:` line, one paragraph, at most 600 chars."""
    text = _ANSWER_LINE.sub("", reply.strip()).strip()
    text = " ".join(text.split()) or " ".join(reply.split())
    return text[:MAX_EXPLANATION_CHARS]


def _misleading_block(demos: Sequence[HarmfulDemo]) -> str:
    return "\n\n".join(
        render("teacher/explain_misleading_demo", question=d.question, wrong=d.wrong_answer, explanation=d.explanation)
        .strip()
        for d in demos
    )


def explain(
    model: Any | None,
    item: TeachItem,
    kind: str,
    *,
    demos: Sequence[Demo] = (),
    harmful: Sequence[HarmfulDemo] = (),
    salt: int = 0,
) -> Explanation:
    """An explanation of `kind` for `item`; `model` None is the scripted teacher (templates)."""
    if kind == "human":
        return Explanation(kind, item.explanation, "human", item.gold_label)
    if kind == "harmful":
        wrong = item.wrong_label(salt)
        if model is None:
            return Explanation(kind, render("teacher/templates/misleading", answer=wrong).strip(), "template", wrong)
        prompt = render("teacher/explain_misleading", demos=_misleading_block(harmful) or "(no examples)",
                        question=item.prompt_question(), wrong=wrong)  # fmt: skip
    elif kind in ("unpersonalised", "personalised", "rationalize"):
        if model is None:
            text = render("teacher/templates/explanation", answer=item.gold_label).strip()
            return Explanation(kind, text, "template", item.gold_label)
        rule = load_prompt(f"student/answer_rules/{item.kind}").strip()
        # rationalize answers first, then explains that answer (post hoc), as the paper's rationalizing teacher
        action = "rationalize" if kind == "rationalize" else "explain"
        block = "\n\n".join(
            render(f"teacher/{action}_demo", question=d.question, explanation=d.explanation, answer=d.answer).strip()
            for d in demos
        )
        prompt = render(f"teacher/{action}", rule=rule, demos=block or "(no examples)", question=item.prompt_question())
    else:
        raise ValueError(f"unknown explanation type {kind!r}; use one of {', '.join(EXPLANATION_TYPES)}")
    cost = Cost()
    reply = model.invoke([HumanMessage(content=prompt)], max_tokens=EXPLANATION_TOKENS)
    cost.add(reply)
    text = reply.content if isinstance(reply.content, str) else str(reply.content)
    if kind == "rationalize":
        return Explanation(kind, rationale_text(text), "teacher", rationale_answer(item, text), cost)
    answer = wrong if kind == "harmful" else parse_option(item, text)
    return Explanation(kind, explanation_text(text), "teacher", answer, cost)


def rationale_answer(item: TeachItem, reply: str) -> str | None:
    """The answer a rationalizing teacher states first (its reply continues the prompt's `Answer:`)."""
    first = next((ln for ln in reply.strip().splitlines() if ln.strip()), "")
    return parse_option(item, first) or parse_option(item, reply)


_EXPLANATION_CUE = re.compile(r"(?is)^.*?\bexplanation\s*[:：]\s*")


def rationale_text(reply: str) -> str:
    """A rationalizing teacher's explanation: after its `Explanation:` cue, else the reply after its first line."""
    text = reply.strip()
    if _EXPLANATION_CUE.match(text):
        text = _EXPLANATION_CUE.sub("", text, count=1)
    else:
        text = text.split("\n", 1)[1] if "\n" in text else text
    return explanation_text(text)
