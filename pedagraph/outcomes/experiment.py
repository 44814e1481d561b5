"""One simulated learner through pre-test -> intervention -> post-test, scored the same way for every policy.

`credit(text, problem)` scores a test answer: 1 when the final answer is right (`answers.check_answer`), else the
share of the solution's steps whose result the answer's working states (numbers the problem prints do not
count). A test's score is the mean credit of its items.

`run_learner` seeds the learner's record in the shared learner model (`sim:` id, kind `llm_student`: its
MathDial persona and misconception), records the graded pre-test and post-test answers there as BKT evidence
(`answer_check`), and runs the policy in between (the tutor graph writes its own evidence under the same id).
The random draws of the tests and of the practice come from separate streams seeded by (seed, learner), so
every policy meets the same learner with the same pre-test draws: differences between policies are paired.
"""

from __future__ import annotations

import random
from typing import Any

from pedagraph.answers import check_answer, compare, extract_numbers
from pedagraph.learner import (
    EvidenceUpdate,
    GradedEvidence,
    Grader,
    LearnerStore,
    LearnerUpdate,
    MisconceptionUpdate,
)
from pedagraph.outcomes.items import LearnerPlan, operation_skills
from pedagraph.outcomes.policies import Episode, Policy, PolicyEnv
from pedagraph.problems import Problem, steps_of

__all__ = ["credit", "normalised_gain", "run_learner", "sim_learner_id"]


def sim_learner_id(learner: int, policy: str, seed: int, tag: str = "outcomes") -> str:
    """The learner-model id of one simulated learner under one policy and seed (`sim:` ids).

    The suite's `tag` names the run (its output directory), so two runs never share a learner record.
    """
    return f"sim:{tag}:L{learner:03d}:{policy}:s{seed}"[:128]


def credit(text: str, problem: Problem) -> tuple[float, bool]:
    """(credit in [0, 1], final answer right) of a test answer (module docstring)."""
    steps = steps_of(problem)
    final = problem.final_value
    right = final is not None and check_answer(text, final).correct
    if right:
        return 1.0, True
    given = extract_numbers(problem.question)
    numbers = extract_numbers(text)
    stated = sum(
        1 for s in steps[:-1]
        if s.answer_value is not None and not any(compare(s.answer_value, g) for g in given)
        and any(compare(s.answer_value, n) for n in numbers)
    )  # fmt: skip
    return stated / max(1, len(steps)), False


def normalised_gain(pre: float, post: float) -> float | None:
    """Hake's normalised gain (post - pre) / (1 - pre); None when the pre-test was already perfect."""
    if pre >= 1.0 - 1e-9:
        return None
    return (post - pre) / (1.0 - pre)


def _test(learner: Any, problems: list[Problem], rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for p in problems:
        text = learner.answer_test(p, rng)
        c, right = credit(text, p)
        out.append({"problem_id": p.id, "credit": round(c, 4), "right": right, "answer": text[:600]})
    return out


def _evidence(learner_id: str, phase: str, problems: list[Problem], results: list[dict[str, Any]]) -> LearnerUpdate:
    items = []
    for i, (p, r) in enumerate(zip(problems, results, strict=True)):
        source = GradedEvidence(grader=Grader.ANSWER_CHECK, session_id=f"{learner_id}:{phase}", turn=i, item_id=p.id)
        items += [EvidenceUpdate.checked(skill, bool(r["right"]), source) for skill in sorted(operation_skills(p))]
    return LearnerUpdate(evidence=tuple(items))


def _seed_record(store: LearnerStore, learner_id: str, learner: Any) -> None:
    store.delete(learner_id)
    model = store.get(learner_id, kind="llm_student")
    profile = learner.profile
    model.persona_text = profile.profile + (f" Confusion: {profile.confusion}" if profile.confusion else "")
    store.save(model)
    changes = [
        MisconceptionUpdate.checked(m.skill, m.error_type, m.description, mistake_type=m.mistake_type)
        for m in getattr(learner, "misconceptions", [])
    ]  # fmt: skip
    if changes:
        store.apply(learner_id, LearnerUpdate(misconceptions=tuple(changes)))


def run_learner(
    plan: LearnerPlan, learner: Any, policy: Policy, env: PolicyEnv, store: LearnerStore, *, seed_key: str
) -> dict[str, Any]:
    """Pre-test, the policy on each practice problem, post-test: the result row of one learner (JSON-ready)."""
    _seed_record(store, env.learner_id, learner)
    before = learner.snapshot()
    pre = _test(learner, plan.pre, random.Random(f"{seed_key}:pre"))
    store.apply(env.learner_id, _evidence(env.learner_id, "pre", plan.pre, pre))
    learner.rest()
    env.rng = random.Random(f"{seed_key}:practice")
    env.seed_key = seed_key
    episodes: list[Episode] = []
    for problem in plan.practice:
        episodes.append(policy.run(problem, learner, env))
        learner.rest()
    after = learner.snapshot()
    post = _test(learner, plan.post, random.Random(f"{seed_key}:post"))
    store.apply(env.learner_id, _evidence(env.learner_id, "post", plan.post, post))
    pre_score = sum(r["credit"] for r in pre) / len(pre)
    post_score = sum(r["credit"] for r in post) / len(post)
    record = store.get(env.learner_id)
    return {
        "learner_id": env.learner_id,
        "pre": pre,
        "post": post,
        "pre_score": round(pre_score, 4),
        "post_score": round(post_score, 4),
        "gain": round(post_score - pre_score, 4),
        "normalised_gain": normalised_gain(pre_score, post_score),
        "turns": sum(e.turns for e in episodes),
        "tokens": sum(e.tokens for e in episodes),
        "explanations": sum(e.explanations for e in episodes),
        "told": any(e.told for e in episodes),
        "solved_practice": all(e.solved for e in episodes) if episodes else False,
        "episodes": [e.dump() for e in episodes],
        "knowledge_before": before,
        "knowledge_after": after,
        "learner_model": {s: round(st.p_mastery, 4) for s, st in record.skills.items()},
    }
