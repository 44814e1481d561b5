"""The teacher outside a problem: question mode (no problem yet) and review mode (after a finished problem).

Question mode answers from the ingested course material (`materials`, filtered by the context's course), with
citations: the scripted model quotes the best passages, a real teacher answers grounded in them; with no
matching material, a glossary answer, else how to add notes. Review mode answers about the finished problem:
its worked solution, questions (course notes, glossary), and what to do next (a problem for the weakest skill).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pedagraph.agents.teacher import problem_of, turn_trace
from pedagraph.prompts import render

from pedagraph.learning import pending, preview
from pedagraph.memory.tools import Retrieval
from pedagraph.messages import dialogue, last_text, visible_history
from pedagraph.methods.tutor.concepts import explain
from pedagraph.methods.tutor.context import TutoringContext
from pedagraph.methods.tutor.gate import GateView, make_gate, passes_all, problems_quoted_in, values_in
from pedagraph.methods.tutor.material import (
    MATERIAL_MIN_SCORE,
    cited,
    course_scope,
    material_lines,
    question_reply,
    search_material,
)
from pedagraph.methods.tutor.policy import notice_once
from pedagraph.methods.tutor.replies import template, template_reply
from pedagraph.methods.tutor.review import review_act, review_move
from pedagraph.methods.tutor.suggest import next_options, suggest_next, suggestion_line
from pedagraph.problems import bundled_problems, steps_of
from pedagraph.runtime import context_of, real_model, services
from pedagraph.state import TutoringState
from pedagraph.streaming import GatedStream, finish_reply, stream_reply, stream_writer
from pedagraph.taxonomy import StudentResponse, SubproblemState, TutorMove

__all__ = ["answer_question"]


def _question_messages(state: TutoringState, ctx: TutoringContext, passages: list[dict[str, Any]]
                       ) -> list[BaseMessage]:  # fmt: skip
    system = render("tutor/answer_from_material", scope=course_scope(ctx.course), material=material_lines(passages))
    history = dialogue(state.get("messages", []), state.get("question_start", 0))
    return [SystemMessage(content=system), *history[-9:]]


def _question_check(state: TutoringState, ctx: TutoringContext, question: str,
                    passages: list[dict[str, Any]] | None = None) -> Callable[[str], bool]:  # fmt: skip
    """The gate outside a problem: no answer to any problem the learner has not solved.

    Those are this thread's problem unless it is finished, the bundled problems they started in any session (each
    judged with its earlier sessions' replies and extraction attempts), and any the question quotes (a problem
    pasted as a "course question"). With `passages` (a model words the reply) the allow-list applies too: the
    reply states only values the learner saw or said, or that the passages it cites print.
    """
    finished = state.get("done") or state.get("learner_solved")
    problems = [problem_of(state)] if state.get("problem") and not finished else []
    record = services().learner_store().get(ctx.learner_id)
    worked = record.problems_worked()
    bundled = bundled_problems()
    started = set(worked) | set(record.problems)  # answered a step of, or was shown a reply on
    problems += [p for p in bundled if p.id in started and len(steps_of(p)) - 1 not in worked.get(p.id, ())]
    problems += problems_quoted_in(question, bundled)
    done = (state.get("problem") or {}).get("id") if finished else None
    learner, prior = visible_history(state.get("messages", []), state.get("question_start", 0))
    gates = [(gate, record.gate_history(p.id)) for p in problems if p.id != done and (gate := make_gate(p)) is not None]
    if passages is None:
        return passes_all([(gate, GateView.of(learner, prior, earlier)) for gate, earlier in gates])

    def check(text: str) -> bool:
        given = values_in([p["text"] for p in passages if p.get("citation") in cited(passages, text)])
        return passes_all([(gate, GateView.of(learner, prior, earlier, given)) for gate, earlier in gates])(text)

    return check


def _question_mode(state: TutoringState, ctx: TutoringContext, question: str, said: list[str]
                   ) -> tuple[TutorMove, Retrieval, bool]:  # fmt: skip
    """The move answering a message with no problem yet, the search made, and whether a real teacher may word it."""
    found = search_material(question, course=ctx.course, memory=services().memory, min_score=MATERIAL_MIN_SCORE,
                            learner_id=ctx.learner_id)  # fmt: skip
    teacher = real_model(ctx, "teacher") if found.status in ("found", "no_match") else None
    notice = template("model_failed_notice" if teacher is not None else "scripted_material_notice")
    notice = f"{notice} " if notice_once(said, "scripted_material_notice") or teacher is not None else ""
    name, values = question_reply(found, course_scope(ctx.course), notice)
    concept = explain(question)
    if not found.hits and concept is not None and found.status != "error":
        name = "material_concept_none" if found.status == "empty" else "material_concept"
        values = {"notice": notice_once(said), "answer": concept.text, "scope": course_scope(ctx.course)}
    move = TutorMove.make("question", StudentResponse.INQUIRY, 0, name, values,
                          sub_state=SubproblemState.NOT_APPLICABLE, mode="question")  # fmt: skip
    return move, found, teacher is not None


def _review_mode(state: TutoringState, ctx: TutoringContext, text: str, said: list[str]
                 ) -> tuple[TutorMove, Retrieval | None, str | None]:  # fmt: skip
    """The move answering a message after a finished problem, the search made (if any), the problem suggested."""
    problem = problem_of(state)
    found = None
    if review_act(problem, text) == "question":
        found = search_material(text, course=ctx.course, memory=services().memory, min_score=MATERIAL_MIN_SCORE,
                                learner_id=ctx.learner_id)  # fmt: skip
    learner = preview(services().learner_store(), ctx.learner_id, pending(state.get("pending_learning")))
    suggestion = suggest_next(learner, bundled_problems(), exclude=[problem.id])
    notice = notice_once(said, "scripted_material_notice") if found is not None and found.hits else notice_once(said)
    move = review_move(problem, text, found=found, next_text=next_options(suggestion), said=said, notice=notice,
                       suggestion=suggestion_line(suggestion))  # fmt: skip
    return move, found, suggestion.problem.id if suggestion else state.get("suggested_problem")


def answer_question(state: TutoringState, runtime: Runtime[TutoringContext]) -> dict[str, Any]:
    """Answer the learner's latest message outside a problem: question mode, or review mode after a problem.

    The scripted model quotes the best passages of the course material with their citations; a real teacher
    answers questions grounded in them, citing in brackets. Review mode may show the finished problem's worked
    solution and suggests the next problem.
    """
    ctx = context_of(runtime, TutoringContext)
    question = last_text(state.get("messages", []), HumanMessage)
    review = state.get("mode") == "review"
    start = state.get("problem_start", 0) if review else state.get("question_start", 0)
    said = visible_history(state.get("messages", []), start)[1]
    suggested = state.get("suggested_problem")
    if review:
        move, found, suggested = _review_mode(state, ctx, question, said)
        worded = False
    else:
        move, found, worded = _question_mode(state, ctx, question, said)
    teacher = real_model(ctx, "teacher") if worded else None
    writer = stream_writer()
    passages = found.hits if found is not None else []
    shown = _question_check(state, ctx, question, passages if teacher is not None else None)
    stream = GatedStream(shown, writer)
    final, source = stream_reply(stream, model=teacher, messages=lambda: _question_messages(state, ctx, passages),
                                 fallback=lambda: template_reply(move))  # fmt: skip
    if not shown(final):  # it would answer a problem the learner is working on, or states values it may not
        final, source = (stream.sent.strip(), "cut") if stream.sent.strip() else (template("question_withheld"),
                                                                                  "withheld")  # fmt: skip
    finish_reply(writer, final, stream.sent)
    move = move.model_copy(update={"material_search": found.status if found is not None else None,
                                   "material": passages, "reply_source": source,
                                   "template": "answer_from_material" if source == "model" else move.template})
    gate = {"blocked": False, "reason": "no_active_problem", "matched": None, "action": None}
    trace = turn_trace(state, move, final, gate, learner=question, diagnosis=None)
    update: dict[str, Any] = {"messages": [AIMessage(content=final)], "turns": [trace], "last_plan": move.dump(),
                              "draft_reply": final, "streamed_text": "", "suggested_problem": suggested}  # fmt: skip
    if ctx.student_mode == "simulated":
        update["end_reason"] = "answered"  # a simulated student only works on problems
    return update
