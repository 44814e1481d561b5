"""Tracing to LangSmith or Langfuse, with pedagraph's run metadata, and never a secret or a hidden answer in a trace.

LangSmith is switched on by its standard environment variables (`LANGSMITH_TRACING=true`, `LANGSMITH_API_KEY`,
optionally `LANGSMITH_ENDPOINT` and `LANGSMITH_PROJECT`); Langfuse by `LANGFUSE_PUBLIC_KEY` and
`LANGFUSE_SECRET_KEY` (optionally `LANGFUSE_HOST`) with the `langfuse` extra installed. Whatever runs inside
`traced(...)` carries the learner, session, suite, item and seed as run metadata.

Everything sent to a tracer goes through `TraceMask` first: secrets are redacted (`pedagraph.redact`), the fields
that hold a problem's answers (`final_answer`, `final_value`, `answer`, `answer_value`, `solution`,
`solution_text`, `expression`) are replaced by `[hidden]`, and the answers of every problem the mask has seen in a
trace (a graph's state carries its problem) are masked wherever they appear as a number or in words, so a
model prompt that holds a step's expected result (the evaluator's) is masked too.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

from pedagraph.answers import format_number, number_to_words
from pedagraph.redact import redact

__all__ = ["HIDDEN", "TraceMask", "langfuse_enabled", "langsmith_enabled", "trace_mask", "traced"]

HIDDEN = "[hidden]"
HIDDEN_KEYS = frozenset({"final_answer", "final_value", "answer", "answer_value", "solution", "solution_text",
                         "expression"})  # fmt: skip
"""Fields whose value is (part of) a problem's solution, wherever they appear in traced data."""
MAX_PROBLEMS = 256
"""Problems whose answers a mask remembers (the most recently seen)."""

_TRUTHY = {"1", "true", "yes", "on"}


