"""Shared labels of the field: CLASS turn codes, MathDial moves, Bridge decisions, MRBench dimensions.

One module so every graph, agent and eval uses the same names (methods.md §9.4).
"""

from __future__ import annotations

from enum import StrEnum


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
