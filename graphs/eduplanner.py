"""The `eduplanner` graph: agents design and refine a lesson plan for a group of learners (EduPlanner).

Zhang et al. 2025 (IEEE TLT; methods.md §2): a question analyst, a planner/optimiser and evaluators work in
adversarial collaboration on a lesson plan customised to a group's skill tree (five abilities, levels 1-5).

    START -> setup -> analyse -> draft -> predict x (K x T x M) + judge x K  (in parallel via Send)
          -> rank -> (stop ? finish : optimise -> predict/judge ... -> rank)
    with approval: rank -> approve (interrupt) -> accept: finish | another: optimise | edit: predict/judge -> rank
    finish -> END

* `setup`: the group from a skill-tree profile (`{"levels": [4, 4, 3, 4, 3]}`) or from real learners' models
  (`{"learners": ["ana", "ben"]}`: their ability levels averaged, their misconceptions); target problems (given, or
  bundled ones about the topic); T test problems; course material the plan may cite (`Context.course`).
* `analyse`: the question analyst's three likeliest mistakes of this group per target problem.
* `draft` / `optimise`: K plans per round; the optimiser sees the best P of the queue with the simulated learners'
  suggestions and the teacher's notes.
* `predict` (one per plan x test problem x repeat) and `judge` (one per plan): predicted success (the utility the
  loop optimises) and CIDDP (reported, breaks ties, never optimised). With `Context(fan_out=False)` the node
  `evaluate_all` runs them one after the other, as the original did.
* `rank`: the queue, best first; a round's summary; stop after N rounds or when the best score stops improving.
* `approve` (with `Context(approval="rounds" | "end")`): an interrupt; resume with
  `Command(resume={"action": "accept" | "edit" | "another", "plan": "...", "comment": "...", "plan_id": "..."})`.

Output: `result` = the final plan (`markdown`, scores), rounds run, the stop reason, success and CIDDP at round 0
and at the end, the gain, model calls. `rounds` has each round's figures; `queue` every plan scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from pedagraph.agents.planner import (
    analyse,
    approve,
    draft,
    evaluate_all,
    evaluation_tasks,
    finish,
    judge,
    optimise,
    predict,
    rank,
    setup,
)
from typing_extensions import TypedDict

from pedagraph.methods.eduplanner.context import PlannerContext
from pedagraph.methods.eduplanner.state import PlannerState as State
from pedagraph.runtime import ModelOverride, bind_services, context_of, documented
from pedagraph.state import learner_facing, without

__all__ = ["Context", "ModelOverride", "PlanView", "State", "build_graph", "graph"]


@documented
@dataclass
class Context(PlannerContext):
    """Run-time settings of a lesson plan run (not checkpointed: pass them on every call, resumes included).

    Fields: the models (`planner_model`, `student_model` for the simulated learners, `evaluator_model` for
    CIDDP), `rounds` (N), `candidates` (K), `survivors` (P), `test_problems` (T), `repeats` (M), `min_gain`,
    `patience`, `approval`, `analyst`, `skill_tree`, `fan_out`, `seed`, `course`, `material_k`; see `PlannerContext`.
    """


class PlanView(TypedDict, total=False):
    """What an embedding app sees of the served graph: the topic, each round's figures, why it stopped, the summary.

    Never the problems, tests, plans or predictions (worked examples and answers), nor the final plan itself: a
    teacher reads that in the teachers' app, or from `build_graph()` (the full state) in server code.
    """

    topic: str
    round: int
    rounds: list[dict[str, Any]]
    stop: str
    summary: dict[str, Any]


def finish_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """`finish`, and its `summary` without the plan."""
    out = finish(dict(state), runtime)
    return {**out, "summary": without(out.get("result"), "plan", "markdown")}


def route_evaluation(state: State, runtime: Runtime[Context]) -> list[Send] | Literal["evaluate_all"]:
    """Evaluate the candidates in parallel (one task per prediction and judgement), or all in one node."""
    ctx = context_of(runtime, Context)
    return evaluation_tasks(dict(state), ctx) if ctx.fan_out else "evaluate_all"


def route_rank(state: State, runtime: Runtime[Context]) -> Literal["approve", "optimise", "finish"]:
    """After ranking: ask the teacher (every round, or at the end), else go on or finish."""
    ctx = context_of(runtime, Context)
    if ctx.approval == "rounds" or (ctx.approval == "end" and state.get("stop")):
        return "approve"
    return "finish" if state.get("stop") else "optimise"


def route_approval(
    state: State, runtime: Runtime[Context]
) -> list[Send] | Literal["finish", "optimise", "approve", "evaluate_all"]:
    """The teacher's decision: accept -> finish, another -> optimise, edit -> score the edit, invalid -> ask again."""
    action = (state.get("approval") or {}).get("action")
    if action == "accept":
        return "finish"
    if action == "another":
        return "optimise"
    if action == "edit":
        return route_evaluation(state, runtime)
    return "approve"


EVALUATION = ["predict", "judge", "evaluate_all"]


def build_graph(checkpointer: Any = None, store: Any = None, *, memory: Any = None, learners: Any = None,
                learner_view: bool = False) -> Any:  # fmt: skip
    """Return the compiled eduplanner graph; `learners` (a `LearnerStore`) and `memory` replace the default ones.

    With `learner_view=True` (the served graph) its output is `PlanView`.
    """
    builder = StateGraph(State, context_schema=Context, output_schema=PlanView if learner_view else None)
    for name, node in (("setup", setup), ("analyse", analyse), ("draft", draft), ("predict", predict),
                       ("judge", judge), ("evaluate_all", evaluate_all), ("rank", rank), ("optimise", optimise),
                       ("approve", approve), ("finish", finish_node)):  # fmt: skip
        builder.add_node(name, node)
    builder.add_edge(START, "setup")
    builder.add_edge("setup", "analyse")
    builder.add_edge("analyse", "draft")
    builder.add_conditional_edges("draft", route_evaluation, EVALUATION)
    builder.add_conditional_edges("optimise", route_evaluation, EVALUATION)
    builder.add_edge("predict", "rank")
    builder.add_edge("judge", "rank")
    builder.add_edge("evaluate_all", "rank")
    builder.add_conditional_edges("rank", route_rank, ["approve", "optimise", "finish"])
    builder.add_conditional_edges("approve", route_approval, [*EVALUATION, "finish", "optimise", "approve"])
    builder.add_edge("finish", END)
    compiled = builder.compile(checkpointer=checkpointer, store=store, name="eduplanner")
    if learner_view:
        learner_facing(compiled, PlanView)
    return bind_services(compiled, learners=learners, memory=memory)


graph = build_graph(learner_view=True)
"""The eduplanner graph for embedding and `langgraph dev` (no checkpointer of its own): it shows only `PlanView`."""
