"""Model-made turn decisions with rules as checker and fallback: the CLASS turn (Sonkar et al. 2023).

With a real teacher the CLASS turn (evaluation a-g, action 1-12, subproblem state w-z) is the model's structured
answer; the rule policy's move is the check and the fallback. The deterministic verdict stays the ground truth:

* evaluation: on a graded turn (a right, wrong or partial answer) it must be the verdict's category; on an
  ungraded one it must not claim a verdict (d, e, f or g only);
* action: one CLASS allows for the evaluation (a->1,2; b->3; c->4,5; d->6; e->7; f->8-11; g->12), and an action
  that gives the solution (2, 5, 9) only where the policy's move reveals it;
* subproblem state: the policy's (progress follows the verdict).

An invalid field is replaced by the rule's and counted (`class.<field>`: model, rules or replaced); with the
scripted teacher every field is the rule's (`rule_class_turn`), and the move is unchanged.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from pedagraph.llm import ManagedChatModel
from pedagraph.llm.usage import record_decision
from pedagraph.structured import ask
from pedagraph.taxonomy import StudentResponse, SubproblemState, TutorAction, TutorMove

__all__ = ["CLASS_ACTIONS", "ClassTurn", "check_class_turn", "class_turn", "rule_class_turn"]

_A, _B, _C = StudentResponse.INCORRECT, StudentResponse.CORRECT, StudentResponse.PARTIAL
CLASS_ACTIONS: dict[StudentResponse, frozenset[str]] = {
    _A: frozenset({"1", "2"}),
    _B: frozenset({"3"}),
    _C: frozenset({"4", "5"}),
    StudentResponse.AMBIGUOUS: frozenset({"6"}),
    StudentResponse.OFF_TOPIC: frozenset({"7"}),
    StudentResponse.INQUIRY: frozenset({"8", "9", "10", "11"}),
    StudentResponse.NOT_APPLICABLE: frozenset({"12"}),
}
"""The actions CLASS allows after each evaluation of the student's turn."""
_SOLUTION_ACTIONS = frozenset({"2", "5", "9"})
FIELDS = ("evaluation", "action", "subproblem_state")


class ClassTurn(BaseModel):
    """A tutor's CLASS decision for the student's turn, with a private focus for the reply."""

    evaluation: StudentResponse = Field(
        description="a incorrect, b correct, c partially correct, d ambiguous, e off-topic, f inquiry, g n/a"
    )
    action: TutorAction = Field(description="The CLASS action 1-12 for this evaluation.")
    subproblem_state: SubproblemState = Field(
        description="w n/a, x in progress, y finished (go to the next), z all finished"
    )
    focus: str = Field("", description="One private sentence: what the learner should focus on next.")


def check_class_turn(turn: ClassTurn, rule: TutorMove) -> dict[str, str]:
    """Field -> why the model's value contradicts the verdict or the policy (empty: every field is valid)."""
    problems: dict[str, str] = {}
    graded = rule.category in (_A, _B, _C)
    if graded and turn.evaluation != rule.category:
        problems["evaluation"] = f"{turn.evaluation.value} against the verdict's {rule.category.value}"
    elif not graded and turn.evaluation in (_A, _B, _C):
        problems["evaluation"] = f"{turn.evaluation.value} on an ungraded turn"
    evaluation = rule.category if "evaluation" in problems else turn.evaluation
    if turn.action != rule.action:
        if turn.action.value not in CLASS_ACTIONS[evaluation]:
            problems["action"] = f"{turn.action.value} does not follow evaluation {evaluation.value}"
        elif turn.action.value in _SOLUTION_ACTIONS and not rule.reveal:
            problems["action"] = f"{turn.action.value} gives the solution, which the policy does not"
    if turn.subproblem_state != rule.subproblem_state:
        problems["subproblem_state"] = (
            f"{turn.subproblem_state.value} against the progress's {rule.subproblem_state.value}"
        )
    return problems


def class_turn(model: ManagedChatModel, prompt: Any, rule: TutorMove, *, node: str = "plan_move") -> TutorMove:
    """The model's CLASS turn on the rule move: valid fields adopted, invalid ones the rule's, all counted.

    The returned move carries `decisions` (values, who made each, what was replaced) and the model's focus.
    """
    turn = ask(model, ClassTurn, prompt, node=node)
    if turn is None:
        return rule_class_turn(rule, record=True, annotate=True)
    problems = check_class_turn(turn, rule)
    by = {f: "replaced" if f in problems else "model" for f in FIELDS}
    for f in FIELDS:
        record_decision(f"class.{f}", by[f])  # type: ignore[arg-type]
    update: dict[str, Any] = {}
    if "evaluation" not in problems:
        update["category"] = turn.evaluation
    if "action" not in problems:
        update["action"] = turn.action
    move = rule.model_copy(update=update)
    values = {"evaluation": move.category.value, "action": move.action.value,
              "subproblem_state": move.subproblem_state.value}  # fmt: skip
    decisions = {**(rule.decisions or {}), "class": {"values": values, "by": by, "replaced": problems}}
    out = move.model_copy(update={"decisions": decisions})
    return out.model_copy(update={"focus": turn.focus.strip()[:300]}) if turn.focus.strip() else out


def rule_class_turn(rule: TutorMove, *, record: bool = True, annotate: bool = False) -> TutorMove:
    """The rule move as the CLASS turn (counted as the rules'); `annotate` records it on the move."""
    if record:
        for f in FIELDS:
            record_decision(f"class.{f}", "rules")
    if not annotate:
        return rule
    values = {"evaluation": rule.category.value, "action": rule.action.value,
              "subproblem_state": rule.subproblem_state.value}  # fmt: skip
    decisions = {**(rule.decisions or {}), "class": {"values": values, "by": dict.fromkeys(FIELDS, "rules"),
                                                     "replaced": {}}}  # fmt: skip
    return rule.model_copy(update={"decisions": decisions})
