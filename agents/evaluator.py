"""The evaluator agent: label a tutor response on the MRBench dimensions (Maurya et al., NAACL 2025).

`judge_response` makes one structured call that returns one label per requested dimension:
Yes / To some extent / No, except Revealing of the Answer (Yes (correct) / Yes (incorrect) / No) and Tutor
Tone (Encouraging / Neutral / Offensive). The `judge` eval suite calibrates it against MRBench's human labels;
other suites reuse it to score tutor turns. Prompts: `prompts/evaluator/` (one definition file per dimension).

Data helpers normalise the keys and labels of MRBench V1/V2 and the BEA 2025 files: `humanlikeness` vs
`Humanlikeness`, spaces or hyphens in keys, and the spelled-out revealing labels ("Yes (and the answer is
correct)" -> "Yes (correct)").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from functools import cache
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pedagraph.prompts import render
from pydantic import BaseModel, Field, create_model

from pedagraph.learning import extraction_tried, graded_turn, pending
from pedagraph.llm import ManagedChatModel
from pedagraph.messages import last_text, visible_history
from pedagraph.methods.tutor.context import TutoringContext
from pedagraph.methods.tutor.diagnosis import classify_turn, evaluator_diagnosis, refine_diagnosis
from pedagraph.problems import Problem, steps_of
from pedagraph.runtime import context_of, real_model, thread_id
from pedagraph.state import TutoringState
from pedagraph.taxonomy import MRBenchDimension, StudentResponse, TutorMove

__all__ = [
    "ALL_DIMENSIONS",
    "BEA_DIMENSIONS",
    "DESIRABLE",
    "LABELS",
    "Graded",
    "ResponseJudgement",
    "Revealing",
    "Tone",
    "ajudge_response",
    "diagnose",
    "field_name",
    "format_history",
    "is_desirable",
    "judge_response",
    "normalize_annotation",
    "normalize_dimension",
    "normalize_label",
    "parse_dimensions",
]


class Graded(StrEnum):
    """Labels of the graded dimensions."""

    YES = "Yes"
    TO_SOME_EXTENT = "To some extent"
    NO = "No"


class Revealing(StrEnum):
    """Labels of Revealing of the Answer."""

    YES_CORRECT = "Yes (correct)"
    YES_INCORRECT = "Yes (incorrect)"
    NO = "No"


class Tone(StrEnum):
    """Labels of Tutor Tone."""

    ENCOURAGING = "Encouraging"
    NEUTRAL = "Neutral"
    OFFENSIVE = "Offensive"


D = MRBenchDimension
ALL_DIMENSIONS: tuple[MRBenchDimension, ...] = tuple(MRBenchDimension)
"""The eight dimensions in MRBench order."""
BEA_DIMENSIONS: tuple[MRBenchDimension, ...] = (
    D.MISTAKE_IDENTIFICATION,
    D.MISTAKE_LOCATION,
    D.PROVIDING_GUIDANCE,
    D.ACTIONABILITY,
)
"""The four dimensions annotated in the BEA 2025 shared-task devset."""

_LABEL_ENUM: dict[MRBenchDimension, type[StrEnum]] = {
    d: Revealing if d == D.REVEALING_OF_THE_ANSWER else Tone if d == D.TUTOR_TONE else Graded for d in ALL_DIMENSIONS
}
LABELS: dict[MRBenchDimension, tuple[str, ...]] = {d: tuple(e.value for e in enum) for d, enum in _LABEL_ENUM.items()}
"""The label set of each dimension."""
DESIRABLE: dict[MRBenchDimension, str] = {
    d: Revealing.NO.value if d == D.REVEALING_OF_THE_ANSWER else Tone.ENCOURAGING.value if d == D.TUTOR_TONE else "Yes"
    for d in ALL_DIMENSIONS
}
"""The desirable label of each dimension (methods.md §7.5): Yes, except No for revealing, Encouraging for tone."""


def _squash(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


_DIMENSION_KEYS = {_squash(d.value): d for d in ALL_DIMENSIONS}


def field_name(dimension: MRBenchDimension) -> str:
    """The snake_case field name of a dimension in the judge's schema (`Tutor_Tone` -> `tutor_tone`)."""
    return dimension.value.lower()


def normalize_dimension(key: str | MRBenchDimension) -> MRBenchDimension | None:
    """Map a data key (`humanlikeness`, `Human-likeness`, `tutor tone`, ...) to its dimension, or None."""
    if isinstance(key, MRBenchDimension):
        return key
    return _DIMENSION_KEYS.get(_squash(str(key)))


def normalize_label(dimension: MRBenchDimension, value: Any) -> str | None:
    """Map a label as written in the data to the canonical label of `dimension`, or None if unknown."""
    if not isinstance(value, str):
        return None
    low = re.sub(r"\s+", " ", value.strip().lower().replace("_", " "))
    if dimension == D.REVEALING_OF_THE_ANSWER:
        if low.startswith("yes"):
            return (
                Revealing.YES_INCORRECT.value if "incorrect" in low or "wrong" in low else Revealing.YES_CORRECT.value
            )
        return Revealing.NO.value if low.startswith("no") else None
    for label in LABELS[dimension]:
        if low == label.lower():
            return label
    return None


