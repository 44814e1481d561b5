"""Tutor CoPilot logic (Wang et al. 2024; Bridge, NAACL 2024): suggestions for a human tutor, their labels, choices.

Plain functions of typed values, used by the `copilot` graph's nodes (`agents/copilot.py`):

* `suggestion_labels`: the Bridge decision of a suggestion (error type -> strategy -> intention), with the MathDial
  move and the CLASS action of the same `TutorMove` the tutor graph uses;
* `alternative_moves`: other moves for the same learner turn when the tutor asks for another suggestion (other
  wordings, then the next rungs of the hint ladder, then a probe), on the deterministic path;
* `learner_brief`: what the shared learner model says about the step's skills (mastery, active misconceptions);
* `parse_choice`: the tutor's answer to a suggestion (send, edit, regenerate, own, ignore), checked;
* `sent_check`: the reveal gate on what the tutor sends (a warning the tutor may override).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ValidationError

from pedagraph.errors import DataError
from pedagraph.learner import LearnerModel
from pedagraph.methods.tutor.ladder import ladder_hint
from pedagraph.methods.tutor.policy import LADDER_KINDS
from pedagraph.methods.tutor.replies import is_fresh, template_reply, variants
from pedagraph.problems import Problem, Step, steps_of
from pedagraph.state import TutoringState
from pedagraph.taxonomy import Diagnosis, ErrorType, Strategy, StudentResponse, TutorMove

__all__ = [
    "MAX_TUTOR_CHARS",
    "CopilotState",
    "TutorAction",
    "TutorChoice",
    "alternative_moves",
    "brief_text",
    "learner_brief",
    "parse_choice",
    "suggestion_labels",
    "with_strategy",
]

MAX_TUTOR_CHARS = 4000
"""Longest message a tutor may send (longer ones are refused with one line; nothing is lost)."""

TutorAction = Literal["send", "edit", "regenerate", "own", "ignore"]
"""What the tutor does with a suggestion: send it as is, send an edited version, ask for another one, write their
own message while the suggestion is shown (`own`) or dismissed (`ignore`)."""
_TEXT_ACTIONS = frozenset({"edit", "own", "ignore"})


class CopilotState(TutoringState, total=False):
    """A copilot session: the tutoring state plus the suggestion on the tutor's screen and the tutor's choices."""

    suggestion: dict[str, Any] | None
    """The suggestion on the tutor's screen: text, labels, source, gate result, learner-model view, number n."""
    rejected: list[str]
    """Suggestions the tutor asked to replace during this turn (cleared when a message is sent)."""
    wanted_strategy: str | None
    """The strategy the tutor asked the next suggestion to take (cleared when a message is sent)."""
    strategy_met: bool
    """Whether the latest draft takes the strategy the tutor asked for (always, when none was asked)."""
    warning: dict[str, Any] | None
    """What the gate (or the choice's check) found in the tutor's last choice; the tutor may override a leak."""
    review: Literal["pending", "warned", "regenerate", "sent"]
    """Outcome of the tutor's last choice (routes the graph)."""
    choices: Annotated[list[dict[str, Any]], operator.add]
    """Log of every choice: turn, suggestion n, action, outcome, the suggestion, what was sent and what it replaced."""


class TutorChoice(BaseModel):
    """The human tutor's answer to a suggestion (the copilot's resume value)."""

    action: TutorAction
    text: str = ""
    """The message the tutor sends, for `edit`, `own` and `ignore`."""
    override: bool = False
    """Send even though the reveal gate warned that the text gives the answer away (logged)."""
    strategy: Strategy | None = None
    """With `regenerate`: the Bridge strategy the tutor wants the next suggestion to take (step B chosen by them)."""

    @property
    def sends_own_words(self) -> bool:
        """Whether the tutor sends their own text rather than the suggestion's."""
        return self.action in _TEXT_ACTIONS


def parse_choice(value: Any) -> TutorChoice:
    """Read the tutor's choice: a dict `{action, text, override}`, a `TutorChoice`, or a bare action name.

    Raises:
        DataError: an unknown action, a missing or too long text (one clear line).
    """
    if isinstance(value, TutorChoice):
        choice = value
    else:
        data = {"action": value} if isinstance(value, str) else value
        if not isinstance(data, Mapping):
            raise DataError(f"the tutor's choice must be an action or a dict, not {type(value).__name__}",
                            hint='resume with {"action": "send"} or {"action": "edit", "text": "..."}')  # fmt: skip
        try:
            choice = TutorChoice.model_validate(dict(data))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "choice"
            raise DataError(f"bad tutor choice ({where}): {err.get('msg')}",
                            hint="action is one of send, edit, regenerate, own, ignore") from None  # fmt: skip
    text = choice.text.strip()
    if choice.sends_own_words and not text:
        raise DataError(f"the tutor's {choice.action!r} needs the text to send", hint='add "text": "..."')
    if len(text) > MAX_TUTOR_CHARS:
        raise DataError(f"the tutor's message is {len(text)} characters; the limit is {MAX_TUTOR_CHARS}")
    return choice.model_copy(update={"text": text})


