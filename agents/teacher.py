"""The teacher of the `tutor` graph: load the problem, diagnose each learner turn, plan a move, reply, gate it.

Every node is a function `(state, runtime) -> update`. Decisions are deterministic wherever the step answer is
known (answer checks, CLASS policy, reveal gate); models only word the reply and add a structured diagnosis.

* On the built-in `scripted` model with nothing scripted, replies are the deterministic templates in
  `prompts/tutor/templates/`. A `ScriptedChatModel` given `replies` or a `reply_fn` stands in for a real
  model (that is how tests drive the real-model path offline).
* The learner model changes only through graded evidence from `diagnose` (`Grader.STEP_CHECK`).
* Tutor text enters `messages` only in `reveal_gate`, after the final reveal check.

The CLASS policy (`choose_move`), per learner turn on the current step:

* b correct: affirm and ask the next step's question (state y), or close the problem (z);
* a incorrect: 1st failed attempt: probe (ask how they got their number); later: hint (the step's hint), then
  strategy (the step's expression without its result), repeated. From the 2nd failed attempt the
  Theory-of-Mind decision may replace that move with one explanation of the step's worked method (result
  removed) while the explanation budget lasts. After `step_tell_after` failures on a non-final step its result
  is told and the tutor moves on (action 2); on the final step the answer is told only as the reveal policy
  allows (`after_attempts`);
* c partial: a number that is another step's result gets an acknowledgement and a hint; the right calculation
  written without its result is confirmed ("what does it come to?") and is not a failed attempt;
* d ambiguous: ask to clarify; e off-topic: redirect; f inquiry: hint request / "I don't know" -> next hint
  level; solution request (or any extraction attempt) -> refusal with a hint unless the policy allows the
  answer (`on_request`); go back -> previous step; another question -> answered (a real model) or noted.
  A question (f) or off-topic turn (e) that matches ingested course material well (`MATERIAL_MIN_SCORE`) is
  answered from it instead: the scripted model quotes the passages with their citations, a real model puts
  them in its own words; either way the reply passes the reveal gate and the tutor carries on with the step.

Question mode (`answer_question`): with no problem active, a learner message is answered from the ingested
course material (`materials`, filtered by `Context.course`), with citations; the embedding model is only
loaded when some material was ingested. The session then waits for the next message.
"""

from __future__ import annotations

import ast
import hashlib
import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.config import get_config, get_stream_writer
from langgraph.constants import TAG_NOSTREAM
from langgraph.runtime import Runtime
from pedagraph.prompts import render
from pydantic import BaseModel, Field

from pedagraph.answers import check_answer, compare, find_numbers, format_number, normalize_text
from pedagraph.errors import DataError, ModelError, PedagraphError
from pedagraph.learner import GradedEvidence, LearnerModel, MisconceptionEvidence, TeachingDemo, get_learner_store
from pedagraph.llm import ManagedChatModel, get_model
from pedagraph.mental_model import decide_intervention
from pedagraph.problems import Problem, Step, get_problem, skills_for
from pedagraph.reveal import RevealGate, is_extraction_attempt
from pedagraph.taxonomy import (
    STRATEGY_MOVE,
    ErrorType,
    Intention,
    Strategy,
    StudentResponse,
    SubproblemState,
    TutorAction,
)

if TYPE_CHECKING:
    from pedagraph.graphs.tutor import Context, State

INTERNAL_TAGS = [TAG_NOSTREAM, "langsmith:nostream"]
"""Tags on every model call inside the tutor (`nostream` is what this LangGraph version checks): raw model
tokens never reach the `messages` stream mode."""

Inquiry = Literal["hint", "solution", "go_back", "dont_know", "question"]

_HINT_RE = re.compile(r"\b(?:hints?|clues?|help|stuck|nudge|tip)\b")
_SOLUTION_RE = re.compile(
    r"\b(?:solutions?|(?:tell|give|show)\s+(?:me\s+)?(?:the\s+)?(?:answer|result)|solve\s+it|reveal|what(?:'s|\s+is)\s+"
    r"the\s+(?:final\s+)?(?:answer|result))\b"
)
_GO_BACK_RE = re.compile(
    r"\b(?:go(?:ing)?\s+back|back\s+up|previous\s+(?:step|question|part)|last\s+step|earlier\s+step|undo|step\s+back)\b"
)
_DONT_KNOW_RE = re.compile(
    r"\b(?:(?:i\s+)?(?:don'?t|do\s+not|dont)\s+(?:know|get\s+it|understand)|no\s+idea|not\s+sure|idk|confused|"
    r"i\s+give\s+up|no\s+clue|lost)\b"
)
_STOPWORDS = frozenset(
    "the and for you your are was were what how why who when where which that this with have has had does did "
    "can could would should will about from into then than them they she her his him its it's i'm just like "
    "know think want get got okay yes not but all any some there here out one many much these those please "
    "really very also".split()
)
_QUESTION_START_RE = re.compile(
    r"^\s*(?:what|why|how|when|where|which|who|can|could|would|should|is|are|do|does|did|may)\b"
)
_NUM = r"\$?\d[\d,]*(?:\.\d+)?"
_EXPRESSION_RE = re.compile(rf"\(?\s*{_NUM}\s*\)?(?:\s*[-+*/x×÷]\s*\(?\s*{_NUM}\s*\)?)+")
_AST_OPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
_HOLD_WORDS = frozenset({"point", "minus", "negative", "and", "a", "an", "$", "€", "£"})

MATERIAL_K = 3
"""Passages of course material retrieved per question."""
MATERIAL_MIN_SCORE = 0.3
"""Cosine similarity a passage needs to count as answering a learner's question (all-MiniLM-L6-v2 scores
unrelated text below about 0.2 and a matching passage above about 0.5)."""
QUOTE_CHARS = 280
"""Longest passage the scripted model quotes (trimmed at a word boundary)."""
PROMPT_PASSAGE_CHARS = 600
"""Longest passage a real teacher is shown."""


# --------------------------------------------------------------------------------------------------------------
# Context, models, problem helpers
# --------------------------------------------------------------------------------------------------------------


def context_of(runtime: Runtime[Any] | None) -> Context:
    """Return the run's Context (the defaults when the caller passed none)."""
    from pedagraph.graphs.tutor import Context

    ctx = getattr(runtime, "context", None)
    if ctx is None:
        return Context()
    if isinstance(ctx, dict):
        return Context(**ctx)
    return ctx


def role_model(role: str, override: str | BaseChatModel | None) -> ManagedChatModel:
    """Return the model of a role, honouring a per-run override (a `provider:model` string or a chat model).

    The model carries the `INTERNAL_TAGS`, so none of its calls streams raw tokens to the `messages` stream mode:
    the learner sees only gated text.
    """
    model = override if isinstance(override, ManagedChatModel) else get_model(role, model=override)
    return model.model_copy(update={"tags": [*(model.tags or []), *INTERNAL_TAGS]})


def uses_templates(model: ManagedChatModel) -> bool:
    """True on the built-in scripted model with nothing scripted: replies come from deterministic templates."""
    if not model.is_scripted:
        return False
    inner = model.inner
    return getattr(inner, "reply_fn", None) is None and not getattr(inner, "replies", None)


