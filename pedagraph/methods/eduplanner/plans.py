"""EduPlanner's lesson plans as plain functions: problems, the analyst's forecast, plans, scores, ranking, stopping.

A plan is Markdown text (as in the original, where plans are texts) with an id, the round it was made in and its
origin (`draft`, `optimised`, `teacher`). It is scored two ways (methods.md §2.3, §2.7):

* **predicted success** — the utility the loop optimises: simulated learners of the group estimate, for each of
  T test problems and M repeats, the probability (0-100) that a learner solves the problem after the lesson; the
  plan's score is the mean;
* **CIDDP** — Clarity, Integrity, Depth, Practicality, Pertinence, 0-100 each with a reason, from a separate judge.
  It is reported per round and breaks ties, but is never what the optimiser sees (so the loop cannot game it).

With a scripted model every call has a deterministic stand-in here: `forecast_mistakes` (the analyst's catalogue
weighted by the group's levels), `draft_plan` / `improve_plan` (template plans that grow by the learners'
suggestions) and `predict_success` / `judge_ciddp`, a transparent heuristic over what the plan contains
(`plan_features`): worked examples covering the test problem's skills, exercises at graded difficulty, forecast
mistakes, support pitched at the group. It makes the loop's behaviour (improvement, then a plateau and an early
stop) testable offline; it is not a model of real learners.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pedagraph.learner import Ability, MistakeType
from pedagraph.methods.eduplanner.skill_tree import Group, descriptor
from pedagraph.problems import Problem, bundled_problems, skills_for
from pedagraph.prompts import load_prompt, render

__all__ = [
    "DIMENSIONS",
    "CIDDPScores",
    "MistakeForecast",
    "Plan",
    "PlanFeatures",
    "Prediction",
    "ProblemMistakes",
    "ScoredPlan",
    "draft_plan",
    "forecast_mistakes",
    "improve_plan",
    "judge_ciddp",
    "merge_queue",
    "plan_features",
    "predict_success",
    "rank_key",
    "round_summary",
    "score_plan",
    "should_stop",
    "suggestions_of",
    "target_problems",
    "pick_test_problems",
]

DIMENSIONS: tuple[str, ...] = ("clarity", "integrity", "depth", "practicality", "pertinence")
"""The five CIDDP dimensions, in order."""
MAX_LEVEL = 5
MAX_EXAMPLES = 4
"""Worked examples a plan carries before more of them count against it (an overlong lesson)."""

_MISTAKE_ABILITY: dict[MistakeType, Ability] = {
    MistakeType.CALCULATION: Ability.NUMERICAL_CALCULATION,
    MistakeType.TRANSPOSITION: Ability.ABSTRACT_THINKING,
    MistakeType.ALGEBRAIC_SIMPLIFICATION: Ability.ABSTRACT_THINKING,
    MistakeType.IGNORING_CONDITIONS: Ability.LOGICAL_REASONING,
    MistakeType.MISREADING_PROBLEM: Ability.SPATIAL_IMAGINATION,
    MistakeType.MISAPPLYING_FORMULA: Ability.ANALOGY_ASSOCIATION,
}
"""Which ability a mistake type comes from (a weaker ability makes the mistake likelier)."""
_SKILL_MISTAKES: dict[str, tuple[MistakeType, ...]] = {
    "fractions": (MistakeType.CALCULATION, MistakeType.MISAPPLYING_FORMULA),
    "percentages": (MistakeType.MISAPPLYING_FORMULA,),
    "rates": (MistakeType.MISAPPLYING_FORMULA, MistakeType.IGNORING_CONDITIONS),
    "division": (MistakeType.CALCULATION,),
    "multiplication": (MistakeType.CALCULATION,),
    "subtraction": (MistakeType.TRANSPOSITION,),
    "time": (MistakeType.MISREADING_PROBLEM,),
    "money": (MistakeType.IGNORING_CONDITIONS,),
}


# --------------------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------------------


class MistakeForecast(BaseModel):
    """One mistake the analyst expects: its type from the catalogue, a probability in percent and a note."""

    type: MistakeType
    probability: int = Field(ge=0, le=100)
    note: str = Field("", max_length=300)


class ProblemMistakes(BaseModel):
    """The question analyst's answer for one problem: the three likeliest mistakes, likeliest first."""

    mistakes: list[MistakeForecast] = Field(min_length=1, max_length=3)


