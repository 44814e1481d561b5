"""The teacher of the tutoring graphs: load a problem, open the session, plan a move, reply, gate it, answer questions.

Each node reads state, calls the tutoring core (`pedagraph.methods.tutor`) and returns an update. Decisions are
deterministic wherever the step answer is known (answer checks, the CLASS policy, the reveal gate); a real
teacher model only words the reply, frames the move and decomposes free-form problems. When the teacher role
resolves to the built-in `scripted` model, replies are the deterministic templates in `prompts/tutor/templates/`.

* Tutor text enters `messages` only in `reveal_gate`, after the final reveal check; the turn's learner-model
  changes (gathered in `pending_learning` by `open_session` and `diagnose`) are committed there too, in one
  transaction.
* Question mode (`answer_question`): with no problem active, a learner message is answered from the ingested
  course material (`materials`, filtered by the context's course), with citations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pedagraph.prompts import render

from pedagraph.errors import DataError, ModelError
from pedagraph.learner import GateHistory
from pedagraph.learning import commit, pending, preview, reply_shown, session_started
from pedagraph.llm import ManagedChatModel
from pedagraph.messages import dialogue, last_text, message_text, visible_history
from pedagraph.methods.copilot.bridge import decide, rule_decisions
from pedagraph.methods.copilot.suggestions import bridge_error
from pedagraph.methods.distill.library import Strategy as LibraryStrategy
from pedagraph.methods.distill.library import strategies_for
from pedagraph.methods.distill.scenarios import situation_text
from pedagraph.methods.tutor.context import TutoringContext
from pedagraph.methods.tutor.decisions import class_turn, rule_class_turn
from pedagraph.methods.tutor.decompose import decompose
from pedagraph.methods.tutor.gate import GateView, evaluator_flags_leak, gate_check, make_gate, passes, values_in
from pedagraph.methods.tutor.ladder import ladder_hint
from pedagraph.methods.tutor.material import (
    MATERIAL_MIN_SCORE,
    cited,
    material_inquiry,
    material_lines,
    search_material,
)
from pedagraph.methods.tutor.policy import Progress, choose_move, notice_once, reveal_permitted, tom_decision
from pedagraph.methods.tutor.replies import safe_replacements, template, template_reply
from pedagraph.methods.tutor.session import CLEARED_INPUTS, continues_active, fresh_session_state
from pedagraph.methods.tutor.suggest import next_options, suggest_next
from pedagraph.methods.tutor.verdict import misquoted_quantity, verdict_disagreement
from pedagraph.problems import Problem, bundled_problems, get_problem, steps_of
from pedagraph.runtime import check_owner, context_of, real_model, services, thread_id
from pedagraph.state import TutoringState
from pedagraph.streaming import GatedStream, finish_reply, stream_reply, stream_writer
from pedagraph.taxonomy import (
    STRATEGY_MOVE,
    Diagnosis,
    Intention,
    Strategy,
    StudentResponse,
    SubproblemState,
    TutorMove,
)
from pedagraph.visible import chat_text

DISAGREEMENTS = frozenset({"affirms_wrong_answer", "affirms_non_answer", "denies_right_answer", "misquotes_problem"})
"""Reasons a model's reply contradicts the verdict or the problem."""
OWN_WORDS = DISAGREEMENTS | {"unlisted_value"}
"""Reasons a model's reply (not regenerated well) is replaced by the move's own deterministic words."""
HINT_STRATEGIES = frozenset({Strategy.PROVIDE_HINT, Strategy.PROVIDE_STRATEGY, Strategy.EXPLAIN_CONCEPT})
"""Strategies that count as a hint received in the learner's stats."""


# -- reading state -------------------------------------------------------------------------------------------


def problem_of(state: TutoringState) -> Problem:
    """Return the session's problem."""
    return Problem.model_validate(state["problem"])


