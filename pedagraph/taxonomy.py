"""Shared labels of the field: CLASS turn codes, MathDial moves, Bridge decisions, MRBench dimensions.

One module so every graph, agent and eval uses the same names (methods.md §9.4).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field


class StudentResponse(StrEnum):
    """CLASS evaluation of a student turn (Sonkar et al. 2023): codes a–g."""

    INCORRECT = "a"
    CORRECT = "b"
    PARTIAL = "c"
    AMBIGUOUS = "d"
    OFF_TOPIC = "e"
    INQUIRY = "f"
    NOT_APPLICABLE = "g"

    @property
    def label(self) -> str:
        """Human-readable name."""
        return _RESPONSE_LABELS[self]


_RESPONSE_LABELS = {
    StudentResponse.INCORRECT: "incorrect",
    StudentResponse.CORRECT: "correct",
    StudentResponse.PARTIAL: "partially correct",
    StudentResponse.AMBIGUOUS: "ambiguous or unclear",
    StudentResponse.OFF_TOPIC: "off-topic",
    StudentResponse.INQUIRY: "student inquiry",
    StudentResponse.NOT_APPLICABLE: "n/a",
}


class TutorAction(StrEnum):
    """CLASS tutor actions 1–12, chosen from the evaluation of the student turn."""

    FLAG_MISTAKE_HINT = "1"
    SOLUTION_AFTER_FAILURES = "2"
    CONFIRM_CORRECT = "3"
    ACK_PARTIAL_HINT = "4"
    SOLUTION_AFTER_FAILURES_PARTIAL = "5"
    ASK_CLARIFY = "6"
    REDIRECT = "7"
    HINT_ON_REQUEST = "8"
    SOLUTION_ON_REQUEST = "9"
    GO_BACK = "10"
    ADDRESS_INQUIRY = "11"
    NOT_APPLICABLE = "12"


class SubproblemState(StrEnum):
    """CLASS subproblem state: w n/a, x in progress, y finished (next one), z all finished."""

    NOT_APPLICABLE = "w"
    IN_PROGRESS = "x"
    FINISHED = "y"
    DONE = "z"


class Move(StrEnum):
    """MathDial's four coarse teacher moves (Macina et al. 2023)."""

    FOCUS = "focus"
    PROBING = "probing"
    TELLING = "telling"
    GENERIC = "generic"


class ErrorType(StrEnum):
    """Bridge step A: the type of a student's error (Wang et al. 2024)."""

    GUESS = "guess"
    MISINTERPRET = "misinterpret"
    CARELESS = "careless"
    RIGHT_IDEA = "right_idea"
    IMPRECISE = "imprecise"
    DIAGNOSE = "diagnose"
    OTHER = "other"


LEARNER_WORDS: dict[str, str] = {
    "misinterpret": "reading what the question asks", "careless": "checking each calculation",
    "right_idea": "finishing a right idea", "imprecise": "being exact with the numbers",
    "diagnose": "explaining each step", "other": "this kind of step", "guess": "working it out instead of guessing",
    "transposition": "keeping numbers in the right order", "calculation": "the arithmetic itself",
    "algebraic_simplification": "simplifying step by step", "ignoring_conditions": "using every condition given",
    "misreading_problem": "reading the problem carefully", "misapplying_formula": "choosing the right method",
}  # fmt: skip
"""What a learner sees of a diagnosed misconception: the taxonomy's own words for its Bridge error type or
EduPlanner mistake type (a model's sentence about it is for teachers only)."""