class Prediction(BaseModel):
    """A simulated learner's estimate for one test problem: reasoning, probability 0-100, suggestions."""

    reason: str = Field("", max_length=1000)
    probability: int = Field(ge=0, le=100)
    suggestions: list[str] = Field(default_factory=list, max_length=5)


class _Dimension(BaseModel):
    score: int = Field(ge=0, le=100)
    reason: str = Field("", max_length=400)


class CIDDPScores(BaseModel):
    """The CIDDP judge's answer: each of the five dimensions scored 0-100 with a reason."""

    clarity: _Dimension
    integrity: _Dimension
    depth: _Dimension
    practicality: _Dimension
    pertinence: _Dimension

    def mean(self) -> float:
        """The mean of the five scores."""
        return sum(getattr(self, d).score for d in DIMENSIONS) / len(DIMENSIONS)

    def to_record(self) -> dict[str, Any]:
        """Scores and reasons as a JSON-ready record."""
        return {d: {"score": getattr(self, d).score, "reason": getattr(self, d).reason} for d in DIMENSIONS}


class Plan(BaseModel):
    """A candidate lesson plan: Markdown text, its id, round, origin and the plans it was made from."""

    model_config = ConfigDict(extra="forbid")

    id: str
    round: int = Field(ge=0)
    origin: Literal["draft", "optimised", "teacher"]
    markdown: str
    parents: list[str] = Field(default_factory=list)
    fallback: bool = False
    """True when a real planner's answer was unusable and the deterministic plan stands in."""


class ScoredPlan(Plan):
    """A plan with its scores: predicted success (0-1) over T x M predictions, CIDDP, suggestions."""

    success: float
    success_se: float = 0.0
    predictions: int = 0
    ciddp: dict[str, Any] = Field(default_factory=dict)
    ciddp_mean: float = 0.0
    suggestions: list[str] = Field(default_factory=list)


# --------------------------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------------------------


def _problem(value: Any, index: int) -> Problem:
    if isinstance(value, Problem):
        return value
    if isinstance(value, dict) and "question" in value:
        if value.get("steps") is not None and value.get("id"):
            return Problem.model_validate(value)
        return Problem.from_text(str(value["question"]), value.get("answer"), id=value.get("id") or None)
    if isinstance(value, str):
        return Problem.from_text(value)
    raise ValueError(f"problem {index + 1} must be text or {{question, answer}}, got {type(value).__name__}")


def target_problems(topic: str, problems: Sequence[Any], *, limit: int = 3) -> list[Problem]:
    """The problems the lesson teaches: the ones given, else bundled problems about the topic's skills."""
    given = [_problem(p, i) for i, p in enumerate(problems)]
    if given:
        return given
    wanted = set(skills_for(topic))
    words = {w for w in re.findall(r"[a-z]{4,}", topic.lower())}
    pool = bundled_problems()
    chosen = [p for p in pool if wanted & set(p.skills)] or [p for p in pool if words & set(p.question.lower().split())]
    return (chosen or pool)[:limit]


def pick_test_problems(targets: Sequence[Problem], count: int, *, seed: int = 0) -> list[Problem]:
    """T test problems disjoint from the targets: bundled problems sharing their skills (a seeded sample).

    A lesson's own problems and its worked examples are what it teaches; testing on them would measure recall of
    the plan, so neither a target (by id or question) nor a worked example (`example_problems`) is a test problem.
    """
    taken = {p.id for p in targets}
    asked = {_norm(p.question) for p in targets}
    pool = [p for p in bundled_problems() if p.id not in taken and _norm(p.question) not in asked]
    if not pool:
        raise ValueError("no bundled problem is left to test with: every one is a target of the lesson")
    skills = {s for p in targets for s in p.skills}
    related = [p for p in pool if skills & set(p.skills)]
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not security
    picked = rng.sample(related, min(len(related), count))
    rest = [p for p in pool if p not in picked]
    return picked + rng.sample(rest, min(len(rest), max(0, count - len(picked))))


def example_problems(targets: Sequence[Problem], tests: Sequence[Problem]) -> list[Problem]:
    """Where a plan's worked examples come from: the targets, then bundled problems that are not test problems."""
    held_out = {p.id for p in tests} | {_norm(p.question) for p in tests}
    taken = {p.id for p in targets}
    others = [p for p in bundled_problems() if p.id not in taken and p.id not in held_out]
    return [*targets, *(p for p in others if _norm(p.question) not in held_out)]


