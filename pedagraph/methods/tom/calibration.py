"""Calibration: what the teacher learns about a student model before teaching it (Saha et al. 2023, methods.md §1.2).

For one seed, a training pool is shuffled: the first items become the student's own in-context demos (with
their human explanations), the next ones the calibration items. The student answers each calibration item
unaided (in its answer mode: reasoning first by default), with its human explanation, and with the teacher's
explanation of the bank's type (`bank_explanation`); the answers are stored in the student's learner model (one
`LearnerStore.apply`, each demo tagged with the calibration's session id) and give:

* the mental model's two banks (the paper's): what the student answered unaided (pre) and what it answered after
  the TEACHER's explanation (post), balanced yes/no by the student's answer for yes/no items;
* the personalised teacher's demos: explanations that turned this student from wrong to right, selected with the
  human explanations (as the paper selects its useful teacher's demos);
* for multi-turn teaching (RQ4), the same pool items three ways: explained by the teacher (its answer and
  explanation replace the gold ones), the teacher's answers without explanations (the control) and explained by
  the human explanation with the gold answer.

A calibration already in the learner model (same student, seed, items and settings) is reused without a call.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pedagraph.learner import LearnerConflictError, LearnerModel, LearnerStore, LearnerUpdate, TeachingDemo
from pedagraph.methods.tom.calls import Demo, Explanation, StudentAnswer, explain, student_answer
from pedagraph.methods.tom.items import HarmfulDemo, TeachItem
from pedagraph.probability import Cost

__all__ = ["CALIBRATION_VERSION", "SeedSetup", "TeachingConfig", "setup_seed", "student_learner_id"]

CALIBRATION_VERSION = 2
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
    multiturn_explanation: str = Field("personalised", description="Teacher explanation type of multi-turn demos.")
    student_mode: Literal["cot", "direct"] = Field("cot", description="cot: the student reasons first when unaided.")
    bank_explanation: str = Field("unpersonalised", description="Teacher explanation type of the post bank.")
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
    """Pool items explained by the teacher: its explanation and its answer (RQ4)."""
    multiturn_control: list[Demo] = []
    """The same items with the teacher's answers and no explanation (the control)."""
    multiturn_human: list[Demo] = []
    """The same items with the human explanations and gold answers."""
    student_mode: str = "direct"
    """How the student answers unaided: `cot` or `direct` (setups made before the modes answered directly)."""
    bank_explanation: str = "human"
    """The explanation type of the post bank (setups made before it was the teacher's used the human one)."""
    harmful_demos: list[HarmfulDemo] = []
    """Misleading demos for the `harmful` type (from the data's folder with `--data`); empty: the registry's."""
    summary: dict[str, Any] = {}


def student_learner_id(model_spec: str) -> str:
    """The learner id of a student model: `llm:<provider:model>` (cut to the store's 128 characters)."""
    clean = "".join(ch for ch in model_spec if ch.isprintable()).strip() or "unknown"
    return f"llm:{clean}"[:128]


def _session(student_spec: str, seed: int, demo_ids: list[str], calib_ids: list[str], config: TeachingConfig) -> str:
    blob = json.dumps([CALIBRATION_VERSION, student_spec, seed, demo_ids, calib_ids, config.student_demos,
                       config.student_mode, config.bank_explanation])
    return "tomcal-" + hashlib.sha1(blob.encode()).hexdigest()[:12]


PHASES = ("pre", "post", "teacher")
"""A calibration item's answers: unaided, with the human explanation, with the teacher's explanation."""


def _demo_id(session: str, item_id: str, phase: str) -> str:
    return hashlib.sha1(f"{session}|{item_id}|{phase}".encode()).hexdigest()[:16]


def _demo(session: str, item: TeachItem, answer: StudentAnswer, explanation: str | None, phase: str) -> TeachingDemo:
    return TeachingDemo(
        id=_demo_id(session, item.id, phase),
        item_id=item.id,
        question=item.prompt_question(),
        explanation=explanation or None,
        learner_answer=answer.label or (answer.text.strip()[:60] or "(no answer)"),
        correct=answer.correct,
        session_id=session,
    )


def _observe(
    student: Any, items: Sequence[TeachItem], demos: list[Demo], session: str, config: TeachingConfig
) -> tuple[list[TeachingDemo], Cost]:
    """The student answers every calibration item unaided, then with its human explanation."""

    def both(item: TeachItem) -> tuple[TeachingDemo, TeachingDemo, Cost]:
        pre = student_answer(student, item, demos, None, mode=config.student_mode)
        post = student_answer(student, item, demos, item.explanation or None, mode=config.student_mode)
        return (_demo(session, item, pre, None, "pre"), _demo(session, item, post, item.explanation or None, "post"),
                pre.cost + post.cost)  # fmt: skip

    with ThreadPoolExecutor(max_workers=config.workers) as pool:
        results = list(pool.map(both, items))
    out: list[TeachingDemo] = []
    total = Cost()
    for pre, post, cost in results:
        out += [pre, post]  # pre before post: useful_explanations reads them in this order
        total += cost
    return out, total