TEACHER_WORDS: dict[str, dict[str, str]] = {
    "error": {
        "guess": "guessed", "misinterpret": "misread the question", "careless": "a careless slip",
        "right_idea": "right idea, not finished", "imprecise": "imprecise with the numbers",
        "diagnose": "not clear yet", "other": "something else", "none": "nothing (no answer yet)",
    },
    "strategy": {
        "explain_concept": "explain the idea", "ask_question": "ask a question", "provide_hint": "give a hint",
        "provide_strategy": "suggest a way in", "provide_example": "show a worked example",
        "provide_correction": "correct it", "provide_similar_problem": "try a similar problem",
        "simplify_question": "make the question simpler", "affirm_correct_answer": "confirm the answer",
        "encourage_student": "encourage", "other": "",
    },
    "intention": {
        "motivate_student": "to motivate", "elaborate_answer": "to build on the answer",
        "correct_mistake": "to correct the mistake", "hint_mistake": "to point at the mistake",
        "clarify_misunderstanding": "to clear up a misunderstanding", "understand_topic": "to check understanding",
        "diagnose_mistake": "to find the mistake", "support_thinking": "to support their thinking",
        "explain_mistake": "to explain the mistake", "signal_goal": "to set the goal", "other": "",
    },
    "move": {"focus": "keeps to the step", "probing": "asks them to reason", "telling": "tells them",
             "generic": "general talk"},
    "action": {
        "1": "point out the mistake with a hint", "2": "show the solution after several tries",
        "3": "confirm it is right", "4": "acknowledge what is right, hint at the rest",
        "5": "show the solution after several partial tries", "6": "ask what they mean",
        "7": "bring them back to the problem", "8": "hint, as asked", "9": "show the solution, as asked",
        "10": "go back a step", "11": "answer their question", "12": "",
    },
}  # fmt: skip
"""What a teacher reads for a research label (Bridge error, strategy, intention; MathDial move; CLASS action);
the research label itself goes on hover (`teacher_label`)."""

RESEARCH_NAMES = {"error": "Bridge error type", "strategy": "Bridge strategy", "intention": "Bridge intention",
                  "move": "MathDial move", "action": "CLASS tutor action"}  # fmt: skip


def teacher_words(kind: str, value: str | None) -> str:
    """A teacher's words for a research label of `kind` (the label with spaces for one not in the table)."""
    value = str(value or "")
    return TEACHER_WORDS.get(kind, {}).get(value, value.replace("_", " "))


def teacher_label(kind: str, value: str | None) -> str:
    """A teacher's words as HTML, with the research label on hover (`<abbr title="Bridge strategy: ask_question">`)."""
    from html import escape

    title = f"{RESEARCH_NAMES.get(kind, kind)}: {value}"
    return f'<abbr title="{escape(title)}">{escape(teacher_words(kind, value))}</abbr>'


def learner_words(error_type: str | None, mistake_type: str | None = None) -> str:
    """The learner-facing words of a misconception's type (the mistake type's, else the error type's)."""
    for kind in (mistake_type, error_type):
        if kind and str(kind) in LEARNER_WORDS:
            return LEARNER_WORDS[str(kind)]
    return LEARNER_WORDS["other"]


class Strategy(StrEnum):
    """Bridge step B: the remediation strategy."""

    EXPLAIN_CONCEPT = "explain_concept"
    ASK_QUESTION = "ask_question"
    PROVIDE_HINT = "provide_hint"
    PROVIDE_STRATEGY = "provide_strategy"
    PROVIDE_EXAMPLE = "provide_example"
    PROVIDE_CORRECTION = "provide_correction"
    PROVIDE_SIMILAR_PROBLEM = "provide_similar_problem"
    SIMPLIFY_QUESTION = "simplify_question"
    AFFIRM_CORRECT_ANSWER = "affirm_correct_answer"
    ENCOURAGE_STUDENT = "encourage_student"
    OTHER = "other"


class Intention(StrEnum):
    """Bridge step C: what the tutor intends with the response."""

    MOTIVATE_STUDENT = "motivate_student"
    ELABORATE_ANSWER = "elaborate_answer"
    CORRECT_MISTAKE = "correct_mistake"
    HINT_MISTAKE = "hint_mistake"
    CLARIFY_MISUNDERSTANDING = "clarify_misunderstanding"
    UNDERSTAND_TOPIC = "understand_topic"
    DIAGNOSE_MISTAKE = "diagnose_mistake"
    SUPPORT_THINKING = "support_thinking"
    EXPLAIN_MISTAKE = "explain_mistake"
    SIGNAL_GOAL = "signal_goal"
    OTHER = "other"


