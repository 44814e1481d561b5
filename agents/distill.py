"""The nodes of the `strategy_distill` graph: a strong coach makes a small tutor better, in words (GER, §5).

* `seed_round`: the training scenarios (input `pool`, else the training part of a MathDial file) and round 1's.
* `attempt` (one per scenario, via `Send`): the small tutor answers with the library; the judge labels the reply.
* `assess`: the missing-skill profile; the round's worst failures, each with the skill to fix.
* `improve` (one per failure, via `Send`): the coach writes a strategy; the tutor answers again with it, on the
  scenario and `verify_siblings` others of its kind; the gain is the judge score with it minus without.
* `close_round`: keep the strategies with a gain of at least `min_gain` in the library; stop when none was kept,
  nothing failed, the rounds are spent or no scenario is left.
* `generate`: the next round's scenarios, from the kinds the profile says are weakest.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send

from pedagraph.errors import DataError
from pedagraph.methods.distill.coach import write_scenarios, write_strategy
from pedagraph.methods.distill.context import DistillContext
from pedagraph.methods.distill.library import Strategy, StrategyLibrary
from pedagraph.methods.distill.scenarios import Scenario, balanced, registry_scenarios, situation_text, split
from pedagraph.methods.distill.scoring import Judged, judge_reply, missing_skills
from pedagraph.methods.distill.state import DistillState
from pedagraph.methods.distill.tutor import run_tutor
from pedagraph.runtime import context_of, real_model, role_model, services
from pedagraph.taxonomy import MRBenchDimension

__all__ = ["assess", "attempt", "attempt_tasks", "close_round", "generate", "improve", "improve_tasks",
           "seed_round", "try_scenario"]  # fmt: skip


def _dimensions(ctx: DistillContext) -> list[MRBenchDimension] | None:
    if not ctx.dimensions.strip():
        return None
    from pedagraph.agents.evaluator import parse_dimensions

    try:
        return list(parse_dimensions(ctx.dimensions))
    except ValueError as exc:
        raise DataError(f"strategy_distill: {exc}") from None


def try_scenario(scenario: Scenario, ctx: DistillContext, strategies: Any) -> dict[str, Any]:
    """The small tutor's reply to a scenario with these strategies, judged: reply, labels, score, failures."""
    turn = run_tutor(scenario, role_model(ctx, "teacher"), strategies=strategies, memory=services().memory,
                     learners=services().learner_store(), k=ctx.k)  # fmt: skip
    problem = scenario.problem_obj()
    history = [("tutor", turn.opener), ("student", scenario.student_message)]
    judged = judge_reply(real_model(ctx, "evaluator"), problem, history, turn.reply, _dimensions(ctx))
    return {"scenario_id": scenario.id, "kind": scenario.kind, "reply": turn.reply, "strategies": turn.strategies,
            "diagnosis": turn.diagnosis, "reply_source": turn.reply_source, "gate": turn.gate,
            "situation": situation_text(scenario.student_message, turn.diagnosis, scenario.profile),
            **judged.model_dump(mode="json")}  # fmt: skip


def seed_round(state: DistillState, runtime: Runtime[DistillContext]) -> dict[str, Any]:
    """Load the training scenarios and pick round 1's, balanced over the kinds."""
    ctx = context_of(runtime, DistillContext)
    if ctx.rounds < 1 or ctx.per_round < 1:
        raise DataError("strategy_distill: rounds and per_round must be at least 1")
    if state.get("pool"):
        pool = [Scenario.model_validate(s) for s in state["pool"]]
    else:
        pool = split(registry_scenarios(ctx.dataset), ctx.held_out, ctx.seed)[0]
    if not pool:
        raise DataError("no training scenarios", hint='pass {"pool": [Scenario dumps]} or a MathDial dataset')
    first = balanced(pool, ctx.per_round)
    return {"pool": [s.model_dump(mode="json") for s in pool], "scenarios": [s.model_dump(mode="json") for s in first],
            "used": [s.id for s in first], "round": 1, "stop_reason": None}  # fmt: skip


def attempt_tasks(state: DistillState) -> list[Send]:
    """One `attempt` per scenario of the round."""
    return [Send("attempt", {"scenario": s, "round": state.get("round", 1)}) for s in state.get("scenarios") or []]


def attempt(task: dict[str, Any], runtime: Runtime[DistillContext]) -> dict[str, Any]:
    """The tutor answers one scenario with the library as it stands; the judge labels the reply."""
    ctx = context_of(runtime, DistillContext)
    scenario = Scenario.model_validate(task["scenario"])
    return {"attempts": [{**try_scenario(scenario, ctx, ctx.library), "round": task["round"],
                          "scenario": scenario.model_dump(mode="json")}]}  # fmt: skip


def assess(state: DistillState, runtime: Runtime[DistillContext]) -> dict[str, Any]:
    """The missing-skill profile of the round; its worst failures, each with the most-missed skill it shows."""
    ctx = context_of(runtime, DistillContext)
    mine = [a for a in state.get("attempts") or [] if a.get("round") == state.get("round", 1)]
    profile = missing_skills(mine)
    order = list(profile["skills"])
    failures = []
    for a in sorted((a for a in mine if a.get("failed")), key=lambda a: (a["score"], a["scenario_id"])):
        skill = min(a["failed"], key=lambda d: order.index(d) if d in order else len(order))
        failures.append({"attempt": a, "skill": skill})
    return {"profile": profile, "failures": failures[: ctx.max_strategies]}