def thread_id() -> str:
    """Return the session id (the LangGraph thread id) of the running graph, or `unthreaded`."""
    try:
        config = get_config()
    except RuntimeError:
        return "unthreaded"
    return str((config.get("configurable") or {}).get("thread_id") or "unthreaded")


def problem_of(state: State) -> Problem:
    """Return the session's problem."""
    return Problem.model_validate(state["problem"])


def steps_of(problem: Problem) -> list[Step]:
    """Return the problem's steps; a stepless problem is one step: the whole question and its final answer."""
    if problem.steps:
        return list(problem.steps)
    return [
        Step(
            index=0,
            question=problem.question,
            solution_text=problem.solution,
            hint="",
            expression=None,
            answer=problem.final_answer,
            answer_value=problem.final_value,
            skills=list(problem.skills),
        )
    ]


def template(name: str, **values: Any) -> str:
    """Render a deterministic reply template from `prompts/tutor/templates/`."""
    return render(f"tutor/templates/{name}", **values).strip()


def without_result(text: str, value: float | None) -> str:
    """Return `text` with every occurrence of `value` replaced by `?` (a worked step without its result)."""
    if not text or value is None:
        return text
    norm = normalize_text(text)
    base = text if len(norm) == len(text) else norm
    out, last = [], 0
    for m in find_numbers(text):
        if any(compare(v, value) for v in m.values):
            out.append(base[last : m.start])
            out.append("?")
            last = m.end
    out.append(base[last:])
    return "".join(out)


def visible_history(state: State) -> tuple[list[str], list[str]]:
    """Return (learner texts, tutor replies) of the current problem's conversation."""
    messages = state.get("messages", [])[state.get("problem_start", 0) :]
    learner = [_text(m) for m in messages if isinstance(m, HumanMessage)]
    tutor = [_text(m) for m in messages if isinstance(m, AIMessage)]
    return learner, tutor


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content)


def last_learner_text(state: State) -> str:
    """Return the latest learner message of the session."""
    for m in reversed(state.get("messages", [])):
        if isinstance(m, HumanMessage):
            return _text(m)
    return ""


def make_gate(problem: Problem) -> RevealGate | None:
    """Return the reveal gate of a problem, or None when its final answer is unknown (nothing to protect)."""
    if problem.final_value is None:
        return None
    return RevealGate.for_problem(problem)


def gate_check(gate: RevealGate | None, text: str, learner: list[str], prior: list[str]) -> dict[str, Any]:
    """Run the reveal gate on a text; a JSON-ready result."""
    if gate is None:
        return {"blocked": False, "reason": "no_final_answer", "matched": None}
    result = gate.check(text, learner_messages=learner, prior_replies=prior)
    return {"blocked": result.blocked, "reason": result.reason, "matched": result.matched}


# --------------------------------------------------------------------------------------------------------------
# Gated streaming
# --------------------------------------------------------------------------------------------------------------


def _numberish(word: str) -> bool:
    stripped = word.strip(".,;:!?()\"'")
    return bool(re.search(r"\d", word)) or stripped.lower() in _HOLD_WORDS or bool(find_numbers(stripped))


def safe_prefix(text: str) -> str:
    """Return the part of a growing reply that may be judged now: complete words, minus a trailing run of numbers.

    A trailing partial word is held back (the next chunk may extend `1` to `18`), and so is a run of
    number-like words at the end (`1 8`, `eighteen`, `two point`) until a plain word follows it.
    """
    cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1
    prefix = text[:cut]
    while True:
        m = re.search(r"(\S+)\s+$", prefix)
        if not m or not _numberish(m.group(1)):
            return prefix
        prefix = prefix[: m.start()]


class GatedStream:
    """Forward a reply to the custom stream only as far as it passes the reveal gate."""

    def __init__(self, check: Callable[[str], bool], writer: Callable[[Any], None]) -> None:
        self.check = check
        self.writer = writer
        self.text = ""
        self.sent = ""
        self.tripped = False

    def feed(self, piece: str) -> None:
        """Add a chunk; forward the newly safe part if the reply so far passes the gate."""
        self.text += piece
        if self.tripped:
            return
        safe = safe_prefix(self.text)
        if len(safe) > len(self.sent):
            self._forward(safe)

    def close(self) -> str:
        """Judge the whole reply; forward the held-back tail if it passes. Returns the whole reply."""
        if not self.tripped and len(self.text) > len(self.sent):
            self._forward(self.text, always_check=True)
        return self.text

    def feed_known(self, text: str) -> str:
        """Stream a reply known in full (a template): judged once, then sent word by word or not at all."""
        self.text = text
        if self.check(text):
            for chunk in word_chunks(text):
                self.writer({"type": "token", "text": chunk})
            self.sent = text
        else:
            self.tripped = True
        return text

    def _forward(self, upto: str, *, always_check: bool = False) -> None:
        new = upto[len(self.sent) :]
        # every reveal rule needs a number in the text, so a segment without one cannot change the verdict
        if (always_check or _has_number(new)) and not self.check(upto):
            self.tripped = True
            return
        self.writer({"type": "token", "text": new})
        self.sent = upto


def _has_number(text: str) -> bool:
    return bool(re.search(r"\d", text)) or bool(find_numbers(text))


def _writer() -> Callable[[Any], None]:
    try:
        return get_stream_writer()
    except RuntimeError:
        return lambda _chunk: None


def word_chunks(text: str) -> Iterator[str]:
    """Split a text into word chunks that join back to it exactly."""
    yield from re.findall(r"\s*\S+\s*", text) or [text]


def _checker(state: State, gate: RevealGate | None, allowed: bool) -> Callable[[str], bool]:
    learner, prior = visible_history(state)

    def check(text: str) -> bool:
        return allowed or not gate_check(gate, text, learner, prior)["blocked"]

    return check


# --------------------------------------------------------------------------------------------------------------
# Reveal policy
# --------------------------------------------------------------------------------------------------------------


def reveal_permitted(state: State, ctx: Context, diagnosis: dict[str, Any] | None = None) -> tuple[bool, str]:
    """Whether the final answer may be stated now, and why: the learner said it, or the policy allows it."""
    if state.get("learner_solved"):
        return True, "learner_has_answer"
    if ctx.reveal_policy == "after_attempts":
        attempts = state.get("attempts") or [0]
        if attempts[-1] >= ctx.reveal_after:
            return True, f"after_attempts: {attempts[-1]} failed attempts on the final step"
    if ctx.reveal_policy == "on_request":
        diagnosis = diagnosis if diagnosis is not None else state.get("last_diagnosis") or {}
        if diagnosis.get("inquiry") == "solution":
            return True, "on_request: the learner asked for the solution"
    return False, f"policy {ctx.reveal_policy}"


# --------------------------------------------------------------------------------------------------------------
# setup_problem and open_session
# --------------------------------------------------------------------------------------------------------------


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


