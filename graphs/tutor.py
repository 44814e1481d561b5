"""The `tutor` graph: a learner chats, the tutor diagnoses, picks a move and scaffolds without giving the answer.

It combines CLASS scaffolding (Sonkar et al. 2023: evaluate the turn a–g, pick an action 1–12, track the
subproblem state w/x/y/z), MathDial teacher moves (focus, probing, telling, generic) and the Theory-of-Mind
explain-or-not decision of Saha et al. 2023 over the shared learner model (methods.md §4, §6, §1.6, §9).

    START -> setup_problem -> open_session -> reveal_gate -> student_turn -> diagnose -> plan_move
          -> respond -> reveal_gate -> (done or turn limit ? END : student_turn)

    question mode (no problem yet) and review mode (after a finished problem):
    START -> setup_problem -> answer_question -> student_turn -> answer_question -> ...

Every learner message is first read as a dialogue act (an answer attempt, an answer with working, a question
about the problem or the course, a request for the answer, guessing, a greeting, ...); only attempts are graded
and only graded attempts change the learner model. Hints climb a CLASS ladder (concept, quantities, operation,
a worked example with other numbers, the set-up) and no wording is repeated within a problem.

Input: `{"problem_id": "..."}` (a bundled problem), `{"problem_text": "...", "answer": 18}`, or
`{"problem_data": problem.model_dump(mode="json")}` (any `Problem`, e.g. from `load_problems`). On a thread
whose active (unfinished) problem is the same one, such an input continues it: nothing is reset and no second
opener is sent (the interrupt repeats the last reply). Another problem starts afresh below the conversation so
far (`problem_start` marks where); add `"restart": True` to start the same problem over. Without a problem,
`{"question": "..."}` or `{"messages": [HumanMessage("...")]}` starts question mode: the tutor answers from the
ingested course material (`materials`, filtered by `Context.course`), citing its passages, and then waits for
the next message; it never ends by itself, and a problem can be started later (a new input with a problem).
With a problem active, such an input is the learner's next turn on it (the reveal gate applies); after a
finished problem it is answered in review mode (its worked solution, questions, the next problem: the state's
`suggested_problem` is the one for the learner's weakest skill). In human mode
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

from dataclasses import dataclass
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from pedagraph.agents.evaluator import diagnose
from pedagraph.agents.student import student_turn
from pedagraph.agents.teacher import (
    open_session,
    pending_learner_turn,
    plan_move,
    respond,
    reveal_gate,
    setup_problem,
)
from pedagraph.agents.teacher_questions import answer_question

from pedagraph.methods.tutor.context import RevealPolicy, StudentMode, TutoringContext
from pedagraph.runtime import ModelOverride, bind_services, documented
from pedagraph.state import LearnerView, TutoringState, learner_facing

__all__ = ["Context", "ModelOverride", "RevealPolicy", "State", "StudentMode", "build_graph", "graph"]


@documented
@dataclass
class Context(TutoringContext):
    """Run-time settings of a tutoring session (not checkpointed: pass them on every call).

    Fields: `learner_id`, `course`, the per-role overrides `teacher_model` / `evaluator_model` /
    `student_model`, and the policy (`student_mode`, `reveal_policy`, `reveal_after`, `step_tell_after`,
    `explanation_budget`, `tom_threshold`, `tom_simulator`, `max_turns`, `student_persona`, `student_simulator`);
    see `TutoringContext`.
    """


class State(TutoringState, total=False):
    """Checkpointed state of one tutoring session (one thread); every value is JSON-serialisable."""


def route_after_gate(state: State) -> Literal["student_turn", "__end__"]:
    """After a reply: end when the problem is done or the turn limit is reached, else wait for the learner."""
    if state.get("done") or state.get("end_reason"):
        return END
    return "student_turn"


def route_after_setup(state: State) -> Literal["open_session", "student_turn", "diagnose", "answer_question"]:
    """Greet a new problem, continue an unfinished one (input learner text is its next turn), or answer a question."""
    if state.get("mode") in ("question", "review"):
        return "answer_question"
    if not state.get("greeted"):
        return "open_session"
    return "diagnose" if pending_learner_turn(state) else "student_turn"


def route_after_student(state: State) -> Literal["diagnose", "answer_question", "__end__"]:
    """Diagnose a turn on the problem; in question mode answer it from the course material; end a failed student."""
    if state.get("end_reason"):
        return END
    return "answer_question" if state.get("mode") in ("question", "review") else "diagnose"


def route_after_answer(state: State) -> Literal["student_turn", "__end__"]:
    """Question mode waits for the next learner message (a simulated student only works on problems)."""
    return END if state.get("end_reason") else "student_turn"


def build_graph(
    checkpointer: Any = None, store: Any = None, *, memory: Any = None, learners: Any = None, learner_view: bool = False
) -> Any:
    """Return the compiled tutor graph; pass a checkpointer (thread = session) to pause for a human learner.

    `memory` (a `pedagraph.memory.Memory`) and `learners` (a `pedagraph.learner.LearnerStore`) replace the
    process-wide stores of the configured `PEDAGRAPH_HOME` for this graph's nodes.
    """
    builder = StateGraph(State, context_schema=Context, output_schema=LearnerView if learner_view else None)
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
    compiled = builder.compile(checkpointer=checkpointer, store=store, name="tutor")
    if learner_view:
        learner_facing(compiled)
    return bind_services(compiled, learners=learners, memory=memory)


graph = build_graph(learner_view=True)
"""The tutor graph for embedding and `langgraph dev` (which adds its own checkpointer): it shows only `LearnerView`."""
