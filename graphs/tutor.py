"""The `tutor` graph: a learner chats, the tutor diagnoses, picks a move and scaffolds without giving the answer.

It combines CLASS scaffolding (Sonkar et al. 2023: evaluate the turn a–g, pick an action 1–12, track the
subproblem state w/x/y/z), MathDial teacher moves (focus, probing, telling, generic) and the Theory-of-Mind
explain-or-not decision of Saha et al. 2023 over the shared learner model (methods.md §4, §6, §1.6, §9).

    START -> setup_problem -> open_session -> reveal_gate -> student_turn -> diagnose -> plan_move
          -> respond -> reveal_gate -> (done or turn limit ? END : student_turn)

    question mode (no problem active):
    START -> setup_problem -> answer_question -> student_turn -> answer_question -> ...

Input: `{"problem_id": "..."}` (a bundled problem), `{"problem_text": "...", "answer": 18}`, or
`{"problem_data": problem.model_dump(mode="json")}` (any `Problem`, e.g. from `load_problems`). Without a
problem, `{"question": "..."}` or `{"messages": [HumanMessage("...")]}` starts question mode: the tutor answers
from the ingested course material (`materials`, filtered by `Context.course`), citing its passages, and then
waits for the next message; it never ends by itself, and a problem can be started later (a new input with a
problem). With a problem active, such an input is the learner's next turn on it (the reveal gate applies). In human mode
`student_turn` pauses with `interrupt({"type": "await_learner", "tutor": <last reply>})`; resume with
`Command(resume="the learner's text")`. Pass a `Context` (or a dict of its fields) as `context=` on every
call, including resumes. Only visible tutor replies (AIMessage) and learner turns (HumanMessage) enter
`messages`; every hidden decision is in `turns` (one trace dict per turn, with the `citations` of the
course material the reply quotes or cites).

Stream protocol (`stream_mode="custom"`), per tutor reply:

* `{"type": "token", "text": str}` — append to the reply being shown; only text that passed the reveal gate
  is sent, a trailing partial word or number is held back until it is complete;
* `{"type": "replace", "text": str}` — the reveal gate changed the reply: discard what was shown for it and
  show this text instead;
* `{"type": "final", "text": str}` — the reply is complete; this is exactly the AIMessage added to `messages`.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from langchain_core.messages import AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from pedagraph.agents.student import student_turn
from pedagraph.agents.teacher import (
    answer_question,
    diagnose,
    open_session,
    pending_learner_turn,
    plan_move,
    respond,
    reveal_gate,
    setup_problem,
)
from typing_extensions import TypedDict

StudentMode = Literal["human", "simulated"]
ModelOverride = Any
"""A `provider:model` string or a LangChain chat model (typed `Any` so the context has a JSON schema for Studio)."""
RevealPolicy = Literal["never", "after_attempts", "on_request"]


@dataclass
class Context:
    """Run-time settings of a tutoring session (not checkpointed: pass them on every call)."""

    learner_id: str = "anonymous"
    """Whose learner model is read and updated; never derived from the thread id."""
    student_mode: StudentMode = "human"
    """`human`: wait for the learner with an interrupt; `simulated`: the student model answers."""
    reveal_policy: RevealPolicy = "never"
    """When the tutor may state the final answer: never, after `reveal_after` failed final attempts, on request."""
    reveal_after: int = 3
    """Failed attempts on the final step after which `after_attempts` allows the answer."""
    step_tell_after: int = 3
    """Failed attempts after which a non-final step's result is told and the tutor moves on (CLASS action 2)."""
    explanation_budget: int = 3
    """Worked explanations the Theory-of-Mind decision may spend per problem."""
    tom_threshold: float = 0.15
    """Minimum expected utility p_post - p_pre for the tutor to explain (Saha et al. 2023)."""
    tom_simulator: Literal["bkt", "llm"] = "bkt"
    """How the Theory-of-Mind decision predicts the learner: from BKT mastery (offline, deterministic) or by the
    teacher model simulating the learner from their demos (a real teacher only; falls back to BKT)."""
    max_turns: int = 12
    """Learner turns per problem before the session ends."""
    course: str | None = None
    """Course whose ingested material grounds the tutor's answers (memory collection `materials`); None: all."""
    student_persona: str = ""
    """Who the simulated student is (MathDial-style profile); simulated mode only."""
    teacher_model: ModelOverride = None
    """Override of the teacher model (`provider:model` or a chat model); default: `get_model("teacher")`."""
    evaluator_model: ModelOverride = None
    """Override of the evaluator model used for the structured diagnosis."""
    student_model: ModelOverride = None
    """Override of the simulated student's model."""
    student_simulator: Any = None
    """Who answers in simulated mode: None (the student model with `student_persona`), a name (`persona`,
    `mathdial`, `probabilistic`) or a callable `(state, context) -> text` (see `agents/student.py`)."""


