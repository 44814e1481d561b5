"""The `tom_teacher` graph: a teacher model decides under a budget when to explain to a weaker student model.

Saha, Hase & Bansal 2023, "Can Language Models Teach Weaker Agents?" (methods.md §1): the teacher builds a
Theory-of-Mind mental model of the student from its observed behaviour (few-shot simulators of the student without
and with an explanation), scores every item with it, explains where the predicted gain is largest, and
personalises its explanations with examples that helped this student.

    START -> calibrate -> score_item (one per item, in parallel via Send) -> choose
          -> answer_item (one per item still to answer, via Send) -> aggregate -> END

* `calibrate`: the student (reasoning first by default, `student_mode`) answers training-pool items unaided, with
  the human explanation and with the teacher's explanation; the answers go into its learner model
  (`llm:<student model>`, kind `llm_student`): the unaided ones and those after the teacher's explanations are the
  mental model's pre/post banks, and the useful human explanations become the personalised teacher's demos. A
  stored calibration is reused; an input `setup` (from an earlier run's `setup`) skips it.
* `score_item`: the explanation of the chosen type, the mental model's P(correct) without and with it, the
  teacher's confidence, or the real student's answers (references) — only what the function ranks by.
* `choose`: rank by the intervention function (`pedagraph.methods.tom.mental_model.INTERVENTION_FUNCTIONS`) and spend
  floor(budget x items) explanations down the ranking (`plan_interventions` -> `decide`).
* `answer_item`: the student answers with the explanation (chosen items) or on its own.
* `aggregate`: `result` = accuracy, explanations spent, per-item rows and the calls and tokens spent.

Input: `{"items": [TeachItem dumps]}` (one item works), optionally `{"pool": [...]}` (the calibration pool) and
`{"setup": ...}`; with no items, the first `Context.limit` test items of `Context.dataset` (strategyqa, ecqa, gsm8k)
from the dataset registry. With `Context(measure=True)` every item gets every signal and both answers: the `tom`
eval suite replays any budget and function from that without another model call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from pedagraph.agents.tom import aggregate, answer_item, answer_tasks, calibrate, choose, score_item_node, scoring_tasks
from typing_extensions import TypedDict

from pedagraph.methods.tom.context import TomContext
from pedagraph.methods.tom.state import TomState as State
from pedagraph.runtime import ModelOverride, bind_services, documented
from pedagraph.state import learner_facing, without

__all__ = ["Context", "ModelOverride", "State", "TomView", "build_graph", "graph"]


@documented
@dataclass
class Context(TomContext):
    """Run-time settings of a teaching episode (not checkpointed: pass them on every call).

    Fields: the models (`student_model`, `teacher_model`), `dataset`, `limit`, `budget`, `function`,
    `explanation`, `seed`, `threshold`, `measure`, calibration sizes; see `TomContext`.
    """


class TomView(TypedDict, total=False):
    """What an embedding app sees of the served graph: the plan (which items to explain, and why) and the figures.

    Never the items or the pool (their gold labels and explanations), the scores (explanations), the answers (an
    explanation states the answer) or `result`'s per-item rows (gold labels).
    """

    plan: list[dict[str, Any]]
    plan_kind: str
    summary: dict[str, Any]


def aggregate_node(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """`aggregate`, and its `summary` without the per-item rows."""
    out = aggregate(dict(state), runtime)
    return {**out, "summary": without(out.get("result"), "per_item")}


def route_scoring(state: State) -> list[Send]:
    """Score every item in parallel."""
    return scoring_tasks(state)


def route_answers(state: State) -> list[Send] | Literal["aggregate"]:
    """Let the student answer every item not answered yet (in parallel), else aggregate."""
    tasks = answer_tasks(state)
    return "aggregate" if tasks == "aggregate" else tasks


def build_graph(checkpointer: Any = None, store: Any = None, *, memory: Any = None, learners: Any = None,
                learner_view: bool = False) -> Any:  # fmt: skip
    """Return the compiled tom_teacher graph; `learners` (a `LearnerStore`) replaces the process-wide one.

    With `learner_view=True` (the served graph) its output is `TomView`.
    """
    builder = StateGraph(State, context_schema=Context, output_schema=TomView if learner_view else None)
    builder.add_node("calibrate", calibrate)
    builder.add_node("score_item", score_item_node)
    builder.add_node("choose", choose)
    builder.add_node("answer_item", answer_item)
    builder.add_node("aggregate", aggregate_node)
    builder.add_edge(START, "calibrate")
    builder.add_conditional_edges("calibrate", route_scoring, ["score_item"])
    builder.add_edge("score_item", "choose")
    builder.add_conditional_edges("choose", route_answers, ["answer_item", "aggregate"])
    builder.add_edge("answer_item", "aggregate")
    builder.add_edge("aggregate", END)
    compiled = builder.compile(checkpointer=checkpointer, store=store, name="tom_teacher")
    if learner_view:
        learner_facing(compiled, TomView)
    return bind_services(compiled, learners=learners, memory=memory)


graph = build_graph(learner_view=True)
"""The tom_teacher graph for embedding and `langgraph dev` (no checkpointer of its own): it shows only `TomView`."""
