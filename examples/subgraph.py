"""The tutor graph as a node of your own LangGraph graph: a course flow that tutors a problem, then records it.

Run:   python examples/subgraph.py

The tutor is added as a subgraph node. It shares the parent's checkpointer, so its interrupts (waiting for the
learner) pause the whole flow and `Command(resume=...)` on the parent's thread continues the tutor inside it.
The parent's state shares the tutor's `messages`, `problem_id` and `done` keys; its own keys stay its own.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command
from pedagraph.graphs.tutor import Context
from pedagraph.graphs.tutor import build_graph as build_tutor
from typing_extensions import TypedDict


class CourseState(TypedDict, total=False):
    """The parent flow's state: what it shares with the tutor, plus its own log."""

    problem_id: str | None
    messages: Annotated[list[AnyMessage], add_messages]
    done: bool
    log: Annotated[list[str], operator.add]


def choose_problem(state: CourseState) -> dict[str, Any]:
    """Pick the problem of the day (your app's own logic goes here)."""
    return {"problem_id": "gsm8k-sample-1", "log": ["chose gsm8k-sample-1"]}


def record(state: CourseState) -> dict[str, Any]:
    """After the tutor finishes: record the outcome (your gradebook, an LMS call, ...)."""
    return {"log": [f"finished: {bool(state.get('done'))}, {len(state.get('messages', []))} messages"]}


def build_course(checkpointer: Any = None) -> Any:
    """The course flow: choose_problem -> tutor (the pedagraph graph, as a subgraph) -> record."""
    flow = StateGraph(CourseState, context_schema=Context)
    flow.add_node("choose_problem", choose_problem)
    flow.add_node("tutor", build_tutor())  # compiled without a checkpointer: it uses the parent's
    flow.add_node("record", record)
    flow.add_edge(START, "choose_problem")
    flow.add_edge("choose_problem", "tutor")
    flow.add_edge("tutor", "record")
    flow.add_edge("record", END)
    return flow.compile(checkpointer=checkpointer)


def tutor_said(course: Any, config: dict[str, Any]) -> str:
    """The tutor's latest reply while the flow waits for the learner inside the subgraph."""
    inner = course.get_state(config, subgraphs=True).tasks[0].state
    return inner.values["messages"][-1].content


def main() -> None:
    """Tutor one problem inside the course flow, answering each step from the worked solution."""
    from pedagraph.problems import get_problem

    course = build_course(InMemorySaver())
    config = {"configurable": {"thread_id": "course-1"}}
    context = Context(learner_id="demo")
    out = course.invoke({}, config, context=context)
    for step in get_problem("gsm8k-sample-1").steps:
        if not course.get_state(config).next:
            break
        print("tutor:", tutor_said(course, config), "\nlearner:", step.answer)
        out = course.invoke(Command(resume=step.answer), config, context=context)
    print("tutor:", out["messages"][-1].content)
    print("log:", out["log"])


if __name__ == "__main__":
    main()
