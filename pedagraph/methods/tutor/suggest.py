"""What to practise next: a problem for the learner's weakest skill, driven by the learner model."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pedagraph.learner import LearnerModel
from pedagraph.learning import OPERATION_SKILLS, primary_skill
from pedagraph.problems import Problem
from pedagraph.prompts import render


@dataclass(frozen=True)
class Suggestion:
    """A problem to try next, the skill it practises and why (in the learner's words)."""

    problem: Problem
    skill: str | None
    reason: str

    @property
    def label(self) -> str:
        """How the learner sees the problem's name: its number for a bundled problem, else its id."""
        return self.problem.id.rsplit("-", 1)[-1] if self.problem.id.rsplit("-", 1)[-1].isdigit() else self.problem.id


def weakest_skill(learner: LearnerModel) -> str | None:
    """The skill with the lowest mastery among those with graded evidence (operations first on ties)."""
    graded = [(state.p_mastery, name not in OPERATION_SKILLS, name) for name, state in learner.skills.items()
              if state.n_obs]  # fmt: skip
    return min(graded)[2] if graded else None


def attempted(learner: LearnerModel) -> set[str]:
    """Ids of the problems the learner answered any step of (from their demos)."""
    return {d.item_id.split("#", 1)[0] for d in learner.demos if d.item_id}


def _practises(problem: Problem, skill: str) -> int:
    """How many of a problem's steps are mainly about `skill`."""
    return sum(primary_skill(s.skills) == skill for s in problem.steps)


def suggest_next(learner: LearnerModel, problems: Sequence[Problem], exclude: Iterable[str] = ()) -> Suggestion | None:
    """The next problem to try: one not attempted yet that practises the weakest skill most, shortest first."""
    skip = attempted(learner) | set(exclude)
    fresh = [p for p in problems if p.id not in skip and p.has_steps] or [p for p in problems if p.id not in exclude]
    if not fresh:
        return None
    skill = weakest_skill(learner)
    if skill is None:
        return Suggestion(fresh[0], primary_skill(fresh[0].steps[0].skills) if fresh[0].steps else None,
                          render("tutor/suggest/first").strip())  # fmt: skip
    # the most steps on the skill, then the shortest, then the first listed (an index, not fresh.index: that
    # compares whole problems, quadratic in the problems offered)
    _, best = max(enumerate(fresh), key=lambda ip: (_practises(ip[1], skill), -len(ip[1].steps), -ip[0]))
    if not _practises(best, skill):
        return Suggestion(best, None, render("tutor/suggest/other").strip())
    return Suggestion(best, skill, render("tutor/suggest/weakest").strip())


def suggestion_line(suggestion: Suggestion | None) -> str:
    """The sentence suggesting the next problem (empty without a suggestion)."""
    line = ""
    if suggestion is not None and suggestion.skill:
        line = render("tutor/templates/suggestion", number=suggestion.label, skill=suggestion.skill,
                      reason=suggestion.reason)  # fmt: skip
    elif suggestion is not None:
        line = render("tutor/templates/suggestion_plain", number=suggestion.label, reason=suggestion.reason)
    return line.strip()


def next_options(suggestion: Suggestion | None) -> str:
    """What the learner can do once a problem is finished, with the suggested next problem."""
    line = suggestion_line(suggestion)
    return "\n\n" + render("tutor/templates/next_options", suggestion=f" {line}" if line else "").strip()
