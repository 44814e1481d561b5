"""The `strategy_distill` graph: a strong coach model writes strategies that make a small tutor better, in words.

Strategy-teaching distillation (Wang, Sudhir & Hong 2024, later GER — Guidance Elicitation and Retrieval;
methods.md §5, with STAT's missing-skill profile §7.4): the small tutor's weights are never touched. The coach
alternates between scenarios where the tutor is weak and strategies that fix its behaviour there; a strategy is
kept only when re-running the tutor with it raises the MRBench judge's score; the (situation, strategy) pairs
form a library in the memory's `strategies` collection that the tutor retrieves from at run time
(`tutor` graph, `Context(strategies="<library>")`), and that a person audits in the app.

    START -> seed_round -> attempt (Send, one per scenario) -> assess
          -> improve (Send, one per failure) -> close_round -> (stop ? END : generate -> attempt ...)
    assess -> close_round when nothing failed

* `attempt`: the tutor graph's real-teacher path answers the scenario's student turn, with the strategies it
  retrieves from the library; the judge labels the reply (`evaluator` role; the scripted one is deterministic).
* `assess`: per kind (the six MathDial student difficulties) and MRBench dimension, what the tutor misses; the
  round's lowest-scored replies with their most-missed skill.
* `improve`: the coach (`coach` role) writes one strategy per failure; the tutor answers the scenario (and
  `verify_siblings` others of its kind) again with it; gain = mean judge score with it - without.
* `close_round`: strategies with gain >= `min_gain` go into the library with their gain and provenance (coach,
  tutor, judge, round, scenario); the loop stops when none was kept (nothing improves), nothing failed, the
  rounds are spent or the pool is used up (`stop_reason`).
* `generate`: the next round's scenarios, from the weakest half of the kinds (a real coach writes new student
  turns for their problems; the scripted coach takes unused seed scenarios).

Input: `{}` (the training part of `Context.dataset`, MathDial from the dataset registry) or `{"pool": [Scenario
dumps]}`. Output: `rounds` (one summary per round), `kept` (the strategies stored), `attempts`, `candidates`,
`profile` (the last round's missing-skill profile) and `stop_reason`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from pedagraph.agents.distill import (
    assess,
    attempt,
    attempt_tasks,
    close_round,
    generate,
    improve,
    improve_tasks,
    seed_round,
)
from typing_extensions import TypedDict

from pedagraph.methods.distill.context import DistillContext
from pedagraph.methods.distill.state import DistillState as State
from pedagraph.runtime import ModelOverride, bind_services, documented
from pedagraph.state import learner_facing

__all__ = ["Context", "DistillView", "ModelOverride", "State", "build_graph", "graph"]


@documented
@dataclass
class Context(DistillContext):
    """Run-time settings of a distillation run (not checkpointed: pass them on every call).

    Fields: the models (`teacher_model` the small tutor, `coach_model` the strong teacher, `evaluator_model` the
    judge), `library`, `rounds`, `per_round`, `max_strategies`, `min_gain`, `verify_siblings`, `k`,
    `dimensions`, `dataset`, `held_out`, `seed`; see `DistillContext`.
    """


class DistillView(TypedDict, total=False):
    """What an embedding app sees of the served graph: each round's figures, the skill profile, why it stopped.

    Never the scenarios (problems with their solutions), the judged replies and their labels, nor the strategies'
    situations (a learner's work with its gold diagnosis); the kept strategies are read from the library.
    """

    round: int
    rounds: list[dict[str, Any]]
    profile: dict[str, Any]
    stop_reason: str | None


def route_attempts(state: State) -> list[Send]:
    """The tutor answers every scenario of the round in parallel."""
    return attempt_tasks(state)


def route_improve(state: State) -> list[Send] | Literal["close_round"]:
    """A strategy per failure, in parallel; straight to the end of the round when nothing failed."""
    tasks = improve_tasks(state)
    return "close_round" if tasks == "close_round" else tasks  # type: ignore[return-value]


def route_after_round(state: State) -> Literal["generate", "__end__"]:
    """Another round unless the loop has a reason to stop."""
    return END if state.get("stop_reason") else "generate"


def build_graph(checkpointer: Any = None, store: Any = None, *, memory: Any = None, learners: Any = None,
                learner_view: bool = False) -> Any:  # fmt: skip
    """Return the compiled strategy_distill graph; `memory` holds the library, `learners` the tutor's learners.

    With `learner_view=True` (the served graph) its output is `DistillView`.
    """
    builder = StateGraph(State, context_schema=Context, output_schema=DistillView if learner_view else None)
    builder.add_node("seed_round", seed_round)
    builder.add_node("attempt", attempt)
    builder.add_node("assess", assess)
    builder.add_node("improve", improve)
    builder.add_node("close_round", close_round)
    builder.add_node("generate", generate)
    builder.add_edge(START, "seed_round")
    builder.add_conditional_edges("seed_round", route_attempts, ["attempt"])
    builder.add_edge("attempt", "assess")
    builder.add_conditional_edges("assess", route_improve, ["improve", "close_round"])
    builder.add_edge("improve", "close_round")
    builder.add_conditional_edges("close_round", route_after_round, ["generate", END])
    builder.add_conditional_edges("generate", route_attempts, ["attempt"])
    compiled = builder.compile(checkpointer=checkpointer, store=store, name="strategy_distill")
    if learner_view:
        learner_facing(compiled, DistillView)
    return bind_services(compiled, learners=learners, memory=memory)


graph = build_graph(learner_view=True)
"""The strategy_distill graph for embedding and `langgraph dev` (no checkpointer of its own): shows `DistillView`."""