def _norm(question: str) -> str:
    return " ".join(question.lower().split())


# --------------------------------------------------------------------------------------------------------------
# The question analyst (deterministic path)
# --------------------------------------------------------------------------------------------------------------


def forecast_mistakes(problem: Problem, group: Group | None) -> ProblemMistakes:
    """The three likeliest mistakes on a problem: weaker abilities and the problem's skills make a type likelier.

    Without a group (the ablation without the skill tree) every ability counts as level 3.
    """
    weights: dict[MistakeType, float] = {}
    held = {m.get("mistake_type") for m in (group.misconceptions if group else ())}
    for mistake, ability in _MISTAKE_ABILITY.items():
        level = group.levels[ability] if group else 3
        weight = float(MAX_LEVEL + 1 - level)
        weight += sum(1.5 for s in problem.skills if mistake in _SKILL_MISTAKES.get(s, ()))
        weight += 2.0 if mistake.value in held else 0.0
        weights[mistake] = weight
    top = sorted(weights, key=lambda m: (-weights[m], list(MistakeType).index(m)))[:3]
    total = sum(weights.values())
    return ProblemMistakes(mistakes=[
        MistakeForecast(type=m, probability=round(100 * weights[m] / total),
                        note=render("planner/templates/mistake_note", ability=_MISTAKE_ABILITY[m].label,
                                    level=group.levels[_MISTAKE_ABILITY[m]] if group else 3).strip())
        for m in top
    ])  # fmt: skip


# --------------------------------------------------------------------------------------------------------------
# Plan text (deterministic planner)
# --------------------------------------------------------------------------------------------------------------


def _variants(name: str) -> list[str]:
    return [v.strip() for v in load_prompt(name).split("\n---\n")]


def _mistake_block(analysis: dict[str, Any]) -> str:
    lines = "\n".join(
        render("planner/templates/mistake_line", label=m["type"].replace("_", " "), probability=m["probability"],
               note=m.get("note", "")).rstrip()
        for m in analysis.get("mistakes", [])
    )  # fmt: skip
    return render("planner/templates/mistakes", lines=lines).strip() if lines else ""


def _example(number: int, problem: Problem, analysis: dict[str, Any] | None) -> str:
    solution = problem.solution.strip() or "\n".join(s.solution_text for s in problem.steps)
    if not solution:
        solution = f"Answer: {problem.final_answer}" if problem.final_answer else "(worked in class)"
    # shown as Markdown: `3*60` is multiplication, not emphasis, and each worked line stays a line of its own
    solution = "  \n".join(re.sub(r"([*_])", r"\\\1", line) for line in solution.splitlines() if line.strip())
    text = render("planner/templates/example", number=number, question=problem.question.strip(),
                  skills=", ".join(problem.skills) or "reasoning", solution=solution).strip()  # fmt: skip
    block = _mistake_block(analysis or {})
    return f"{text}\n\n{block}" if block else text


def _exercise(level: int, number: int) -> str:
    tasks, changes = _variants("planner/templates/exercise_task"), _variants("planner/templates/changes")
    task = tasks[level % len(tasks)].format(number=number, change=changes[(level - 1) % len(changes)])
    return render("planner/templates/exercise", level=level, task=task).strip()


def _support(group: Group) -> str:
    weakest = group.weakest()
    held = "\n".join(
        render("planner/templates/held", description=m["description"], skill=m["skill"],
               learners=", ".join(m["learners"])).rstrip()
        for m in group.misconceptions
    )  # fmt: skip
    return render("planner/templates/support", ability=weakest.label, level=group.levels[weakest],
                  descriptor=descriptor(weakest, group.levels[weakest]), held=held).strip()  # fmt: skip


def _material(passages: Sequence[dict[str, Any]]) -> str:
    lines = "\n".join(f"- [{p['citation']}] {str(p.get('quote') or p.get('text', '')).strip()}" for p in passages)
    return render("planner/templates/material", lines=lines).strip() if lines else ""