def langsmith_enabled() -> bool:
    """Whether LangSmith tracing is switched on by its environment variables."""
    names = ("LANGSMITH_TRACING", "LANGSMITH_TRACING_V2", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING")
    return any(os.environ.get(name, "").strip().lower() in _TRUTHY for name in names)


def langfuse_enabled() -> bool:
    """Whether Langfuse is configured (both keys set)."""
    return bool(os.environ.get("LANGFUSE_PUBLIC_KEY") and os.environ.get("LANGFUSE_SECRET_KEY"))


class TraceMask:
    """Masks secrets and hidden answers in data bound for a tracer; learns the answers of problems it sees."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._pattern: re.Pattern[str] | None = None

    def learn(self, data: Any) -> None:
        """Remember the answers of every problem (a dict with `steps` or `final_answer`) found in `data`."""
        found: dict[str, tuple[str, ...]] = {}
        _collect_problems(data, found, depth=0)
        if not found:
            return
        with self._lock:
            changed = False
            for key, forms in found.items():
                if key not in self._problems:
                    changed = True
                self._problems[key] = forms
                self._problems.move_to_end(key)
            while len(self._problems) > MAX_PROBLEMS:
                self._problems.popitem(last=False)
                changed = True
            if changed:
                forms = sorted({f for fs in self._problems.values() for f in fs}, key=len, reverse=True)
                alternatives = "|".join(re.escape(f) for f in forms)
                self._pattern = re.compile(rf"(?<![\w.,]){'(?:' + alternatives + ')'}(?![\w]|[.,]\d)", re.IGNORECASE)

    def mask_text(self, text: str) -> str:
        """A text with secrets redacted and the learned answers replaced by `[hidden]`."""
        text = redact(text)
        pattern = self._pattern
        return pattern.sub(HIDDEN, text) if pattern is not None and text else text

    def __call__(self, data: Any) -> Any:
        """Mask a traced payload (run inputs or outputs, any JSON-like value)."""
        self.learn(data)
        return self._mask(data, depth=0)

    def _mask(self, value: Any, depth: int) -> Any:
        if depth > 40:
            return HIDDEN
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, Mapping):
            return {k: HIDDEN if str(k) in HIDDEN_KEYS and value[k] not in (None, "", []) else self._mask(v, depth + 1)
                    for k, v in value.items()}  # fmt: skip
        if isinstance(value, list | tuple):
            return [self._mask(v, depth + 1) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        if hasattr(value, "model_dump"):  # a message or a pydantic model inside the payload
            try:
                return self._mask(value.model_dump(mode="json"), depth + 1)
            except (TypeError, ValueError):
                return self.mask_text(str(value))
        if dataclasses.is_dataclass(value) and not isinstance(value, type):  # a Command, a Send, a context
            return self._mask({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, depth + 1)
        return self.mask_text(str(value))  # anything else is sent as its text: mask that


def _answer_forms(value: Any) -> set[str]:
    forms: set[str] = set()
    if isinstance(value, bool) or value in (None, ""):
        return forms
    if isinstance(value, int | float):
        forms.add(format_number(float(value)))
        try:
            forms.add(number_to_words(float(value)))
        except (ValueError, OverflowError):
            pass
    elif isinstance(value, str) and value.strip():
        forms.add(value.strip())
    return {f for f in forms if f and len(f) <= 80}


def _collect_problems(value: Any, found: dict[str, tuple[str, ...]], depth: int) -> None:
    if depth > 12:
        return
    if isinstance(value, Mapping):
        steps = value.get("steps")
        if "final_answer" in value or "final_value" in value or (isinstance(steps, list) and steps
                                                                    and isinstance(steps[0], Mapping)):  # fmt: skip
            forms = _answer_forms(value.get("final_answer")) | _answer_forms(value.get("final_value"))
            for step in steps if isinstance(steps, list) else []:
                if isinstance(step, Mapping):
                    forms |= _answer_forms(step.get("answer")) | _answer_forms(step.get("answer_value"))
            if forms:
                found[str(value.get("id") or value.get("question") or sorted(forms))] = tuple(sorted(forms))
        for item in value.values():
            _collect_problems(item, found, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_problems(item, found, depth + 1)


_MASK = TraceMask()


def trace_mask() -> TraceMask:
    """The process's trace mask (shared by the LangSmith client and Langfuse)."""
    return _MASK


# -- LangSmith ------------------------------------------------------------------------------------------------

_CLIENT: Any = None
_CLIENT_LOCK = threading.Lock()


def _langsmith_client() -> Any:
    """One LangSmith client per process whose run inputs and outputs pass through the trace mask."""
    global _CLIENT
    with _CLIENT_LOCK:
        if _CLIENT is None:
            from langsmith import Client

            _CLIENT = Client(hide_inputs=_MASK, hide_outputs=_MASK, hide_metadata=_MASK)
        return _CLIENT


def flush() -> None:
    """Send every pending trace now (before a process exits, or in tests)."""
    if _CLIENT is not None:
        _CLIENT.flush()


# -- Langfuse -------------------------------------------------------------------------------------------------

_LANGFUSE_HANDLER: ContextVar[BaseCallbackHandler | None] = ContextVar("pedagraph_langfuse_handler", default=None)
register_configure_hook(_LANGFUSE_HANDLER, inheritable=True)
_LANGFUSE: Any = None


def _langfuse_handler() -> BaseCallbackHandler | None:
    """A Langfuse LangChain callback handler whose client masks like the LangSmith one (None without the extra)."""
    global _LANGFUSE
    try:
        from langfuse import Langfuse
        from langfuse.langchain import CallbackHandler
    except ImportError:
        return None
    with _CLIENT_LOCK:
        if _LANGFUSE is None:
            _LANGFUSE = Langfuse(mask=lambda *, data, **_: _MASK(data))
    return CallbackHandler()


# -- the context ----------------------------------------------------------------------------------------------


@contextmanager
def traced(
    *,
    learner_id: str | None = None,
    session: str | None = None,
    suite: str | None = None,
    item: str | None = None,
    seed: int | None = None,
    **extra: Any,
) -> Iterator[dict[str, Any]]:
    """Trace what runs inside to LangSmith and/or Langfuse when configured, with pedagraph's metadata; masked.

    Yields the metadata. Without a tracer configured nothing is sent anywhere and the cost is a context switch.
    """
    given = {"learner_id": learner_id, "session_id": session, "thread_id": session, "suite": suite, "item_id": item,
             "seed": seed, **extra}  # fmt: skip
    metadata = {k: v for k, v in given.items() if v is not None}
    metadata = {k: _MASK.mask_text(v) if isinstance(v, str) else v for k, v in metadata.items()}
    token = _LANGFUSE_HANDLER.set(_langfuse_handler()) if langfuse_enabled() else None
    try:
        if langsmith_enabled():
            from langsmith import tracing_context

            with tracing_context(metadata=metadata, client=_langsmith_client(), enabled=True):
                yield metadata
        else:
            yield metadata
    finally:
        if token is not None:
            _LANGFUSE_HANDLER.reset(token)