# Which MathDial move a Bridge strategy is (used to report the move mix of any tutor policy).
STRATEGY_MOVE: dict[Strategy, Move] = {
    Strategy.EXPLAIN_CONCEPT: Move.TELLING,
    Strategy.ASK_QUESTION: Move.PROBING,
    Strategy.PROVIDE_HINT: Move.FOCUS,
    Strategy.PROVIDE_STRATEGY: Move.FOCUS,
    Strategy.PROVIDE_EXAMPLE: Move.TELLING,
    Strategy.PROVIDE_CORRECTION: Move.TELLING,
    Strategy.PROVIDE_SIMILAR_PROBLEM: Move.FOCUS,
    Strategy.SIMPLIFY_QUESTION: Move.FOCUS,
    Strategy.AFFIRM_CORRECT_ANSWER: Move.GENERIC,
    Strategy.ENCOURAGE_STUDENT: Move.GENERIC,
    Strategy.OTHER: Move.GENERIC,
}


class MRBenchDimension(StrEnum):
    """The eight MRBench / BEA 2025 dimensions of a tutor response (Maurya et al. 2025)."""

    MISTAKE_IDENTIFICATION = "Mistake_Identification"
    MISTAKE_LOCATION = "Mistake_Location"
    REVEALING_OF_THE_ANSWER = "Revealing_of_the_Answer"
    PROVIDING_GUIDANCE = "Providing_Guidance"
    ACTIONABILITY = "Actionability"
    COHERENCE = "Coherence"
    TUTOR_TONE = "Tutor_Tone"
    HUMANLIKENESS = "Humanlikeness"


# --------------------------------------------------------------------------------------------------------------
# Typed records of one tutoring turn, shared by every graph that diagnoses learners or proposes tutor moves
# --------------------------------------------------------------------------------------------------------------

Verdict = Literal["correct", "incorrect", "ambiguous", "no_answer", "ungraded"]
"""The deterministic answer check of a turn against the step (or the final answer)."""
Inquiry = Literal["hint", "solution", "go_back", "dont_know", "question"]
"""What a learner's turn asks for."""
DialogueAct = Literal[
    "attempt", "working", "setup", "method", "problem_question", "course_question", "answer_request",
    "hint_request", "dont_know", "go_back", "guess", "off_topic", "greeting", "meta", "unclear",
]  # fmt: skip
"""What a learner's message does, read before any grading: only `attempt` and `working` are graded.

attempt: a number given as the step's answer (also tentatively: "is it 18?"); working: an answer with its
operations or intermediate values; setup: a calculation without its result; method: how they would solve it,
in words, without a number; problem_question / course_question: a question about the problem or about the
subject; answer_request: asks for the answer (or tries to extract it); hint_request, dont_know, go_back;
guess: alternatives or comparisons ("17 or 18?", "is it more than 100?"); off_topic; greeting (hello, thanks,
ok); meta: about the session (the next problem, the worked solution, the tutor); unclear.
"""
GRADED_ACTS: frozenset[str] = frozenset({"attempt", "working"})
"""Acts whose number is checked and may change the learner model."""
MetaRequest = Literal["next_problem", "review_solution", "about_tutor"]
"""What a `meta` turn asks for."""
Greeting = Literal["hello", "thanks", "ok", "bye"]
"""What kind of greeting a `greeting` turn is."""
MoveKind = Literal[
    "open", "affirm_next", "affirm_done", "probe", "hint", "example", "strategy", "explain", "correction", "partial",
    "setup", "clarify", "redirect", "refuse", "reveal", "go_back", "inquiry", "question", "greet", "review",
    "suggest",
]  # fmt: skip
"""The kinds of tutor move the CLASS policy chooses from (each has a fixed CLASS action, strategy and intention)."""


