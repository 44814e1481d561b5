"""Questions during a problem, answered without a model: from the glossary, else pointed at the problem.

(The tutor graph first searches the learner's course material; these answers are for when nothing matches.)
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pedagraph.answers import compare, find_numbers
from pedagraph.methods.tutor.acts import content_words
from pedagraph.methods.tutor.concepts import explain
from pedagraph.problems import Problem, Step
from pedagraph.taxonomy import Diagnosis, TutorMove

_SENTENCES = re.compile(r"(?<=[.?!])\s+")


def pointer(problem: Problem, question: str) -> str:
    """The sentence of the problem a question is most about (its words and numbers), quoted; else its last one."""
    sentences = [s.strip() for s in _SENTENCES.split(problem.question) if s.strip()]
    if not sentences:
        return f"“{problem.question.strip()}”"
    words, numbers = content_words(question), [m.value for m in find_numbers(question)]

    def score(sentence: str) -> int:
        quoted = sum(any(compare(v, m.value) for m in find_numbers(sentence)) for v in numbers)
        return len(words & content_words(sentence)) + 2 * quoted

    best = max(sentences, key=lambda s: (score(s), -sentences.index(s)))
    return f"“{best if score(best) else sentences[-1]}”"


def question_move(problem: Problem, step: Step, d: Diagnosis, text: str, notice: str,
                  shown: Callable[[str], bool]) -> TutorMove:  # fmt: skip
    """A question about the problem or the course: a glossary answer, else where in the problem to look."""
    concept = explain(text)
    if concept is not None and shown(concept.text):
        values = {"notice": notice, "answer": concept.text, "question": step.question}
        return TutorMove.make("inquiry", d.category, step.index, "question_concept", values)
    if d.act == "course_question":
        return TutorMove.make("inquiry", d.category, step.index, "question_course",
                              {"notice": notice, "question": step.question})  # fmt: skip
    where = pointer(problem, text)
    values = {"notice": notice, "pointer": where if shown(where) else f"“{step.question}”", "question": step.question}
    return TutorMove.make("inquiry", d.category, step.index, "inquiry", values)