def draft_plan(
    topic: str, targets: Sequence[Problem], analysis: dict[str, dict[str, Any]], group: Group | None, *,
    variant: int = 0, material: Sequence[dict[str, Any]] = (),
) -> str:  # fmt: skip
    """A template plan (draft `variant`): knowledge points, `variant + 1` worked examples, one exercise, support."""
    skills = list(dict.fromkeys(s for p in targets for s in p.skills)) or ["reasoning"]
    knowledge = "\n".join(render("planner/templates/knowledge", skill=s).strip() for s in skills)
    chosen = [targets[i % len(targets)] for i in range(min(variant + 1, len(targets)))] if targets else []
    examples = "\n\n".join(_example(i + 1, p, analysis.get(p.id)) for i, p in enumerate(chosen))
    parts = [render("planner/templates/plan", topic=topic or "the problems below", knowledge=knowledge,
                    examples=examples).strip(), _exercise(2, 1)]  # fmt: skip
    if group is not None:
        parts.append(_support(group))
    if material:
        parts.append(_material(material))
    return "\n\n".join(p for p in parts if p)


# --------------------------------------------------------------------------------------------------------------
# What a plan contains
# --------------------------------------------------------------------------------------------------------------

_EXAMPLE = re.compile(r"^#{2,4}\s*(?:worked\s+)?example\b", re.I | re.M)
_EXERCISE = re.compile(r"^#{2,4}\s*exercise\b[^\n]*?\b(?:difficulty|level)\s*(\d)", re.I | re.M)
_SKILLS_LINE = re.compile(r"^skills:\s*(.+)$", re.I | re.M)
_MISTAKES = re.compile(r"common mistakes", re.I)
_SUPPORT = re.compile(r"^##\s*support for the group", re.I | re.M)
_PARTS = (re.compile(r"^##\s*part 1\b", re.I | re.M), re.compile(r"^##\s*part 2\b", re.I | re.M))


@dataclass(frozen=True)
class PlanFeatures:
    """What the deterministic evaluator reads from a plan's text."""

    examples: int
    levels: frozenset[int]
    skills: frozenset[str]
    mistakes: int
    support: bool
    parts: int
    words: int
    notes: int = 0


def plan_features(markdown: str) -> PlanFeatures:
    """Count a plan's worked examples, exercise difficulty levels, skills, forecast mistakes and support."""
    skills: set[str] = set()
    for line in _SKILLS_LINE.findall(markdown):
        skills.update(s.strip().lower() for s in line.split(",") if s.strip())
    return PlanFeatures(
        examples=len(_EXAMPLE.findall(markdown)),
        levels=frozenset(int(x) for x in _EXERCISE.findall(markdown) if 1 <= int(x) <= MAX_LEVEL),
        skills=frozenset(skills),
        mistakes=len(_MISTAKES.findall(markdown)),
        support=bool(_SUPPORT.search(markdown)),
        parts=sum(bool(p.search(markdown)) for p in _PARTS),
        words=len(markdown.split()),
        notes=markdown.lower().count("## teacher's note"),
    )


def _jitter(*keys: object) -> float:
    digest = hashlib.sha256(":".join(map(str, keys)).encode()).digest()
    return (digest[0] / 255.0 - 0.5) * 0.04


# --------------------------------------------------------------------------------------------------------------
# The evaluators (deterministic path)
# --------------------------------------------------------------------------------------------------------------


def suggestions_of(features: PlanFeatures, problem: Problem, group: Group, *, analyst: bool = True) -> list[str]:
    """What would raise this plan's score on this problem, most useful first (labels the optimiser acts on)."""
    out = [f"add a worked example on {s}" for s in problem.skills if s not in features.skills]
    missing = [lv for lv in range(1, MAX_LEVEL + 1) if lv not in features.levels]
    if missing:
        out.append(f"add an exercise at difficulty {missing[0]}")
    if analyst and not features.mistakes:
        out.append("point out the likely mistakes")
    if not features.support:
        out.append(f"support {group.weakest().label}")
    return out


