"""Calibration: what the teacher learns about a student model before teaching it (Saha et al. 2023, methods.md §1.2).

For one seed, a training pool is shuffled: the first items become the student's own in-context demos (with
their human explanations), the next ones the calibration items. The student answers each calibration item without
and with its human explanation; the answers are stored in the student's learner model (one `LearnerStore.apply`,
each demo tagged with the calibration's session id) and give:

* the mental model's two banks: what the student answered unaided (pre; balanced yes/no for yes/no items) and
  after an explanation (post);
* the personalised teacher's demos: the learner model's `useful_explanations()` (wrong unaided, right explained);
* for multi-turn teaching, the explained items the student will later learn from in context.

A calibration already in the learner model (same student, seed, items and settings) is reused without a call.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pedagraph.learner import LearnerConflictError, LearnerModel, LearnerStore, LearnerUpdate, TeachingDemo
from pedagraph.methods.tom.calls import Demo, StudentAnswer, explain, student_answer
from pedagraph.methods.tom.items import HarmfulDemo, TeachItem
from pedagraph.probability import Cost

__all__ = ["CALIBRATION_VERSION", "SeedSetup", "TeachingConfig", "setup_seed", "student_learner_id"]

CALIBRATION_VERSION = 1
"""Bumped when calibration prompts or selection change, so stored calibrations are not reused across versions."""


class TeachingConfig(BaseModel):
    """How a student is calibrated and taught (the same for every seed of an experiment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    student_demos: int = Field(4, ge=0, le=16, description="The student's own in-context demos.")
    calibration_items: int = Field(16, ge=0, le=200, description="Pool items the student answers without and with.")
    mm_demos: int = Field(4, ge=0, le=32, description="Demos per mental-model bank.")
    teacher_demos: int = Field(4, ge=0, le=16, description="Demos of the (personalised) teacher.")
    samples: int = Field(5, ge=1, le=50, description="Simulations per probability when there are no log-probs.")
    multiturn: tuple[int, ...] = Field((), description="Numbers of explained pool items the student learns from.")
    multiturn_explanation: str = Field("human", description="Explanation type of the multi-turn demos.")
    workers: int = Field(4, ge=1, le=64, description="Calibration calls run at once.")


class SeedSetup(BaseModel):
    """Everything one seed of an experiment teaches with, JSON-ready (kept in graph state and results)."""

    model_config = ConfigDict(extra="forbid")

    seed: int
    learner_id: str
    session: str
    student_demos: list[Demo]
    teacher_demos: list[Demo]
    personalised_demos: list[Demo]
    mm_pre: list[TeachingDemo]
    mm_post: list[TeachingDemo]
    multiturn_demos: list[Demo] = []
    harmful_demos: list[HarmfulDemo] = []
    """Misleading demos for the `harmful` type (from the data's folder with `--data`); empty: the registry's."""
    summary: dict[str, Any] = {}


def student_learner_id(model_spec: str) -> str:
    """The learner id of a student model: `llm:<provider:model>` (cut to the store's 128 characters)."""
    clean = "".join(ch for ch in model_spec if ch.isprintable()).strip() or "unknown"
    return f"llm:{clean}"[:128]


def _session(student_spec: str, seed: int, demo_ids: list[str], calib_ids: list[str], config: TeachingConfig) -> str:
    blob = json.dumps([CALIBRATION_VERSION, student_spec, seed, demo_ids, calib_ids, config.student_demos])
    return "tomcal-" + hashlib.sha1(blob.encode()).hexdigest()[:12]


def _demo(session: str, item: TeachItem, answer: StudentAnswer, explanation: str | None) -> TeachingDemo:
    phase = "post" if explanation else "pre"
    return TeachingDemo(
        id=hashlib.sha1(f"{session}|{item.id}|{phase}".encode()).hexdigest()[:16],
        item_id=item.id,
        question=item.prompt_question(),
        explanation=explanation or None,
        learner_answer=answer.label or (answer.text.strip()[:60] or "(no answer)"),
        correct=answer.correct,
        session_id=session,
    )


def _observe(
    student: Any, items: Sequence[TeachItem], demos: list[Demo], session: str, workers: int
) -> tuple[list[TeachingDemo], Cost]:
    """The student answers every calibration item without, then with, its human explanation."""

    def both(item: TeachItem) -> tuple[TeachingDemo, TeachingDemo, Cost]:
        pre = student_answer(student, item, demos, None)
        post = student_answer(student, item, demos, item.explanation or None)
        cost = Cost()
        cost += pre.cost
        cost += post.cost
        return _demo(session, item, pre, None), _demo(session, item, post, item.explanation or None), cost

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(both, items))
    out: list[TeachingDemo] = []
    total = Cost()
    for pre, post, cost in results:
        out += [pre, post]  # pre before post: useful_explanations reads them in this order
        total += cost
    return out, total