def improve_tasks(state: DistillState) -> list[Send] | str:
    """One `improve` per failure, or close the round when nothing failed."""
    failures = state.get("failures") or []
    if not failures:
        return "close_round"
    return [Send("improve", {**f, "round": state.get("round", 1), "pool": state.get("pool") or []}) for f in failures]


def _siblings(scenario: Scenario, pool: list[dict[str, Any]], n: int) -> list[Scenario]:
    same = sorted((Scenario.model_validate(p) for p in pool if p.get("kind") == scenario.kind), key=lambda s: s.id)
    return [s for s in same if s.id not in (scenario.id, scenario.seed_id)][:n]


def improve(task: dict[str, Any], runtime: Runtime[DistillContext]) -> dict[str, Any]:
    """The coach writes a strategy for one failure; the tutor answers again with it; the gain is measured."""
    ctx = context_of(runtime, DistillContext)
    failure = task["attempt"]
    pool = task.get("pool") or []
    scenario = Scenario.model_validate(failure["scenario"])
    coach = real_model(ctx, "coach")
    judged = Judged.model_validate({k: failure[k] for k in ("labels", "score", "failed", "rationale", "judge")})
    text = write_strategy(coach, scenario, failure["reply"], judged, task["skill"])
    record: dict[str, Any] = {"round": task["round"], "scenario_id": scenario.id, "kind": scenario.kind,
                              "skill": task["skill"], "strategy": text, "situation": failure["situation"],
                              "coach": role_model(ctx, "coach").model_spec}  # fmt: skip
    if text is None:
        return {"candidates": [{**record, "gain": 0.0, "kept": False, "why": "no usable strategy"}]}
    verify = [scenario, *_siblings(scenario, pool, ctx.verify_siblings)]
    # "before" measured afresh, not the failing score that selected the scenario (a minimum: regression to the mean)
    before = [try_scenario(s, ctx, ctx.library)["score"] for s in verify]
    with_it = {"library": ctx.library, "given": [{"strategy": text, "kind": scenario.kind, "skill": task["skill"]}]}
    after = [try_scenario(s, ctx, with_it) for s in verify]
    b, a = sum(before) / len(before), sum(x["score"] for x in after) / len(after)
    return {"candidates": [{**record, "before": b, "after": a, "gain": a - b, "n_verify": len(verify),
                            "verify_ids": [s.id for s in verify], "reply_after": after[0]["reply"]}]}  # fmt: skip


def close_round(state: DistillState, runtime: Runtime[DistillContext]) -> dict[str, Any]:
    """Keep the round's strategies with a measured gain in the library; decide whether another round runs."""
    ctx = context_of(runtime, DistillContext)
    r = state.get("round", 1)
    mine = [c for c in state.get("candidates") or [] if c.get("round") == r]
    kept = [c for c in mine if c.get("strategy") and float(c.get("gain") or 0.0) >= ctx.min_gain]
    tutor, judge = role_model(ctx, "teacher").model_spec, role_model(ctx, "evaluator").model_spec
    entries = [Strategy(strategy=c["strategy"], situation=c["situation"], kind=c["kind"], skill=c["skill"],
                        gain=c["gain"], before=c["before"], after=c["after"], n_verify=c["n_verify"],
                        provenance={"coach": c["coach"], "tutor": tutor, "judge": judge, "round": r,
                                    "scenario_id": c["scenario_id"], "source": "strategy_distill"})
               for c in kept]  # fmt: skip
    ids = StrategyLibrary(services().memory_store(), ctx.library).add(entries)
    attempts = [a for a in state.get("attempts") or [] if a.get("round") == r]
    unused = [p for p in state.get("pool") or [] if p.get("id") not in set(state.get("used") or [])]
    stop = ("nothing_failed" if not state.get("failures") else "no_gain" if not kept else
            "rounds_done" if r >= ctx.rounds else "pool_exhausted" if not unused else None)  # fmt: skip
    summary = {"round": r, "scenarios": len(attempts),
               "mean_score": sum(a["score"] for a in attempts) / len(attempts) if attempts else None,
               "failures": len(state.get("failures") or []), "candidates": len(mine), "kept": len(kept),
               "kept_ids": ids, "weakest": (state.get("profile") or {}).get("weakest", [])}  # fmt: skip
    return {"rounds": [summary], "kept": [{**c, "id": i} for c, i in zip(kept, ids, strict=True)],
            "stop_reason": stop}  # fmt: skip


def generate(state: DistillState, runtime: Runtime[DistillContext]) -> dict[str, Any]:
    """The next round's scenarios, from the kinds where the tutor scored lowest (written by a real coach)."""
    ctx = context_of(runtime, DistillContext)
    pool = [Scenario.model_validate(p) for p in state.get("pool") or []]
    weakest = list((state.get("profile") or {}).get("weakest") or [])
    focus = weakest[: max(1, (len(weakest) + 1) // 2)]
    used = set(state.get("used") or [])
    seeds = balanced(pool, ctx.per_round, kinds=focus, exclude=used)
    if len(seeds) < ctx.per_round:
        seeds += balanced(pool, ctx.per_round - len(seeds), exclude=used | {s.id for s in seeds})
    fresh = write_scenarios(real_model(ctx, "coach"), seeds, ctx.per_round)
    return {"scenarios": [s.model_dump(mode="json") for s in fresh], "round": state.get("round", 1) + 1,
            "used": [*state.get("used", []), *(s.id for s in seeds)], "failures": []}  # fmt: skip