def error_label(diagnosis: Diagnosis | None) -> str:
    """Bridge step A for a turn: its error type; `diagnose` for an error of unknown type; `none` for no error."""
    if diagnosis is None:
        return "none"
    if diagnosis.error_type is not None:
        return ErrorType(diagnosis.error_type).value
    if diagnosis.category in (StudentResponse.INCORRECT, StudentResponse.PARTIAL):
        return ErrorType.DIAGNOSE.value
    return "none"


def bridge_error(diagnosis: Diagnosis | None) -> str:
    """Step A as the rules decide it, in Bridge's labels (`no_error` for no error)."""
    label = error_label(diagnosis)
    return "no_error" if label == "none" else label


def suggestion_labels(diagnosis: Diagnosis | None, move: TutorMove) -> dict[str, str]:
    """The labels shown with a suggestion: Bridge error type, strategy, intention; MathDial move; CLASS codes."""
    decided = ((move.decisions or {}).get("bridge") or {}).get("values") or {}
    return {
        "error_type": decided.get("error") or error_label(diagnosis),
        "strategy": move.strategy.value,
        "intention": move.intention.value,
        "move": move.move.value,
        "class_category": move.category.label,
        "class_action": move.action.value,
        "kind": move.kind,
    }


def _ladder_move(move: TutorMove, problem: Problem, step: Step, level: int, said: Sequence[str],
                 shown: Callable[[str], bool]) -> TutorMove:  # fmt: skip
    hint = ladder_hint(problem, step, level, said, shown)
    return TutorMove.make(LADDER_KINDS.get(hint.rung, "hint"), move.category, step.index, "reply_with_question",
                          {"lead": hint.text, "question": step.question}, hint_level=level)  # fmt: skip


def alternative_moves(problem: Problem, move: TutorMove, said: Sequence[str], rejected: Sequence[str],
                      shown: Callable[[str], bool], *, limit: int = 12) -> list[TutorMove]:  # fmt: skip
    """Other moves for the same turn, none said or rejected yet and each passing the gate (deterministic path).

    In order: the other wordings of the move's template, the next rungs of the hint ladder on its step, a probe
    of the learner's thinking. A move that finishes a step or the problem (affirm, tell, reveal) keeps its
    content: only its other wordings are offered.
    """
    taken = [*said, *rejected]
    out: list[TutorMove] = []

    def add(candidate: TutorMove) -> None:
        text = template_reply(candidate)
        if is_fresh(text, taken) and shown(text) and all(template_reply(m) != text for m in out):
            out.append(candidate)

    for i, _wording in enumerate(variants(f"tutor/templates/{move.template}", **move.values)):
        if i != move.variant:
            add(move.model_copy(update={"variant": i}))
    steps = steps_of(problem)
    if move.kind not in ("affirm_next", "affirm_done", "correction", "reveal", "open") and move.step_index < len(steps):
        step = steps[move.step_index]
        for level in range(max(move.hint_level, 0) + 1, 6):
            add(_ladder_move(move, problem, step, level, taken, shown))
        for i in range(len(variants("tutor/templates/probe_no_number"))):
            add(TutorMove.make("probe", move.category, step.index, "probe_no_number", {}, variant=i))
    return out[:limit]


def with_strategy(moves: Sequence[TutorMove], strategy: str | None) -> tuple[TutorMove | None, bool]:
    """The first move taking `strategy` (else the first move), and whether the strategy was met."""
    if strategy:
        chosen = next((m for m in moves if m.strategy.value == strategy), None)
        if chosen is not None:
            return chosen, True
    return (moves[0] if moves else None), not strategy


def learner_brief(learner: LearnerModel, skills: Sequence[str]) -> dict[str, Any]:
    """What the learner model says about these skills: mastery (None: no evidence) and active misconceptions."""
    mastery = {s: learner.mastery(s) for s in skills}
    active = [m for s in skills for m in learner.active_misconceptions(s)]
    return {
        "mastery": {s: (round(p, 2) if p is not None else None) for s, p in mastery.items()},
        "misconceptions": [{"skill": m.skill, "error_type": str(m.error_type), "description": m.description}
                           for m in active[:5]],  # fmt: skip
    }



def brief_text(brief: Mapping[str, Any]) -> str:
    """The learner-model view as short lines for a prompt or a panel."""
    mastery = brief.get("mastery", {})
    lines = [f"{skill}: mastery {'unknown' if p is None else f'{p:.2f}'}" for skill, p in mastery.items()]
    for m in brief.get("misconceptions", []):
        lines.append(f"misconception ({m['error_type']}, {m['skill']}): {m['description']}")
    return "; ".join(lines) or "nothing recorded yet"
