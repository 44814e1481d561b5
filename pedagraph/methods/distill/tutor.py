"""Run the small tutor on a scenario: the `tutor` graph's real-teacher path answers the scenario's student turn.

The tutor graph opens the problem, the scenario's student message is its first turn (human mode, resumed
once), and the reply that passed the reveal gate is the tutor's response; the turn's trace names the strategies
it was written with. The tutor's own evaluator is the scripted one, so only the teacher role is the small model.
"""

from __future__ import annotations

import contextvars
import itertools
import uuid
from typing import Any

from langchain_core.messages import AIMessage
from pydantic import BaseModel, Field

from pedagraph.methods.distill.scenarios import Scenario
from pedagraph.taxonomy import StudentResponse

_runs = itertools.count()


class TutorTurn(BaseModel):
    """The small tutor's answer to a scenario's student turn, with what it was written with."""

    reply: str
    opener: str = ""
    strategies: list[dict[str, Any]] = Field(default_factory=list)
    diagnosis: str = ""
    """The tutor's reading of the student's turn (the CLASS category's label, e.g. `incorrect`)."""
    reply_source: str | None = None
    gate: str | None = None


def run_tutor(scenario: Scenario, tutor: Any, *, strategies: Any = None, memory: Any = None, learners: Any = None,
              k: int = 3, approved_only: bool = False) -> TutorTurn:  # fmt: skip
    """Let the tutor (a model or `provider:model` for the teacher role) answer a scenario, with these strategies.

    The tutor graph runs in a fresh context: called from a node of another graph it is its own run, not a subgraph.
    """
    return contextvars.Context().run(_run, scenario, tutor, strategies, memory, learners, k, approved_only)


def _run(scenario: Scenario, tutor: Any, strategies: Any, memory: Any, learners: Any, k: int, approved_only: bool
         ) -> TutorTurn:  # fmt: skip
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    from pedagraph.graphs.tutor import Context, build_graph
    from pedagraph.learner import get_learner_store

    store = learners if learners is not None else get_learner_store()
    learner_id = f"distill-{uuid.uuid4().hex[:12]}"
    context = Context(learner_id=learner_id, teacher_model=tutor, evaluator_model="scripted", student_mode="human",
                      strategies=strategies, strategy_k=k, strategy_approved_only=approved_only,
                      student_persona=scenario.profile, max_turns=4)  # fmt: skip
    graph = build_graph(checkpointer=InMemorySaver(), memory=memory, learners=store)
    config = {"configurable": {"thread_id": f"distill-{next(_runs)}"}}
    try:
        graph.invoke({"problem_data": scenario.problem}, config, context=context)
        out = graph.invoke(Command(resume=scenario.student_message), config, context=context)
    finally:
        store.delete(learner_id)
    replies = [m.content for m in out.get("messages", []) if isinstance(m, AIMessage)]
    trace = (out.get("turns") or [{}])[-1]
    category = (trace.get("diagnosis") or {}).get("category")
    diagnosis = StudentResponse(category).label if category in {c.value for c in StudentResponse} else ""
    return TutorTurn(reply=str(replies[-1]) if replies else "", opener=str(replies[0]) if replies else "",
                     strategies=list(trace.get("strategies") or []), diagnosis=diagnosis,
                     reply_source=(trace.get("plan") or {}).get("reply_source"),
                     gate=(trace.get("gate") or {}).get("action"))  # fmt: skip