def progress_of(state: TutoringState) -> Progress:
    """The learner's progress on the current problem, as the policy reads it."""
    n = len(steps_of(problem_of(state)))
    return Progress(
        step_index=state.get("step_index", 0),
        attempts=tuple(state.get("attempts") or [0] * n),
        hint_level=tuple(state.get("hint_level") or [0] * n),
        explained=tuple(state.get("explained") or [False] * n),
        budget_used=state.get("budget_used", 0),
        learner_solved=bool(state.get("learner_solved")),
    )


def conversation(state: TutoringState) -> tuple[list[str], list[str]]:
    """(learner texts, tutor replies) of the current problem's conversation."""
    return visible_history(state.get("messages", []), state.get("problem_start", 0))


def gate_view(state: TutoringState, move: TutorMove | None = None, text: str = "") -> GateView:
    """What the reveal gate judges this problem's replies against, the learner's earlier sessions included.

    With the `move` a model words, the allow-list applies to `text`: besides what the learner saw and said, it
    may state the values of the move's own template and step and of the course passages it cites.
    """
    learner, prior = conversation(state)
    earlier = GateHistory.model_validate(state.get("earlier_sessions") or {})
    if move is None:
        return GateView.of(learner, prior, earlier)
    step = steps_of(problem_of(state))[move.step_index]
    passages = [p["text"] for p in move.material if p.get("citation") in cited(move.material, text)]
    given = values_in([template_reply(move, live=True), step.question, *passages])
    return GateView.of(learner, prior, earlier, given)


def pending_learner_turn(state: TutoringState) -> bool:
    """Whether the latest visible message is the learner's, not answered yet (a question passed as input)."""
    messages = state.get("messages", [])
    return bool(messages) and isinstance(messages[-1], HumanMessage)


def _may_reveal(state: TutoringState, ctx: TutoringContext) -> tuple[bool, str]:
    return reveal_permitted(progress_of(state), ctx, Diagnosis.of(state.get("last_diagnosis")))


# -- setup_problem and open_session --------------------------------------------------------------------------


def _new_problem(state: TutoringState, ctx: TutoringContext) -> Problem | None:
    """The problem given as input (a bundled id, any Problem, or free text decomposed by a real teacher)."""
    if state.get("problem_id"):
        return get_problem(str(state["problem_id"]))
    if state.get("problem_data"):
        return Problem.model_validate(state["problem_data"])
    if state.get("problem_text"):
        problem = Problem.from_text(str(state["problem_text"]), state.get("answer"))
        teacher = real_model(ctx, "teacher")
        return decompose(problem, teacher) if teacher is not None and not problem.has_steps else problem
    return None


def setup_problem(state: TutoringState, runtime: Runtime[TutoringContext]) -> dict[str, Any]:
    """Load a new problem, continue the active one, or answer messages in question or review mode.

    The active problem given again continues it (no second opener); `restart: True` starts it over; another
    problem starts afresh below the conversation so far. A learner message given as input with a problem active
    is its next turn (the reveal gate applies); after a finished problem it is answered in review mode; with no
    problem at all, in question mode.
    """
    ctx = context_of(runtime, TutoringContext)
    question = str(state.get("question") or "").strip()
    asked = [HumanMessage(content=question)] if question else []
    problem = None if continues_active(state) else _new_problem(state, ctx)
    if problem is not None:
        start = len(state.get("messages", []))
        earlier = services().learner_store().get(ctx.learner_id).gate_history(problem.id)
        return {**fresh_session_state(problem, ctx.learner_id, problem_start=start), **CLEARED_INPUTS,
                "earlier_sessions": earlier.model_dump(mode="json")}  # fmt: skip
    if state.get("problem") and not state.get("done"):
        turns = 0  # after the turn limit the learner gets another `max_turns`
        if asked or pending_learner_turn(state):
            turns = (0 if state.get("end_reason") else state.get("turn_count", 0)) + 1
        return {**CLEARED_INPUTS, "turn_count": turns, "end_reason": None, "mode": "problem", "messages": asked}
    if asked or pending_learner_turn(state):
        check_owner(state.get("learner_id"), ctx.learner_id)
        start = len(state.get("messages", [])) - (0 if asked else 1)
        mode = "review" if state.get("problem") else "question"
        return {**CLEARED_INPUTS, "mode": mode, "question_start": start, "learner_id": ctx.learner_id, "turn_count": 0,
                "end_reason": None, "messages": asked}  # fmt: skip
    raise DataError(
        "no problem to tutor and no question to answer",
        hint='start the session with {"problem_id": "gsm8k-sample-1"}, {"problem_text": "...", "answer": 18} '
        'or a question: {"question": "What is a common denominator?"}',
    )


