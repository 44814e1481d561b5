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

from pedagraph.runtime import ModelOverride, bind_services, documented

__all__ = ["Context", "ModelOverride", "State", "build_graph", "graph"]


@documented
@dataclass
class Context(CoachContext):
    """Run-time settings of a coaching run: `coach_model` (the scripted model reads with rules), `max_items`."""


class State(CoachState, total=False):
    """One coaching run: the transcript, its turns, (A) scores, (B) findings, (C) suggestions kept and dropped."""


def build_graph(checkpointer: Any = None, store: Any = None, *, memory: Any = None, learners: Any = None) -> Any:
    """Return the compiled coach graph (A, B and C run in parallel on the transcript's turns)."""
    builder = StateGraph(State, context_schema=Context)
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
    return bind_services(compiled, learners=learners, memory=memory)


graph = build_graph()
"""The coach graph compiled without a checkpointer (for embedding and `langgraph dev`)."""
