"""The nodes of the `eduplanner` graph: question analyst, planner/optimiser, simulated learners, CIDDP judge, teacher.

* `setup`: check the input, form the group (a skill-tree profile or real learners), pick the target and test
  problems, find course material to cite.
* `analyse` (planner role, question analyst): the three likeliest mistakes of this group on each target problem.
* `draft` (planner): K first plans (round 0). `optimise` (planner): K new plans from the best P and their feedback.
* `predict` (student role, one task per plan x test problem x repeat via `Send`): a simulated learner's probability
  of solving the problem after the lesson, with reasons and suggestions. `judge` (evaluator role, one per plan):
  CIDDP. `evaluate_all`: the same, one after the other (the original's sequential loop).
* `rank`: score the round's plans, merge them into the queue, summarise the round, decide whether to stop.
* `approve` (teacher, an interrupt): accept, edit (the edit is scored like any candidate) or ask for another round.
* `finish`: the final plan and the run's figures.

A role that resolves to `scripted` uses the deterministic functions of `methods.eduplanner.plans`; a real model's
unusable answer falls back to them too (counted by `structured.ask`, flagged `fallback` on the record).
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import Send, interrupt
from pedagraph.prompts import load_prompt, render

from pedagraph.errors import DataError, PedagraphError
from pedagraph.learner import MistakeType
from pedagraph.messages import message_text
from pedagraph.methods.eduplanner.context import PlannerContext
from pedagraph.methods.eduplanner.plans import (
    CIDDPScores,
    Plan,
    Prediction,
    ProblemMistakes,
    ScoredPlan,
    draft_plan,
    forecast_mistakes,
    improve_plan,
    judge_ciddp,
    merge_queue,
    pick_test_problems,
    predict_success,
    round_summary,
    score_plan,
    should_stop,
    target_problems,
)
from pedagraph.methods.eduplanner.skill_tree import Group, group_from_learners, group_from_levels
from pedagraph.methods.eduplanner.state import PlannerState
from pedagraph.problems import Problem
from pedagraph.runtime import context_of, real_model, services
from pedagraph.structured import ask, record_fallback

__all__ = ["analyse", "approve", "draft", "evaluate_all", "evaluation_tasks", "finish", "judge", "optimise",
           "predict", "rank", "setup"]  # fmt: skip

MIN_PLAN_CHARS = 80
"""A real planner's answer shorter than this is not a plan: the deterministic one stands in."""
MAX_TOPIC = 300
ACTIONS = ("accept", "edit", "another")


def _ctx(runtime: Runtime[PlannerContext]) -> PlannerContext:
    ctx = context_of(runtime, PlannerContext)
    ctx.check()
    return ctx


def _group(state: PlannerState) -> Group:
    return Group.model_validate(state["group"])


def _problems(values: list[dict[str, Any]]) -> list[Problem]:
    return [Problem.model_validate(v) for v in values]


def _persona(ctx: PlannerContext, group: Group) -> str:
    return group.persona() if ctx.skill_tree else load_prompt("planner/templates/no_persona").strip()


def _planner_group(ctx: PlannerContext, group: Group) -> Group | None:
    """The group as the planner sees it: None in the ablation without the skill tree."""
    return group if ctx.skill_tree else None


# -- setup -------------------------------------------------------------------------------------------------------


