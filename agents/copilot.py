"""The copilot's own nodes: draft a suggestion for the human tutor, gate it, and take the tutor's choice.

The `copilot` graph reuses the tutor's nodes for everything else (`setup_problem`, `open_session`, `student_turn`,
`diagnose`, `plan_move`): the same typed `Diagnosis` and `TutorMove`, so a suggestion carries the Bridge labels
(error type -> strategy -> intention) the tutor graph decides with. What differs is who speaks: the suggestion goes
to the human tutor through an interrupt, and only what the tutor chooses to send enters `messages`.

* `draft_suggestion`: the planned move's words (its template on the scripted model, a real teacher's wording
  otherwise); after "another one, please" a different move (other wordings, the next ladder rungs, a probe) or a
  real teacher's new wording told what to avoid.
* `check_suggestion`: the reveal gate the tutor uses (regenerate once or replace a leaking draft), then the
  suggestion record with its labels and the learner model's view of the step's skills.
* `tutor_review`: `interrupt({"type": "await_tutor", "suggestion": ..., "warning": ...})`; resume with
  `Command(resume={"action": "send" | "edit" | "regenerate" | "own" | "ignore", "text": ..., "override": ...})`.
  Text the tutor writes passes the same gate: a leak comes back as a warning the tutor may override (logged). A
  malformed choice comes back as a warning too: nothing is lost and the suggestion stays on screen.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pedagraph.agents.teacher import (
    HINT_STRATEGIES,
    conversation,
    gate_view,
    gated_reply,
    problem_of,
    progress_of,
    turn_trace,
)
from pedagraph.prompts import render

from pedagraph.errors import DataError, ModelError
from pedagraph.learning import commit, pending, preview, reply_shown
from pedagraph.messages import last_text, message_text
from pedagraph.methods.copilot.suggestions import (
    CopilotState,
    alternative_moves,
    brief_text,
    learner_brief,
    parse_choice,
    suggestion_labels,
    with_strategy,
)
from pedagraph.methods.tutor.context import TutoringContext
from pedagraph.methods.tutor.gate import gate_check, make_gate, passes
from pedagraph.methods.tutor.policy import reveal_permitted
from pedagraph.methods.tutor.replies import template_reply
from pedagraph.problems import steps_of
from pedagraph.runtime import context_of, real_model, services, thread_id
from pedagraph.taxonomy import STRATEGY_MOVE, Diagnosis, Strategy, TutorMove

__all__ = ["check_suggestion", "draft_suggestion", "require_problem", "tutor_review"]

_CONVERSATION_TURNS = 12
"""Visible messages quoted to a real teacher writing a suggestion."""


def _transcript(state: CopilotState) -> str:
    lines = []
    for m in state.get("messages", [])[-_CONVERSATION_TURNS:]:
        who = "Student" if isinstance(m, HumanMessage) else "Tutor"
        lines.append(f"{who}: {' '.join(message_text(m).split())}")
    return "\n".join(lines) or "(nothing yet)"


def _brief(state: CopilotState, ctx: TutoringContext, move: TutorMove) -> dict[str, Any]:
    """The learner model's view of the move's step (with this turn's pending evidence)."""
    problem = problem_of(state)
    steps = steps_of(problem)
    step = steps[min(move.step_index, len(steps) - 1)]
    learner = preview(services().learner_store(), ctx.learner_id, pending(state.get("pending_learning")))
    return learner_brief(learner, list(step.skills or problem.skills))


def _model_words(state: CopilotState, ctx: TutoringContext, move: TutorMove, rejected: list[str]) -> str | None:
    """A real teacher's wording of the move as a suggestion (None when the call fails)."""
    teacher = real_model(ctx, "teacher")
    if teacher is None:
        return None
    problem = problem_of(state)
    step = steps_of(problem)[min(move.step_index, len(steps_of(problem)) - 1)]
    avoid = render("copilot/avoid", rejected="\n".join(f"- {r}" for r in rejected)).strip() if rejected else ""
    prompt = render(
        "copilot/suggest", problem=problem.question, step_question=step.question, conversation=_transcript(state),
        error_type=suggestion_labels(Diagnosis.of(state.get("last_diagnosis")), move)["error_type"],
        strategy=move.strategy.value, intention=move.intention.value, learner=brief_text(_brief(state, ctx, move)),
        guidance=template_reply(move, live=True), avoid=avoid,
    )  # fmt: skip
    try:
        return message_text(teacher.invoke([SystemMessage(content=prompt)])).strip() or None
    except ModelError:
        return None


def require_problem(state: CopilotState, runtime: Runtime[TutoringContext]) -> dict[str, Any]:
    """Refuse, before anything is written, a run with no problem given and none active (one clear line)."""
    given = any(state.get(k) for k in ("problem_id", "problem_text", "problem_data"))
    active = bool(state.get("problem")) and not state.get("done")
    if not given and not active:
        raise DataError("the copilot helps with a problem and none is active",
                        hint='start one with {"problem_id": "gsm8k-sample-1"} or {"problem_text": ..., "answer": ...}')
    return {}


def draft_suggestion(state: CopilotState, runtime: Runtime[TutoringContext]) -> dict[str, Any]:
    """Write the suggestion for the planned move; after a regenerate request, a different one."""
    ctx = context_of(runtime, TutoringContext)
    move = TutorMove.model_validate(state["last_plan"])
    rejected, wanted = list(state.get("rejected") or []), state.get("wanted_strategy")
    met = not wanted
    if rejected and real_model(ctx, "teacher") is None:
        problem = problem_of(state)
        prior = conversation(state)[1]
        others = alternative_moves(problem, move, prior, rejected, passes(make_gate(problem), gate_view(state)))
        chosen, met = with_strategy(others, wanted)
        move = chosen or move
    elif wanted:  # a real teacher words the move with the tutor's strategy (Bridge step B chosen by the tutor)
        strategy = Strategy(wanted)
        move, met = move.model_copy(update={"strategy": strategy, "move": STRATEGY_MOVE[strategy]}), True
    words = _model_words(state, ctx, move, rejected)
    text, source = (words, "model") if words else (template_reply(move), "template")
    return {"draft_reply": text, "last_plan": move.model_copy(update={"reply_source": source}).dump(),
            "strategy_met": met}  # fmt: skip


def check_suggestion(state: CopilotState, runtime: Runtime[TutoringContext]) -> dict[str, Any]:
    """Pass the draft through the tutor's reveal gate, then put the suggestion and its labels up for the tutor."""
    ctx = context_of(runtime, TutoringContext)
    move = TutorMove.model_validate(state["last_plan"])
    final, action, result = gated_reply(state, ctx, move, (state.get("draft_reply") or "").strip())
    rejected = list(state.get("rejected") or [])
    suggestion = {
        "n": len(rejected) + 1,
        "turn": len(state.get("turns", [])),
        "text": final,
        "labels": suggestion_labels(Diagnosis.of(state.get("last_diagnosis")), move),
        "source": move.reply_source or "template",
        "gate": {"action": action, "reason": result["reason"] if action else None},
        "learner": _brief(state, ctx, move),
        "step": move.step_index + 1,
        "repeated": final in rejected,
        "asked_strategy": state.get("wanted_strategy"),
        "strategy_met": bool(state.get("strategy_met", True)),
    }
    return {"suggestion": suggestion, "draft_reply": final, "warning": None, "review": "pending"}


def _log(state: CopilotState, action: str, outcome: str, **extra: Any) -> dict[str, Any]:
    """One entry of the tutor's choices: what was suggested, what the tutor did, what it replaced."""
    suggestion = state.get("suggestion") or {}
    return {"turn": suggestion.get("turn", len(state.get("turns", []))), "n": suggestion.get("n", 1),
            "action": action, "outcome": outcome, "suggestion": suggestion.get("text", ""),
            "labels": suggestion.get("labels", {}), **extra}  # fmt: skip


def _send(state: CopilotState, ctx: TutoringContext, text: str, action: str, *, own: bool, override: bool,
          gate: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The tutor's message enters the conversation; the turn's learning is committed; the choice is logged."""
    move = TutorMove.model_validate(state["last_plan"])
    suggested = (state.get("suggestion") or {}).get("text", "")
    revealed = override or (move.reveal and not own)
    turn = len(state.get("turns", []))
    shown = reply_shown(hint=move.strategy in HINT_STRATEGIES and not own, revealed=revealed,
                        problem_id=problem_of(state).id, session_id=thread_id(), turn=turn, text=text)  # fmt: skip
    commit(services().learner_store(), ctx.learner_id, pending(state.get("pending_learning")) + shown)
    learner = last_text(state.get("messages", []), HumanMessage) if move.kind != "open" else None
    trace = turn_trace(state, move, text, gate, learner=learner, diagnosis=state.get("last_diagnosis") or None)
    trace["copilot"] = {"action": action, "suggestion": suggested, "override": override}
    entry = _log(state, action, "sent", sent=text, replaced=suggested if text != suggested else None,
                 override=override, warning=state.get("warning"))  # fmt: skip
    hint_level = list(state.get("hint_level") or [])
    if not own and move.step_index < len(hint_level):
        hint_level[move.step_index] = max(hint_level[move.step_index], move.hint_level)
    update: dict[str, Any] = {
        "messages": [AIMessage(content=text)], "turns": [trace], "choices": [entry], "pending_learning": {},
        "suggestion": None, "rejected": [], "wanted_strategy": None, "warning": None, "review": "sent",
        "draft_reply": text,
        "hint_level": hint_level,
    }  # fmt: skip
    if override:
        event = {"turn": trace["turn"], "reason": gate.get("reason"), "matched": gate.get("matched"),
                 "action": "tutor_override", "policy": "tutor"}  # fmt: skip
        update["reveal_events"] = [event]
    if revealed:
        update["revealed"] = True
    return update


def tutor_review(state: CopilotState, runtime: Runtime[TutoringContext]) -> dict[str, Any]:
    """Show the suggestion to the human tutor and act on their choice (send, edit, regenerate, own, ignore)."""
    ctx = context_of(runtime, TutoringContext)
    value = interrupt({"type": "await_tutor", "suggestion": state.get("suggestion"), "warning": state.get("warning"),
                       "learner": last_text(state.get("messages", []), HumanMessage)})  # fmt: skip
    try:
        choice = parse_choice(value)
    except DataError as exc:
        warning = {"kind": "invalid", "message": str(exc).splitlines()[0]}
        return {"warning": warning, "review": "warned", "choices": [_log(state, "invalid", "refused", error=warning)]}
    if choice.action == "regenerate":
        rejected = [*(state.get("rejected") or []), (state.get("suggestion") or {}).get("text", "")]
        wanted = choice.strategy.value if choice.strategy else None
        return {"rejected": rejected, "review": "regenerate", "warning": None, "wanted_strategy": wanted,
                "choices": [_log(state, "regenerate", "replaced", strategy=wanted)]}  # fmt: skip
    text = choice.text if choice.sends_own_words else (state.get("suggestion") or {}).get("text", "")
    problem = problem_of(state)
    gate = gate_check(make_gate(problem), text, gate_view(state))
    allowed = reveal_permitted(progress_of(state), ctx, Diagnosis.of(state.get("last_diagnosis")))[0]
    if gate["blocked"] and not allowed and not choice.override:
        warning = {"kind": "reveal", "message": f"this message gives the answer away ({gate['reason']})",
                   "matched": gate["matched"], "text": text, "action": choice.action}  # fmt: skip
        return {"warning": warning, "review": "warned",
                "choices": [_log(state, choice.action, "warned", sent=text, gate=gate)]}  # fmt: skip
    override = bool(gate["blocked"] and not allowed)
    return _send(state, ctx, text, choice.action, own=choice.sends_own_words, override=override,
                 gate={**gate, "action": "tutor_override" if override else None})  # fmt: skip

