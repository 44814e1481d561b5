"""Break a free-form problem into checked steps with a real teacher model, once, when it is loaded."""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from pedagraph.answers import compare, find_numbers, format_number
from pedagraph.llm import ManagedChatModel
from pedagraph.problems import Problem, Step, skills_for
from pedagraph.prompts import render
from pedagraph.structured import ask


class DecomposedStep(BaseModel):
    """One step of a decomposed free-form problem."""

    question: str = Field(description="The question to ask the learner; it must not contain its own result.")
    hint: str = Field(description="A nudge towards the method that does not contain the result.")
    expression: str = Field(description='The computation, e.g. "48 / 2".')
    result: float = Field(description="The numeric result of this step.")
    skills: list[str] = Field(default_factory=list, description="One or two short skill names.")


class Decomposition(BaseModel):
    """A free-form problem broken into steps; the last step's result is the final answer."""

    steps: list[DecomposedStep] = Field(description="Two to six steps, in order.")


def _step(i: int, s: DecomposedStep) -> Step | None:
    """A checked step, or None when its question gives its own result away."""
    if not s.question.strip() or any(compare(m.value, s.result) for m in find_numbers(s.question)):
        return None
    hint = "" if any(compare(m.value, s.result) for m in find_numbers(s.hint)) else s.hint.strip()
    skills = [k.strip().lower() for k in s.skills if k.strip()][:2] or skills_for(s.question, [s.expression])
    return Step(
        index=i,
        question=s.question.strip(),
        solution_text=f"{s.expression} = {format_number(s.result)}",
        hint=hint,
        expression=s.expression.strip() or None,
        answer=format_number(s.result),
        answer_value=s.result,
        skills=skills,
    )


def decompose(problem: Problem, model: ManagedChatModel) -> Problem:
    """Break a stepless problem into checked steps with the teacher model (the problem unchanged if that fails)."""
    answer_line = f"Final answer: {problem.final_answer}\n" if problem.final_answer else ""
    result = ask(model, Decomposition, render("tutor/decompose", problem=problem.question, answer_line=answer_line),
                 node="decompose")  # fmt: skip
    raw = result.steps if result is not None else []
    if not 1 <= len(raw) <= 8 or not all(math.isfinite(s.result) for s in raw):
        return problem
    final_value = problem.final_value
    if final_value is not None and not compare(raw[-1].result, final_value):
        return problem  # the model's steps do not reach the known answer: do not grade with them
    steps = [_step(i, s) for i, s in enumerate(raw)]
    if any(s is None for s in steps):
        return problem
    checked = [s for s in steps if s is not None]
    value = final_value if final_value is not None else checked[-1].answer_value
    return problem.model_copy(
        update={
            "steps": checked,
            "final_value": value,
            "final_answer": format_number(value) if value is not None else problem.final_answer,
            "solution": "\n".join(s.solution_text for s in checked),
            "extras": {
                **problem.extras,
                "decomposed_by": model.model_spec,
                "answer_from": "given" if final_value is not None else "teacher_model",
            },
        }
    )