def setup(state: PlannerState, runtime: Runtime[PlannerContext]) -> dict[str, Any]:
    """Check the input and form the group; pick target and test problems; find course material to cite."""
    ctx = _ctx(runtime)
    topic = state.get("topic")
    if topic is not None and not isinstance(topic, str):
        raise DataError("eduplanner: the topic must be text")
    topic = " ".join((topic or "").split())
    if len(topic) > MAX_TOPIC:
        raise DataError(f"eduplanner: the topic is longer than {MAX_TOPIC} characters")
    raw = state.get("problems") or []
    if not isinstance(raw, list):
        raise DataError("eduplanner: problems must be a list of texts or {question, answer} objects")
    raw = [p for p in raw if not (isinstance(p, str) and not p.strip())]
    group = None
    if not topic and not raw and state.get("learners"):  # real learners and no topic: their weakest skills
        group = _form_group(state)
        topic = ", ".join(group.weak_skills)
    if not topic and not raw:
        raise DataError("eduplanner: give a topic or at least one problem", hint='{"topic": "fractions of amounts"}')
    try:
        targets = target_problems(topic, raw)
        tests = pick_test_problems(targets, ctx.test_problems, seed=ctx.seed)  # disjoint from the targets
    except (ValueError, PedagraphError) as exc:
        raise DataError(f"eduplanner: {exc}") from None
    group = group or _form_group(state)
    material = _material(ctx, topic or targets[0].question)
    return {
        "topic": topic or targets[0].question[:80],
        "group": group.model_dump(mode="json"),
        "targets": [p.model_dump(mode="json") for p in targets],
        "tests": [p.model_dump(mode="json") for p in tests],
        "material": material,
        "round": 0,
        "queue": [],
        "rounds": [],
        "notes": [],
    }


def _form_group(state: PlannerState) -> Group:
    if state.get("learners") is not None:
        learners = state["learners"]
        if isinstance(learners, str) or not isinstance(learners, list):
            raise DataError("eduplanner: learners must be a list of learner ids")
        return group_from_learners(services().learner_store(), learners)
    if state.get("levels") is not None:
        return group_from_levels(state["levels"])
    raise DataError("eduplanner: give the group as a skill-tree profile (levels) or as learners",
                    hint='{"levels": [4, 4, 3, 4, 3]} or {"learners": ["ana", "ben"]}')  # fmt: skip


def _material(ctx: PlannerContext, query: str) -> list[dict[str, Any]]:
    if ctx.material_k <= 0:
        return []
    from pedagraph.methods.tutor.material import search_material

    found = search_material(query, course=ctx.course, memory=services().memory_store())
    return [{"citation": p["citation"], "quote": p.get("quote") or p["text"]} for p in found.hits[: ctx.material_k]]


def _material_lines(state: PlannerState) -> str:
    return "\n".join(f"- [{p['citation']}] {p['quote']}" for p in state.get("material") or []) or "(none)"


# -- the question analyst ----------------------------------------------------------------------------------------


def analyse(state: PlannerState, runtime: Runtime[PlannerContext]) -> dict[str, Any]:
    """The question analyst: the group's three likeliest mistakes on each target problem (skipped when ablated)."""
    ctx = _ctx(runtime)
    if not ctx.analyst:
        return {"analysis": {}}
    group, model = _group(state), real_model(ctx, "planner")
    out: dict[str, Any] = {}
    calls = 0
    catalogue = ", ".join(m.value for m in MistakeType)
    for problem in _problems(state["targets"]):
        answer = None
        if model is not None:
            calls += 1
            prompt = render("planner/analyse", persona=_persona(ctx, group), problem=problem.question,
                            catalogue=catalogue)  # fmt: skip
            answer = ask(model, ProblemMistakes, [HumanMessage(content=prompt)], node="eduplanner.analyse")
        forecast = answer or forecast_mistakes(problem, _planner_group(ctx, group))
        out[problem.id] = {**forecast.model_dump(mode="json"), "fallback": model is not None and answer is None}
    return {"analysis": out, "calls": calls}


def _mistake_lines(state: PlannerState) -> str:
    lines = []
    for problem in _problems(state["targets"]):
        for m in (state.get("analysis") or {}).get(problem.id, {}).get("mistakes", []):
            lines.append(f"- {problem.id}: {m['type']} ({m['probability']}%) {m.get('note', '')}".rstrip())
    return "\n".join(lines) or "(none)"


# -- the planner ---------------------------------------------------------------------------------------------------


def _write(model: Any, prompt: str, node: str) -> str | None:
    """A real planner's plan text, or None when the answer is not a plan (the caller falls back, counted)."""
    try:
        text = message_text(model.invoke([HumanMessage(content=prompt)])).strip()
    except PedagraphError:
        text = ""
    if len(text) >= MIN_PLAN_CHARS:
        return text
    record_fallback(model, node)
    return None