def open_session(state: TutoringState, runtime: Runtime[TutoringContext]) -> dict[str, Any]:
    """Greet the learner, state the problem and the first sub-question (a fixed, deterministic opener)."""
    ctx = context_of(runtime, TutoringContext)
    problem = problem_of(state)
    sub_state = SubproblemState.IN_PROGRESS
    if problem.has_steps:
        text = template("open", problem=problem.question, question=problem.steps[0].question)
    elif real_model(ctx, "teacher") is None:
        notice = template("stepless_check" if problem.final_value is not None else "stepless_no_answer")
        text = template("open_stepless", problem=problem.question, notice=notice)
        sub_state = SubproblemState.NOT_APPLICABLE
    else:
        text = template("open_free", problem=problem.question)
    move = TutorMove.make("open", StudentResponse.NOT_APPLICABLE, 0, "open", sub_state=sub_state)
    stream = GatedStream(passes(make_gate(problem), gate_view(state)), stream_writer())
    stream.feed_known(text)
    return {"last_plan": move.dump(), "last_diagnosis": {}, "subproblem_state": sub_state.value, "greeted": True,
            "draft_reply": text, "streamed_text": stream.sent,
            "pending_learning": session_started(ctx.course).model_dump(mode="json")}  # fmt: skip


# -- plan_move -----------------------------------------------------------------------------------------------


def _turn_lines(state: TutoringState, limit: int = 12) -> str:
    """The current problem's visible conversation as `student:` / `tutor:` lines (the latest `limit`)."""
    messages = state.get("messages", [])[state.get("problem_start", 0):][-limit:]
    return "\n".join(f"{'student' if isinstance(m, HumanMessage) else 'tutor'}: {' '.join(message_text(m).split())}"
                     for m in messages)  # fmt: skip


def _class_decided(state: TutoringState, teacher: ManagedChatModel, problem: Problem, move: TutorMove,
                   diagnosis: Diagnosis) -> TutorMove:  # fmt: skip
    """A real teacher's CLASS turn on the policy's move, checked (`methods.tutor.decisions`); focus only if gated."""
    prompt = render(
        "tutor/class_turn",
        problem=problem.question,
        step_question=steps_of(problem)[move.step_index].question,
        learner=last_text(state.get("messages", []), HumanMessage),
        verdict=diagnosis.verdict.replace("_", " "),
    )
    decided = class_turn(teacher, prompt, move, node="plan_move")
    if decided.focus and not passes(make_gate(problem), gate_view(state))(decided.focus):
        decided = decided.model_copy(update={"focus": None})
    return decided


def _bridge_decided(state: TutoringState, teacher: ManagedChatModel, problem: Problem, move: TutorMove,
                    diagnosis: Diagnosis) -> TutorMove:  # fmt: skip
    """A real teacher's Bridge decisions (error -> strategy -> intention) for the move, each checked by the rules."""
    rules = {"error": bridge_error(diagnosis), "strategy": move.strategy.value, "intention": move.intention.value}
    step = steps_of(problem)[move.step_index]
    decided = decide(teacher, topic=f"{problem.question}\nCurrent step: {step.question}",
                     conversation=_turn_lines(state), rules=rules,
                     verdict=diagnosis.verdict if diagnosis.graded else None, reveal=move.reveal,
                     node="plan_move.bridge")  # fmt: skip
    strategy = Strategy(decided.strategy)
    record = {"values": {"error": decided.error, "strategy": decided.strategy, "intention": decided.intention},
              "by": decided.by, "replaced": decided.replaced}  # fmt: skip
    return move.model_copy(update={"strategy": strategy, "move": STRATEGY_MOVE[strategy],
                                   "intention": Intention(decided.intention),
                                   "decisions": {**(move.decisions or {}), "bridge": record}})  # fmt: skip


