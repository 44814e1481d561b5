"""The `copilot` graph: a human tutor gets expert-like suggestions as the chat unfolds and picks, edits or ignores them.

Tutor CoPilot (Wang et al. 2024: a randomised trial with 900 tutors and 1,800 students, +4 points of topic mastery,
+9 for the students of lower-rated tutors) and its decision model Bridge (Wang et al., NAACL 2024): on each
student message, the error type, then a strategy and an intention, then a drafted reply (methods.md §3). The
decision is the tutor graph's (the same `Diagnosis` and `TutorMove`, the same learner model and reveal gate); the
suggestion goes to the human tutor, never straight to the student.

    START -> require_problem -> setup_problem -> open_session -> check_suggestion -> tutor_review
          -> (regenerate ? draft_suggestion -> check_suggestion -> tutor_review)
          -> (warning ? tutor_review) -> (done ? END : student_turn)
    student_turn -> diagnose -> plan_move -> draft_suggestion -> check_suggestion -> tutor_review -> ...

Input: a problem as for the tutor graph (`{"problem_id": ...}`, `{"problem_text": ..., "answer": ...}` or
`{"problem_data": ...}`). Two interrupts alternate on one thread:

* `{"type": "await_tutor", "suggestion": {...}, "warning": ..., "learner": <last student text>}` — the suggestion
  (`text`, `labels`: error_type, strategy, intention, move, CLASS category and action; `learner`: mastery and
  active misconceptions of the step's skills; `gate`: what the reveal gate did to the draft). Resume with
  `Command(resume={"action": "send"})`, `{"action": "edit", "text": ...}`, `{"action": "regenerate"}` (with
  `"strategy": "provide_hint"` etc. to choose Bridge step B for the next suggestion),
  `{"action": "own", "text": ...}` or `{"action": "ignore", "text": ...}`; add `"override": true` to send a text
  the gate warned about.
* `{"type": "await_learner", "tutor": <last sent message>}` — the student's turn (human mode); resume with the
  student's text. In `student_mode="simulated"` the simulated student answers instead (`student_simulator`).

`choices` logs every choice with the suggestion it replaced; `turns` traces every sent message (`copilot` says
which action sent it); `reveal_events` records every override of the gate. Pass the same `Context` on every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from pedagraph.agents.copilot import check_suggestion, draft_suggestion, require_problem, tutor_review
from pedagraph.agents.evaluator import diagnose
from pedagraph.agents.student import student_turn
from pedagraph.agents.teacher import open_session, pending_learner_turn, plan_move, setup_problem

from pedagraph.methods.copilot.suggestions import CopilotState
from pedagraph.methods.tutor.context import TutoringContext
from pedagraph.runtime import ModelOverride, bind_services, documented
from pedagraph.state import LearnerView, learner_facing

__all__ = ["Context", "ModelOverride", "State", "build_graph", "graph"]


@documented
@dataclass
class Context(TutoringContext):
    """Run-time settings of a copilot session (not checkpointed: pass them on every call).

    As the tutor's (`TutoringContext`): `learner_id` (the student), `teacher_model` (writes the suggestions; the
    scripted model uses the tutor's templates), `evaluator_model` (refines the diagnosis), `student_mode` (`human`
    for a second person, `simulated` for a simulated student), `reveal_policy`, `max_turns` and the rest.
    A real teacher decides Bridge's error -> strategy -> intention for each suggestion (`decisions`).
    """

    decisions: Literal["class", "bridge"] = "bridge"


class State(CopilotState, total=False):
    """Checkpointed state of one copilot session: the tutoring state plus the suggestion and the tutor's choices."""


def route_after_setup(state: State) -> Literal["open_session", "student_turn", "diagnose"]:
    """Suggest an opener for a new problem; continue an unfinished one (the copilot needs a problem)."""
    if not state.get("greeted"):
        return "open_session"
    return "diagnose" if pending_learner_turn(state) else "student_turn"


def route_after_review(state: State) -> Literal["tutor_review", "draft_suggestion", "student_turn", "__end__"]:
    """Ask the tutor again after a warning, draft another suggestion on request, else wait for the student or end."""
    review = state.get("review")
    if review == "warned":
        return "tutor_review"
    if review == "regenerate":
        return "draft_suggestion"
    if state.get("done") or state.get("end_reason"):
        return END
    return "student_turn"


def route_after_student(state: CopilotState) -> Literal["diagnose", "__end__"]:
    """Diagnose the learner's turn; end when a simulated student's model failed (`end_reason` is set)."""
    return END if state.get("end_reason") else "diagnose"


def build_graph(
    checkpointer: Any = None, store: Any = None, *, memory: Any = None, learners: Any = None, learner_view: bool = False
) -> Any:
    """Return the compiled copilot graph; a checkpointer (thread = session) is needed for its interrupts."""
    builder = StateGraph(State, context_schema=Context, output_schema=LearnerView if learner_view else None)
    builder.add_node("require_problem", require_problem)
    builder.add_node("setup_problem", setup_problem)
    builder.add_node("open_session", open_session)
    builder.add_node("student_turn", student_turn)
    builder.add_node("diagnose", diagnose)
    builder.add_node("plan_move", plan_move)
    builder.add_node("draft_suggestion", draft_suggestion)
    builder.add_node("check_suggestion", check_suggestion)
    builder.add_node("tutor_review", tutor_review)
    builder.add_edge(START, "require_problem")
    builder.add_edge("require_problem", "setup_problem")
    builder.add_conditional_edges("setup_problem", route_after_setup)
    builder.add_edge("open_session", "check_suggestion")
    builder.add_conditional_edges("student_turn", route_after_student)
    builder.add_edge("diagnose", "plan_move")
    builder.add_edge("plan_move", "draft_suggestion")
    builder.add_edge("draft_suggestion", "check_suggestion")
    builder.add_edge("check_suggestion", "tutor_review")
    builder.add_conditional_edges("tutor_review", route_after_review)
    compiled = builder.compile(checkpointer=checkpointer, store=store, name="copilot")
    if learner_view:
        learner_facing(compiled)
    return bind_services(compiled, learners=learners, memory=memory)


graph = build_graph(learner_view=True)
"""The copilot graph for embedding and `langgraph dev` (which adds its own checkpointer): shows only `LearnerView`."""
