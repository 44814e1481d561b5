"""Usage accounting: calls, tokens in/out, retries, errors and latency per role and model."""

from __future__ import annotations

import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass
class RoleUsage:
    """Counters of one (role, model) pair."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    retries: int = 0
    errors: int = 0
    seconds: float = 0.0
    cache_hits: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


_FIELDS = ("calls", "input_tokens", "output_tokens", "retries", "errors", "seconds", "cache_hits")

StructuredOutcome = Literal["ok", "repaired", "failed", "fallback"]
"""`ok`: valid at once; `repaired`: valid after the repair round; `failed`: invalid after it (StructuredOutputError);
`fallback`: the caller used its deterministic fallback instead (a failure, an error or no model answer)."""


@dataclass
class StructuredCounts:
    """Structured-output calls of one (role, model, node): how many, and how many needed a repair or fell back."""

    calls: int = 0
    repaired: int = 0
    failed: int = 0
    fallback: int = 0


DecisionBy = Literal["model", "rules", "replaced"]
"""Who made a pedagogical decision: `model` (a valid structured answer), `rules` (no model answer: the scripted
model or a failed call), `replaced` (the model's answer was invalid and the rules replaced it)."""


@dataclass
class DecisionCounts:
    """Decisions of one kind (e.g. `bridge.strategy`): how many the model made, the rules made, the rules replaced."""

    model: int = 0
    rules: int = 0
    replaced: int = 0


@dataclass
class UsageTracker:
    """Thread-safe usage counters keyed by role and model."""

    by_role_model: dict[tuple[str, str], RoleUsage] = field(default_factory=dict)
    structured: dict[tuple[str, str, str], StructuredCounts] = field(default_factory=dict)
    decisions: dict[str, DecisionCounts] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(
        self,
        role: str,
        model: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        seconds: float = 0.0,
        retries: int = 0,
        error: bool = False,
    ) -> None:
        """Add one finished call (or failed call) to the counters."""
        with self._lock:
            u = self.by_role_model.setdefault((role, model), RoleUsage())
            u.calls += 1
            u.input_tokens += input_tokens
            u.output_tokens += output_tokens
            u.seconds += seconds
            u.retries += retries
            u.errors += int(error)

    def record_cache_hit(self, role: str, model: str) -> None:
        """Count a reply served from the response cache (no model call was made)."""
        with self._lock:
            self.by_role_model.setdefault((role, model), RoleUsage()).cache_hits += 1

    def record_structured(self, role: str, model: str, node: str, outcome: StructuredOutcome) -> None:
        """Count one structured-output outcome of a role's model at a node (the caller that asked for it)."""
        with self._lock:
            counts = self.structured.setdefault((role, model, node), StructuredCounts())
            if outcome == "fallback":
                counts.fallback += 1
                return
            counts.calls += 1
            if outcome == "repaired":
                counts.repaired += 1
            elif outcome == "failed":
                counts.failed += 1

    def record_decision(self, decision: str, by: DecisionBy) -> None:
        """Count one pedagogical decision of kind `decision` and who made it."""
        with self._lock:
            counts = self.decisions.setdefault(decision, DecisionCounts())
            setattr(counts, by, getattr(counts, by) + 1)

    def decision_rows(self) -> dict[str, dict[str, int]]:
        """Decision counters per kind, JSON-ready."""
        with self._lock:
            return {name: asdict(c) for name, c in sorted(self.decisions.items())}

    def structured_rows(self) -> list[dict[str, Any]]:
        """Structured-output counters per role, model and node, JSON-ready."""
        with self._lock:
            return [
                {"role": role, "model": model, "node": node, **asdict(c)}
                for (role, model, node), c in sorted(self.structured.items())
            ]

    def by_role(self) -> dict[str, RoleUsage]:
        """Counters summed per role."""
        out: dict[str, RoleUsage] = {}
        with self._lock:
            for (role, _model), u in self.by_role_model.items():
                agg = out.setdefault(role, RoleUsage())
                for name in _FIELDS:
                    setattr(agg, name, getattr(agg, name) + getattr(u, name))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: per role, with the model(s) used."""
        with self._lock:
            rows = [
                {"role": role, "model": model, **asdict(u), "total_tokens": u.total_tokens}
                for (role, model), u in sorted(self.by_role_model.items())
            ]
        out: dict[str, Any] = {"per_role_model": rows, "total": self.totals()}
        structured = self.structured_rows()
        if structured:
            out["structured"] = structured
        decisions = self.decision_rows()
        if decisions:
            out["decisions"] = decisions
        return out

    def totals(self) -> dict[str, float]:
        """Counters summed over everything."""
        total = RoleUsage()
        for u in self.by_role().values():
            for name in _FIELDS:
                setattr(total, name, getattr(total, name) + getattr(u, name))
        return {**asdict(total), "total_tokens": total.total_tokens}

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.by_role_model.clear()
            self.structured.clear()
            self.decisions.clear()


_GLOBAL = UsageTracker()
_ACTIVE: ContextVar[tuple[UsageTracker, ...]] = ContextVar("pedagraph_usage_trackers", default=())
_NODE: ContextVar[str | None] = ContextVar("pedagraph_structured_node", default=None)


def structured_node() -> str | None:
    """The node named by the innermost `asking_from` block, if any."""
    return _NODE.get()


@contextmanager
def asking_from(node: str) -> Iterator[None]:
    """Attribute the structured-output calls made inside this block to `node` in the usage counters."""
    token = _NODE.set(node)
    try:
        yield
    finally:
        _NODE.reset(token)


def global_usage() -> UsageTracker:
    """The process-wide tracker that sees every call."""
    return _GLOBAL


def active_trackers() -> tuple[UsageTracker, ...]:
    """The global tracker plus those opened with `track_usage` in the current context."""
    return (_GLOBAL, *_ACTIVE.get())


def record_decision(decision: str, by: DecisionBy) -> None:
    """Count a pedagogical decision (who made it) in every active tracker."""
    for tracker in active_trackers():
        tracker.record_decision(decision, by)


@contextmanager
def track_usage(tracker: UsageTracker | None = None) -> Iterator[UsageTracker]:
    """Count the model calls made inside this block (and tasks/threads started from it)."""
    tracker = tracker or UsageTracker()
    token = _ACTIVE.set((*_ACTIVE.get(), tracker))
    try:
        yield tracker
    finally:
        _ACTIVE.reset(token)


@dataclass
class EngineSpeed:
    """How fast one in-process engine ran in this process: calls, tokens, time to first token, decode rate."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    first_token_seconds: list[float] = field(default_factory=list)
    """Per call whose steps were timed (not grammar-constrained calls, which return their tokens at once)."""
    decode_tokens: int = 0
    """Tokens after the first, in calls whose steps were timed."""
    decode_seconds: float = 0.0

    @property
    def decode_tokens_per_second(self) -> float | None:
        """Tokens per second after each call's first token (None before a timed call made two)."""
        return self.decode_tokens / self.decode_seconds if self.decode_tokens and self.decode_seconds > 0 else None

    @property
    def median_first_token_seconds(self) -> float | None:
        """The median time from the start of a call to its first token."""
        return statistics.median(self.first_token_seconds) if self.first_token_seconds else None


_SPEED: dict[str, EngineSpeed] = {}
_SPEED_LOCK = threading.Lock()


def record_engine_call(
    engine: str,
    input_tokens: int,
    output_tokens: int,
    seconds: float,
    first_token: float | None,
    last_token: float | None,
) -> None:
    """Count one in-process generation: `first_token`/`last_token` are seconds from its start (None if not timed)."""
    with _SPEED_LOCK:
        speed = _SPEED.setdefault(engine, EngineSpeed())
        speed.calls += 1
        speed.input_tokens += input_tokens
        speed.output_tokens += output_tokens
        speed.seconds += seconds
        if first_token is not None:
            speed.first_token_seconds.append(first_token)
            if last_token is not None and output_tokens > 1 and last_token > first_token:
                speed.decode_tokens += output_tokens - 1
                speed.decode_seconds += last_token - first_token


def engine_speeds() -> dict[str, EngineSpeed]:
    """A copy of the speed counters of every in-process engine used in this process, by engine name."""
    with _SPEED_LOCK:
        return {name: EngineSpeed(s.calls, s.input_tokens, s.output_tokens, s.seconds, list(s.first_token_seconds),
                                  s.decode_tokens, s.decode_seconds) for name, s in _SPEED.items()}  # fmt: skip


def reset_engine_speeds() -> None:
    """Forget the engines' speed counters."""
    with _SPEED_LOCK:
        _SPEED.clear()