def _balanced(bank: list[TeachingDemo], k: int, rng: random.Random, yes_no: bool) -> list[TeachingDemo]:
    """K demos; for yes/no items half answered yes and half no where the bank allows (the paper's balance)."""
    pool = list(bank)
    rng.shuffle(pool)
    if not yes_no:
        return pool[:k]
    yes = [d for d in pool if d.learner_answer == "yes"]
    no = [d for d in pool if d.learner_answer != "yes"]
    take_yes = min(len(yes), max(k // 2, k - len(no)))
    chosen = yes[:take_yes] + no[: k - take_yes]
    return sorted(chosen, key=pool.index)


def _banks(
    learner_id: str, demos: list[TeachingDemo], config: TeachingConfig, rng: random.Random, yes_no: bool
) -> tuple[list[TeachingDemo], list[TeachingDemo], list[Demo]]:
    view = LearnerModel(learner_id=learner_id, kind="llm_student", demos=demos)
    bank = view.mental_model_bank()
    mm_pre = _balanced(bank["pre"], config.mm_demos, rng, yes_no)
    mm_post = _balanced(bank["post"], config.mm_demos, rng, False)
    useful = view.useful_explanations()
    rng.shuffle(useful)
    helped = [d for d in bank["post"] if d.correct and d not in useful]
    personalised = [Demo.of_demo(d) for d in (useful + helped)[: config.teacher_demos]]
    return mm_pre, mm_post, personalised


def _stored(store: LearnerStore, learner_id: str, session: str) -> list[TeachingDemo]:
    if not store.exists(learner_id):
        return []
    return [d for d in store.get(learner_id).demos if d.session_id == session]


def _record(store: LearnerStore, learner_id: str, demos: list[TeachingDemo]) -> None:
    """One transaction: the calibration's demos into the student's learner model (created as an LLM student)."""
    if not store.exists(learner_id):
        try:
            store.save(store.get(learner_id, kind="llm_student"))
        except LearnerConflictError:
            pass  # another seed's calibration created it meanwhile
    store.apply(learner_id, LearnerUpdate(demos=tuple(demos)))


def setup_seed(
    student: Any,
    teacher: Any | None,
    pool: Sequence[TeachItem],
    *,
    seed: int,
    config: TeachingConfig,
    store: LearnerStore,
    learner_id: str,
    student_spec: str,
    harmful: Sequence[HarmfulDemo] = (),
    progress: Callable[[str], None] | None = None,
) -> SeedSetup:
    """Calibrate `student` on the pool for one seed (or reuse the stored calibration) and build what teaching uses."""
    rng = random.Random(seed)  # noqa: S311 - reproducible sampling
    order = list(pool)
    rng.shuffle(order)
    k, n = config.student_demos, config.calibration_items
    demo_items, calib_items = order[:k], order[k : k + n]
    turn_items = order[k + n : k + n + max(config.multiturn or (0,))]
    demos = [Demo.of_item(i) for i in demo_items]
    session = _session(student_spec, seed, [i.id for i in demo_items], [i.id for i in calib_items], config)
    observed = _stored(store, learner_id, session)
    reused = len(observed) == 2 * len(calib_items)
    cost = Cost()
    if not reused:
        if progress:
            progress(f"calibrating seed {seed} on {len(calib_items)} items")
        observed, cost = _observe(student, calib_items, demos, session, config.workers)
        _record(store, learner_id, observed)
    yes_no = bool(calib_items) and calib_items[0].kind == "yes_no"
    mm_pre, mm_post, personalised = _banks(learner_id, observed, config, rng, yes_no)
    turn_demos, turn_cost = _multiturn_demos(teacher, turn_items, config.multiturn_explanation, demos)
    pre = [d for d in observed if not d.with_explanation]
    post = [d for d in observed if d.with_explanation]
    summary = {
        "calibration_items": len(calib_items),
        "pre_accuracy": sum(d.correct for d in pre) / len(pre) if pre else None,
        "post_accuracy": sum(d.correct for d in post) / len(post) if post else None,
        "useful_explanations": len(LearnerModel(learner_id=learner_id, demos=observed).useful_explanations()),
        "reused": reused,
        "cost": cost.to_dict(),
        "multiturn_cost": turn_cost.to_dict(),
    }
    return SeedSetup(
        seed=seed, learner_id=learner_id, session=session, student_demos=demos, teacher_demos=demos,
        personalised_demos=personalised or demos, mm_pre=mm_pre, mm_post=mm_post, multiturn_demos=turn_demos,
        harmful_demos=list(harmful), summary=summary,
    )  # fmt: skip


def _multiturn_demos(
    teacher: Any | None, items: Sequence[TeachItem], kind: str, demos: Sequence[Demo]
) -> tuple[list[Demo], Cost]:
    """Explained pool items for multi-turn teaching: the teacher's explanation and answer replace the gold ones."""
    cost = Cost()
    out: list[Demo] = []
    for item in items:
        expl = explain(teacher, item, kind, demos=demos)
        cost += expl.cost
        out.append(Demo(question=item.prompt_question(), explanation=expl.text, answer=expl.answer or item.gold_label))
    return out, cost
