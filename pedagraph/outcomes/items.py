"""Test and practice problems for a simulated learner: GSM8K items grouped by skill, isomorphic variants, profiles.

A learner's plan (`plan_for`): one practice problem (the intervention is about it) and `k` pre-test and `k`
post-test problems of the same skills, all problem-disjoint. Problems are grouped by the operation skills the
learner model tags on their steps (`Step.skills`: addition, subtraction, multiplication, division); the tests
are the problems whose operation skills are closest to the practice problem's (Jaccard similarity), split
alternately into two forms so both are alike, and counterbalanced: learners with an odd index take the second form
as their pre-test (so a difference in difficulty between the forms does not pass for a gain or a loss). With
`forms=parallel` (suite option) the post-test is instead the pre-test's items with other numbers where a variant
can be made: matched difficulty, at the price of meeting the same stories twice. When the data holds too few,
isomorphic variants fill the pool (`variant`): the same story and steps with other numbers, made only where every
step's expression recomputes to a whole non-negative number; a variant never stands for its own source in the
same test, nor for the practice problem.

Profiles (`load_profiles`): MathDial student profiles and the teacher's described confusion, from a MathDial
file when one is given or found (`mathdial/test.jsonl` in the local copy or fetched), else the six bundled ones
(`pedagraph/data/outcomes/mathdial_profiles.json`, one per MathDial profile kind; CC BY-SA 4.0, Macina et al.
2023).
"""

from __future__ import annotations

import json
import random
import re
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from pedagraph.answers import compare, evaluate_arithmetic, format_number
from pedagraph.errors import DataError
from pedagraph.learning import OPERATION_SKILLS
from pedagraph.outcomes.features import step_operations
from pedagraph.outcomes.learner import LearnerProfile
from pedagraph.problems import Problem, load_problems, steps_of

__all__ = ["LearnerPlan", "bundled_profiles", "load_profiles", "operation_skills", "plan_for", "swap_numbers", "usable",
           "variant"]

_DIGITS = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\d])")
_STEP_LABEL = re.compile(r"\b(Step|step|Part|part)\s+\d+")


def operation_skills(problem: Problem) -> frozenset[str]:
    """The operation skills of a problem's steps (what the learner model tags and the learners know)."""
    return frozenset(op for s in steps_of(problem) for op in step_operations(s) if op in OPERATION_SKILLS)


def usable(problem: Problem) -> bool:
    """Whether a problem can be a test or practice item: steps with checked answers and a final answer."""
    steps = steps_of(problem)
    return bool(steps) and problem.final_value is not None and all(s.answer_value is not None for s in steps) \
        and bool(operation_skills(problem))  # fmt: skip


# ------------------------------------------------------------------------------------------------ variants


def swap_numbers(text: str, mapping: dict[float, float]) -> str:
    """`text` with each number of `mapping` replaced in one pass (step labels kept)."""
    labels: list[str] = []

    def keep(m: re.Match[str]) -> str:
        labels.append(m.group(0))
        return f"\x00{len(labels) - 1}\x00"

    def swap(m: re.Match[str]) -> str:
        value = float(m.group(1))
        for old, new in mapping.items():
            if compare(value, old):
                return format_number(new)
        return m.group(0)

    masked = _STEP_LABEL.sub(keep, text)
    out = _DIGITS.sub(swap, masked)
    return re.sub(r"\x00(\d+)\x00", lambda m: labels[int(m.group(1))], out)


def _recompute(expression: str, mapping: dict[float, float]) -> tuple[str, float | None]:
    new = swap_numbers(expression, mapping)
    return new, evaluate_arithmetic(new.replace("x", "*").replace("×", "*").replace("÷", "/"))


def variant(problem: Problem, rng: random.Random, number: int = 1, tries: int = 20) -> Problem | None:
    """An isomorphic variant of `problem` with other numbers, or None where the step structure does not allow it."""
    steps = steps_of(problem)
    if not usable(problem) or any(not s.expression for s in steps):
        return None
    counts: dict[float, int] = {}
    for m in _DIGITS.finditer(problem.question):
        counts[float(m.group(1))] = counts.get(float(m.group(1)), 0) + 1
    operands = {float(m.group(1)) for s in steps for m in _DIGITS.finditer(s.expression or "")}
    results = [s.answer_value for s in steps]
    free = [v for v, n in counts.items() if n == 1 and v in operands and v == int(v) and v > 0
            and not any(compare(v, r) for r in results)]  # fmt: skip
    if not free:
        return None
    for _ in range(tries):
        mapping = {v: float(max(1, int(v) + rng.choice([-1, 1]) * rng.randint(1, max(2, int(v * 0.3))))) for v in free}
        taken = [*counts, *operands, *(r for r in results if r is not None)]
        if len(set(mapping.values())) < len(mapping) or any(compare(new, t) for new in mapping.values() for t in taken):
            continue  # a new number equal to another number of the problem would make the text ambiguous
        made, ok = [], True
        for s in steps:
            expression, value = _recompute(s.expression or "", mapping)
            old = s.answer_value
            if value is None or value < 0 or abs(value - round(value)) > 1e-9 or old is None:
                ok = False
                break
            if not compare(old, value):
                if any(compare(old, k) for k in mapping):
                    ok = False  # the old result is also a given number: ambiguous text
                    break
                mapping[old] = float(round(value))
            made.append((s, expression, float(round(value))))
        if not ok or not compare(steps[-1].answer_value, problem.final_value):
            continue
        final = made[-1][2]
        new_steps = [
            s.model_copy(update={
                "question": swap_numbers(s.question, mapping), "solution_text": swap_numbers(s.solution_text, mapping),
                "hint": swap_numbers(s.hint, mapping), "expression": expression, "answer": format_number(value),
                "answer_value": value,
            })
            for s, expression, value in made
        ]  # fmt: skip
        return problem.model_copy(update={
            "id": f"{problem.id}~v{number}", "question": swap_numbers(problem.question, mapping),
            "steps": new_steps, "final_answer": format_number(final), "final_value": final,
            "solution": swap_numbers(problem.solution, mapping),
            "extras": {**problem.extras, "variant_of": problem.id},
        })  # fmt: skip
    return None


