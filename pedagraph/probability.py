"""Probabilities of a model's answer options: from first-token log-probabilities, else from k sampled replies.

Saha et al. 2023 read the simulator's first answer token (methods.md §1.6, §1.7).
The first call asks for `logprobs` (OpenAI-compatible servers and in-process models return them). The answer slot
is the first position of the reply at which any candidate token names an option (a reply that opens with
"Answer:" still works). A backend without log-probabilities gives `method="samples"`: the first reply and `k - 1`
more sampled at `temperature` with distinct seeds (so the response cache keeps them apart) are parsed and counted.
Every result says which method produced it, with the calls and tokens it cost (read from the replies, so a cached
reply costs the same as a fresh one).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage

from pedagraph.errors import ModelError

__all__ = ["Cost", "OptionProbs", "option_of", "option_probs", "probs_from_logprobs"]

Method = Literal["logprobs", "samples", "none"]
Slot = Literal["first", "last"]
TOP_LOGPROBS = 10
SLOT_POSITIONS = 6
"""How many leading reply tokens are searched for the answer slot."""
_NO_LOGPROBS: set[str] = set()
_NO_LOGPROBS_LOCK = threading.Lock()


@dataclass
class Cost:
    """Model calls and tokens spent on something."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, reply: BaseMessage) -> None:
        """Count one reply."""
        usage = getattr(reply, "usage_metadata", None) or {}
        self.calls += 1
        self.input_tokens += int(usage.get("input_tokens", 0) or 0)
        self.output_tokens += int(usage.get("output_tokens", 0) or 0)

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.calls + other.calls, self.input_tokens + other.input_tokens,
                    self.output_tokens + other.output_tokens)  # fmt: skip

    def __sub__(self, other: Cost) -> Cost:
        return Cost(self.calls - other.calls, self.input_tokens - other.input_tokens,
                    self.output_tokens - other.output_tokens)  # fmt: skip

    def __iadd__(self, other: Cost) -> Cost:
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        return self

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class OptionProbs:
    """A model's probability of each answer option, how it was obtained, its first reply and its cost."""

    probs: dict[str, float]
    method: Method
    text: str
    cost: Cost = field(default_factory=Cost)
    samples: int = 0
    first_cost: Cost = field(default_factory=Cost)
    """The greedy call's share of `cost` (the rest is sampling)."""

    def p(self, option: str) -> float | None:
        """Probability of `option` (None when no option could be read from the model)."""
        return self.probs.get(option) if self.probs else None

    def top(self) -> str | None:
        """The most probable option (None when nothing was read)."""
        return max(self.probs, key=lambda o: self.probs[o]) if self.probs else None


def option_of(token: str, options: Sequence[str]) -> str | None:
    """The option a token names: equal to it or its unambiguous start ("Yes" -> yes, " n" -> no), else None."""
    norm = token.strip().strip(".,:;!?\"'()*[]").lower()
    if not norm:
        return None
    exact = [o for o in options if o.lower() == norm]
    if exact:
        return exact[0]
    starts = [o for o in options if o.lower().startswith(norm)]
    return starts[0] if len(starts) == 1 else None


def _candidates(entry: dict[str, Any]) -> list[tuple[str, float]]:
    tops = entry.get("top_logprobs") or []
    pairs = [(str(t.get("token", "")), float(t.get("logprob", -1e4))) for t in tops if isinstance(t, dict)]
    if not pairs and "token" in entry:
        pairs = [(str(entry["token"]), float(entry.get("logprob", 0.0)))]
    return [(tok, math.exp(lp)) for tok, lp in pairs]


def _slot_mass(entry: dict[str, Any], options: Sequence[str]) -> dict[str, float] | None:
    mass: dict[str, float] = {}
    for token, p in _candidates(entry):
        option = option_of(token, options)
        if option is not None:
            mass[option] = mass.get(option, 0.0) + p
    total = sum(mass.values())
    return {o: mass.get(o, 0.0) / total for o in options} if total > 0 else None