def normalize_annotation(annotation: Mapping[str, Any]) -> dict[str, str]:
    """Canonical `{dimension value: label}` of one annotation dict; unknown keys are dropped.

    Raises:
        ValueError: a known dimension has a label outside its label set.
    """
    out: dict[str, str] = {}
    for key, value in annotation.items():
        dim = normalize_dimension(key)
        if dim is None:
            continue
        label = normalize_label(dim, value)
        if label is None:
            raise ValueError(f"unknown {dim.value} label {value!r} (expected one of {', '.join(LABELS[dim])})")
        out[dim.value] = label
    return out


def parse_dimensions(value: Any) -> tuple[MRBenchDimension, ...]:
    """Dimensions from an option: None (all), a comma-separated string or a list of names (any key spelling).

    Raises:
        ValueError: an unknown dimension name.
    """
    if value is None or value == "" or value == "all":
        return ALL_DIMENSIONS
    names = value.split(",") if isinstance(value, str) else list(value)
    found: list[MRBenchDimension] = []
    for name in names:
        if not str(name).strip():
            continue
        dim = normalize_dimension(str(name).strip())
        if dim is None:
            raise ValueError(
                f"unknown MRBench dimension {name!r} (known: {', '.join(d.value for d in ALL_DIMENSIONS)})"
            )
        if dim not in found:
            found.append(dim)
    return tuple(d for d in ALL_DIMENSIONS if d in found) or ALL_DIMENSIONS


def is_desirable(dimension: MRBenchDimension | str, label: str | None) -> bool | None:
    """Whether a label is the dimension's desirable one (None for a missing label)."""
    dim = normalize_dimension(dimension)
    if dim is None or label is None:
        return None
    return label == DESIRABLE[dim]


class ResponseJudgement(BaseModel):
    """The evaluator's labels of one tutor response."""

    labels: dict[str, str] = Field(description="dimension value (e.g. Mistake_Identification) -> label")
    rationale: str = ""
    model: str = ""

    def label(self, dimension: MRBenchDimension | str) -> str | None:
        """The label of a dimension (None when it was not judged)."""
        dim = normalize_dimension(dimension)
        return self.labels.get(dim.value) if dim is not None else None

    def desirable(self) -> dict[str, bool]:
        """Per judged dimension: whether its label is the desirable one."""
        return {k: bool(is_desirable(k, v)) for k, v in self.labels.items()}


@cache
def judgement_schema(dimensions: tuple[MRBenchDimension, ...]) -> type[BaseModel]:
    """The structured-output model for a set of dimensions: a rationale, then one enum label per dimension."""
    fields: dict[str, Any] = {"rationale": (str, Field("", description="One or two sentences."))}
    for dim in dimensions:
        fields[field_name(dim)] = (_LABEL_ENUM[dim], Field(description=dim.value.replace("_", " ")))
    return create_model("ResponseLabels", __doc__="Labels of one tutor response.", **fields)


def format_history(history: str | Sequence[Any]) -> str:
    """Render a dialogue as `Tutor: ...` / `Student: ...` lines.

    Accepts the MRBench string as is, or a sequence of messages (AIMessage = tutor, HumanMessage = student),
    `(role, text)` pairs or `{"role", "text"|"content"}` dicts (role `tutor`/`teacher`/`ai` or anything else
    for the student).
    """
    if isinstance(history, str):
        return history.strip()
    lines = []
    for turn in history:
        if isinstance(turn, BaseMessage):
            role = "tutor" if isinstance(turn, AIMessage) else "student" if isinstance(turn, HumanMessage) else None
            text = turn.content if isinstance(turn.content, str) else str(turn.content)
        elif isinstance(turn, Mapping):
            role, text = str(turn.get("role", "")), str(turn.get("text", turn.get("content", "")))
        else:
            role, text = str(turn[0]), str(turn[1])
        if role is None:
            continue
        who = "Tutor" if role.lower() in ("tutor", "teacher", "ai", "assistant") else "Student"
        lines.append(f"{who}: {text.strip()}")
    return "\n".join(lines)


def _messages(
    history: str | Sequence[Any], response: str, ground_truth: str | None, dimensions: tuple[MRBenchDimension, ...]
) -> list[BaseMessage]:
    definitions = "\n".join(render(f"evaluator/dimensions/{field_name(d)}").strip() for d in dimensions)
    reference = render("evaluator/reference_solution", solution=ground_truth.strip()) if ground_truth else ""
    system = render("evaluator/judge_response", definitions=definitions)
    user = render(
        "evaluator/judge_input", conversation=format_history(history) or "(empty)", reference=reference,
        response=response.strip() or "(empty)",
    )  # fmt: skip
    return [SystemMessage(content=system), HumanMessage(content=user)]


