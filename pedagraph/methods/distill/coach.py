"""The coach: a strong model that writes strategies for the small tutor's failures and new scenarios.

With a real coach model both are structured calls (`prompts/coach/`); with the scripted coach, a strategy is
the stock strategy of the failed MRBench skill (`prompts/coach/stock_strategies.md`) and new scenarios are
unused seed scenarios of the weakest kinds. A strategy that gives the scenario's answer away is dropped
(strategies must be transferable guidance, not answers: methods.md §5.5).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from pydantic import BaseModel, Field

from pedagraph.llm import ManagedChatModel
from pedagraph.methods.distill.scenarios import Scenario, difficulty_of
from pedagraph.methods.distill.scoring import Judged, reveals
from pedagraph.prompts import load_prompt, render
from pedagraph.structured import ask


class StrategyDraft(BaseModel):
    """A strategy the coach writes for a situation where the tutor fell short."""

    strategy: str = Field(description="One or two sentences of general, reusable guidance for the tutor.")


class ScenarioDraft(BaseModel):
    """A new student turn for a problem, showing a given difficulty."""

    student_message: str = Field(description="What the student says: an attempt showing the difficulty.")
    misconception: str = Field("", description="The misconception in a few words.")


@cache
def stock_strategies() -> dict[str, str]:
    """The scripted coach's strategy per MRBench dimension (sections `## <Dimension>` of the prompt file)."""
    out: dict[str, str] = {}
    for block in re.split(r"(?m)^## ", load_prompt("coach/stock_strategies"))[1:]:
        head, _, body = block.partition("\n")
        if body.strip():
            out[head.strip()] = " ".join(body.split())
    return out


def write_strategy(coach: ManagedChatModel | None, scenario: Scenario, reply: str, judged: Judged, skill: str
                   ) -> str | None:  # fmt: skip
    """A strategy for the tutor's failure on `skill` in this scenario, or None (nothing usable)."""
    problem = scenario.problem_obj()
    if coach is None:
        text = stock_strategies().get(skill)
    else:
        failed = ", ".join(d.replace("_", " ") for d in judged.failed) or skill.replace("_", " ")
        difficulty = difficulty_of(scenario.profile) or "(not known)"
        prompt = render("coach/write_strategy", problem=problem.question, difficulty=difficulty,
                        student=scenario.student_message, reply=reply or "(empty)", failed=failed,
                        skill=skill.replace("_", " "), rationale=judged.rationale or "(none)")  # fmt: skip
        draft = ask(coach, StrategyDraft, prompt, node="distill_strategy")
        text = draft.strategy if draft is not None else None
    text = " ".join((text or "").split())[:600]
    if not text or reveals(text, problem):
        return None
    return text


def write_scenarios(coach: ManagedChatModel | None, seeds: Sequence[Scenario], n: int) -> list[Scenario]:
    """New scenarios from seed scenarios of the weakest kinds: written by a real coach, else the seeds themselves.

    A written scenario keeps its seed's problem, kind and profile, with a new student turn; a draft that gives
    the answer away or fails is replaced by its seed.
    """
    out: list[Scenario] = []
    for seed in list(seeds)[:n]:
        if coach is None:
            out.append(seed)
            continue
        problem = seed.problem_obj()
        prompt = render("coach/write_scenario", problem=problem.question,
                        difficulty=difficulty_of(seed.profile) or "(not known)", example=seed.student_message)
        draft = ask(coach, ScenarioDraft, prompt, node="distill_scenario")
        message = " ".join((draft.student_message if draft else "").split())[:600]
        if not message or message == seed.student_message:
            out.append(seed)
            continue
        out.append(seed.model_copy(update={"id": f"{seed.id}~coach", "student_message": message, "source": "coach",
                                           "misconception": draft.misconception if draft else "",
                                           "seed_id": seed.id}))  # fmt: skip
    return out