def draft(state: PlannerState, runtime: Runtime[PlannerContext]) -> dict[str, Any]:
    """Round 0: K first plans (drafts that differ in their worked examples)."""
    ctx = _ctx(runtime)
    group, model = _group(state), real_model(ctx, "planner")
    targets, analysis = _problems(state["targets"]), state.get("analysis") or {}
    plans = []
    for k in range(ctx.candidates):
        text = None
        if model is not None:
            prompt = render("planner/draft", topic=state["topic"], persona=_persona(ctx, group), variant=k + 1,
                            count=ctx.candidates, problems=_problem_lines(targets), mistakes=_mistake_lines(state),
                            material=_material_lines(state))  # fmt: skip
            text = _write(model, prompt, "eduplanner.draft")
        fallback = model is not None and text is None
        if text is None:
            text = draft_plan(state["topic"], targets, analysis, _planner_group(ctx, group), variant=k,
                              material=state.get("material") or [])  # fmt: skip
        plans.append(Plan(id=f"r0c{k + 1}", round=0, origin="draft", markdown=text, fallback=fallback))
    return {"candidates": [p.model_dump(mode="json") for p in plans], "calls": ctx.candidates if model else 0}


def _problem_lines(problems: list[Problem]) -> str:
    return "\n".join(f"- ({p.id}) {p.question}" for p in problems)


def optimise(state: PlannerState, runtime: Runtime[PlannerContext]) -> dict[str, Any]:
    """The optimiser: K new plans built on the best P of the queue, their learners' suggestions and teacher notes."""
    ctx = _ctx(runtime)
    group, model = _group(state), real_model(ctx, "planner")
    round_ = int(state.get("round", 0)) + 1
    top = [ScoredPlan.model_validate(q) for q in state["queue"][: ctx.survivors]]
    notes = list(state.get("notes") or [])
    plans = []
    for k in range(ctx.candidates):
        text = None
        if model is not None:
            summaries = "\n\n".join(
                render("planner/plan_summary", id=p.id, score=round(100 * p.success),
                       suggestions="; ".join(p.suggestions) or "(none)", plan=p.markdown).strip()
                for p in top
            )  # fmt: skip
            prompt = render("planner/optimise", topic=state["topic"], persona=_persona(ctx, group),
                            mistakes=_mistake_lines(state), material=_material_lines(state),
                            notes="\n".join(f"- {n}" for n in notes) or "(none)", plans=summaries)  # fmt: skip
            text = _write(model, prompt, "eduplanner.optimise")
        fallback = model is not None and text is None
        if text is None:
            text = improve_plan(top[0], k, _problems(state["targets"]), _problems(state["tests"]),
                                state.get("analysis") or {}, _planner_group(ctx, group), notes=notes)  # fmt: skip
        plans.append(Plan(id=f"r{round_}c{k + 1}", round=round_, origin="optimised", markdown=text,
                          parents=[p.id for p in top], fallback=fallback))  # fmt: skip
    return {"candidates": [p.model_dump(mode="json") for p in plans], "round": round_, "approval": {},
            "calls": ctx.candidates if model else 0}  # fmt: skip


# -- evaluation ----------------------------------------------------------------------------------------------------


def _tasks(state: PlannerState, ctx: PlannerContext) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for plan in state["candidates"]:
        for problem in state["tests"]:
            for repeat in range(ctx.repeats):
                out.append(("predict", {"plan": plan, "problem": problem, "repeat": repeat, "group": state["group"]}))
        out.append(("judge", {"plan": plan, "group": state["group"], "topic": state["topic"],
                              "targets": state["targets"]}))  # fmt: skip
    return out


def evaluation_tasks(state: PlannerState, ctx: PlannerContext) -> list[Send]:
    """One `predict` task per candidate x test problem x repeat and one `judge` task per candidate."""
    return [Send(node, task) for node, task in _tasks(state, ctx)]