class _Record(BaseModel):
    # state written by another pedagraph version may carry fields this one does not know: they are ignored
    model_config = ConfigDict(extra="ignore")

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> Self | None:
        """Read a record back from graph state (None for a missing or empty value)."""
        return cls.model_validate(data) if data else None

    def dump(self) -> dict[str, Any]:
        """JSON-ready form, as it is kept in graph state and turn traces."""
        return self.model_dump(mode="json")


class Diagnosis(_Record):
    """The diagnosis of one learner turn: CLASS category, answer verdict, inquiry, Bridge error and misconception.

    Correctness (`verdict`, `correct`, `solved_final`) is deterministic; a model may refine the soft labels only.
    """

    category: StudentResponse = StudentResponse.AMBIGUOUS
    verdict: Verdict = "no_answer"
    value: float | None = None
    """The number the learner gave, when one was read."""
    correct: bool | None = None
    solved_final: bool = False
    inquiry: Inquiry | None = None
    extraction: bool = False
    """The turn tries to extract the answer (jailbreak, digit fishing)."""
    partial_step: int | None = None
    """Index of another step whose result the learner gave (CLASS c)."""
    setup: bool = False
    """The learner wrote the step's right calculation without its result."""
    error_type: ErrorType | None = None
    misconception: str | None = None
    source: Literal["rules", "rules+evaluator"] = "rules"
    act: DialogueAct | None = None
    """What the message does (read before grading; only attempts are graded)."""
    value_text: str | None = None
    """The number as the learner wrote it ("5/8", "$18.00", "five"), echoed back in that form."""
    meta: MetaRequest | None = None
    """What a `meta` turn asks for."""
    greeting: Greeting | None = None
    """What kind of greeting a `greeting` turn is."""
    working: dict[str, Any] | None = None
    misconception_note: str | None = None
    """A model's sentence about the misconception: for teachers only (the learner sees `misconception`)."""
    needs_working: bool = False
    """A bare guess after `guess_limit` others in a row on the step: the tutor asks for the working first (the
    value is neither confirmed nor credited yet)."""
    """The learner's working as read (`Working.dump()`), when they showed any."""
    feedback: str | None = None
    """What the diagnosis says about the working, in the learner's terms (a reply may quote it)."""

    @property
    def graded(self) -> bool:
        """Whether the turn was graded: an attempt checked right or wrong."""
        return self.verdict in ("correct", "incorrect")


class TutorMove(_Record):
    """A tutor move: MathDial move, Bridge strategy and intention, CLASS action and subproblem state, and what to say.

    `template` and `values` name the deterministic reply (the scripted tutor's words, a real model's guidance).
    """

    kind: MoveKind
    category: StudentResponse
    action: TutorAction
    strategy: Strategy
    move: Move
    intention: Intention
    subproblem_state: SubproblemState
    step_index: int
    template: str
    values: dict[str, Any] = Field(default_factory=dict)
    variant: int = 0
    """Which wording of the template (its variants are separated by `---`)."""
    hint_level: int = 0
    reveal: bool = False
    """The move states the final answer (allowed by the reveal policy)."""
    told_step: int | None = None
    explanation: str | None = None
    """The worked method explained (Theory-of-Mind intervention)."""
    spends_budget: bool = False
    intervention: dict[str, Any] | None = None
    """The explain-or-not decision (`InterventionDecision.to_dict()`), where one was made."""
    refused: bool = False
    material_search: str | None = None
    material: list[dict[str, Any]] = Field(default_factory=list)
    focus: str | None = None
    closing: bool = False
    reply_source: str | None = None
    mode: str | None = None
    decisions: dict[str, Any] | None = None
    """A real teacher's decisions for the move (`class` and/or `bridge`: values, who made each, what was replaced)."""

    @classmethod
    def make(
        cls,
        kind: MoveKind,
        category: StudentResponse,
        step_index: int,
        template: str,
        values: Mapping[str, Any] | None = None,
        *,
        sub_state: SubproblemState = SubproblemState.IN_PROGRESS,
        action: TutorAction | None = None,
        **extra: Any,
    ) -> TutorMove:
        """A move of `kind`, with its CLASS action, strategy, intention and MathDial move from `MOVE_LABELS`."""
        default_action, strategy, intention = MOVE_LABELS[kind]
        return cls(
            kind=kind,
            category=category,
            action=action or default_action,
            strategy=strategy,
            move=STRATEGY_MOVE[strategy],
            intention=intention,
            subproblem_state=sub_state,
            step_index=step_index,
            template=template,
            values=dict(values or {}),
            **extra,
        )


