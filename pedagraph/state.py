"""State slices that graph states extend: the visible dialogue, a problem's progress, the current turn, traces.

Every value is JSON-serialisable (typed records such as `Diagnosis` and `TutorMove` are kept as their dumps and
read back with `Diagnosis.of(...)`), so checkpoints stay readable across versions and by LangGraph's server.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict


class ProblemInput(TypedDict, total=False):
    """Ways to give a graph a problem (each cleared once loaded)."""

    problem_id: str | None
    """Id of a bundled problem."""
    problem_text: str | None
    """A free-form problem."""
    answer: str | float | None
    """The free-form problem's final answer, if known."""
    problem_data: dict[str, Any] | None
    """Any `Problem` as a JSON dump, e.g. from `load_problems`."""
    question: str | None
    """A learner message: the next turn on the active problem, else answered in review or question mode."""
    restart: bool | None
    """With a problem input: start it over even when it is the problem already active on the thread."""


class DialogueState(TypedDict, total=False):
    """The visible conversation and whose it is."""

    learner_id: str
    """The learner this session belongs to (the context's learner id when it started)."""
    messages: Annotated[list[AnyMessage], add_messages]
    """Visible conversation only: tutor replies (AIMessage) and learner turns (HumanMessage)."""
    turn_count: int
    """Learner turns on the current problem."""
    end_reason: str | None
    """Why the session ended (None while running)."""
    student_error: str | None
    """When a simulated student's model failed (`end_reason` "student_failed"): its one-line error."""


class ProblemState(TypedDict, total=False):
    """A problem being worked through step by step (CLASS subproblems) and the learner's progress on it."""

    problem: dict[str, Any]
    """The problem (a `Problem` dump, steps included)."""
    problem_start: int
    """Index in `messages` where the current problem's conversation starts."""
    step_index: int
    """Index of the current step (subproblem)."""
    attempts: list[int]
    """Failed attempts per step."""
    hint_level: list[int]
    """Scaffolding level reached per step: 0 none, 1 hint, 2 strategy (the step's expression)."""
    explained: list[bool]
    """Whether the worked method of a step was explained (Theory-of-Mind intervention) already."""
    subproblem_state: str
    """CLASS subproblem state: w n/a, x in progress, y step finished, z problem done."""
    learner_solved: bool
    """The learner stated the correct final answer."""
    revealed: bool
    """The tutor stated the final answer (allowed by the reveal policy)."""
    solution_requested: bool
    """The learner's latest turn asked for the solution."""
    extraction_flag: bool
    """The learner tried to extract the answer (jailbreak, digit fishing) during this problem."""
    earlier_sessions: dict[str, Any]
    """The problem's history from the learner's earlier sessions (a `GateHistory` dump: replies shown, whether
    they fished for the answer), read when the problem starts; the reveal gate judges replies against it."""
    budget_used: int
    """Explanations spent by the Theory-of-Mind decision on the current problem."""
    done: bool
    """The problem is finished (solved or revealed)."""


class TurnState(TypedDict, total=False):
    """The current turn's hidden records, passed from node to node."""

    last_diagnosis: dict[str, Any]
    """`Diagnosis` of the latest learner turn (its dump)."""
    last_plan: dict[str, Any]
    """The latest `TutorMove` (its dump)."""
    draft_reply: str
    """The reply written, before the reveal gate's final check."""
    streamed_text: str
    """The part of the draft already sent to the client as token events."""
    pending_learning: dict[str, Any]
    """The turn's `LearnerUpdate` (its dump), committed to the learner store once per turn."""
    strategies_used: list[dict[str, Any]]
    """The distilled strategies the reply was written with (id, strategy, kind, skill, similarity)."""


class TraceState(TypedDict, total=False):
    """Append-only traces of a session."""

    turns: Annotated[list[dict[str, Any]], operator.add]
    """One trace per tutor turn: learner text, diagnosis, plan, reply and gate result."""
    reveal_events: Annotated[list[dict[str, Any]], operator.add]
    """Every reply the reveal gate blocked or allowed to reveal: turn, reason, matched text, action."""


class TutoringState(ProblemInput, DialogueState, ProblemState, TurnState, TraceState, total=False):
    """A tutoring session: its inputs, dialogue, problem progress, the current turn and traces."""

    greeted: bool
    """The opening message of the current problem was sent."""
    mode: Literal["problem", "question", "review"]
    """`problem`: tutoring the problem; `question`: no problem yet, answering from course material; `review`: the
    problem is finished, answering about it (its worked solution, the next problem, course questions)."""
    question_start: int
    """Index in `messages` where question or review mode started."""
    suggested_problem: str | None
    """The id of the problem suggested next (for the learner's weakest skill), once one was suggested."""


class LearnerView(TypedDict, total=False):
    """What a learner-facing client sees of a tutoring session: the conversation and progress, never an answer.

    The served graphs declare it as their output schema and stream only these channels (`learner_facing`), so
    `invoke`, `stream_mode="values"` and `threads.get_state` carry no final answer, step answers or worked solution.
    """

    learner_id: str
    messages: Annotated[list[AnyMessage], add_messages]
    turn_count: int
    end_reason: str | None
    step_index: int
    learner_solved: bool
    revealed: bool
    done: bool
    mode: Literal["problem", "question", "review"]


def learner_facing(compiled: Any, view: Any = LearnerView) -> Any:
    """The compiled graph streaming and showing only the channels of `view` (its state read the same way).

    `view` is the graph's output schema (`LearnerView` for the tutor and the copilot; each served graph has its
    own, without answers, step answers, worked solutions or gold labels).
    """
    compiled.stream_channels = [k for k in view.__annotations__ if k in compiled.channels]
    return compiled


def without(record: dict[str, Any] | None, *keys: str) -> dict[str, Any]:
    """A copy of a result record without some keys (what a learner-facing summary leaves out)."""
    return {k: v for k, v in (record or {}).items() if k not in keys}