def _predict(task: dict[str, Any], ctx: PlannerContext) -> dict[str, Any]:
    plan, problem, group = Plan.model_validate(task["plan"]), Problem.model_validate(task["problem"]), _group(task)
    model = real_model(ctx, "student")
    answer = None
    if model is not None:
        prompt = render("student/predict_success", persona=group.persona(), plan=plan.markdown,
                        problem=problem.question, repeat=task["repeat"] + 1, repeats=ctx.repeats)  # fmt: skip
        answer = ask(model, Prediction, [HumanMessage(content=prompt)], node="eduplanner.predict")
    prediction = answer or predict_success(plan, problem, group, task["repeat"], analyst=ctx.analyst)
    return {"plan_id": plan.id, "problem_id": problem.id, "repeat": task["repeat"],
            **prediction.model_dump(mode="json"), "fallback": model is not None and answer is None,
            "real": model is not None}  # fmt: skip


def _judge(task: dict[str, Any], ctx: PlannerContext) -> dict[str, Any]:
    plan, group = Plan.model_validate(task["plan"]), _group(task)
    model = real_model(ctx, "evaluator")
    answer = None
    if model is not None:
        prompt = render("evaluator/ciddp", topic=task["topic"], persona=group.persona(), plan=plan.markdown)
        answer = ask(model, CIDDPScores, [HumanMessage(content=prompt)], node="eduplanner.ciddp")
    scores = answer or judge_ciddp(plan, _problems(task["targets"]))
    return {"plan_id": plan.id, **scores.to_record(), "fallback": model is not None and answer is None,
            "real": model is not None}  # fmt: skip


def predict(task: dict[str, Any], runtime: Runtime[PlannerContext]) -> dict[str, Any]:
    """A simulated learner of the group predicts its success on one test problem after the lesson."""
    record = _predict(task, _ctx(runtime))
    return {"predictions": [record], "calls": int(record["real"])}


def judge(task: dict[str, Any], runtime: Runtime[PlannerContext]) -> dict[str, Any]:
    """The CIDDP judge scores one plan on the five dimensions, with reasons."""
    record = _judge(task, _ctx(runtime))
    return {"judgements": [record], "calls": int(record["real"])}


def evaluate_all(state: PlannerState, runtime: Runtime[PlannerContext]) -> dict[str, Any]:
    """Every prediction and judgement of the round, one after the other (the original's sequential loop)."""
    ctx = _ctx(runtime)
    predictions, judgements = [], []
    for node, task in _tasks(state, ctx):
        if node == "predict":
            predictions.append(_predict(task, ctx))
        else:
            judgements.append(_judge(task, ctx))
    calls = sum(r["real"] for r in predictions) + sum(r["real"] for r in judgements)
    return {"predictions": predictions, "judgements": judgements, "calls": calls}


# -- ranking and stopping ------------------------------------------------------------------------------------------


def rank(state: PlannerState, runtime: Runtime[PlannerContext]) -> dict[str, Any]:
    """Score the round's plans, merge them into the queue (best first), summarise the round, decide on stopping."""
    ctx = _ctx(runtime)
    ids = {c["id"] for c in state["candidates"]}
    preds: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for p in state.get("predictions", []):
        if p["plan_id"] in ids:
            preds[p["plan_id"]].append(p)
    judged = {j["plan_id"]: j for j in state.get("judgements", []) if j["plan_id"] in ids}
    scored = [score_plan(Plan.model_validate(c), preds[c["id"]], judged.get(c["id"])) for c in state["candidates"]]
    queue = merge_queue(state.get("queue") or [], scored)
    rounds = [*(state.get("rounds") or []), round_summary(int(state.get("round", 0)), scored, queue)]
    optimiser_rounds = [r for r in rounds if "teacher" not in r["origin"]]
    stop = should_stop(optimiser_rounds, max_rounds=ctx.rounds, min_gain=ctx.min_gain, patience=ctx.patience)
    return {"queue": queue, "rounds": rounds, "stop": stop or ""}