def _decided(state: TutoringState, ctx: TutoringContext, teacher: ManagedChatModel | None, problem: Problem,
             move: TutorMove, diagnosis: Diagnosis) -> TutorMove:  # fmt: skip
    """The turn's decisions: a real teacher's (CLASS turn, or Bridge's steps for the copilot), else the rules'."""
    if teacher is None or move.kind in ("reveal", "affirm_done"):  # counted as the rules'; the move is unchanged
        if ctx.decisions == "bridge":
            rule_decisions({"error": bridge_error(diagnosis), "strategy": move.strategy.value,
                            "intention": move.intention.value})  # fmt: skip
        else:
            rule_class_turn(move)
        return move
    if ctx.decisions == "bridge":
        return _bridge_decided(state, teacher, problem, move, diagnosis)
    return _class_decided(state, teacher, problem, move, diagnosis)


def _advance(state: TutoringState, ctx: TutoringContext, move: TutorMove) -> dict[str, Any]:
    """The progress a move makes: hint level, explanation budget, the next step, the end of the problem."""
    progress = progress_of(state)
    idx = progress.step_index
    hint_level, explained = list(progress.hint_level), list(progress.explained)
    hint_level[idx] = max(hint_level[idx], move.hint_level)
    budget_used = progress.budget_used + int(move.spends_budget)
    explained[idx] = explained[idx] or move.spends_budget
    done = move.subproblem_state == SubproblemState.DONE
    end_reason = ("revealed" if move.reveal else "solved") if done else None
    closing = not done and state.get("turn_count", 0) >= ctx.max_turns
    move = move.model_copy(update={"hint_level": hint_level[idx], "closing": closing})
    return {"last_plan": move.dump(), "step_index": move.step_index, "subproblem_state": move.subproblem_state.value,
            "hint_level": hint_level, "explained": explained, "budget_used": budget_used, "done": done,
            "end_reason": "turn_limit" if closing else end_reason}  # fmt: skip


def _next_up(state: TutoringState, ctx: TutoringContext, move: TutorMove) -> tuple[TutorMove, str | None]:
    """A move that finishes the problem, with what to do next and the problem suggested (weakest skill)."""
    learner = preview(services().learner_store(), ctx.learner_id, pending(state.get("pending_learning")))
    suggestion = suggest_next(learner, bundled_problems(), exclude=[problem_of(state).id])
    values = {**move.values, "next": next_options(suggestion)}
    return move.model_copy(update={"values": values}), suggestion.problem.id if suggestion else None


def plan_move(state: TutoringState, runtime: Runtime[TutoringContext]) -> dict[str, Any]:
    """Choose the tutor's move (CLASS action, Bridge strategy/intention, MathDial move) and update progress."""
    ctx = context_of(runtime, TutoringContext)
    problem = problem_of(state)
    teacher = real_model(ctx, "teacher")

    def decide(step: Any) -> dict[str, Any]:
        learner = preview(services().learner_store(), ctx.learner_id, pending(state.get("pending_learning")))
        return tom_decision(ctx, learner, step, state.get("budget_used", 0), teacher, problem)

    learner_said = last_text(state.get("messages", []), HumanMessage)
    said, shown = conversation(state)[1], passes(make_gate(problem), gate_view(state))
    diagnosis = Diagnosis.of(state.get("last_diagnosis")) or Diagnosis()
    move = choose_move(problem=problem, diagnosis=diagnosis, progress=progress_of(state), policy=ctx,
                       decide=decide, said=said, shown=shown, text=learner_said)  # fmt: skip
    if move.kind in ("inquiry", "redirect") and diagnosis.act != "meta":
        found = search_material(learner_said, course=ctx.course, memory=services().memory, min_score=MATERIAL_MIN_SCORE,
                                shown=shown, learner_id=ctx.learner_id)  # fmt: skip
        question = steps_of(problem)[move.step_index].question
        move = material_inquiry(move, found, shown, question, notice_once(said, "scripted_material_notice"))
    suggested = None
    if move.kind in ("affirm_done", "reveal"):
        move, suggested = _next_up(state, ctx, move)
    move = _decided(state, ctx, teacher, problem, move, diagnosis)
    return {**_advance(state, ctx, move), "suggested_problem": suggested or state.get("suggested_problem")}