def predict_success(plan: Plan, problem: Problem, group: Group, repeat: int, *, analyst: bool = True) -> Prediction:
    """The deterministic simulated learner: a transparent heuristic of what in the plan helps on the problem."""
    f = plan_features(plan.markdown)
    covered = len(set(problem.skills) & f.skills) / len(problem.skills) if problem.skills else min(1, f.examples)
    p = 0.10 + 0.08 * group.mean_level + 0.15 * covered + 0.04 * min(len(f.levels), 4)
    p += 0.06 * bool(f.mistakes) + 0.06 * f.support - 0.03 * max(0, f.examples - MAX_EXAMPLES)
    p = min(0.98, max(0.02, p + _jitter(plan.id, problem.id, repeat)))
    suggestions = suggestions_of(f, problem, group, analyst=analyst)
    reason = f"covers {covered:.0%} of the problem's skills, {len(f.levels)} difficulty levels"
    return Prediction(reason=reason, probability=round(100 * p), suggestions=suggestions[:5])


def judge_ciddp(plan: Plan, targets: Sequence[Problem]) -> CIDDPScores:
    """The deterministic CIDDP rubric over the plan's structure (the offline stand-in for the judge)."""
    f = plan_features(plan.markdown)
    target_skills = {s for p in targets for s in p.skills}
    covered = len(target_skills & f.skills) / len(target_skills) if target_skills else float(bool(f.examples))

    def dim(score: float, reason: str) -> dict[str, Any]:
        return {"score": int(max(0, min(100, round(score)))), "reason": reason}

    return CIDDPScores.model_validate({
        "clarity": dim(50 + 15 * f.parts + 10 * (0 < f.examples <= MAX_EXAMPLES) - 5 * max(0, f.examples - 4),
                       f"{f.parts} of 2 parts, {f.examples} worked examples"),
        "integrity": dim(40 + 20 * f.parts + 20 * bool(f.levels), "knowledge points, examples and exercises"),
        "depth": dim(30 + 12 * len(f.levels) + 5 * min(f.examples, 2), f"{len(f.levels)} difficulty levels"),
        "practicality": dim(40 + 10 * min(len(f.levels), 4) + 10 * bool(f.mistakes), "exercises and mistakes"),
        "pertinence": dim(40 + 20 * f.support + 15 * bool(f.mistakes) + 25 * covered,
                          f"support for the group: {'yes' if f.support else 'no'}"),
    })  # fmt: skip


# --------------------------------------------------------------------------------------------------------------
# The optimiser (deterministic path)
# --------------------------------------------------------------------------------------------------------------


def improve_plan(
    parent: ScoredPlan, suggestion_index: int, targets: Sequence[Problem], tests: Sequence[Problem],
    analysis: dict[str, dict[str, Any]], group: Group | None, *, notes: Sequence[str] = (),
) -> str:  # fmt: skip
    """The parent plan with one of its suggestions acted on (the `suggestion_index`-th, else the first).

    A worked example comes from the targets or other bundled problems with the skill, never a test problem; an
    exercise is added at the asked difficulty; mistakes are added to the examples that lack them; support is added
    when the group is known (without the skill tree the planner cannot pitch it). Teacher notes not in the plan yet
    are appended.
    """
    text = parent.markdown.rstrip()
    features = plan_features(text)
    todo = [s for s in parent.suggestions if _actionable(s, group, analysis)]
    if todo:
        examples = example_problems(targets, tests)  # never a test problem: the plan must not teach the test
        text = _act(text, todo[min(suggestion_index, len(todo) - 1)], features, examples, analysis, group)
    for note in notes:
        if note.strip() and note.strip() not in text:
            text += "\n\n" + render("planner/templates/teacher_note", comment=note.strip()).strip()
    return text


def _actionable(suggestion: str, group: Group | None, analysis: dict[str, dict[str, Any]]) -> bool:
    if suggestion.startswith("support "):
        return group is not None
    if suggestion == "point out the likely mistakes":
        return bool(analysis)
    return suggestion.startswith(("add a worked example on ", "add an exercise at difficulty "))


def _act(text: str, suggestion: str, f: PlanFeatures, problems: Sequence[Problem],
         analysis: dict[str, dict[str, Any]], group: Group | None) -> str:  # fmt: skip
    if suggestion.startswith("add a worked example on "):
        skill = suggestion.removeprefix("add a worked example on ")
        problem = next((p for p in problems if skill in p.skills), None)
        if problem is None:
            return text
        return f"{text}\n\n{_example(f.examples + 1, problem, analysis.get(problem.id))}"
    if suggestion.startswith("add an exercise at difficulty "):
        level = int(suggestion.rsplit(" ", 1)[-1])
        return f"{text}\n\n{_exercise(level, max(1, f.examples))}"
    if suggestion == "point out the likely mistakes":
        block = next((_mistake_block(a) for a in analysis.values() if a.get("mistakes")), "")
        return f"{text}\n\n{block}" if block else text
    if suggestion.startswith("support ") and group is not None:
        return f"{text}\n\n{_support(group)}"
    return text