# -- the teacher ---------------------------------------------------------------------------------------------------


def _brief(plan: dict[str, Any]) -> dict[str, Any]:
    return {k: plan.get(k) for k in ("id", "round", "origin", "success", "ciddp_mean", "ciddp", "markdown")}


def approve(state: PlannerState, runtime: Runtime[PlannerContext]) -> dict[str, Any]:
    """Pause for the teacher: accept a plan, edit it (the edit is scored next) or ask for another round."""
    ctx = _ctx(runtime)
    last = state.get("approval") or {}
    payload = {
        "kind": "lesson_plan_approval",
        "round": state.get("round", 0),
        "best": _brief(state["queue"][0]),
        "teacher_plans": [_brief(q) for q in state["queue"] if q["origin"] == "teacher"],
        "rounds": state.get("rounds", []),
        "stop": state.get("stop", ""),
        "actions": list(ACTIONS),
        "error": last.get("error") if last.get("action") == "invalid" else None,
        "mode": ctx.approval,
    }
    decision = interrupt(payload)
    return _decision(state, decision)


def _decision(state: PlannerState, decision: Any) -> dict[str, Any]:
    if isinstance(decision, str):
        decision = {"action": decision}
    if not isinstance(decision, dict) or decision.get("action") not in ACTIONS:
        return {"approval": {"action": "invalid", "error": f"the decision must be one of {', '.join(ACTIONS)}"}}
    action, comment = decision["action"], str(decision.get("comment") or "").strip()
    notes = [*(state.get("notes") or []), comment] if comment else list(state.get("notes") or [])
    if action == "accept":
        plan_id = decision.get("plan_id") or state["queue"][0]["id"]
        if plan_id not in {q["id"] for q in state["queue"]}:
            return {"approval": {"action": "invalid", "error": f"no plan {plan_id!r} to accept"}}
        return {"approval": {"action": "accept", "plan_id": plan_id}, "notes": notes}
    if action == "another":
        return {"approval": {"action": "another", "comment": comment}, "notes": notes}
    text = str(decision.get("plan") or "").strip()
    if not text:
        return {"approval": {"action": "invalid", "error": "an edit needs the plan's text"}}
    n = sum(q["origin"] == "teacher" for q in state["queue"]) + 1
    round_ = int(state.get("round", 0))
    plan = Plan(id=f"r{round_}t{n}", round=round_, origin="teacher", markdown=text,
                parents=[state["queue"][0]["id"]])  # fmt: skip
    return {"approval": {"action": "edit", "plan_id": plan.id, "comment": comment}, "notes": notes,
            "candidates": [plan.model_dump(mode="json")]}  # fmt: skip


# -- the end -------------------------------------------------------------------------------------------------------


def finish(state: PlannerState, runtime: Runtime[PlannerContext]) -> dict[str, Any]:
    """The final plan (the teacher's choice, else the best of the queue) and the run's figures."""
    approval = state.get("approval") or {}
    queue = state["queue"]
    chosen = next((q for q in queue if q["id"] == approval.get("plan_id")), queue[0]) if approval else queue[0]
    optimiser = [r for r in state.get("rounds", []) if "teacher" not in r["origin"]]
    first, last = optimiser[0], optimiser[-1]
    result = {
        "plan": chosen,
        "markdown": chosen["markdown"],
        "rounds": len(optimiser) - 1,
        "stop": state.get("stop") or ("accepted by the teacher" if approval.get("action") == "accept" else ""),
        "success_round0": first["queue_best_success"],
        "success_final": last["queue_best_success"],
        "gain": last["queue_best_success"] - first["queue_best_success"],
        "ciddp_round0": first["best_ciddp_mean"],
        "ciddp_final": float(chosen.get("ciddp_mean", 0.0)),
        "calls": int(state.get("calls", 0)),
        "fallbacks": sum(bool(p.get("fallback")) for p in state.get("predictions", []))
        + sum(bool(j.get("fallback")) for j in state.get("judgements", [])),
        "approved": approval.get("action") == "accept",
    }
    return {"result": result}