# -- respond -------------------------------------------------------------------------------------------------


def turn_strategies(state: TutoringState, ctx: TutoringContext) -> list[LibraryStrategy]:
    """The distilled strategies for this turn's situation (the learner's words, the diagnosis, a given profile)."""
    if ctx.strategies in (None, "", False):
        return []
    diagnosis = Diagnosis.of(state.get("last_diagnosis"))
    label = diagnosis.category.label if diagnosis is not None else ""
    situation = situation_text(last_text(state.get("messages", []), HumanMessage), label, ctx.student_persona)
    return strategies_for(ctx.strategies, situation, memory=services().memory_store(), k=ctx.strategy_k,
                          approved_only=ctx.strategy_approved_only)  # fmt: skip


def _strategy_lines(strategies: list[LibraryStrategy]) -> str:
    if not strategies:
        return ""
    return render("tutor/strategies", strategies="\n".join(f"- {s.line()}" for s in strategies)).strip() + "\n"


def _respond_messages(state: TutoringState, move: TutorMove, allowed: bool,
                      strategies: list[LibraryStrategy] | None = None) -> list[BaseMessage]:  # fmt: skip
    problem = problem_of(state)
    steps = steps_of(problem)
    step = steps[move.step_index]
    rule = render("tutor/reveal_allowed", answer=problem.final_answer) if allowed else render("tutor/reveal_forbidden")
    system = render(
        "tutor/respond",
        problem=problem.question,
        step_number=step.index + 1,
        step_count=len(steps),
        step_question=step.question,
        category=move.category.label,
        action=move.action.value,
        strategy=move.strategy.value,
        intention=move.intention.value,
        focus=move.focus or "(none)",
        guidance=template_reply(move, live=True),
        reveal_rule=rule.strip(),
        closing=render("tutor/closing_note").strip() if move.closing else "",
        material=material_lines(move.material),
        strategies=_strategy_lines(strategies or []),
    )
    return [SystemMessage(content=system), *dialogue(state.get("messages", []), state.get("problem_start", 0))]


def respond(state: TutoringState, runtime: Runtime[TutoringContext]) -> dict[str, Any]:
    """Write the visible reply for the move (its template on the scripted model), streaming only gated text."""
    ctx = context_of(runtime, TutoringContext)
    move = TutorMove.model_validate(state["last_plan"])
    problem = problem_of(state)
    allowed = _may_reveal(state, ctx)[0]
    teacher = real_model(ctx, "teacher")
    if teacher is not None and move.material_search is None:  # material for the step (a question's was searched)
        step = steps_of(problem)[move.step_index]
        found = search_material(f"{problem.question}\n{step.question}", course=ctx.course, memory=services().memory,
                                learner_id=ctx.learner_id)  # fmt: skip
        move = move.model_copy(update={"material_search": found.status, "material": found.hits})
    if teacher is None:
        stream = GatedStream(passes(make_gate(problem), gate_view(state), allowed=allowed), stream_writer())
    else:  # a model's words: shown sentence by sentence after every check, held for a real evaluator's leak check
        stream = GatedStream(reply_check(state, ctx, move), stream_writer(), hold=_leak_check_on(state, ctx))
    strategies = turn_strategies(state, ctx) if teacher is not None else []
    text, source = stream_reply(stream, model=teacher, messages=lambda: _respond_messages(state, move, allowed,
                                strategies), fallback=lambda: template_reply(move))  # fmt: skip
    used = [{"id": s.id, "strategy": s.strategy, "kind": s.kind, "skill": s.skill, "score": s.score}
            for s in strategies] if source == "model" else []  # fmt: skip
    return {"draft_reply": text, "streamed_text": stream.sent, "strategies_used": used,
            "last_plan": move.model_copy(update={"reply_source": source}).dump()}  # fmt: skip