def decompose(problem: Problem, model: ManagedChatModel) -> Problem:
    """Break a stepless problem into checked steps with the teacher model (the problem unchanged if that fails)."""
    answer_line = f"Final answer: {problem.final_answer}\n" if problem.final_answer else ""
    try:
        result = model.with_structured_output(Decomposition).invoke(
            render("tutor/decompose", problem=problem.question, answer_line=answer_line)
        )
    except PedagraphError:
        return problem
    raw = result.steps if isinstance(result, Decomposition) else []
    if not 1 <= len(raw) <= 8 or not all(math.isfinite(s.result) for s in raw):
        return problem
    final_value = problem.final_value
    if final_value is not None and not compare(raw[-1].result, final_value):
        return problem  # the model's steps do not reach the known answer: do not grade with them
    steps = []
    for i, s in enumerate(raw):
        if not s.question.strip() or any(compare(m.value, s.result) for m in find_numbers(s.question)):
            return problem
        hint = "" if any(compare(m.value, s.result) for m in find_numbers(s.hint)) else s.hint.strip()
        skills = [k.strip().lower() for k in s.skills if k.strip()][:2] or skills_for(s.question, [s.expression])
        steps.append(
            Step(
                index=i,
                question=s.question.strip(),
                solution_text=f"{s.expression} = {format_number(s.result)}",
                hint=hint,
                expression=s.expression.strip() or None,
                answer=format_number(s.result),
                answer_value=s.result,
                skills=skills,
            )
        )
    value = final_value if final_value is not None else steps[-1].answer_value
    return problem.model_copy(
        update={
            "steps": steps,
            "final_value": value,
            "final_answer": format_number(value) if value is not None else problem.final_answer,
            "solution": "\n".join(s.solution_text for s in steps),
            "extras": {
                **problem.extras,
                "decomposed_by": model.model_spec,
                "answer_from": "given" if final_value is not None else "teacher_model",
            },
        }
    )


def pending_learner_turn(state: State) -> bool:
    """Whether the latest visible message is the learner's, not answered yet (a question passed as input)."""
    messages = state.get("messages", [])
    return bool(messages) and isinstance(messages[-1], HumanMessage)


def problem_active(state: State) -> bool:
    """Whether a problem is being tutored on this thread (loaded and not finished; a turn-limited one counts)."""
    return bool(state.get("problem")) and not state.get("done")