# CLASS action, Bridge strategy and intention of each kind of move (the MathDial move follows from the strategy).
MOVE_LABELS: dict[str, tuple[TutorAction, Strategy, Intention]] = {
    "open": (TutorAction.NOT_APPLICABLE, Strategy.OTHER, Intention.SIGNAL_GOAL),
    "affirm_next": (TutorAction.CONFIRM_CORRECT, Strategy.AFFIRM_CORRECT_ANSWER, Intention.SIGNAL_GOAL),
    "affirm_done": (TutorAction.CONFIRM_CORRECT, Strategy.AFFIRM_CORRECT_ANSWER, Intention.MOTIVATE_STUDENT),
    "probe": (TutorAction.FLAG_MISTAKE_HINT, Strategy.ASK_QUESTION, Intention.DIAGNOSE_MISTAKE),
    "hint": (TutorAction.FLAG_MISTAKE_HINT, Strategy.PROVIDE_HINT, Intention.HINT_MISTAKE),
    "example": (TutorAction.FLAG_MISTAKE_HINT, Strategy.PROVIDE_SIMILAR_PROBLEM, Intention.SUPPORT_THINKING),
    "strategy": (TutorAction.FLAG_MISTAKE_HINT, Strategy.PROVIDE_STRATEGY, Intention.SUPPORT_THINKING),
    "explain": (TutorAction.FLAG_MISTAKE_HINT, Strategy.EXPLAIN_CONCEPT, Intention.CLARIFY_MISUNDERSTANDING),
    "correction": (TutorAction.SOLUTION_AFTER_FAILURES, Strategy.PROVIDE_CORRECTION, Intention.CORRECT_MISTAKE),
    "partial": (TutorAction.ACK_PARTIAL_HINT, Strategy.PROVIDE_HINT, Intention.HINT_MISTAKE),
    "setup": (TutorAction.ACK_PARTIAL_HINT, Strategy.SIMPLIFY_QUESTION, Intention.SUPPORT_THINKING),
    "clarify": (TutorAction.ASK_CLARIFY, Strategy.ASK_QUESTION, Intention.CLARIFY_MISUNDERSTANDING),
    "redirect": (TutorAction.REDIRECT, Strategy.OTHER, Intention.SIGNAL_GOAL),
    "refuse": (TutorAction.HINT_ON_REQUEST, Strategy.PROVIDE_HINT, Intention.HINT_MISTAKE),
    "reveal": (TutorAction.SOLUTION_ON_REQUEST, Strategy.PROVIDE_CORRECTION, Intention.CORRECT_MISTAKE),
    "go_back": (TutorAction.GO_BACK, Strategy.SIMPLIFY_QUESTION, Intention.SIGNAL_GOAL),
    "inquiry": (TutorAction.ADDRESS_INQUIRY, Strategy.OTHER, Intention.UNDERSTAND_TOPIC),
    "question": (TutorAction.ADDRESS_INQUIRY, Strategy.OTHER, Intention.UNDERSTAND_TOPIC),
    "greet": (TutorAction.NOT_APPLICABLE, Strategy.ENCOURAGE_STUDENT, Intention.MOTIVATE_STUDENT),
    "review": (TutorAction.ADDRESS_INQUIRY, Strategy.PROVIDE_CORRECTION, Intention.ELABORATE_ANSWER),
    "suggest": (TutorAction.ADDRESS_INQUIRY, Strategy.PROVIDE_SIMILAR_PROBLEM, Intention.SIGNAL_GOAL),
}
