"""Test doubles for strategy distillation: a tutor with known weaknesses, a coach and a judge of known behaviour.

`KnownTutor` answers the tutor's respond prompt: when the learner's message shows one of its weak situations
(a trigger phrase) and no strategy in its prompt holds the phrase's fix word, its reply has no
question and no mention of a mistake; otherwise a good one. `WordCoach` writes, for every failure, a strategy
holding a fix word of its choosing; `RuleJudge` labels a reply by `rule_labels`, through the evaluator's
structured-output schema. All are reply functions for `StandInChatModel(reply_fn=...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pedagraph.methods.distill.scenarios import KINDS, Scenario
from pedagraph.methods.distill.scoring import rule_labels
from pedagraph.problems import Problem
from pedagraph.taxonomy import MRBenchDimension
from pedagraph.testing.tom import prompt_opening

__all__ = ["BAD_REPLY", "GOOD_REPLY", "KnownTutor", "RuleJudge", "WordCoach", "known_scenarios"]

RESPOND_OPENING = prompt_opening("tutor/respond")
STRATEGY_OPENING = prompt_opening("coach/write_strategy")
SCENARIO_OPENING = prompt_opening("coach/write_scenario")
STRATEGIES_OPENING = prompt_opening("tutor/strategies")
BAD_REPLY = "Hmm, okay. Keep going with the next part."
GOOD_REPLY = "Good try! Not quite: check how you combined those numbers. What do you get for the first part?"

_MESSAGES = {
    "relevant_information": "I used every number in the story, even the ones that looked important, and got {n}.",
    "operations": "I subtracted the two amounts instead of adding them, so I got {n}.",
    "procedure": "I did the first step and then stopped, my answer is {n}.",
    "what_is_asked": "I worked out how many there were at the start, which is {n}.",
}


def known_scenarios(problem: Problem, per_kind: int = 3, kinds: tuple[str, ...] = tuple(_MESSAGES)) -> list[Scenario]:
    """Scenarios of a problem: `per_kind` students per kind, each saying a kind's typical wrong attempt."""
    out = []
    for kind in kinds:
        for i in range(per_kind):
            wrong = 7001 + 13 * i + 100 * len(out)
            message = _MESSAGES[kind].format(n=wrong)
            profile = f"Student {i} is a 7th grade student. She struggles with {KINDS[kind]}."
            out.append(Scenario(id=f"{kind}-{i}", kind=kind, problem=problem.model_dump(mode="json"),
                                student_message=message, profile=profile, misconception=kind))  # fmt: skip
    return out


def _strategy_block(system: str) -> str:
    start = system.find(STRATEGIES_OPENING)
    if start < 0:
        return ""
    end = system.find("\n\n", start)
    return system[start : end if end > 0 else len(system)]


@dataclass
class KnownTutor:
    """A tutor that is weak where the learner's message holds a trigger, unless a strategy holds its fix word."""

    weak: dict[str, str]
    """Trigger phrase in the learner's message -> the word a strategy must hold to fix the reply."""
    prompts: list[str] = field(default_factory=list)

    def __call__(self, call: Any) -> str | None:
        """Reply function for the teacher role."""
        if call.schema_name:
            return None
        system = call.system
        if not system.startswith(RESPOND_OPENING):
            return GOOD_REPLY
        self.prompts.append(system)
        said = " ".join(str(m.content) for m in call.messages if m.type == "human").lower()
        block = _strategy_block(system).lower()
        for trigger, fix in self.weak.items():
            if trigger.lower() in said and fix.lower() not in block:
                return BAD_REPLY
        return GOOD_REPLY


@dataclass
class WordCoach:
    """A coach whose strategy for a learner message with a trigger holds the matching word."""

    words: dict[str, str]
    """Trigger phrase in the student's message -> the word its strategy holds."""
    default: str = "Ask a question."

    def __call__(self, call: Any) -> dict[str, str] | None:
        """Reply function for the coach role: a `StrategyDraft`, or a `ScenarioDraft` that rewords the example."""
        text = call.last_user or call.system
        if call.schema_name == "ScenarioDraft" and text.startswith(SCENARIO_OPENING):
            example = text.rsplit("another student:", 1)[-1].strip()
            return {"student_message": f"Coach's student: {example}", "misconception": "written by the coach"}
        if call.schema_name != "StrategyDraft" or not text.startswith(STRATEGY_OPENING):
            return None
        said = text.split("The student said:", 1)[-1].split("The tutor replied:", 1)[0].lower()
        for trigger, word in self.words.items():
            if trigger.lower() in said:
                return {"strategy": f"When the student shows this, use the {word} move and ask a question."}
        return {"strategy": self.default}


@dataclass
class RuleJudge:
    """An evaluator that labels the reply in the judge prompt with `rule_labels`, as structured output."""

    problem: Problem

    def __call__(self, call: Any) -> dict[str, str] | None:
        """Reply function for the evaluator role (the `ResponseLabels` schema)."""
        if call.schema_name != "ResponseLabels":
            return None
        reply = call.last_user.rsplit("<<<", 1)[-1].rsplit(">>>", 1)[0].strip()
        labels = rule_labels(reply, self.problem, tuple(MRBenchDimension))
        return {"rationale": "rules", **{k.lower(): v for k, v in labels.items()}}