# ------------------------------------------------------------------------------------------------ plans


class LearnerPlan(BaseModel):
    """What one simulated learner meets: pre-test, practice (the intervention) and post-test problems."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pre: list[Problem]
    practice: list[Problem]
    post: list[Problem]
    skills: list[str]
    variants: int = 0


def _source(p: Problem) -> str:
    return str(p.extras.get("variant_of") or p.id)


def _similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def plan_for(
    problems: list[Problem], index: int, k: int, rng: random.Random, practice: int = 1, *, parallel: bool = False
) -> LearnerPlan:
    """The plan of learner `index` (module docstring); DataError when the data cannot give one.

    With `parallel`, the post-test is made of isomorphic variants of the pre-test items (parallel forms: the same
    steps with other numbers), each replaced by another problem of the same skills where no variant can be made.
    """
    pool = [p for p in problems if usable(p)]
    if len(pool) < 2:
        raise DataError(f"outcomes: {len(pool)} usable problem(s) in the data; at least 2 with checked steps needed")
    order = sorted(pool, key=lambda p: p.id)
    multi = [p for p in order if len(steps_of(p)) >= 2] or order
    start = (index * 7) % len(multi)
    chosen = [multi[(start + j) % len(multi)] for j in range(min(practice, len(multi) - 1))]
    skills = frozenset().union(*(operation_skills(p) for p in chosen))
    taken = {p.id for p in chosen}
    rest = [p for p in order if p.id not in taken]
    rng.shuffle(rest)
    rest.sort(key=lambda p: -_similarity(operation_skills(p), skills))
    need = 2 * k
    tests = [p for p in rest if _similarity(operation_skills(p), skills) > 0][:need]
    made = 0
    n = 1
    while len(tests) < need and n <= 5:
        for p in list(tests) or rest[:need]:
            if len(tests) >= need:
                break
            v = variant(p, rng, number=n)
            if v is not None and v.id not in {t.id for t in tests}:
                tests.append(v)
                made += 1
        n += 1
    if len(tests) < need:
        tests += rest[len(tests): need]
    if len(tests) < 2:
        raise DataError(f"outcomes: too few test problems for {k} items per test", hint="lower --items")
    pre, post = tests[0::2], tests[1::2]
    for side, other in ((pre, post), (post, pre)):  # a variant beside its own source: swap it across
        for i, p in enumerate(side):
            if sum(_source(q) == _source(p) for q in side) > 1 and i < len(other):
                side[i], other[i] = other[i], side[i]
    k_eff = min(len(pre), len(post), k)
    if parallel:
        post = [variant(p, rng, number=9) or q for p, q in zip(pre[:k_eff], post[:k_eff], strict=True)]
        made += sum(1 for p in post if p.extras.get("variant_of"))
    if index % 2:  # counterbalanced: every other learner takes the two forms the other way round
        pre, post = post, pre
    return LearnerPlan(pre=pre[:k_eff], practice=chosen, post=post[:k_eff], skills=sorted(skills), variants=made)


# ------------------------------------------------------------------------------------------------ profiles


def bundled_profiles() -> list[LearnerProfile]:
    """The six bundled MathDial profiles (one per profile kind)."""
    path = resources.files("pedagraph").joinpath("data", "outcomes", "mathdial_profiles.json")
    return [LearnerProfile(**row) for row in json.loads(path.read_text(encoding="utf-8"))]


def load_profiles(path: str | Path | None = None) -> tuple[list[LearnerProfile], str]:
    """MathDial profiles (one per distinct profile and confusion) and where they came from."""
    from pedagraph.datasets import locate

    if path is None:
        located = locate("mathdial/test.jsonl")
        if located is None:
            return bundled_profiles(), "bundled (6 MathDial profiles)"
        path = located.path
    file = Path(path)
    if not file.is_file():
        raise DataError(f"outcomes: profiles file not found: {file}", hint="a MathDial .jsonl or .csv file")
    seen: dict[tuple[str, str], LearnerProfile] = {}
    for p in load_problems(file):
        ex: dict[str, Any] = p.extras
        profile = str(ex.get("student_profile") or "").strip()
        if not profile:
            continue
        confusion = str(ex.get("teacher_described_confusion") or "").strip()
        name = profile.split(" ", 1)[0]
        seen.setdefault((profile, confusion), LearnerProfile(name=name, profile=profile, confusion=confusion))
    if not seen:
        raise DataError(f"outcomes: no MathDial student profiles in {file}", hint="a MathDial file has student_profile")
    return sorted(seen.values(), key=lambda x: (x.profile, x.confusion)), f"{file.name} ({len(seen)} profiles)"