def _observe_teacher(
    student: Any, teacher: Any | None, items: Sequence[TeachItem], demos: list[Demo], teacher_demos: list[Demo],
    session: str, config: TeachingConfig,
) -> tuple[list[TeachingDemo], Cost]:  # fmt: skip
    """The teacher explains every calibration item (the bank's type); the student answers with that explanation."""

    def one(item: TeachItem) -> tuple[TeachingDemo, Cost]:
        expl = explain(teacher, item, config.bank_explanation, demos=teacher_demos)
        answer = student_answer(student, item, demos, expl.text or None, mode=config.student_mode)
        return _demo(session, item, answer, expl.text or None, "teacher"), expl.cost + answer.cost

    with ThreadPoolExecutor(max_workers=config.workers) as pool:
        results = list(pool.map(one, items))
    total = Cost()
    for _, cost in results:
        total += cost
    return [d for d, _ in results], total


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


def _personalised(learner_id: str, observed: list[TeachingDemo], k: int, rng: random.Random) -> list[Demo]:
    """The personalised teacher's demos: human explanations that turned this student from wrong to right."""
    view = LearnerModel(learner_id=learner_id, kind="llm_student", demos=observed)
    useful = view.useful_explanations()
    rng.shuffle(useful)
    helped = [d for d in view.mental_model_bank()["post"] if d.correct and d not in useful]
    return [Demo.of_demo(d) for d in (useful + helped)[:k]]


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
    if config.bank_explanation == "harmful":
        raise ValueError("the post bank is built from a teacher's explanations; harmful is not one to calibrate on")
    rng = random.Random(seed)  # noqa: S311 - reproducible sampling
    order = list(pool)
    rng.shuffle(order)
    k, n = config.student_demos, config.calibration_items
    demo_items, calib_items = order[:k], order[k : k + n]
    turn_items = order[k + n : k + n + max(config.multiturn or (0,))]
    demos = [Demo.of_item(i) for i in demo_items]
    session = _session(student_spec, seed, [i.id for i in demo_items], [i.id for i in calib_items], config)
    stored = {d.id: d for d in _stored(store, learner_id, session)}
    ids = {phase: [_demo_id(session, i.id, phase) for i in calib_items] for phase in PHASES}
    reused = all(i in stored for phase in PHASES for i in ids[phase])
    cost = Cost()
    if reused:
        observed = [stored[i] for pair in zip(ids["pre"], ids["post"], strict=True) for i in pair]
        personalised = _personalised(learner_id, observed, config.teacher_demos, rng)
        taught = [stored[i] for i in ids["teacher"]]
    else:
        if progress:
            progress(f"calibrating seed {seed} on {len(calib_items)} items")
        observed, cost = _observe(student, calib_items, demos, session, config)
        personalised = _personalised(learner_id, observed, config.teacher_demos, rng)
        bank_demos = personalised or demos if config.bank_explanation == "personalised" else demos
        taught, teach_cost = _observe_teacher(student, teacher, calib_items, demos, bank_demos, session, config)
        cost += teach_cost
        _record(store, learner_id, observed + taught)
    yes_no = bool(calib_items) and calib_items[0].kind == "yes_no"
    mm_pre = _balanced([d for d in observed if not d.with_explanation], config.mm_demos, rng, yes_no)
    mm_post = _balanced([d for d in taught if d.with_explanation], config.mm_demos, rng, yes_no)
    turn_kind = config.multiturn_explanation
    turn_demos = personalised or demos if turn_kind == "personalised" else demos
    turns, turn_cost = _multiturn_demos(teacher, turn_items, turn_kind, turn_demos)
    pre = [d for d in observed if not d.with_explanation]
    post = [d for d in observed if d.with_explanation]
    summary = {
        "calibration_items": len(calib_items),
        "student_mode": config.student_mode,
        "bank_explanation": config.bank_explanation,
        "pre_accuracy": _accuracy(pre),
        "post_accuracy": _accuracy(post),
        "teacher_post_accuracy": _accuracy(taught),
        "useful_explanations": len(LearnerModel(learner_id=learner_id, demos=observed).useful_explanations()),
        "reused": reused,
        "cost": cost.to_dict(),
        "multiturn_explanation": turn_kind,
        "multiturn_cost": turn_cost.to_dict(),
    }
    return SeedSetup(
        seed=seed, learner_id=learner_id, session=session, student_demos=demos, teacher_demos=demos,
        personalised_demos=personalised or demos, mm_pre=mm_pre, mm_post=mm_post,
        multiturn_demos=[Demo(question=i.prompt_question(), explanation=e.text, answer=e.answer or i.gold_label)
                         for i, e in turns],
        multiturn_control=[Demo(question=i.prompt_question(), answer=e.answer or i.gold_label) for i, e in turns],
        multiturn_human=[Demo.of_item(i) for i, _ in turns],
        student_mode=config.student_mode, bank_explanation=config.bank_explanation,
        harmful_demos=list(harmful), summary=summary,
    )  # fmt: skip


def _accuracy(demos: Sequence[TeachingDemo]) -> float | None:
    return sum(d.correct for d in demos) / len(demos) if demos else None


def _multiturn_demos(
    teacher: Any | None, items: Sequence[TeachItem], kind: str, demos: Sequence[Demo]
) -> tuple[list[tuple[TeachItem, Explanation]], Cost]:
    """The teacher answers and explains each multi-turn pool item (the paper's `explained_samples="teacher"`)."""
    cost = Cost()
    out: list[tuple[TeachItem, Explanation]] = []
    for item in items:
        expl = explain(teacher, item, kind, demos=demos)
        cost += expl.cost
        out.append((item, expl))
    return out, cost