# --------------------------------------------------------------------------------------------------------------
# Scores, the queue and stopping
# --------------------------------------------------------------------------------------------------------------


def score_plan(plan: Plan, predictions: Iterable[dict[str, Any]], ciddp: dict[str, Any] | None) -> ScoredPlan:
    """A plan with its mean predicted success (0-1, ± standard error), CIDDP and most frequent suggestions."""
    predictions = list(predictions)
    probs = [float(p["probability"]) / 100 for p in predictions]
    n = len(probs)
    mean = sum(probs) / n if n else 0.0
    se = (sum((x - mean) ** 2 for x in probs) / (n - 1) / n) ** 0.5 if n > 1 else 0.0
    counts: dict[str, int] = {}
    for p in predictions:
        for s in p.get("suggestions", []):
            counts[s] = counts.get(s, 0) + 1
    suggestions = sorted(counts, key=lambda s: (-counts[s], s))[:8]
    record = {d: ciddp[d] for d in DIMENSIONS if d in ciddp} if ciddp else {}
    mean_ciddp = sum(float(record[d]["score"]) for d in DIMENSIONS) / 5 if all(d in record for d in DIMENSIONS) else 0.0
    return ScoredPlan(**plan.model_dump(), success=mean, success_se=se, predictions=n, ciddp=record,
                      ciddp_mean=mean_ciddp, suggestions=suggestions)  # fmt: skip


def rank_key(plan: ScoredPlan | dict[str, Any]) -> tuple[float, float, int, str]:
    """Sort key: higher predicted success first, then higher CIDDP, then the earlier plan, then the id."""
    p = plan if isinstance(plan, dict) else plan.model_dump()
    return (-round(float(p["success"]), 6), -round(float(p.get("ciddp_mean", 0.0)), 6), int(p["round"]), str(p["id"]))


def merge_queue(queue: Sequence[dict[str, Any]], new: Sequence[ScoredPlan]) -> list[dict[str, Any]]:
    """The plan queue with the new plans added (a plan id once: the newer record wins), best first."""
    by_id = {q["id"]: dict(q) for q in queue}
    by_id.update({p.id: p.model_dump(mode="json") for p in new})
    return sorted(by_id.values(), key=rank_key)


def round_summary(round_: int, scored: Sequence[ScoredPlan], queue: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One round's figures: its candidates' best and mean success and CIDDP, and the queue's best so far."""
    best = min(scored, key=rank_key) if scored else None
    top = queue[0] if queue else None
    return {
        "round": round_,
        "candidates": [p.id for p in scored],
        "origin": sorted({p.origin for p in scored}),
        "best_id": best.id if best else None,
        "best_success": best.success if best else None,
        "mean_success": sum(p.success for p in scored) / len(scored) if scored else None,
        "best_ciddp": {d: best.ciddp.get(d, {}).get("score") for d in DIMENSIONS} if best else {},
        "best_ciddp_mean": best.ciddp_mean if best else None,
        "queue_best_id": top["id"] if top else None,
        "queue_best_success": top["success"] if top else None,
        "queue_best_ciddp_mean": top.get("ciddp_mean") if top else None,
    }


def should_stop(rounds: Sequence[dict[str, Any]], *, max_rounds: int, min_gain: float, patience: int) -> str | None:
    """Why the loop stops after the last round (None: go on): the round limit, or no gain for `patience` rounds."""
    if not rounds:
        return None
    last = rounds[-1]["round"]
    if last >= max_rounds:
        return f"reached {max_rounds} optimisation rounds"
    by_round: dict[int, float] = {}
    for r in rounds:
        if r.get("queue_best_success") is not None:
            by_round[r["round"]] = float(r["queue_best_success"])
    ordered = [by_round[k] for k in sorted(by_round)]
    if patience > 0 and len(ordered) > patience:
        before, now = ordered[-patience - 1], ordered[-1]
        if now - before <= min_gain:
            return f"no gain above {min_gain:g} in the last {patience} round(s)"
    return None