def probs_from_logprobs(
    metadata: dict[str, Any], options: Sequence[str], *, slot: Slot = "first"
) -> dict[str, float] | None:
    """Option probabilities at the answer slot of a reply's `logprobs` metadata, normalised; None if absent.

    `slot="first"`: the first of the leading positions at which a candidate names an option (a direct answer).
    `slot="last"`: the last position whose generated token names an option (the answer a chain of thought ends
    with, as Saha et al. read the student's reasoned answer).
    """
    content = (metadata.get("logprobs") or {}).get("content") if isinstance(metadata.get("logprobs"), dict) else None
    if not content:
        return None
    if slot == "last":
        for entry in reversed(content):
            if option_of(str(entry.get("token", "")), options) is not None:
                return _slot_mass(entry, options)
        return None
    for entry in content[:SLOT_POSITIONS]:
        probs = _slot_mass(entry, options)
        if probs is not None:
            return probs
    return None


def _model_key(model: Any) -> str:
    return f"{getattr(model, 'model_spec', type(model).__name__)}|{getattr(model, 'base_url', '')}"


def _first_call(model: Any, messages: list[BaseMessage], max_tokens: int | None, logprobs: bool) -> AIMessage:
    """The greedy reply, asking for log-probabilities unless this backend refused them before."""
    extra: dict[str, Any] = {"max_tokens": max_tokens} if max_tokens else {}
    key = _model_key(model)
    if logprobs and key not in _NO_LOGPROBS:
        try:
            return model.invoke(messages, logprobs=True, top_logprobs=TOP_LOGPROBS, **extra)
        except ModelError as exc:
            if "logprob" not in str(exc).lower():
                raise
            with _NO_LOGPROBS_LOCK:
                _NO_LOGPROBS.add(key)  # the server refuses the parameter: sample from now on
    return model.invoke(messages, **extra)


def option_probs(
    model: Any,
    messages: list[BaseMessage],
    options: Sequence[str],
    *,
    parse: Callable[[str], str | None],
    samples: int = 5,
    max_tokens: int | None = None,
    temperature: float = 1.0,
    use_logprobs: bool = True,
    slot: Slot = "first",
) -> OptionProbs:
    """Ask `model` once (greedy) and read the options' probabilities from log-probabilities or `samples` replies.

    `parse` reads the option a reply states (None when it states none). With `samples <= 1` and no
    log-probabilities, only the greedy reply is made and `probs` is empty (`method="none"`). `use_logprobs=False`
    always samples (for answers whose first token says little, such as numbers). `slot` says where the answer
    sits in a reply (`probs_from_logprobs`): "last" for a reply that reasons first.
    """
    cost, first_cost = Cost(), Cost()
    first = _first_call(model, messages, max_tokens, use_logprobs and bool(options))
    cost.add(first)
    first_cost.add(first)
    text = first.content if isinstance(first.content, str) else str(first.content)
    probs = probs_from_logprobs(first.response_metadata or {}, options, slot=slot) if use_logprobs else None
    if probs is not None:
        return OptionProbs(probs, "logprobs", text, cost, first_cost=first_cost)
    if samples <= 1:
        return OptionProbs({}, "none", text, cost, first_cost=first_cost)
    answers = [parse(text)]
    extra: dict[str, Any] = {"max_tokens": max_tokens} if max_tokens else {}
    for j in range(1, samples):
        reply = model.invoke(messages, temperature=temperature, seed=j, **extra)
        cost.add(reply)
        answers.append(parse(reply.content if isinstance(reply.content, str) else str(reply.content)))
    counts = Counter(a for a in answers if a is not None)
    valid = sum(counts.values())
    probs = {o: counts.get(o, 0) / valid for o in options} if valid else {}
    return OptionProbs(probs, "samples", text, cost, samples=samples, first_cost=first_cost)
