"""After a problem: answering about it (its worked solution, questions, what to do next) without a model.

The problem is finished (solved or revealed), so its answer is no longer a secret: the worked solution may be
shown. Questions are answered from the learner's course notes (passed in as `found`), else from the glossary,
else by pointing at the problem; a number or chatter gets what the learner can do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pedagraph.memory.tools import Retrieval
from pedagraph.methods.tutor.acts import read_act
from pedagraph.methods.tutor.concepts import explain
from pedagraph.methods.tutor.material import quote_passages
from pedagraph.methods.tutor.questions import pointer
from pedagraph.methods.tutor.replies import pick_variant, sentence, template, variants
from pedagraph.problems import Problem, steps_of
from pedagraph.taxonomy import StudentResponse, SubproblemState, TutorMove

QUESTION_ACTS = frozenset({"problem_question", "course_question"})
"""Acts answered from course notes when any match."""


def review_act(problem: Problem, text: str) -> str:
    """What a message after the problem does: `solution`, `next`, `question`, `greeting` or `other`."""
    reading = read_act(text, problem, steps_of(problem)[-1])
    if reading.act == "answer_request" or reading.meta == "review_solution" or "solution" in text.lower():
        return "solution"
    if reading.meta == "next_problem":
        return "next"
    if reading.act in QUESTION_ACTS or reading.meta == "about_tutor":
        return "question"
    return "greeting" if reading.act == "greeting" else "other"


def worked_solution(problem: Problem) -> str:
    """The problem's worked solution, one step per line, each a sentence."""
    lines = [f"{s.number}. {sentence(s.solution_text)}" for s in problem.steps if s.solution_text.strip()]
    return "\n".join(lines) or sentence(problem.solution or problem.question)


def _answer(problem: Problem, text: str, found: Retrieval | None, notice: str) -> tuple[str, dict[str, Any]]:
    """A question about the finished problem or the course: notes, else the glossary, else the problem's words."""
    if found is not None and found.hits:
        return "review_question", {"notice": notice, "answer": f"{quote_passages(found.hits)}"}
    concept = explain(text)
    answer = concept.text if concept is not None else template("review_pointer", pointer=pointer(problem, text))
    return "review_question", {"notice": notice if concept is not None else "", "answer": answer}


def review_move(problem: Problem, text: str, *, found: Retrieval | None = None, next_text: str = "",
                suggestion: str = "", said: Sequence[str] = (), notice: str = "") -> TutorMove:  # fmt: skip
    """The reply to a message after the problem was finished (`next_text`: the options; `suggestion`: the next one)."""
    kind = review_act(problem, text)
    final = len(steps_of(problem)) - 1
    if kind == "solution":
        name, values = "review_solution", {"solution": worked_solution(problem), "answer": problem.final_answer}
    elif kind == "question":
        name, values = _answer(problem, text, found, notice)
    elif kind in ("next", "greeting"):
        lead = pick_variant("tutor/templates/review_lead", said, start=len(said)) if kind == "next" else \
            pick_variant("tutor/openings/thanks" if "thank" in text.lower() else "tutor/openings/ok", said)
        name, values = "review_next", {"lead": lead}
    else:
        name, values = "review_finished", {"answer": problem.final_answer}
    values["next"] = f" {suggestion}" if kind == "next" and suggestion else next_text
    options = variants(f"tutor/templates/{name}", **values)
    chosen = pick_variant(f"tutor/templates/{name}", said, start=len(said), **values)
    return TutorMove.make("review", StudentResponse.INQUIRY, final, name, values, variant=options.index(chosen),
                          sub_state=SubproblemState.DONE, mode="review")  # fmt: skip
