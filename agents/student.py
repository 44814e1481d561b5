"""The student of the `tutor` graph: a human learner behind an interrupt, or a simulated learner (MathDial-style).

Human mode pauses the graph with `interrupt({"type": "await_learner", "tutor": <last visible reply>})`; the
caller resumes with `Command(resume=<the learner's text>)` (a string, a `{"text": ...}` dict or a message).
Simulated mode asks the student model, prompted with `prompts/student/simulate.md` (a persona and the problem)
and the visible conversation with the roles swapped (the tutor speaks as the user) — never the tutor's hidden
decisions or the answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pedagraph.agents.teacher import context_of, problem_of, role_model
from pedagraph.prompts import render

from pedagraph.errors import DataError

if TYPE_CHECKING:
    from pedagraph.graphs.tutor import Context, State


def _content(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content)


def last_tutor_reply(state: State) -> str:
    """Return the latest visible tutor reply."""
    for message in reversed(state.get("messages", [])):
        if isinstance(message, AIMessage):
            return _content(message)
    return ""


def learner_text(value: Any) -> str:
    """Turn a resume value (text, `{"text": ...}` / `{"content": ...}`, or a message) into the learner's text."""
    if isinstance(value, BaseMessage):
        return _content(value).strip()
    if isinstance(value, dict):
        value = value.get("text", value.get("content", ""))
    return ("" if value is None else str(value)).strip()


def simulate_student(state: State, ctx: Context) -> str:
    """Ask the student model for the simulated learner's next turn (the tutor speaks as the user)."""
    model = role_model("student", ctx.student_model)
    system = render(
        "student/simulate",
        persona=ctx.student_persona or render("student/default_persona").strip(),
        problem=problem_of(state).question,
    )
    turns: list[BaseMessage] = [SystemMessage(content=system)]
    for message in state.get("messages", [])[state.get("problem_start", 0) :]:
        if isinstance(message, AIMessage):
            turns.append(HumanMessage(content=_content(message)))
        elif isinstance(message, HumanMessage):
            turns.append(AIMessage(content=_content(message)))
    reply = model.invoke(turns)
    return learner_text(reply)


def student_turn(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Get the learner's next turn: wait for a human (interrupt) or ask the simulated student."""
    ctx = context_of(runtime)
    owner = state.get("learner_id")
    if owner is not None and owner != ctx.learner_id:
        raise DataError(
            f"this session belongs to learner {owner!r}, but the call's context names {ctx.learner_id!r}",
            hint="pass the same Context(learner_id=...) on every call of a thread, resumes included",
        )
    if ctx.student_mode == "simulated":
        text = simulate_student(state, ctx)
    else:
        text = learner_text(interrupt({"type": "await_learner", "tutor": last_tutor_reply(state)}))
    return {"messages": [HumanMessage(content=text)], "turn_count": state.get("turn_count", 0) + 1}
