"""The nodes of the `tom_teacher` graph: a teacher model teaching a student model under a budget (Saha et al. 2023).

* `calibrate` (teacher): observe the student on a training pool unaided, with the human and with the teacher's
  explanations; store the demos in its learner model; build the mental model's banks (post: after the teacher's
  explanations), the personalised teacher's demos and the multi-turn demo sets (`setup_seed`).
* `score_item` (teacher, one per item via `Send`): explain, simulate the student with the mental model, and read
  whatever else the intervention function ranks by (`score_item` of `pedagraph.methods.tom.measure`).
* `choose` (teacher): rank by the intervention function and spend the budget down the ranking
  (`plan_interventions`, which decides each item with the tutor's `decide` rule).
* `answer_item` (student, one per item via `Send`): the student answers with or without the explanation.
* `aggregate` (evaluator): accuracy, explanations spent, calls and tokens.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send

from pedagraph.errors import DataError
from pedagraph.methods.tom.calibration import SeedSetup, setup_seed, student_learner_id
from pedagraph.methods.tom.calls import EXPLANATION_TYPES, STUDENT_MODES, explain, student_answer
from pedagraph.methods.tom.context import TomContext
from pedagraph.methods.tom.items import DATASET_FILES, TeachItem, registry_harmful, registry_items
from pedagraph.methods.tom.measure import ALL_SIGNALS, TeachingModels, item_signals, salt_of, score_item, signals_needed
from pedagraph.methods.tom.mental_model import INTERVENTION_FUNCTIONS, plan_interventions
from pedagraph.methods.tom.state import TomState
from pedagraph.runtime import context_of, real_model, role_model, services

__all__ = ["aggregate", "answer_item", "calibrate", "choose", "models_of", "score_item_node", "scoring_tasks",
           "answer_tasks"]  # fmt: skip


def models_of(ctx: TomContext) -> TeachingModels:
    """The student, and the teacher when it is a real model (None: the scripted teacher's templates)."""
    return TeachingModels(student=role_model(ctx, "student"), teacher=real_model(ctx, "teacher"))


def _check(ctx: TomContext) -> None:
    if ctx.function not in INTERVENTION_FUNCTIONS:
        raise DataError(f"unknown intervention function {ctx.function!r}", hint=", ".join(INTERVENTION_FUNCTIONS))
    for kind in [ctx.explanation, *ctx.measure_explanations]:
        if kind not in EXPLANATION_TYPES:
            raise DataError(f"unknown explanation type {kind!r}", hint=", ".join(EXPLANATION_TYPES))
    for name in ("bank_explanation", "multiturn_explanation"):
        kind = getattr(ctx, name)
        if kind is not None and (kind not in EXPLANATION_TYPES or kind == "harmful"):
            raise DataError(f"{name} must be a teacher's explanation type, got {kind!r}",
                            hint=", ".join(k for k in EXPLANATION_TYPES if k != "harmful"))  # fmt: skip
    if ctx.student_mode not in STUDENT_MODES:
        raise DataError(f"unknown student mode {ctx.student_mode!r}", hint=", ".join(STUDENT_MODES))


def _types(ctx: TomContext) -> list[str]:
    return list(ctx.measure_explanations or [ctx.explanation]) if ctx.measure else [ctx.explanation]


def calibrate(state: TomState, runtime: Runtime[TomContext]) -> dict[str, Any]:
    """Load the items, then calibrate the student (or reuse its stored calibration) unless the input has a setup."""
    ctx = context_of(runtime, TomContext)
    _check(ctx)
    items = state.get("items") or [i.model_dump(mode="json") for i in registry_items(ctx.dataset, "test",
                                                                                     limit=ctx.limit)]  # fmt: skip
    if not items:
        raise DataError("no items to teach", hint='pass {"items": [...]} or a dataset in the context')
    update: dict[str, Any] = {"items": items}
    if state.get("setup"):
        return update
    dataset = items[0].get("dataset") if items[0].get("dataset") in DATASET_FILES else ctx.dataset
    pool = [TeachItem.model_validate(p) for p in state.get("pool") or []] or registry_items(dataset, "pool")
    models = models_of(ctx)
    learner_id = ctx.learner_id if ctx.learner_id != "anonymous" else student_learner_id(models.student.model_spec)
    setup = setup_seed(
        models.student, models.teacher, pool, seed=ctx.seed, config=ctx.teaching_config(),
        store=services().learner_store(), learner_id=learner_id, student_spec=models.student.model_spec,
        harmful=_harmful(ctx, items),
    )  # fmt: skip
    return {**update, "setup": setup.model_dump(mode="json")}


def _harmful(ctx: TomContext, items: list[dict[str, Any]]) -> list[Any]:
    wanted = "harmful" in _types(ctx)
    dataset = items[0].get("dataset", ctx.dataset) if items else ctx.dataset
    return registry_harmful(dataset) if wanted and dataset == "strategyqa" else []


def _harmful_of(setup: SeedSetup, dataset: str) -> list[Any]:
    """The misleading demos a seed teaches with: its own (given with the data), else the registry's StrategyQA ones."""
    if setup.harmful_demos:
        return list(setup.harmful_demos)
    return registry_harmful(dataset) if dataset == "strategyqa" else []


def scoring_tasks(state: TomState) -> list[Send]:
    """One `score_item` task per item (run in parallel)."""
    return [Send("score_item", {"item": item, "setup": state["setup"]}) for item in state["items"]]


def score_item_node(task: dict[str, Any], runtime: Runtime[TomContext]) -> dict[str, Any]:
    """Score one item: the signals the intervention function needs (every signal in measure mode)."""
    ctx = context_of(runtime, TomContext)
    item = TeachItem.model_validate(task["item"])
    setup = SeedSetup.model_validate(task["setup"])
    if ctx.measure:
        signals = signals_needed(ctx.measure_functions) | {"pre", "post"} if ctx.measure_functions else set(ALL_SIGNALS)
    else:
        signals = signals_needed([ctx.function])
    harmful = _harmful_of(setup, item.dataset) if "harmful" in _types(ctx) else []
    record = score_item(
        item, setup, models_of(ctx), types=_types(ctx), signals=signals, samples=ctx.samples, harmful=harmful,
        multiturn=ctx.multiturn if ctx.measure else (),
    )  # fmt: skip
    return {"scores": [record]}


def choose(state: TomState, runtime: Runtime[TomContext]) -> dict[str, Any]:
    """Rank the items by the intervention function and spend the budget down the ranking."""
    ctx = context_of(runtime, TomContext)
    records = {r["id"]: r for r in state.get("scores", [])}
    signals = [item_signals(records[i["id"]], ctx.explanation) for i in state["items"]]
    plan = plan_interventions(ctx.function, signals, ctx.budget, seed=ctx.seed, threshold=ctx.threshold)
    rows = [{"id": item_id, "rank": rank, **d.to_dict()} for rank, (item_id, d) in enumerate(plan)]
    return {"plan": rows, "plan_kind": ctx.explanation}


def answer_tasks(state: TomState) -> list[Send] | str:
    """One `answer_item` task per item whose answer is not measured yet; `aggregate` when all are."""
    explain_ids = {p["id"] for p in state.get("plan", []) if p["explain"]}
    records = {r["id"]: r for r in state.get("scores", [])}
    tasks = []
    for item in state["items"]:
        record = records[item["id"]]
        explained = item["id"] in explain_ids
        entry = record["types"].get(state.get("plan_kind", ""), {})
        if (entry.get("post") if explained else record.get("pre")) is None:
            tasks.append(Send("answer_item", {"item": item, "setup": state["setup"], "explain": explained,
                                              "explanation": (entry.get("explanation") or {}).get("text")}))
    return tasks or "aggregate"


def answer_item(task: dict[str, Any], runtime: Runtime[TomContext]) -> dict[str, Any]:
    """The student answers one item, with the teacher's explanation when it was chosen."""
    ctx = context_of(runtime, TomContext)
    item = TeachItem.model_validate(task["item"])
    setup = SeedSetup.model_validate(task["setup"])
    models = models_of(ctx)
    text = None
    cost: dict[str, Any] = {}
    if task["explain"]:
        text = task.get("explanation")
        if text is None:
            expl = explain(models.teacher, item, ctx.explanation, demos=_demos(setup, ctx.explanation),
                           harmful=_harmful_of(setup, item.dataset) if ctx.explanation == "harmful" else [],
                           salt=salt_of(item.id, setup.seed))  # fmt: skip
            text, cost = expl.text, {"explanation": expl.cost.to_dict()}
    answer = student_answer(models.student, item, setup.student_demos, text, mode=setup.student_mode)
    cost["student"] = answer.cost.to_dict()
    return {"answers": [{"id": item.id, "explained": bool(task["explain"]), "explanation": text,
                         **answer.to_dict(), "cost": cost}]}  # fmt: skip


def _demos(setup: SeedSetup, kind: str) -> list[Any]:
    return setup.personalised_demos if kind == "personalised" else setup.teacher_demos


def aggregate(state: TomState, runtime: Runtime[TomContext]) -> dict[str, Any]:
    """Accuracy of the episode, the explanations spent and what every call cost."""
    ctx = context_of(runtime, TomContext)
    answers = {a["id"]: a for a in state.get("answers", [])}
    plan = {p["id"]: p for p in state.get("plan", [])}
    records = {r["id"]: r for r in state.get("scores", [])}
    rows = []
    for item in state["items"]:
        record, explained = records[item["id"]], plan[item["id"]]["explain"]
        measured = record["types"].get(ctx.explanation, {}).get("post") if explained else record.get("pre")
        answer = answers.get(item["id"]) or {**(measured or {}), "explained": explained}
        rows.append({"id": item["id"], "explained": explained, "correct": bool(answer.get("correct")),
                     "label": answer.get("label"), "gold": record["gold"]})  # fmt: skip
    n = len(rows)
    result = {
        "items": n,
        "explained": sum(r["explained"] for r in rows),
        "accuracy": sum(r["correct"] for r in rows) / n if n else None,
        "function": ctx.function,
        "explanation": ctx.explanation,
        "budget": ctx.budget,
        "seed": ctx.seed,
        "per_item": rows,
        "cost": _total_cost(state),
    }
    return {"result": result}


def _total_cost(state: TomState) -> dict[str, int]:
    total = {"calls": 0, "input_tokens": 0, "output_tokens": 0}
    parts = [r.get("cost", {}) for r in state.get("scores", [])] + [a.get("cost", {}) for a in state.get("answers", [])]
    for part in parts:
        for cost in part.values():
            for key in total:
                total[key] += int(cost.get(key, 0))
    return total