def setup_problem(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Load the problem (bundled id or free text, decomposed once on a real teacher) and reset the session.

    Without a new problem: continue the active one (a question given as input is the learner's next turn on
    it), or, with no problem active, enter question mode when the input carries a learner question.
    """
    ctx = context_of(runtime)
    pid, text, data = state.get("problem_id"), state.get("problem_text"), state.get("problem_data")
    question = str(state.get("question") or "").strip()
    asked = [HumanMessage(content=question)] if question else []
    if pid:
        problem = get_problem(str(pid))
    elif data:
        problem = Problem.model_validate(data)
    elif text:
        problem = Problem.from_text(str(text), state.get("answer"))
        teacher = role_model("teacher", ctx.teacher_model)
        if not problem.has_steps and not uses_templates(teacher):
            problem = decompose(problem, teacher)
    elif problem_active(state):
        # continue the unfinished problem; a learner message given as input is its next turn (reveal gate applies)
        turns = 0  # after the turn limit the learner gets another `max_turns`
        if bool(asked) or pending_learner_turn(state):
            turns = (0 if state.get("end_reason") else state.get("turn_count", 0)) + 1
        return {"turn_count": turns, "end_reason": None, "mode": "problem", "question": None, "messages": asked}
    elif asked or pending_learner_turn(state):
        owner = state.get("learner_id")
        if owner is not None and owner != ctx.learner_id:
            raise DataError(
                f"this session belongs to learner {owner!r}, but the call's context names {ctx.learner_id!r}",
                hint="pass the same Context(learner_id=...) on every call of a thread, resumes included",
            )
        start = len(state.get("messages", [])) - (0 if asked else 1)
        return {"mode": "question", "question": None, "question_start": start, "learner_id": ctx.learner_id,
                "turn_count": 0, "end_reason": None, "messages": asked}  # fmt: skip
    else:
        raise DataError(
            "no problem to tutor and no question to answer",
            hint='start the session with {"problem_id": "gsm8k-sample-1"}, {"problem_text": "...", "answer": 18} '
            'or a question: {"question": "What is a common denominator?"}',
        )
    update = fresh_session_state(problem, ctx.learner_id, problem_start=len(state.get("messages", [])))
    return {**update, "question": None}


def fresh_session_state(problem: Problem, learner_id: str, *, problem_start: int = 0) -> dict[str, Any]:
    """The session state for starting `problem` afresh (what `setup_problem` sets for a new problem)."""
    n = len(steps_of(problem))
    return {
        "learner_id": learner_id,
        "problem_id": None,
        "problem_text": None,
        "problem_data": None,
        "answer": None,
        "problem": problem.model_dump(mode="json"),
        "problem_start": problem_start,
        "step_index": 0,
        "attempts": [0] * n,
        "hint_level": [0] * n,
        "explained": [False] * n,
        "subproblem_state": SubproblemState.IN_PROGRESS.value,
        "learner_solved": False,
        "revealed": False,
        "solution_requested": False,
        "extraction_flag": False,
        "turn_count": 0,
        "budget_used": 0,
        "done": False,
        "end_reason": None,
        "greeted": False,
        "mode": "problem",
        "last_diagnosis": {},
        "last_plan": {},
        "draft_reply": "",
        "streamed_text": "",
    }


def open_session(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Greet the learner, state the problem and the first sub-question (a fixed, deterministic opener)."""
    ctx = context_of(runtime)
    problem = problem_of(state)
    teacher = role_model("teacher", ctx.teacher_model)
    if problem.has_steps:
        text = template("open", problem=problem.question, question=problem.steps[0].question)
        sub_state = SubproblemState.IN_PROGRESS
    elif uses_templates(teacher):
        notice = template("stepless_check" if problem.final_value is not None else "stepless_no_answer")
        text = template("open_stepless", problem=problem.question, notice=notice)
        sub_state = SubproblemState.NOT_APPLICABLE
    else:
        text = template("open_free", problem=problem.question)
        sub_state = SubproblemState.IN_PROGRESS
    plan = {
        "kind": "open",
        "category": StudentResponse.NOT_APPLICABLE.value,
        "action": TutorAction.NOT_APPLICABLE.value,
        "strategy": Strategy.OTHER.value,
        "move": STRATEGY_MOVE[Strategy.OTHER].value,
        "intention": Intention.SIGNAL_GOAL.value,
        "subproblem_state": sub_state.value,
        "step_index": 0,
        "template": "open",
    }
    get_learner_store().increment_stats(ctx.learner_id, sessions=1)
    stream = GatedStream(_checker(state, make_gate(problem), False), _writer())
    stream.feed_known(text)
    return {
        "last_plan": plan,
        "last_diagnosis": {},
        "subproblem_state": sub_state.value,
        "draft_reply": text,
        "streamed_text": stream.sent,
        "greeted": True,
    }


# --------------------------------------------------------------------------------------------------------------
# diagnose
# --------------------------------------------------------------------------------------------------------------


class Diagnosis(BaseModel):
    """A model's structured diagnosis of one learner turn."""

    category: StudentResponse = Field(description="CLASS code a-g of the learner's turn.")
    error_type: ErrorType | None = Field(None, description="Bridge error type, when the learner made an error.")
    misconception: str = Field("", description="One sentence describing the misconception, or empty.")


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z']{2,}", normalize_text(text)) if w not in _STOPWORDS}


def _stem(word: str) -> str:
    return re.sub(r"(?:'s|s|es|ed|ing)$", "", word)


def detect_inquiry(text: str) -> Inquiry | None:
    """Return what the learner asks for (hint, solution, go back, "I don't know", another question), if anything."""
    norm = normalize_text(text)
    if _GO_BACK_RE.search(norm):
        return "go_back"
    if _SOLUTION_RE.search(norm):
        return "solution"
    if _HINT_RE.search(norm):
        return "hint"
    if _DONT_KNOW_RE.search(norm):
        return "dont_know"
    if "?" in norm or _QUESTION_START_RE.match(norm):
        return "question"
    return None


def evaluate_expression(text: str) -> float | None:
    """Value of the plain arithmetic a learner wrote without its result (`80000+50000`, `9 x 2`), else None."""
    m = _EXPRESSION_RE.search(normalize_text(text))
    if not m:
        return None
    source = m.group(0).replace(",", "").replace("x", "*").replace("×", "*").replace("÷", "/").replace("$", "")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return None

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _AST_OPS:
            return _AST_OPS[type(node.op)](value(node.left), value(node.right))
        raise ValueError("not plain arithmetic")

    try:
        result = value(tree.body)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def is_off_topic(text: str, problem: Problem, step: Step) -> bool:
    """Whether a turn without a number is about something else: at most a quarter of its words are the problem's."""
    words = {_stem(w) for w in _content_words(text)}
    if len(words) < 2:
        return False
    topic = {_stem(w) for w in _content_words(f"{problem.question}\n{step.question}\n{step.solution_text}")}
    return len(words & topic) <= 0.25 * len(words)


_OP_NAMES = {"+": "addition", "-": "subtraction", "*": "multiplication", "/": "division"}


def _alternatives(operands: list[float]) -> list[tuple[str, float]]:
    """Results of other operations on a step's operands: (operation name, value)."""
    out: list[tuple[str, float]] = []
    if len(operands) >= 2:
        out.append(("addition", sum(operands)))
        out.append(("multiplication", math.prod(operands)))
    for i, a in enumerate(operands):
        for j, b in enumerate(operands):
            if i == j:
                continue
            out.append(("subtraction", a - b))
            if b:
                out.append(("division", a / b))
    return out


def classify_error(value: float, step: Step, text: str) -> tuple[ErrorType | None, str]:
    """Guess the Bridge error type of a wrong number: misinterpret, careless or guess (with a description)."""
    expected = step.answer_value
    if expected is None:
        return None, ""
    operands = [m.value for m in find_numbers(step.expression or "")]
    used = {_OP_NAMES[c] for c in (step.expression or "") if c in _OP_NAMES}
    for name, alt in _alternatives(operands):
        if name not in used and compare(alt, value):
            return (
                ErrorType.MISINTERPRET,
                f"used {name} where the step needs {' and '.join(sorted(used)) or 'another operation'}",
            )
    if any(compare(value, o) for o in operands):
        return ErrorType.MISINTERPRET, "answered with a number from the question instead of computing the step"
    digits_v, digits_e = re.sub(r"\D", "", format_number(value)), re.sub(r"\D", "", format_number(expected))
    close = abs(value - expected) <= max(1.0, 0.1 * abs(expected))
    if (
        close
        or (len(digits_v) > 1 and sorted(digits_v) == sorted(digits_e))
        or compare(value, expected * 10)
        or compare(value * 10, expected)
    ):
        return ErrorType.CARELESS, "right method, slip in the arithmetic"
    if len(re.findall(r"[a-zA-Z]+", text)) <= 3:
        return ErrorType.GUESS, "gave a number without any working"
    return None, ""


def classify_turn(text: str, problem: Problem, step_index: int) -> dict[str, Any]:
    """Deterministic CLASS diagnosis of a learner turn against the current step and the final answer."""
    steps = steps_of(problem)
    step = steps[step_index]
    d: dict[str, Any] = {
        "category": StudentResponse.AMBIGUOUS.value,
        "verdict": "no_answer",
        "value": None,
        "correct": None,
        "solved_final": False,
        "inquiry": None,
        "extraction": is_extraction_attempt(text),
        "partial_step": None,
        "error_type": None,
        "misconception": None,
        "source": "rules",
    }
    final_value = problem.final_value
    if final_value is not None and check_answer(text, final_value).correct:
        d.update(category=StudentResponse.CORRECT.value, verdict="correct", correct=True, solved_final=True)
        d["value"] = final_value
        return d
    check = check_answer(text, step.answer_value) if step.answer_value is not None else None
    if check is not None and check.correct:  # a right step answer counts, whatever else the turn asks
        d.update(category=StudentResponse.CORRECT.value, verdict="correct", value=check.value, correct=True)
        return d
    if d["extraction"]:
        d.update(category=StudentResponse.INQUIRY.value, inquiry="solution")
        return d
    if _GO_BACK_RE.search(normalize_text(text)):
        d.update(category=StudentResponse.INQUIRY.value, inquiry="go_back")
        return d
    if check is not None and check.verdict == "incorrect":
        d.update(verdict=check.verdict, value=check.value, correct=False)
        value = float(check.value) if check.value is not None else math.nan
        others = [s.index for s in steps if s.index != step_index and compare(s.answer_value, value)]
        if others:
            d.update(category=StudentResponse.PARTIAL.value, partial_step=others[0])
            return d
        d["category"] = StudentResponse.INCORRECT.value
        etype, desc = classify_error(value, step, text)
        if etype is not None:
            d.update(error_type=etype.value, misconception=desc)
        return d
    if check is not None and check.verdict == "ambiguous":
        d.update(verdict="ambiguous", value=check.value)
        return d
    if check is None and find_numbers(text):
        d["value"] = find_numbers(text)[-1].value  # nothing to check it against
    setup = evaluate_expression(text)
    if setup is not None and step.answer_value is not None:
        if compare(setup, step.answer_value):  # the right calculation, not worked out yet
            d.update(category=StudentResponse.PARTIAL.value, setup=True, value=None)
            return d
    inquiry = detect_inquiry(text)
    if problem.has_steps and step.answer_value is None and text.strip() and inquiry is None:
        # a step without a numeric result cannot be checked: take the learner's turn and move on (ungraded)
        d.update(category=StudentResponse.CORRECT.value, verdict="ungraded")
    elif inquiry is not None and inquiry != "question":
        d.update(category=StudentResponse.INQUIRY.value, inquiry=inquiry)
    elif is_off_topic(text, problem, step):
        d["category"] = StudentResponse.OFF_TOPIC.value
    elif inquiry == "question":
        d.update(category=StudentResponse.INQUIRY.value, inquiry=inquiry)
    return d


def _evaluator_diagnosis(
    model: ManagedChatModel, problem: Problem, step: Step, text: str, rules: dict[str, Any]
) -> Diagnosis | None:
    prompt = render(
        "tutor/diagnose",
        problem=problem.question,
        step_question=step.question,
        step_answer=step.answer or "unknown",
        verdict=rules["verdict"],
        learner=text,
    )
    try:
        result = model.with_structured_output(Diagnosis).invoke(prompt)
    except PedagraphError:
        return None
    return result if isinstance(result, Diagnosis) else None


def merge_diagnosis(rules: dict[str, Any], model: Diagnosis | None) -> dict[str, Any]:
    """Add a model's diagnosis to the rules' one; it never overrides a deterministic correctness verdict."""
    if model is None:
        return rules
    merged = dict(rules, source="rules+evaluator")
    soft = {StudentResponse.AMBIGUOUS.value, StudentResponse.OFF_TOPIC.value}
    if rules["category"] in soft and model.category.value in soft | {StudentResponse.INQUIRY.value}:
        merged["category"] = model.category.value
        if model.category == StudentResponse.INQUIRY and not merged.get("inquiry"):
            merged["inquiry"] = "question"
    if rules["category"] in (StudentResponse.INCORRECT.value, StudentResponse.PARTIAL.value) and not rules.get("setup"):
        if model.error_type is not None:
            merged["error_type"] = model.error_type.value
        if model.misconception.strip():
            merged["misconception"] = model.misconception.strip()[:500]
    return merged


def _record_learning(
    ctx: Context, state: State, problem: Problem, step: Step, d: dict[str, Any], text: str, turn: int
) -> None:
    """Update the learner model from graded evidence only: mastery, misconceptions, with/without-explanation demos."""
    store = get_learner_store()
    session = thread_id()
    graded_steps: list[Step] = []
    if d["solved_final"]:
        graded_steps = [steps_of(problem)[-1]]
        correct = True
    elif d["verdict"] in ("correct", "incorrect") and step.answer_value is not None:
        graded_steps = [step]
        correct = d["verdict"] == "correct"
    for graded in graded_steps:
        item = f"{problem.id}#{graded.index}"
        evidence = GradedEvidence(grader="step_check", session_id=session, turn=turn, item_id=item)
        for skill in graded.skills:
            store.record_evidence(ctx.learner_id, skill, correct, evidence)
        plan = state.get("last_plan") or {}
        explanation = plan.get("explanation") if plan.get("step_index") == graded.index else None
        demo_id = hashlib.sha1(f"{session}|{turn}|{item}".encode()).hexdigest()[:16]
        store.add_demo(
            ctx.learner_id,
            TeachingDemo(
                id=demo_id,
                item_id=item,
                question=graded.question,
                explanation=explanation or None,
                learner_answer=text[:300] or "(empty)",
                correct=correct,
                skill=graded.skills[0] if graded.skills else None,
                session_id=session,
            ),
        )
    if d.get("error_type") and d.get("misconception"):
        evidence_text = MisconceptionEvidence(session_id=session, turn=turn, text=text[:500])
        confidence = {"misinterpret": 0.6, "careless": 0.3, "guess": 0.2}.get(d["error_type"], 0.5)
        skill = primary_skill(step.skills or problem.skills)
        if skill:  # one error is one misconception, filed under the step's operation (not every tag)
            store.add_misconception(
                ctx.learner_id,
                skill,
                d["error_type"],
                d["misconception"],
                evidence=evidence_text,
                confidence=confidence,
            )


_OPERATION_SKILLS = ("addition", "subtraction", "multiplication", "division")


def primary_skill(skills: list[str]) -> str | None:
    """The skill a step's mistake is about: its first arithmetic operation, else its first tag."""
    return next((s for s in skills if s in _OPERATION_SKILLS), skills[0] if skills else None)


def diagnose(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Classify the learner's turn (CLASS a-g), find the error type, and update the learner model from the grade."""
    ctx = context_of(runtime)
    problem = problem_of(state)
    idx = state.get("step_index", 0)
    step = steps_of(problem)[idx]
    text = last_learner_text(state)
    turn = len(state.get("turns", []))
    d = classify_turn(text, problem, idx)
    evaluator = role_model("evaluator", ctx.evaluator_model)
    if not uses_templates(evaluator) and d["category"] != StudentResponse.CORRECT.value:
        d = merge_diagnosis(d, _evaluator_diagnosis(evaluator, problem, step, text, d))
    attempts = list(state.get("attempts") or [0] * len(steps_of(problem)))
    if d["category"] in (StudentResponse.INCORRECT.value, StudentResponse.PARTIAL.value) and not d.get("setup"):
        attempts[idx] += 1
    _record_learning(ctx, state, problem, step, d, text, turn)
    return {
        "last_diagnosis": d,
        "attempts": attempts,
        "learner_solved": bool(state.get("learner_solved") or d["solved_final"]),
        "solution_requested": d.get("inquiry") == "solution",
        "extraction_flag": bool(state.get("extraction_flag") or d["extraction"]),
    }


# --------------------------------------------------------------------------------------------------------------
# plan_move
# --------------------------------------------------------------------------------------------------------------


class PlanFocus(BaseModel):
    """A real teacher's framing of a move the policy already chose."""

    intention: Intention = Field(description="What the tutor intends with the reply (Bridge intention).")
    focus: str = Field("", description="One private sentence: what the learner should focus on next.")


def _hint_of(step: Step) -> str:
    return step.hint.strip() or template("no_hint")


def _method_of(step: Step) -> str:
    text = without_result(step.solution_text, step.answer_value).strip()
    if text:
        return text
    return f"{step.expression} = ?" if step.expression else _hint_of(step)


def _expression_of(step: Step) -> str:
    return without_result(step.expression, step.answer_value) if step.expression else _hint_of(step)


# CLASS action, Bridge strategy and intention of each kind of move (the MathDial move follows from the strategy).
MOVES: dict[str, tuple[TutorAction, Strategy, Intention]] = {
    "affirm_next": (TutorAction.CONFIRM_CORRECT, Strategy.AFFIRM_CORRECT_ANSWER, Intention.SIGNAL_GOAL),
    "affirm_done": (TutorAction.CONFIRM_CORRECT, Strategy.AFFIRM_CORRECT_ANSWER, Intention.MOTIVATE_STUDENT),
    "probe": (TutorAction.FLAG_MISTAKE_HINT, Strategy.ASK_QUESTION, Intention.DIAGNOSE_MISTAKE),
    "hint": (TutorAction.FLAG_MISTAKE_HINT, Strategy.PROVIDE_HINT, Intention.HINT_MISTAKE),
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
}


def make_plan(
    kind: str,
    category: StudentResponse,
    step_index: int,
    template_name: str,
    values: dict[str, Any],
    *,
    sub_state: SubproblemState = SubproblemState.IN_PROGRESS,
    action: TutorAction | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Return a JSON-ready plan: the move's CLASS/Bridge/MathDial labels, the step and the reply template."""
    default_action, strategy, intention = MOVES[kind]
    return {
        "kind": kind,
        "category": category.value,
        "action": (action or default_action).value,
        "strategy": strategy.value,
        "move": STRATEGY_MOVE[strategy].value,
        "intention": intention.value,
        "subproblem_state": sub_state.value,
        "step_index": step_index,
        "template": template_name,
        "values": values,
        **extra,
    }


def tom_decision(
    ctx: Context, learner: LearnerModel, step: Step, budget_used: int, teacher: ManagedChatModel | None
) -> dict[str, Any]:
    """The Theory-of-Mind explain-or-not decision for a step (Saha et al. 2023), JSON-ready."""
    budget_left = max(0, ctx.explanation_budget - budget_used)
    kwargs: dict[str, Any] = {"budget_left": budget_left, "threshold": ctx.tom_threshold}
    if ctx.tom_simulator == "llm" and teacher is not None and not uses_templates(teacher):
        llm = {"simulator": "llm", "model": teacher, "question": step.question, "answer": step.answer}
        try:
            return decide_intervention(
                learner, list(step.skills), **kwargs, **llm, explanation=_method_of(step)
            ).to_dict()
        except PedagraphError:
            pass  # the simulating model failed: decide from mastery instead
    return decide_intervention(learner, list(step.skills), **kwargs).to_dict()


def choose_move(
    state: State, ctx: Context, learner: LearnerModel | None = None, teacher: ManagedChatModel | None = None
) -> dict[str, Any]:
    """The deterministic CLASS policy: from the diagnosis, attempts and hint level to a move (a plan dict)."""
    problem = problem_of(state)
    steps = steps_of(problem)
    idx = state.get("step_index", 0)
    step, last = steps[idx], len(steps) - 1
    d = state.get("last_diagnosis") or {}
    cat = StudentResponse(d.get("category", StudentResponse.AMBIGUOUS.value))
    attempts = (state.get("attempts") or [0] * len(steps))[idx]
    hint_level = (state.get("hint_level") or [0] * len(steps))[idx]
    explained = bool((state.get("explained") or [False] * len(steps))[idx])
    q = step.question
    allowed, _ = reveal_permitted(state, ctx, d)
    done = SubproblemState.DONE

    def reveal(action: TutorAction) -> dict[str, Any]:
        values = {"answer": problem.final_answer, "solution": problem.solution or q}
        return make_plan("reveal", cat, last, "reveal", values, sub_state=done, action=action, reveal=True)

    def escalate(hint_template: str, action: TutorAction | None, level: int) -> dict[str, Any]:
        if min(level, 2) <= 1:
            values = {"hint": _hint_of(step), "question": q}
            return make_plan("hint", cat, idx, hint_template, values, action=action, hint_level=1)
        values = {"expression": _expression_of(step), "question": q}
        return make_plan("strategy", cat, idx, "strategy", values, action=action, hint_level=2)

    if cat == StudentResponse.CORRECT:
        if d.get("solved_final") or idx == last:
            values = {"answer": problem.final_answer or format_number(d.get("value") or 0)}
            return make_plan("affirm_done", cat, idx, "affirm_done", values, sub_state=done)
        values = {"question": steps[idx + 1].question}
        return make_plan("affirm_next", cat, idx + 1, "affirm_next", values, sub_state=SubproblemState.FINISHED)

    if cat == StudentResponse.PARTIAL and d.get("setup"):
        return make_plan("setup", cat, idx, "setup_right", {"question": q})
    if cat in (StudentResponse.INCORRECT, StudentResponse.PARTIAL):
        partial = cat == StudentResponse.PARTIAL
        after_failures = TutorAction.SOLUTION_AFTER_FAILURES_PARTIAL if partial else TutorAction.SOLUTION_AFTER_FAILURES
        if idx == last and allowed and ctx.reveal_policy == "after_attempts":
            return reveal(after_failures)
        if idx < last and attempts >= ctx.step_tell_after:
            values = {"method": step.solution_text, "value": step.answer, "question": steps[idx + 1].question}
            return make_plan(
                "correction", cat, idx + 1, "correction", values,
                sub_state=SubproblemState.FINISHED, action=after_failures, told_step=idx,
            )  # fmt: skip
        decision = None
        if learner is not None:
            decision = tom_decision(ctx, learner, step, state.get("budget_used", 0), teacher)
        number = format_number(d["value"]) if d.get("value") is not None else ""
        if partial:
            values = {"number": number, "hint": _hint_of(step), "question": q}
            plan = make_plan("partial", cat, idx, "partial", values, hint_level=max(1, hint_level))
        elif attempts <= 1:
            name, values = ("probe", {"number": number}) if number else ("probe_no_number", {})
            plan = make_plan("probe", cat, idx, name, values)
        else:
            plan = escalate("hint", None, hint_level + 1)
        if decision is not None and decision["explain"] and attempts >= 2 and not explained:
            method = _method_of(step)
            values = {"method": method, "question": q}
            action = TutorAction(plan["action"])
            plan = make_plan(
                "explain", cat, idx, "explain", values, action=action, explanation=method, spend_budget=True
            )
        plan["intervention"] = decision
        return plan

    if cat == StudentResponse.INQUIRY:
        inquiry = d.get("inquiry")
        if inquiry == "solution":
            if allowed:
                return reveal(TutorAction.SOLUTION_ON_REQUEST)
            values = {"hint": _hint_of(step), "question": q}
            return make_plan("refuse", cat, idx, "refuse", values, hint_level=max(1, hint_level), refused=True)
        if inquiry in ("hint", "dont_know"):
            return escalate("hint_request", TutorAction.HINT_ON_REQUEST, hint_level + 1)
        if inquiry == "go_back":
            if idx == 0:
                return make_plan("go_back", cat, 0, "go_back_first", {"question": q})
            return make_plan("go_back", cat, idx - 1, "go_back", {"question": steps[idx - 1].question})
        return make_plan("inquiry", cat, idx, "inquiry", {"notice": template("scripted_notice"), "question": q})

    if cat == StudentResponse.OFF_TOPIC:
        return make_plan("redirect", cat, idx, "redirect", {"notice": template("scripted_notice"), "question": q})
    return make_plan("clarify", StudentResponse.AMBIGUOUS, idx, "clarify", {"question": q})


def _plan_focus(
    model: ManagedChatModel, problem: Problem, step: Step, text: str, plan: dict[str, Any]
) -> PlanFocus | None:
    prompt = render(
        "tutor/plan",
        problem=problem.question,
        step_question=step.question,
        learner=text,
        diagnosis=plan["category"],
        action=plan["action"],
        strategy=plan["strategy"],
    )
    try:
        result = model.with_structured_output(PlanFocus).invoke(prompt)
    except PedagraphError:
        return None
    return result if isinstance(result, PlanFocus) else None


def plan_move(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Choose the tutor's move (CLASS action, Bridge strategy/intention, MathDial move) and update progress."""
    ctx = context_of(runtime)
    problem = problem_of(state)
    steps = steps_of(problem)
    idx = state.get("step_index", 0)
    learner = get_learner_store().get(ctx.learner_id)
    teacher = role_model("teacher", ctx.teacher_model)
    plan = choose_move(state, ctx, learner, teacher)
    if plan["kind"] in ("inquiry", "redirect"):
        plan = material_inquiry(state, ctx, plan)
    if not uses_templates(teacher) and plan["kind"] not in ("reveal", "affirm_done"):
        focus = _plan_focus(teacher, problem, steps[plan["step_index"]], last_learner_text(state), plan)
        if focus is not None:
            plan["intention"] = focus.intention.value
            learner_texts, prior = visible_history(state)
            if focus.focus and not gate_check(make_gate(problem), focus.focus, learner_texts, prior)["blocked"]:
                plan["focus"] = focus.focus.strip()[:300]
    hint_level = list(state.get("hint_level") or [0] * len(steps))
    explained = list(state.get("explained") or [False] * len(steps))
    budget_used = state.get("budget_used", 0)
    hint_level[idx] = max(hint_level[idx], plan.get("hint_level", 0))
    plan["hint_level"] = hint_level[idx]
    if plan.pop("spend_budget", False):
        explained[idx] = True
        budget_used += 1
    done = plan["subproblem_state"] == SubproblemState.DONE.value
    end_reason = None
    if done:
        end_reason = "revealed" if plan.get("reveal") else "solved"
    elif state.get("turn_count", 0) >= ctx.max_turns:
        plan["closing"] = True
        end_reason = "turn_limit"
    return {
        "last_plan": plan,
        "step_index": plan["step_index"],
        "subproblem_state": plan["subproblem_state"],
        "hint_level": hint_level,
        "explained": explained,
        "budget_used": budget_used,
        "done": done,
        "end_reason": end_reason,
    }


# --------------------------------------------------------------------------------------------------------------
# Course material
# --------------------------------------------------------------------------------------------------------------


@dataclass
class MaterialSearch:
    """What a search of the ingested course material found: `empty` (nothing ingested), `found`, `no_match`."""

    status: Literal["empty", "found", "no_match", "error"]
    passages: list[dict[str, Any]] = field(default_factory=list)
    """The passages kept, best first: citation, text, score (JSON-ready)."""
    error: str = ""


def search_material(ctx: Context, query: str, *, min_score: float | None = None) -> MaterialSearch:
    """Search `materials` (the context's course only, if set); the embedding model loads only if some was ingested."""
    try:
        from pedagraph.memory import get_memory

        memory = get_memory()
        chroma_dir = getattr(memory, "chroma_dir", None)
        if isinstance(chroma_dir, Path) and not chroma_dir.exists():
            return MaterialSearch("empty")  # nothing was ever stored: do not even open the store
        if memory.count("materials", course=ctx.course) == 0:
            return MaterialSearch("empty")
        hits = memory.search("materials", query, k=MATERIAL_K, course=ctx.course)
    except ImportError as exc:
        return MaterialSearch("error", error=f"{type(exc).__name__}: {exc}")
    except PedagraphError as exc:
        return MaterialSearch("error", error=exc.one_line())
    passages = []
    for hit in hits:
        score = getattr(hit, "score", None)
        if min_score is not None and score is not None and score < min_score:
            continue
        text = trim_passage(str(hit.text), PROMPT_PASSAGE_CHARS)
        passages.append({"citation": hit.citation, "text": text, "score": score})
    return MaterialSearch("found" if passages else "no_match", passages)


def trim_passage(text: str, limit: int = QUOTE_CHARS) -> str:
    """One line of a passage for quoting: Markdown heading marks dropped, whitespace collapsed, cut at a word."""
    flat = " ".join(re.sub(r"(?m)^\s*#{1,6}\s+", "", text).split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0].rstrip(" ,;:") + " …"


def quote_passages(passages: list[dict[str, Any]]) -> str:
    """The passages as the scripted model quotes them: citation in brackets, then the trimmed text."""
    return "\n\n".join(template("passage", citation=p["citation"], text=trim_passage(p["text"])) for p in passages)


def material_lines(passages: list[dict[str, Any]]) -> str:
    """The passages as a real teacher sees them in its prompt (`(none)` without any)."""
    lines = [f"- [{p['citation']}] {trim_passage(p['text'], PROMPT_PASSAGE_CHARS)}" for p in passages]
    return "\n".join(lines) or "(none)"


def cited(passages: list[dict[str, Any]], reply: str) -> list[str]:
    """Citations of the passages a reply cites in brackets."""
    return [p["citation"] for p in passages if f"[{p['citation']}]" in reply]


def course_scope(ctx: Context) -> str:
    """` for the course "NAME"` when the context names a course, else empty."""
    return f" {template('course_scope', course=ctx.course)}" if ctx.course else ""


def material_inquiry(state: State, ctx: Context, plan: dict[str, Any]) -> dict[str, Any]:
    """Answer a question or off-topic turn from the course material when a passage matches it well.

    Passages that would trip the reveal gate are dropped; without a matching passage the plan is unchanged.
    """
    problem = problem_of(state)
    found = search_material(ctx, last_learner_text(state), min_score=MATERIAL_MIN_SCORE)
    gate = make_gate(problem)
    learner, prior = visible_history(state)
    passages = [p for p in found.passages if not gate_check(gate, trim_passage(p["text"]), learner, prior)["blocked"]]
    if not passages:
        return {**plan, "material_search": found.status}
    idx = plan["step_index"]
    values = {
        "notice": template("scripted_material_notice"),
        "passages": quote_passages(passages),
        "question": steps_of(problem)[idx].question,
    }
    category = StudentResponse(plan["category"])
    return make_plan(
        "inquiry", category, idx, "material_inquiry", values, material_search=found.status, material=passages
    )


# --------------------------------------------------------------------------------------------------------------
# respond
# --------------------------------------------------------------------------------------------------------------


def template_reply(plan: dict[str, Any], *, live: bool = False) -> str:
    """The deterministic reply of a plan (on a real model: the content the model puts in its own words)."""
    values = dict(plan.get("values") or {})
    if live and "notice" in values:
        values["notice"] = ""
    text = template(plan["template"], **values)
    if plan.get("closing") and not live:
        text = f"{text}\n\n{template('turn_limit')}"
    return re.sub(r"[ \t]+\n", "\n", text).strip()


def _respond_messages(state: State, ctx: Context, plan: dict[str, Any]) -> list[BaseMessage]:
    problem = problem_of(state)
    steps = steps_of(problem)
    step = steps[plan["step_index"]]
    allowed = reveal_permitted(state, ctx)[0]
    rule = (
        render("tutor/reveal_allowed", answer=problem.final_answer) if allowed else render("tutor/reveal_forbidden")
    ).strip()
    system = render(
        "tutor/respond",
        problem=problem.question,
        step_number=step.index + 1,
        step_count=len(steps),
        step_question=step.question,
        category=StudentResponse(plan["category"]).label,
        action=plan["action"],
        strategy=plan["strategy"],
        intention=plan["intention"],
        focus=plan.get("focus") or "(none)",
        guidance=template_reply(plan, live=True),
        reveal_rule=rule,
        closing=render("tutor/closing_note").strip() if plan.get("closing") else "",
        material=material_lines(plan.get("material") or []),
    )
    history = [
        m for m in state.get("messages", [])[state.get("problem_start", 0) :] if isinstance(m, HumanMessage | AIMessage)
    ]
    return [SystemMessage(content=system), *history]


def respond(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Write the visible reply for the plan (template on the scripted model), streaming only gated text."""
    ctx = context_of(runtime)
    plan = state.get("last_plan") or {}
    problem = problem_of(state)
    allowed = reveal_permitted(state, ctx)[0]
    stream = GatedStream(_checker(state, make_gate(problem), allowed), _writer())
    teacher = role_model("teacher", ctx.teacher_model)
    source = "template"
    if uses_templates(teacher):
        stream.feed_known(template_reply(plan))
    else:
        source = "model"
        if "material_search" not in plan:  # course material for the step (a question's was searched in plan_move)
            step = steps_of(problem)[plan["step_index"]]
            found = search_material(ctx, f"{problem.question}\n{step.question}")
            plan = {**plan, "material_search": found.status, "material": found.passages}
        try:
            for chunk in teacher.stream(_respond_messages(state, ctx, plan)):
                stream.feed(chunk.text)
        except ModelError:
            # the model failed mid-reply: say the deterministic reply instead (sent as a replacement if needed)
            source = "template_fallback"
            if stream.sent:
                stream.text, stream.tripped = template_reply(plan), True
            else:
                stream.feed_known(template_reply(plan))
    text = stream.close().strip()
    if not text:
        text, source = template_reply(plan), "template_fallback"
    return {"draft_reply": text, "streamed_text": stream.sent, "last_plan": {**plan, "reply_source": source}}


# --------------------------------------------------------------------------------------------------------------
# reveal_gate
# --------------------------------------------------------------------------------------------------------------


def _regenerate(model: ManagedChatModel, state: State, plan: dict[str, Any], draft: str, reason: str) -> str | None:
    problem = problem_of(state)
    step = steps_of(problem)[plan.get("step_index", 0)]
    prompt = render(
        "tutor/regenerate",
        reason=reason,
        draft=draft,
        step_number=step.index + 1,
        step_question=step.question,
        guidance=template_reply(plan, live=True),
    )
    try:
        reply = model.invoke([SystemMessage(content=prompt)])
    except ModelError:
        return None
    text = _text(reply).strip()
    return text or None


def _safe_replacements(state: State, plan: dict[str, Any]) -> Iterable[str]:
    problem = problem_of(state)
    step = steps_of(problem)[plan.get("step_index", 0)]
    yield template("withheld", hint=_hint_of(step), question=step.question)
    yield template("withheld", hint=template("no_hint"), question=step.question)
    yield template("withheld_plain")


def reveal_gate(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Final reveal check of the draft; regenerate or replace a blocked reply; add the visible reply to messages."""
    ctx = context_of(runtime)
    problem = problem_of(state)
    plan = dict(state.get("last_plan") or {})
    draft = (state.get("draft_reply") or "").strip()
    turn = len(state.get("turns", []))
    gate = make_gate(problem)
    learner, prior = visible_history(state)
    allowed, why = reveal_permitted(state, ctx)
    result = gate_check(gate, draft, learner, prior)
    final, action = draft, None
    if result["blocked"] and allowed:
        action = "allowed"
    elif result["blocked"]:
        teacher = role_model("teacher", ctx.teacher_model)
        regenerated = None
        if plan.get("reply_source") == "model" and not uses_templates(teacher):
            regenerated = _regenerate(teacher, state, plan, draft, result["reason"])
        if regenerated and not gate_check(gate, regenerated, learner, prior)["blocked"]:
            final, action = regenerated, "regenerated"
        else:
            safe = (c for c in _safe_replacements(state, plan) if not gate_check(gate, c, learner, prior)["blocked"])
            final, action = next(safe, template("withheld_plain")), "replaced"
    event = {"turn": turn, "reason": result["reason"], "matched": result["matched"], "action": action, "policy": why}
    events = [event] if action is not None else []
    hint_strategies = (Strategy.PROVIDE_HINT.value, Strategy.PROVIDE_STRATEGY.value, Strategy.EXPLAIN_CONCEPT.value)
    hints = int(action in ("replaced", "regenerated") or plan.get("strategy") in hint_strategies)
    revealed = (bool(plan.get("reveal")) and action != "replaced") or action == "allowed"
    if hints or revealed:
        get_learner_store().increment_stats(ctx.learner_id, hints_received=hints, answers_revealed=int(revealed))
    writer = _writer()
    if final != (state.get("streamed_text") or ""):
        writer({"type": "replace", "text": final})
    writer({"type": "final", "text": final})
    trace = {
        "turn": turn,
        "learner": last_learner_text(state) if plan.get("kind") != "open" else None,
        "diagnosis": state.get("last_diagnosis") or None,
        "plan": plan,
        "reply": final,
        "gate": {**result, "action": action},
        "citations": cited(plan.get("material") or [], final),
    }
    update: dict[str, Any] = {
        "messages": [AIMessage(content=final)],
        "turns": [trace],
        "reveal_events": events,
        "draft_reply": final,
        "streamed_text": "",
    }
    if revealed:
        update["revealed"] = True
    return update


# --------------------------------------------------------------------------------------------------------------
# answer_question (question mode)
# --------------------------------------------------------------------------------------------------------------


def _question_messages(state: State, ctx: Context, passages: list[dict[str, Any]]) -> list[BaseMessage]:
    system = render("tutor/answer_from_material", scope=course_scope(ctx), material=material_lines(passages))
    since = state.get("messages", [])[state.get("question_start", 0) :]
    history = [m for m in since if isinstance(m, HumanMessage | AIMessage)]
    return [SystemMessage(content=system), *history[-9:]]


def answer_question(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Question mode (no problem active): answer the learner's latest message from the ingested course material.

    Nothing ingested: say so and how to add material or start a problem. The scripted model quotes the best
    passages with their citations; a real teacher answers grounded in them, citing in brackets. The reply is
    streamed (`token`, then `final`) and added to `messages`; the passages and citations go to the turn trace.
    """
    ctx = context_of(runtime)
    question = last_learner_text(state)
    teacher = role_model("teacher", ctx.teacher_model)
    found = search_material(ctx, question, min_score=MATERIAL_MIN_SCORE)
    scope = course_scope(ctx)
    writer = _writer()
    stream = GatedStream(lambda _text: True, writer)  # no problem is active: nothing to protect
    notice = template("scripted_material_notice")
    source, name, values = "template", "material_none", {"scope": scope}
    if found.status == "error":
        name, values = "material_error", {"error": found.error}
    elif found.status != "empty" and not uses_templates(teacher):
        source, name = "model", "answer_from_material"
        try:
            for chunk in teacher.stream(_question_messages(state, ctx, found.passages)):
                stream.feed(chunk.text)
        except ModelError:
            source = "template_fallback"
        if source == "template_fallback" or not stream.close().strip():
            source, notice = "template_fallback", template("model_failed_notice")
    if source != "model" and found.status in ("found", "no_match"):
        if found.passages:
            name, values = "material_answer", {"notice": notice, "passages": quote_passages(found.passages)}
        else:
            name, values = "material_no_match", {"notice": notice, "scope": scope}
    if source == "model":
        final = stream.text.strip()
    else:
        final = template(name, **values)
        if not stream.sent:
            stream.feed_known(final)
    if final != stream.sent:
        writer({"type": "replace", "text": final})
    writer({"type": "final", "text": final})
    plan = make_plan(
        "question", StudentResponse.INQUIRY, 0, name, {},
        sub_state=SubproblemState.NOT_APPLICABLE, mode="question", material_search=found.status,
        material=found.passages, reply_source=source,
    )  # fmt: skip
    trace = {
        "turn": len(state.get("turns", [])),
        "learner": question,
        "diagnosis": None,
        "plan": plan,
        "reply": final,
        "gate": {"blocked": False, "reason": "no_active_problem", "matched": None, "action": None},
        "citations": cited(found.passages, final),
    }
    update: dict[str, Any] = {
        "messages": [AIMessage(content=final)],
        "turns": [trace],
        "last_plan": plan,
        "draft_reply": final,
        "streamed_text": "",
    }
    if ctx.student_mode == "simulated":
        update["end_reason"] = "answered"  # a simulated student only works on problems
    return update