def _judgement(result: Any, dimensions: tuple[MRBenchDimension, ...], model: ManagedChatModel) -> ResponseJudgement:
    data = result.model_dump(mode="json") if isinstance(result, BaseModel) else dict(result)
    labels = {d.value: str(data[field_name(d)]) for d in dimensions}
    return ResponseJudgement(labels=labels, rationale=str(data.get("rationale") or ""), model=model.model_spec)


def _dims(dimensions: Iterable[MRBenchDimension | str] | None) -> tuple[MRBenchDimension, ...]:
    return parse_dimensions(None if dimensions is None else list(dimensions))


def judge_response(
    model: ManagedChatModel,
    conversation_history: str | Sequence[Any],
    response: str,
    ground_truth: str | None = None,
    dimensions: Iterable[MRBenchDimension | str] | None = ALL_DIMENSIONS,
) -> ResponseJudgement:
    """Label one tutor response on the given MRBench dimensions with one structured call."""
    dims = _dims(dimensions)
    schema = judgement_schema(dims)
    result = model.with_structured_output(schema).invoke(_messages(conversation_history, response, ground_truth, dims))
    return _judgement(result, dims, model)


async def ajudge_response(
    model: ManagedChatModel,
    conversation_history: str | Sequence[Any],
    response: str,
    ground_truth: str | None = None,
    dimensions: Iterable[MRBenchDimension | str] | None = ALL_DIMENSIONS,
) -> ResponseJudgement:
    """Async `judge_response`."""
    dims = _dims(dimensions)
    schema = judgement_schema(dims)
    messages = _messages(conversation_history, response, ground_truth, dims)
    result = await model.with_structured_output(schema).ainvoke(messages)
    return _judgement(result, dims, model)


# --------------------------------------------------------------------------------------------------------------
# diagnose: the evaluator's node in the tutoring graphs
# --------------------------------------------------------------------------------------------------------------


SHOWN_MOVES = frozenset({"explain", "correction", "example", "reveal", "go_back"})
"""Moves after which the step's working is on the table: a bare number next is no blind guess."""


def _bare_guesses(state: TutoringState, step_index: int) -> int:
    """How many of the learner's last turns in a row were unconfirmed bare guesses (a number, no working) here.

    The run ends at a turn with working or no number, a confirmed answer, another step, or a move that showed
    the step's working (an explanation or correction).
    """
    count = 0
    for trace in reversed(state.get("turns") or []):
        diagnosis, plan = trace.get("diagnosis") or {}, trace.get("plan") or {}
        if diagnosis.get("act") != "attempt" or diagnosis.get("verdict") == "correct":
            break
        if plan.get("step_index") != step_index or plan.get("kind") in SHOWN_MOVES:
            break
        count += 1
    return count


def diagnose(state: TutoringState, runtime: Runtime[TutoringContext]) -> dict[str, Any]:
    """Diagnose the learner's turn (CLASS a-g, verdict, error type) and gather the learner-model evidence it gives.

    Correctness is the deterministic check of `classify_turn`; a real evaluator model may add its structured
    diagnosis of the soft labels (never the verdict). The evidence is committed with the turn (`reveal_gate`).
    """
    ctx = context_of(runtime, TutoringContext)
    problem = Problem.model_validate(state["problem"])
    steps = steps_of(problem)
    idx = state.get("step_index", 0)
    text = last_text(state.get("messages", []), HumanMessage)
    said = visible_history(state.get("messages", []), state.get("problem_start", 0))[1][-2:]
    d = classify_turn(text, problem, idx, context=said)
    evaluator = real_model(ctx, "evaluator")
    if evaluator is not None and d.category != StudentResponse.CORRECT:
        d = refine_diagnosis(d, evaluator_diagnosis(evaluator, problem, steps[idx], text, d), text, problem, idx,
                             said)  # fmt: skip
    guessed = d.act == "attempt" and d.verdict == "correct" and ctx.guess_limit > 0
    if guessed and _bare_guesses(state, idx) + 1 >= ctx.guess_limit:
        d = d.model_copy(update={"needs_working": True, "category": StudentResponse.AMBIGUOUS, "verdict": "no_answer",
                                 "correct": None, "solved_final": False})  # fmt: skip
    attempts = list(state.get("attempts") or [0] * len(steps))
    if d.category in (StudentResponse.INCORRECT, StudentResponse.PARTIAL) and not d.setup:
        attempts[idx] += 1
    previous = TutorMove.of(state.get("last_plan"))
    explained = (previous.step_index, previous.explanation) if previous is not None else None
    session, turn = thread_id(), len(state.get("turns", []))
    learning = pending(state.get("pending_learning")) + graded_turn(
        problem=problem, step=steps[idx], diagnosis=d, learner_text=text, session_id=session, turn=turn,
        explained=explained,
    )  # fmt: skip
    if d.extraction:
        learning += extraction_tried(problem_id=problem.id, session_id=session, turn=turn, text=text)
    return {
        "last_diagnosis": d.dump(),
        "attempts": attempts,
        "learner_solved": bool(state.get("learner_solved") or d.solved_final),
        "solution_requested": d.inquiry == "solution",
        "extraction_flag": bool(state.get("extraction_flag") or d.extraction),
        "pending_learning": learning.model_dump(mode="json"),
    }