class State(TypedDict, total=False):
    """Checkpointed state of one tutoring session (one thread); every value is JSON-serialisable."""

    # -- input ---------------------------------------------------------------------------------------------
    problem_id: str | None
    """Id of a bundled problem to tutor (input; cleared once loaded)."""
    problem_text: str | None
    """A free-form problem to tutor (input; cleared once loaded)."""
    answer: str | float | None
    """The free-form problem's final answer, if known (input; cleared once loaded)."""
    problem_data: dict[str, Any] | None
    """Any `Problem` as a JSON dump, e.g. from `load_problems` (input; cleared once loaded)."""
    question: str | None
    """A learner message without a problem: starts question mode (input; cleared once read)."""

    # -- conversation --------------------------------------------------------------------------------------
    learner_id: str
    """The learner this session belongs to (the context's learner id when the problem was loaded)."""
    messages: Annotated[list[AnyMessage], add_messages]
    """Visible conversation only: tutor replies (AIMessage) and learner turns (HumanMessage)."""
    problem_start: int
    """Index in `messages` where the current problem's conversation starts."""
    greeted: bool
    """The opening message of the current problem was sent."""
    mode: Literal["problem", "question"]
    """`problem`: tutoring the problem; `question`: no problem active, answering from course material."""
    question_start: int
    """Index in `messages` where question mode started."""

    # -- problem and progress (CLASS) ----------------------------------------------------------------------
    problem: dict[str, Any]
    """The problem being tutored (a `Problem` dump, steps included)."""
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
    turn_count: int
    """Learner turns on the current problem."""
    budget_used: int
    """Explanations spent by the Theory-of-Mind decision on the current problem."""
    done: bool
    """The problem is finished (solved or revealed)."""
    end_reason: str | None
    """Why the session ended: solved, revealed, turn_limit (None while running)."""

    # -- the current turn (hidden) -------------------------------------------------------------------------
    last_diagnosis: dict[str, Any]
    """Diagnosis of the latest learner turn: category, verdict, error type, misconception, inquiry."""
    last_plan: dict[str, Any]
    """The latest tutor plan: move, strategy, intention, CLASS action, hint level, intervention decision."""
    draft_reply: str
    """The reply `respond` wrote, before the reveal gate's final check."""
    streamed_text: str
    """The part of the draft already sent to the client as token events."""

    # -- traces --------------------------------------------------------------------------------------------
    turns: Annotated[list[dict[str, Any]], operator.add]
    """One trace per tutor turn: learner text, diagnosis, plan, reply and gate result."""
    reveal_events: Annotated[list[dict[str, Any]], operator.add]
    """Every reply the reveal gate blocked or allowed to reveal: turn, reason, matched text, action."""


def route_after_gate(state: State) -> Literal["student_turn", "__end__"]:
    """After a reply: end when the problem is done or the turn limit is reached, else wait for the learner."""
    if state.get("done") or state.get("end_reason"):
        return END
    return "student_turn"


def route_after_setup(state: State) -> Literal["open_session", "student_turn", "diagnose", "answer_question"]:
    """Greet a new problem, continue an unfinished one (input learner text is its next turn), or answer a question."""
    if state.get("mode") == "question":
        return "answer_question"
    if not state.get("greeted"):
        return "open_session"
    return "diagnose" if pending_learner_turn(state) else "student_turn"


def route_after_student(state: State) -> Literal["diagnose", "answer_question"]:
    """Diagnose a turn on the problem; in question mode answer it from the course material."""
    return "answer_question" if state.get("mode") == "question" else "diagnose"


def route_after_answer(state: State) -> Literal["student_turn", "__end__"]:
    """Question mode waits for the next learner message (a simulated student only works on problems)."""
    return END if state.get("end_reason") else "student_turn"


def build_graph(checkpointer: Any = None, store: Any = None) -> Any:
    """Return the compiled tutor graph; pass a checkpointer (thread = session) to pause for a human learner."""
    builder = StateGraph(State, context_schema=Context)
    builder.add_node("setup_problem", setup_problem)
    builder.add_node("open_session", open_session)
    builder.add_node("student_turn", student_turn)
    builder.add_node("diagnose", diagnose)
    builder.add_node("plan_move", plan_move)
    builder.add_node("respond", respond)
    builder.add_node("reveal_gate", reveal_gate)
    builder.add_node("answer_question", answer_question)
    builder.add_edge(START, "setup_problem")
    builder.add_conditional_edges("setup_problem", route_after_setup)
    builder.add_edge("open_session", "reveal_gate")
    builder.add_conditional_edges("student_turn", route_after_student)
    builder.add_conditional_edges("answer_question", route_after_answer)
    builder.add_edge("diagnose", "plan_move")
    builder.add_edge("plan_move", "respond")
    builder.add_edge("respond", "reveal_gate")
    builder.add_conditional_edges("reveal_gate", route_after_gate)
    return builder.compile(checkpointer=checkpointer, store=store, name="tutor")


graph = build_graph()
"""The tutor graph compiled without a checkpointer (for embedding and `langgraph dev`, which adds its own)."""
