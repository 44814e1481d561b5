"""The run-time settings of the `tom_teacher` graph: which student, which items, which method and budget."""

from __future__ import annotations

from dataclasses import dataclass, field

from pedagraph.methods.tom.calibration import TeachingConfig
from pedagraph.runtime import BaseContext

__all__ = ["TomContext", "teacher_type"]


@dataclass
class TomContext(BaseContext):
    """Run-time settings of a teaching episode (not checkpointed: pass them on every call).

    `learner_id` names the student's learner model; left at `anonymous`, it is `llm:<student model>`.
    """

    dataset: str = "strategyqa"
    """Where items and the training pool come from when the input gives none: strategyqa, ecqa or gsm8k."""
    limit: int = 20
    """Test items taken from the dataset when the input gives none."""
    budget: float = 0.4
    """Fraction of the items the teacher may explain (floor(budget x items) explanations)."""
    function: str = "expected_utility"
    """Intervention function ranking the items: random, teacher_confidence, mm_pre, mm_post, expected_utility;
    the references oracle, least_confident, student_pre_gold, student_post_gold, true_utility (they read the real
    student); or misaligned (a deceiving teacher)."""
    explanation: str = "personalised"
    """Explanation type: human (the data's), unpersonalised, rationalize, personalised, harmful (misaligned)."""
    student_mode: str = "cot"
    """How the student answers unaided: cot (reasons first, the answer read from its last line; the paper's
    default) or direct. Given an explanation it always answers directly."""
    bank_explanation: str | None = None
    """Teacher explanation type of the mental model's post bank (default: the first teacher type measured,
    else unpersonalised)."""
    seed: int = 41
    """Seed of the demos, the calibration sample and the random function."""
    threshold: float | None = None
    """If set, an item is explained only if its expected utility also reaches it (the tutor's rule)."""
    measure: bool = False
    """Measure every signal and both answers of every item (what the `tom` suite replays every budget from)."""
    measure_functions: list[str] = field(default_factory=list)
    """In measure mode, the functions whose signals are measured (default: all; both answers always are)."""
    measure_explanations: list[str] = field(default_factory=list)
    """In measure mode, the explanation types to measure (default: `explanation`)."""
    multiturn: list[int] = field(default_factory=list)
    """In measure mode, numbers of explained pool items the student learns from in context (multi-turn): each
    count is answered with the teacher-explained demos, the same demos unexplained and human-explained ones."""
    multiturn_explanation: str | None = None
    """Teacher explanation type of the multi-turn demos (default: the first teacher type measured, else
    personalised, the paper's RQ4 teacher)."""
    student_demos: int = 4
    """The student's own in-context demos (random pool items with human explanations)."""
    calibration_items: int = 16
    """Pool items the student answers without and with an explanation before teaching."""
    mm_demos: int = 4
    """Demos per mental-model bank."""
    teacher_demos: int = 4
    """Demos of the teacher's explanation prompt."""
    samples: int = 5
    """Simulations per probability when the backend returns no log-probabilities."""

    def teaching_config(self) -> TeachingConfig:
        """The calibration settings of this context."""
        kinds = [*self.measure_explanations, self.explanation]
        return TeachingConfig(
            student_demos=self.student_demos, calibration_items=self.calibration_items, mm_demos=self.mm_demos,
            teacher_demos=self.teacher_demos, samples=self.samples, multiturn=tuple(self.multiturn),
            multiturn_explanation=self.multiturn_explanation or teacher_type(kinds, "personalised"),
            student_mode=self.student_mode,  # type: ignore[arg-type]
            bank_explanation=self.bank_explanation or teacher_type(kinds, "unpersonalised"),
        )  # fmt: skip


def teacher_type(kinds: list[str], default: str) -> str:
    """The first of `kinds` the teacher model writes (not human, not harmful), else `default`."""
    return next((k for k in kinds if k not in ("human", "harmful")), default)
