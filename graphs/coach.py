r"""The `coach` graph: a teaching transcript gets scores, highlights and missed opportunities, and suggestions.

"Is ChatGPT a Good Teacher Coach?" (Wang & Demszky 2023; methods.md §7.1): (A) scores on observation dimensions
with the turns they rest on, (B) highlights and missed opportunities tied to turn numbers, (C) actionable
suggestions to elicit more student reasoning. The study found that 82% of the model's suggestions pointed at what
the teacher already did; here a novelty check drops those and says how many and why.

    START -> read_transcript -> score (A)    ----------------------\
                             -> moments (B)  -----------------------> report -> END
                             -> suggest (C) -> novelty_filter -----/

Input: `{"transcript": "Teacher: ...\nStudent: ..."}` (plain lines, CSV with speaker,text columns, JSON turns, or
a MathDial `conversation` string; `format` forces one), or `{"mathdial": <a MathDial record>}`. An empty, huge
(`methods.coach.coaching.MAX_TRANSCRIPT_CHARS`, `MAX_TURNS`) or malformed transcript is refused with one `DataError`
line. Output: `turns`, `scores`, `findings`, `suggestions`, `dropped` (each with `why`), `sources` (model or
rules per part) and `report` (Markdown).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.graph import END, START, StateGraph
from pedagraph.agents.coach import (
    CoachContext,
    CoachState,
    moments,
    novelty_filter,
    read_transcript,
    report,
    score,
    suggest,
)
from typing_extensions import TypedDict

from pedagraph.runtime import ModelOverride, bind_services, documented
from pedagraph.state import learner_facing

__all__ = ["CoachView", "Context", "ModelOverride", "State", "build_graph", "graph"]


@documented
@dataclass
class Context(CoachContext):
    """Run-time settings of a coaching run: `coach_model` (the scripted model reads with rules), `max_items`."""


class State(CoachState, total=False):
    """One coaching run: the transcript, its turns, (A) scores, (B) findings, (C) suggestions kept and dropped."""


class CoachView(TypedDict, total=False):
    """What an embedding app sees of the served graph: scores, findings, suggestions kept and dropped, the report.

    Never the input (a MathDial record carries the worked solution and the gold labels), nor every proposal.
    """

    scores: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    suggestions: list[dict[str, Any]]
    dropped: list[dict[str, Any]]
    sources: dict[str, str]
    report: str


def build_graph(checkpointer: Any = None, store: Any = None, *, memory: Any = None, learners: Any = None,
                learner_view: bool = False) -> Any:  # fmt: skip
    """Return the compiled coach graph (A, B and C run in parallel on the transcript's turns).

    With `learner_view=True` (the served graph) its output is `CoachView`.
    """
    builder = StateGraph(State, context_schema=Context, output_schema=CoachView if learner_view else None)
    builder.add_node("read_transcript", read_transcript)
    builder.add_node("score", score)
    builder.add_node("moments", moments)
    builder.add_node("suggest", suggest)
    builder.add_node("novelty_filter", novelty_filter)
    builder.add_node("report", report)
    builder.add_edge(START, "read_transcript")
    for branch in ("score", "moments", "suggest"):
        builder.add_edge("read_transcript", branch)
    builder.add_edge("suggest", "novelty_filter")
    builder.add_edge(["score", "moments", "novelty_filter"], "report")
    builder.add_edge("report", END)
    compiled = builder.compile(checkpointer=checkpointer, store=store, name="coach")
    if learner_view:
        learner_facing(compiled, CoachView)
    return bind_services(compiled, learners=learners, memory=memory)


graph = build_graph(learner_view=True)
"""The coach graph for embedding and `langgraph dev` (no checkpointer of its own): it shows only `CoachView`."""