# -- reveal_gate ---------------------------------------------------------------------------------------------


def turn_trace(state: TutoringState, move: TutorMove, reply: str, gate: dict[str, Any], *, learner: str | None,
               diagnosis: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    """The hidden record of one tutor turn (`turns`): learner text, diagnosis, move, reply, gate, citations."""
    return {"turn": len(state.get("turns", [])), "learner": learner, "diagnosis": diagnosis, "plan": move.dump(),
            "reply": reply, "gate": gate, "citations": cited(move.material, reply),
            "strategies": list(state.get("strategies_used") or []) if move.kind != "open" else []}  # fmt: skip


def _regenerate(model: ManagedChatModel, problem: Problem, move: TutorMove, draft: str, reason: str) -> str | None:
    step = steps_of(problem)[move.step_index]
    prompt = render("tutor/regenerate", reason=reason, draft=draft, step_number=step.index + 1,
                    step_question=step.question, guidance=template_reply(move, live=True))  # fmt: skip
    try:
        return message_text(model.invoke([SystemMessage(content=prompt)])).strip() or None
    except ModelError:
        return None


def _leak_check_on(state: TutoringState, ctx: TutoringContext) -> bool:
    """Whether a real evaluator judges the whole reply for leaks (then a model's reply is held until it has)."""
    problem = problem_of(state)
    return bool(ctx.leak_check and problem.final_value is not None and real_model(ctx, "evaluator") is not None
                and not _may_reveal(state, ctx)[0])  # fmt: skip


def _reply_issue(state: TutoringState, ctx: TutoringContext, move: TutorMove, text: str, *,
                 model: bool | None = None, evaluator: bool = True) -> dict[str, Any] | None:  # fmt: skip
    """What is wrong with a reply, or None when it may be shown.

    It gives the answer away; or, for a model's reply, it states a value the learner may not see yet (the
    allow-list), contradicts the verdict or the problem, or a real evaluator says it leaks.
    """
    problem = problem_of(state)
    model = move.reply_source == "model" if model is None else model
    result = gate_check(make_gate(problem), text, gate_view(state, move if model else None, text))
    if result["blocked"]:
        return result
    if not model:
        return None  # the templates agree with the verdict by construction
    disagreement = verdict_disagreement(text, Diagnosis.of(state.get("last_diagnosis"))) or misquoted_quantity(
        text, problem
    )
    if disagreement is not None:
        return {"blocked": True, "reason": disagreement.reason, "matched": disagreement.matched}
    judge = real_model(ctx, "evaluator") if evaluator and _leak_check_on(state, ctx) else None
    if judge is not None and evaluator_flags_leak(judge, problem, text):
        return {"blocked": True, "reason": "evaluator_leak_check", "matched": None}
    return None


def reply_check(state: TutoringState, ctx: TutoringContext, move: TutorMove) -> Callable[[str], bool]:
    """The check a model's reply passes, sentence by sentence, before any of it is shown (the final check's rules)."""
    allowed = _may_reveal(state, ctx)[0]

    def check(text: str) -> bool:
        if allowed and gate_check(make_gate(problem_of(state)), text, gate_view(state))["blocked"]:
            return True  # the policy lets the tutor give the answer now
        return _reply_issue(state, ctx, move, text, model=True, evaluator=False) is None

    return check


def gated_reply(state: TutoringState, ctx: TutoringContext, move: TutorMove, draft: str, sent: str = ""
                 ) -> tuple[str, str | None, dict[str, Any]]:  # fmt: skip
    """The reply the learner gets, the gate's action (allowed, regenerated once, replaced, cut) and what it found.

    `sent` is what was already shown of the draft (sentences that passed every check); a draft that fails later
    keeps them and ends with the move's own words ("cut"), since nothing shown is taken back. The copilot gates
    its suggestions with it too, as the tutor gates its replies.
    """
    problem = problem_of(state)
    result = gate_check(make_gate(problem), draft, gate_view(state))
    if result["blocked"] and _may_reveal(state, ctx)[0]:
        return draft, "allowed", result
    issue = _reply_issue(state, ctx, move, draft)
    if issue is None:
        return draft, None, result
    prior, step = conversation(state)[1], steps_of(problem)[move.step_index]
    shown = passes(make_gate(problem), gate_view(state))
    own = template_reply(move, live=True) if move.reply_source == "model" else ""
    if sent.strip():
        kept = sent if sent[-1:].isspace() else f"{sent} "
        ending = f"{kept}{own}" if own and shown(f"{kept}{own}") else sent.strip()
        return ending, "cut", issue
    teacher = real_model(ctx, "teacher")
    if move.reply_source == "model" and teacher is not None:
        regenerated = _regenerate(teacher, problem, move, draft, issue["reason"])
        regenerated = chat_text(regenerated).strip() if regenerated else None
        if regenerated and _reply_issue(state, ctx, move, regenerated) is None:
            return regenerated, "regenerated", issue
    own_words = [own] if issue["reason"] in OWN_WORDS else []
    hints = [ladder_hint(problem, step, level, prior, shown).text for level in (1, 2)]
    safe = (text for text in [*own_words, *safe_replacements(hints, step.question)] if shown(text))
    return next(safe, template("withheld_plain")), "replaced", issue


def reveal_gate(state: TutoringState, runtime: Runtime[TutoringContext]) -> dict[str, Any]:
    """Final reveal check of the draft; regenerate or replace a blocked reply; add it to messages; commit learning."""
    ctx = context_of(runtime, TutoringContext)
    move = TutorMove.model_validate(state["last_plan"])
    draft = (state.get("draft_reply") or "").strip()
    turn = len(state.get("turns", []))
    final, action, result = gated_reply(state, ctx, move, draft, state.get("streamed_text") or "")
    hint = action in ("replaced", "regenerated", "cut") or move.strategy in HINT_STRATEGIES
    revealed = (move.reveal and action != "replaced") or action == "allowed"
    shown = reply_shown(hint=hint, revealed=revealed, problem_id=problem_of(state).id, session_id=thread_id(),
                        turn=turn, text=final)  # fmt: skip
    learning = pending(state.get("pending_learning")) + shown
    commit(services().learner_store(), ctx.learner_id, learning)
    finish_reply(stream_writer(), final, state.get("streamed_text") or "")
    event = {"turn": turn, "reason": result["reason"], "matched": result["matched"], "action": action,
             "policy": _may_reveal(state, ctx)[1]}  # fmt: skip
    learner = last_text(state.get("messages", []), HumanMessage) if move.kind != "open" else None
    trace = turn_trace(state, move, final, {**result, "action": action}, learner=learner,
                       diagnosis=state.get("last_diagnosis") or None)  # fmt: skip
    update: dict[str, Any] = {"messages": [AIMessage(content=final)], "turns": [trace], "draft_reply": final,
                              "reveal_events": [event] if action is not None else [], "streamed_text": "",
                              "pending_learning": {}, "strategies_used": []}  # fmt: skip
    if revealed:
        update["revealed"] = True
    return update


__all__ = [
    "conversation",
    "gated_reply",
    "open_session",
    "pending_learner_turn",
    "plan_move",
    "problem_of",
    "progress_of",
    "respond",
    "reveal_gate",
    "setup_problem",
]
