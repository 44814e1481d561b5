"""What every graph's nodes share at run time: the base context, per-role models, services and the thread id.

Services (the learner store and the retrieval memory) are passed to `build_graph(learners=..., memory=...)`;
`bind_services` puts them in the compiled graph's config, where `services()` finds them inside any node. A
graph built without them uses the process-wide stores of the configured `PEDAGRAPH_HOME`.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from langgraph.config import get_config
from langgraph.constants import TAG_NOSTREAM

from pedagraph.errors import DataError
from pedagraph.llm import ManagedChatModel, get_model

if TYPE_CHECKING:
    from pedagraph.learner import LearnerStore
    from pedagraph.memory import Memory

INTERNAL_TAGS = [TAG_NOSTREAM, "langsmith:nostream"]
"""Tags on every model call inside a graph (`nostream` is what this LangGraph version checks): raw model tokens
never reach the `messages` stream mode; what the learner sees is streamed by the graph itself, gated."""

ModelOverride = Any
"""A `provider:model` string or a LangChain chat model (typed `Any` so a context has a JSON schema for Studio)."""

SERVICES_KEY = "__pedagraph_services__"
"""Config key of the bound `Services` (a `__` key: LangGraph neither checkpoints nor traces it)."""


@dataclass
class BaseContext:
    """Run-time settings every graph's context has: whose learner model, which course, per-role model overrides."""

    learner_id: str = "anonymous"
    """Whose learner model is read and updated; never derived from the thread id."""
    course: str | None = None
    """Course whose ingested material grounds the replies (memory collection `materials`); None: all."""
    teacher_model: ModelOverride = None
    """Override of the teacher model (`provider:model` or a chat model); default: `get_model("teacher")`."""
    evaluator_model: ModelOverride = None
    """Override of the evaluator model (diagnosis, judging)."""
    student_model: ModelOverride = None
    """Override of the simulated student's model."""


C = TypeVar("C", bound=BaseContext)


def _attribute_docstrings(cls: type) -> dict[str, str]:
    """The docstrings written under a class's annotated attributes (`x: int = 1` then `\"\"\"The x.\"\"\"`)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs = {}
    for node, after in zip(body, body[1:], strict=False):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):  # fmt: skip
            docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def documented(cls: type[C]) -> type[C]:
    """Give every field of a context dataclass, inherited ones included, its docstring as its schema description.

    LangGraph builds a graph's context JSON schema with pydantic, which reads a stdlib dataclass field's
    `metadata` as `Field` arguments; LangGraph Studio and `langgraph dev` show the descriptions.
    """
    docs: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if dataclasses.is_dataclass(base):
            docs.update(_attribute_docstrings(base))
    for item in dataclasses.fields(cls):
        if item.name in docs and "description" not in item.metadata:
            item.metadata = MappingProxyType({**item.metadata, "description": docs[item.name]})
    return cls


def context_of(runtime: Any, cls: type[C]) -> C:
    """Return the run's context as `cls` (its defaults when the caller passed none, built from a dict if given one)."""
    ctx = getattr(runtime, "context", None)
    if ctx is None:
        return cls()
    if isinstance(ctx, dict):
        return cls(**ctx)
    return ctx


def role_model(ctx: BaseContext, role: str) -> ManagedChatModel:
    """Return a role's model, honouring the context's `<role>_model` override; tagged so it never streams raw."""
    override = getattr(ctx, f"{role}_model", None)
    model = override if isinstance(override, ManagedChatModel) else get_model(role, model=override)
    return model.model_copy(update={"tags": [*(model.tags or []), *INTERNAL_TAGS]})


def real_model(ctx: BaseContext, role: str) -> ManagedChatModel | None:
    """A role's model when it writes free text; None when it resolves to the built-in `scripted` model.

    None is the explicit choice of the offline responder: callers use their deterministic policy and templates.
    A test double that stands in for a real model is a `StandInChatModel` (provider `stand-in`), not `scripted`.
    """
    model = role_model(ctx, role)
    return None if model.is_scripted else model


@dataclass(frozen=True)
class Services:
    """The stores a graph's nodes read and write; None means the process-wide one of the configured home."""

    learners: LearnerStore | None = None
    memory: Memory | None = None

    def learner_store(self) -> LearnerStore:
        """The learner store to use."""
        if self.learners is not None:
            return self.learners
        from pedagraph.learner import get_learner_store

        return get_learner_store()

    def memory_store(self) -> Memory:
        """The retrieval memory to use."""
        if self.memory is not None:
            return self.memory
        from pedagraph.memory import get_memory

        return get_memory()


_DEFAULT_SERVICES = Services()


def bind_services(compiled: Any, *, learners: LearnerStore | None = None, memory: Memory | None = None) -> Any:
    """Return the compiled graph with these stores bound for its nodes (unchanged when both are None)."""
    if learners is None and memory is None:
        return compiled
    return compiled.with_config(configurable={SERVICES_KEY: Services(learners=learners, memory=memory)})


def services() -> Services:
    """The services bound to the running graph, else the process-wide defaults."""
    try:
        config = get_config()
    except RuntimeError:
        return _DEFAULT_SERVICES
    bound = (config.get("configurable") or {}).get(SERVICES_KEY)
    return bound if isinstance(bound, Services) else _DEFAULT_SERVICES


def check_owner(owner: str | None, learner_id: str) -> None:
    """Refuse a call whose context names another learner than the one the thread belongs to."""
    if owner is not None and owner != learner_id:
        raise DataError(
            f"this session belongs to learner {owner!r}, but the call's context names {learner_id!r}",
            hint="pass the same Context(learner_id=...) on every call of a thread, resumes included",
        )


def thread_id() -> str:
    """Return the session id (the LangGraph thread id) of the running graph, or `unthreaded`."""
    try:
        config = get_config()
    except RuntimeError:
        return "unthreaded"
    return str((config.get("configurable") or {}).get("thread_id") or "unthreaded")
