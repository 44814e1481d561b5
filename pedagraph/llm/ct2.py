"""The fast CPU engine of in-process models: CTranslate2 int8 over the cached conversion, without torch.

Loads in a fraction of a second (a memory-mapped int8 copy made once by `pedagraph.llm.convert`); tokenises with
the `tokenizers` library and renders the model's chat template with jinja2, as transformers does, so a start imports
neither torch nor transformers. `Ct2Model.tokens` streams token ids (the caller checks stops, timeouts and the JSON
end after every token and closes the stream, which stops CTranslate2 at its next step); `Ct2Model.logprobs` returns
every generated step's full log-probability row; `Ct2Model.constrained` decodes under a grammar (see there).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pedagraph.errors import ModelError


class ChatTokenizer:
    """A model's fast tokenizer (`tokenizer.json`) and chat template, with the few transformers calls used here."""

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer

        self.backend = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.backend.no_padding()
        self.backend.no_truncation()
        config_path = model_dir / "tokenizer_config.json"
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        self.special = {k: _token_text(config.get(k)) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
        template = config.get("chat_template")
        jinja_file = model_dir / "chat_template.jinja"
        if jinja_file.is_file():
            template = jinja_file.read_text()
        if isinstance(template, list):  # named templates: the default one
            template = next((t.get("template") for t in template if t.get("name") == "default"), None)
        self.chat_template: str | None = template if isinstance(template, str) else None
        self._compiled: Any = None
        self.eos_token_id = self._id(self.special["eos_token"])
        self.pad_token_id = self._id(self.special["pad_token"])

    def _id(self, token: str | None) -> int | None:
        return self.backend.token_to_id(token) if token else None

    def apply_chat_template(
        self, messages: list[dict[str, str]], add_generation_prompt: bool = True, tokenize: bool = False, **_: Any
    ) -> Any:
        """Render `messages` with the chat template (jinja2 sandbox, the globals transformers provides)."""
        if self._compiled is None:
            if not self.chat_template:
                raise ValueError("the tokenizer has no chat template")
            from jinja2.ext import loopcontrols
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            def raise_exception(message: str) -> None:
                raise ValueError(message)

            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
            env.filters["tojson"] = lambda x, indent=None, **kw: json.dumps(x, indent=indent, ensure_ascii=False)
            env.globals.update(raise_exception=raise_exception, strftime_now=lambda f: datetime.now().strftime(f))
            self._compiled = env.from_string(self.chat_template)
        text = self._compiled.render(messages=messages, add_generation_prompt=add_generation_prompt, **self.special)
        return self.encode(text) if tokenize else text

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, no special tokens added."""
        return list(self.backend.encode(text, add_special_tokens=False).ids)

    def __call__(self, text: str, add_special_tokens: bool = False, return_tensors: str | None = None) -> dict:
        """`{"input_ids": ids}` as transformers returns it (a torch tensor of shape 1 x n with return_tensors="pt")."""
        ids = self.encode(text)
        if return_tensors == "pt":
            import torch

            return {"input_ids": torch.tensor([ids])}
        return {"input_ids": ids}

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        """Text of token ids."""
        values = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        return self.backend.decode([int(i) for i in values], skip_special_tokens=skip_special_tokens)

    def tokens(self, ids: list[int]) -> list[str]:
        """The vocabulary strings of token ids (what CTranslate2 takes as input)."""
        return [self.backend.id_to_token(int(i)) for i in ids]

    def vocab_size(self) -> int:
        """Vocabulary size including added tokens."""
        return int(self.backend.get_vocab_size(with_added_tokens=True))


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


@dataclass
class Sampling:
    """How the next token is picked: greedy (`temperature` None or 0) or sampled, with an optional seed."""

    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        """True when no sampling happens."""
        return not self.temperature or self.temperature <= 0

    def ct2(self) -> dict[str, Any]:
        """CTranslate2's sampling arguments."""
        if self.greedy:
            return {"sampling_topk": 1}
        return {"sampling_topk": 0, "sampling_temperature": float(self.temperature or 1.0),
                "sampling_topp": float(self.top_p) if self.top_p is not None else 1.0}  # fmt: skip


@dataclass
class NativeModel:
    """What both native engines' loaded models share: the model's facts, the lock, and constrained replies.

    Constrained replies use the grammar's tokenizer, the closing tiers and `close`; a subclass has `next_logprobs(ids)`.
    The engine's own handle (`generator`, `model`) is a keyword field of the subclass.
    """

    ref: Any
    tokenizer: ChatTokenizer
    device: str
    load_seconds: float
    context_length: int
    eos_ids: frozenset[int]
    hf_dir: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: int | None = None
    _grammar_tokenizer: Any = None
    _closing: Any = None

    def grammar_tokenizer(self) -> Any:
        """The grammar library's (llguidance) view of the tokenizer (built once; about a second)."""
        if self._grammar_tokenizer is None:
            self._grammar_tokenizer = grammar_tokenizer(self.hf_dir / "tokenizer.json", self.tokenizer)
        return self._grammar_tokenizer

    def closing(self) -> list[Any]:
        """The token tiers that close a JSON value soonest (`closing_tiers`, built once)."""
        if self._closing is None:
            self._closing = closing_tiers(lambda i: self.tokenizer.decode([i], skip_special_tokens=True),
                                          self.tokenizer.vocab_size())  # fmt: skip
        return self._closing

    def close(
        self, matcher: Any, prompt: list[int], out: list[int], max_new: int, sampling: Sampling, rng: Any,
        deadline: float,
    ) -> bool:  # fmt: skip
        """Finish the object soonest within `max_new` (appending to `out`); True when the deadline passed.

        Forced tokens are taken as they come; otherwise a closing quote or bracket, else a separator, else a digit
        the grammar allows (the lowest id, without a model call); only where none is allowed (an enum's letters, a
        boolean) does the model choose among the allowed tokens.
        """
        tiers = self.closing()
        while len(out) < max_new and not matcher.is_stopped() and not matcher.is_accepting():
            if time.monotonic() >= deadline:
                return True
            forced = matcher.compute_ff_tokens()[: max_new - len(out)]
            if forced:
                matcher.consume_tokens(forced)
                out.extend(forced)
                continue
            candidates = closing_candidates(matcher, tiers)
            if candidates.size:  # no model call: the shortest closing token (byte-level BPE lists them first)
                token: int | None = int(candidates.min())
            else:
                token = masked_choice(matcher, self.next_logprobs(prompt + out), sampling, rng)
            if token is None or token in self.eos_ids:
                break
            matcher.consume_token(token)
            out.append(token)
        return False


@dataclass
class Ct2Model(NativeModel):
    """A CTranslate2 generator and its tokenizer, shared by every role that names the model; `lock` serialises."""

    generator: Any = field(kw_only=True)
    engine: str = "ctranslate2"
    model_dir: Path | None = None
    _prefixes: dict[tuple[int, ...], int] = field(default_factory=dict)

    def _start(self, ids: list[int]) -> tuple[list[str], dict[str, Any]]:
        """The start tokens of a prompt and its first turn as CTranslate2's cached static prompt (see `reusable`).

        The first turn (the system prompt, or the template's default one) is the same for every turn of a dialogue
        and every call of a schema, so its state is computed once and reused. The engine keeps such states without
        bound; past `PREFIX_TOKENS` cached tokens the generator is made again (a fraction of a second) to free them.
        """
        cut = reusable(ids, self.eos_ids)
        if not cut:
            return self.tokenizer.tokens(ids), {}
        key = tuple(ids[:cut])
        if key not in self._prefixes:
            if self._prefixes and sum(self._prefixes.values()) + cut > PREFIX_TOKENS and self.model_dir is not None:
                self.generator = _generator(self.model_dir, self.threads)
                self._prefixes.clear()
            self._prefixes[key] = cut
        return self.tokenizer.tokens(ids[cut:]), {"static_prompt": self.tokenizer.tokens(ids[:cut])}

    def forget(self) -> None:
        """Drop every cached prompt state (the next call reads its whole prompt)."""
        if self.model_dir is not None:
            self.generator = _generator(self.model_dir, self.threads)
        self._prefixes.clear()

    def tokens(self, prompt: list[int], max_new: int, sampling: Sampling) -> Iterator[int]:
        """Generated token ids, one by one (closing the iterator stops generation at the next step)."""
        import ctranslate2

        if sampling.seed is not None:
            ctranslate2.set_random_seed(int(sampling.seed))
        start, static = self._start(prompt)
        steps = self.generator.generate_tokens(
            start, max_length=max_new, end_token=sorted(self.eos_ids) or None, **static, **sampling.ct2()
        )
        try:
            for step in steps:
                if step.token_id in self.eos_ids:
                    return
                yield int(step.token_id)
        finally:
            steps.close()

    def logprobs(self, prompt: list[int], max_new: int, sampling: Sampling, stop: Any) -> tuple[list[int], list[Any]]:
        """Greedy or sampled ids and each step's log-probability row (numpy), stopping when `stop(ids)` says so."""
        import ctranslate2
        import numpy as np

        if sampling.seed is not None:
            ctranslate2.set_random_seed(int(sampling.seed))
        taken: list[int] = []

        def callback(step: Any) -> bool:
            if step.token_id not in self.eos_ids:
                taken.append(int(step.token_id))
            return bool(stop(taken))

        start, static = self._start(prompt)
        result = self.generator.generate_batch(
            [start], max_length=max_new, end_token=sorted(self.eos_ids) or None, return_logits_vocab=True,
            include_prompt_in_result=False, callback=callback, **static, **sampling.ct2(),
        )[0]  # fmt: skip
        ids = [int(i) for i in result.sequences_ids[0] if int(i) not in self.eos_ids]
        rows = []
        for logits in result.logits[0][: len(ids)] if result.logits else []:
            row = np.asarray(logits, dtype=np.float32)
            rows.append(row - logsumexp(row))
        return ids, rows

    def next_logprobs(self, ids: list[int]) -> Any:
        """The log-probabilities of the token after `ids` (a prefill and one step; the row is unmasked)."""
        import numpy as np

        start, static = self._start(ids)
        result = self.generator.generate_batch(
            [start], max_length=1, return_logits_vocab=True, include_prompt_in_result=False, sampling_topk=1, **static
        )[0]
        row = np.asarray(result.logits[0][0], dtype=np.float32)
        return row - logsumexp(row)

    def constrained(
        self, prompt: list[int], max_new: int, sampling: Sampling, grammar: str, deadline: float, reserve: int = 0
    ) -> tuple[list[int], str]:
        """Token ids that the grammar accepts, decoded speculatively: the engine runs free while it agrees.

        CTranslate2 has no per-step logits hook, so the grammar's matcher checks each token the engine proposes
        (in the step callback); tokens the grammar forces are appended without the model; at the first token the
        grammar refuses, the engine stops, and that step's logits (returned with the result) are masked by the
        grammar and the best (or a sampled) allowed token is taken; the engine then resumes from there. When only
        `reserve` tokens of the budget are left, the object is closed soonest (`close`), so the reply ends valid within
        `max_new`. Returns the ids and why decoding ended ("stop": the grammar is complete, "length", or "timeout").
        """
        import llguidance
        import numpy as np

        matcher = llguidance.LLMatcher(self.grammar_tokenizer(), grammar)
        if matcher.is_error():
            raise ModelError(f"the structured-output grammar was refused: {matcher.get_error()[:300]}")
        rng = np.random.default_rng(sampling.seed)
        end = sorted(self.eos_ids) or None
        out: list[int] = []
        free = max(max_new - reserve, 1)
        while len(out) < free:
            if matcher.is_stopped():
                return out, "stop"
            if time.monotonic() >= deadline:
                return out, "timeout"
            forced = matcher.compute_ff_tokens()[: max_new - len(out)]
            if forced:
                matcher.consume_tokens(forced)
                out.extend(forced)
                continue
            taken: list[int] = []
            state = {"refused": False, "late": False}

            def check(step: Any, taken: list[int] = taken, state: dict[str, bool] = state) -> bool:
                if time.monotonic() >= deadline:
                    state["late"] = True
                    return True
                token = int(step.token_id)
                if token in self.eos_ids:
                    return True
                if matcher.try_consume_tokens([token]) != 1:
                    state["refused"] = True
                    return True
                taken.append(token)
                return matcher.is_stopped()

            if sampling.seed is not None:
                import ctranslate2

                ctranslate2.set_random_seed(int(sampling.seed) + len(out))
            start, static = self._start(prompt + out)
            result = self.generator.generate_batch(
                [start], max_length=free - len(out), end_token=end, return_logits_vocab=True,
                include_prompt_in_result=False, callback=check, **static, **sampling.ct2(),
            )[0]  # fmt: skip
            out.extend(taken)
            if state["late"]:
                return out, "timeout"
            if matcher.is_stopped() or len(out) >= free:
                break
            if not state["refused"] and matcher.is_accepting():
                return out, "stop"  # the engine ended where the grammar may end
            steps = result.logits[0] if result.logits else []
            if len(steps) > len(taken):  # the logits of the step the grammar refused (or the early end)
                row = np.asarray(steps[len(taken)], dtype=np.float32)
                row = row - logsumexp(row)
            else:
                row = self.next_logprobs(prompt + out)
            token = masked_choice(matcher, row, sampling, rng)
            if token is None or token in self.eos_ids:
                break
            matcher.consume_token(token)
            out.append(token)
        if not matcher.is_stopped() and not matcher.is_accepting():
            late = self.close(matcher, prompt, out, max_new, sampling, rng, deadline)
            if late:
                return out, "timeout"
        return out, "stop" if matcher.is_stopped() or matcher.is_accepting() else "length"


PREFIX_TOKENS = 2048
"""Prompt-prefix tokens whose engine state is kept at most (about 140 KB a token for the tiny model)."""
MIN_PREFIX = 32
"""A shorter first turn is not worth a cached state."""


def reusable(ids: list[int], end_ids: frozenset[int]) -> int:
    """Length of the prompt's first turn (through its first end-of-turn token), or 0 when too short or the whole."""
    cut = next((i + 1 for i, token in enumerate(ids) if token in end_ids), 0)
    return cut if MIN_PREFIX <= cut < len(ids) else 0


def masked_choice(matcher: Any, row: Any, sampling: Sampling, rng: Any) -> int | None:
    """The best (greedy) or a sampled token among those the grammar allows next, from a log-probability row."""
    import numpy as np

    allowed = np.frombuffer(matcher.compute_logit_bias(), dtype=np.uint8) > 0
    width = min(row.shape[0], allowed.shape[0])
    masked = np.full(row.shape[0], -np.inf, dtype=np.float32)
    masked[:width] = np.where(allowed[:width], row[:width], -np.inf)
    if not np.isfinite(masked).any():
        return None
    if sampling.greedy:
        return int(np.argmax(masked))
    scaled = masked / float(sampling.temperature or 1.0)
    probs = np.exp(scaled - logsumexp(scaled[np.isfinite(scaled)]))
    return int(rng.choice(len(probs), p=probs / probs.sum()))


def logsumexp(row: Any) -> Any:
    """log(sum(exp(row))), computed stably."""
    import numpy as np

    top = np.max(row)
    return top + np.log(np.sum(np.exp(row - top)))


def grammar_tokenizer(tokenizer_json: Path, tokenizer: ChatTokenizer) -> Any:
    """An llguidance tokenizer from a `tokenizer.json` file."""
    import llguidance

    eos = tokenizer.eos_token_id
    return llguidance.LLTokenizer(
        tokenizer_json.read_text(), n_vocab=tokenizer.vocab_size(), eos_token=eos if eos is not None else 0
    )


STRING_LIMIT = 240
"""Characters a free string may take under constrained decoding when its schema sets no `maxLength` (at most)."""
ARRAY_LIMIT = 12
"""Items an array may take under constrained decoding when its schema sets no `maxItems` (at most)."""
NUMBER_LIMIT = 10**15
"""Bound of a number the grammar lets a model write where its schema sets none: exact as a float and an int64."""
CHARS_PER_TOKEN = 3.0
"""Characters per token assumed when the bounds are fitted to a budget (English text runs ~4 with this tokenizer)."""
LIMIT_STEPS: tuple[tuple[int, int], ...] = (
    (240, 12), (200, 10), (160, 8), (120, 8), (120, 6), (100, 6), (80, 6), (80, 5), (60, 5), (60, 4), (48, 4),
    (40, 4), (32, 3), (24, 3), (16, 2), (8, 1),
)  # fmt: skip
"""(string, list) limits tried in order, largest first, until the bounded schema's estimate fits the budget."""


def decoding_schema(node: Any, string_limit: int = STRING_LIMIT, array_limit: int = ARRAY_LIMIT) -> Any:
    """The schema the grammar enforces: every property present and no others; free strings, lists and numbers bounded.

    Validation still uses the caller's schema; this only keeps a small model from skipping a decision, inventing
    keys, or writing until its token budget ends inside a string. A schema's own tighter limits are kept.
    """
    if isinstance(node, list):
        return [decoding_schema(v, string_limit, array_limit) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: decoding_schema(v, string_limit, array_limit) if k in ("items", "anyOf", "oneOf", "allOf", "prefixItems")
           else v for k, v in node.items()}  # fmt: skip
    for key in ("$defs", "definitions", "properties"):
        if isinstance(node.get(key), dict):
            out[key] = {name: decoding_schema(sub, string_limit, array_limit) for name, sub in node[key].items()}
    if isinstance(node.get("properties"), dict):
        out["required"] = list(node["properties"])
        out.setdefault("additionalProperties", False)
    kinds = node.get("type") if isinstance(node.get("type"), list) else [node.get("type")]
    if "string" in kinds and "enum" not in node and "const" not in node and "format" not in node:
        least = int(node.get("minLength", 0))
        out["maxLength"] = min(int(node.get("maxLength", string_limit)), max(string_limit, least))
    if "array" in kinds:
        least = int(node.get("minItems", 0))
        out["maxItems"] = min(int(node.get("maxItems", array_limit)), max(array_limit, least))
    if {"number", "integer"} & set(kinds) and "enum" not in node and "const" not in node:
        # JSON allows numbers of any length; a float holds none past 1.8e308 (a 400-digit integer was written)
        if "minimum" not in node and "exclusiveMinimum" not in node:
            out["minimum"] = -NUMBER_LIMIT
        if "maximum" not in node and "exclusiveMaximum" not in node:
            out["maximum"] = NUMBER_LIMIT
    return out


def _resolved(node: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """`node` with its `$ref` chain followed (local definitions only)."""
    for _ in range(32):
        if not isinstance(node, dict) or "$ref" not in node:
            break
        node = {**defs.get(str(node["$ref"]).split("/")[-1], {}), **{k: v for k, v in node.items() if k != "$ref"}}
    return node if isinstance(node, dict) else {}


def _extent(node: Any, defs: dict[str, Any], longest: bool, depth: int = 0) -> float:
    """Characters of the longest (estimate: free strings at their bound) or shortest JSON value `node` allows."""
    node = _resolved(node, defs)
    if depth > 12:
        return 2.0
    if "const" in node:
        return float(len(json.dumps(node["const"])))
    if node.get("enum"):  # the longest either way: while closing, the model still picks the value
        return float(max(len(json.dumps(v)) for v in node["enum"]))
    options = node.get("anyOf") or node.get("oneOf")
    if options:
        sizes = [_extent(o, defs, longest, depth + 1) for o in options]
        return max(sizes) if longest else min(sizes)
    if node.get("allOf"):
        merged: dict[str, Any] = {}
        for part in node["allOf"]:
            merged.update(_resolved(part, defs))
        return _extent(merged, defs, longest, depth + 1)
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"] or ["null"]
        sizes = [_extent({**node, "type": k}, defs, longest, depth + 1) for k in kinds]
        return max(sizes) if longest else min(sizes)
    if kind == "object" or (kind is None and "properties" in node):
        props = node.get("properties") or {}
        if not props:
            return 2.0 if not longest else 2.0 + STRING_LIMIT
        inner = sum(len(json.dumps(k)) + 1 + _extent(v, defs, longest, depth + 1) for k, v in props.items())
        return 2.0 + inner + len(props) - 1
    if kind == "array":
        count = int(node.get("maxItems", ARRAY_LIMIT)) if longest else int(node.get("minItems", 0))
        item = _extent(node.get("items") or {}, defs, longest, depth + 1)
        return 2.0 + count * (item + 1)
    if kind in ("integer", "number"):
        return 12.0 if longest else 1.0
    if kind == "boolean":
        return 5.0 if longest else 4.0
    if kind == "null":
        return 4.0
    bound = int(node.get("maxLength", STRING_LIMIT)) if longest else int(node.get("minLength", 0))
    return 2.0 + bound


def closing_reserve(schema: dict[str, Any]) -> int:
    """Tokens kept back to close the object from any point: its shortest form (a token covers at least a character)."""
    defs = {**schema.get("$defs", {}), **schema.get("definitions", {})}
    return int(_extent(schema, defs, longest=False)) + 16


def fitted_schema(schema: dict[str, Any] | None, budget: int) -> tuple[dict[str, Any], int]:
    """The bounded schema whose longest reply fits `budget` tokens, and the closing reserve to keep.

    The string and list limits are the largest of `LIMIT_STEPS` whose estimated longest reply (at `CHARS_PER_TOKEN`)
    fits in the budget less the reserve; the reserve (see `closing_reserve`) makes the reply close within the budget
    whatever the estimate: the decoder switches to closing the object when only the reserve is left.
    """
    if not isinstance(schema, dict):
        return {"type": "object"}, 16
    defs = {**schema.get("$defs", {}), **schema.get("definitions", {})}
    reserve = closing_reserve(schema)
    room = max(budget - reserve, 0) * CHARS_PER_TOKEN
    bounded = schema
    for string_limit, array_limit in LIMIT_STEPS:
        bounded = decoding_schema(schema, string_limit, array_limit)
        bounded_defs = {**bounded.get("$defs", {}), **bounded.get("definitions", {})}
        if _extent(bounded, bounded_defs or defs, longest=True) <= room:
            break
    return bounded, reserve


COMFORT_LIMITS = (100, 5)
"""(string, list) limits a constrained reply's budget is raised to hold, up to `STRUCTURED_MAX_TOKENS`."""
STRUCTURED_MAX_TOKENS = 640
"""The most a constrained reply's budget is raised to (a role's own larger `max_tokens` is kept)."""


def structured_budget(schema: dict[str, Any] | None, wanted: int) -> int:
    """`wanted`, raised (up to `STRUCTURED_MAX_TOKENS`) so the schema's strings and lists reach `COMFORT_LIMITS`."""
    if not isinstance(schema, dict):
        return wanted
    bounded = decoding_schema(schema, *COMFORT_LIMITS)
    defs = {**bounded.get("$defs", {}), **bounded.get("definitions", {})}
    reserve = closing_reserve(schema)
    needed = int(_extent(bounded, defs, longest=True) / CHARS_PER_TOKEN) + reserve
    return max(wanted, reserve + 16, min(needed, STRUCTURED_MAX_TOKENS))


def json_grammar(schema: dict[str, Any] | None, budget: int = 10**6) -> tuple[str, int]:
    """The llguidance grammar of a JSON Schema (any JSON object when None), fitted to `budget`, and its reserve."""
    import llguidance

    target, reserve = fitted_schema(schema, budget)
    grammar = llguidance.LLMatcher.grammar_from_json_schema(
        target, defaults={"whitespace_flexible": False, "coerce_one_of": True}
    )
    return grammar, reserve


_CLOSERS = frozenset('"]}')
_SEPARATORS = frozenset('"]},:')
_DIGITS = frozenset("0123456789")


def closing_tiers(decode: Any, vocab_size: int) -> list[Any]:
    """Token ids that end a JSON value soonest, in order: quotes and closing brackets, then separators, then digits."""
    import numpy as np

    tiers: list[list[int]] = [[], [], []]
    for i in range(vocab_size):
        text = decode(i)
        if not text:
            continue
        chars = set(text)
        if chars <= _CLOSERS:
            tiers[0].append(i)
        elif chars <= _SEPARATORS:
            tiers[1].append(i)
        elif chars <= _DIGITS:
            tiers[2].append(i)
    return [np.asarray(t, dtype=np.int64) for t in tiers]


def closing_candidates(matcher: Any, tiers: list[Any]) -> Any:
    """The allowed token ids of the first closing tier that has any (an empty array when none applies)."""
    import numpy as np

    allowed = np.frombuffer(matcher.compute_logit_bias(), dtype=np.uint8) > 0
    for tier in tiers:
        inside = tier[tier < allowed.shape[0]]
        found = inside[allowed[inside]]
        if found.size:
            return found
    return np.asarray([], dtype=np.int64)


def load_ct2(ref: Any, model_dir: Path, hf_dir: Path, threads: int | None) -> Ct2Model:
    """Load a converted model with CTranslate2 (int8 on the CPU) and its tokenizer."""
    start = time.perf_counter()
    try:
        generator = _generator(model_dir, threads)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelError(f"cannot load the CTranslate2 copy {model_dir}: {' '.join(str(exc).split())[:300]}") from None
    config_path = hf_dir / "config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    tokenizer, eos = chat_tokenizer(ref, hf_dir, config.get("eos_token_id"))
    context = int(config.get("max_position_embeddings") or 0) or 2048
    return Ct2Model(ref, tokenizer, "cpu", time.perf_counter() - start, context, eos, hf_dir, generator=generator,
                    model_dir=model_dir, threads=threads)  # fmt: skip


def chat_tokenizer(ref: Any, hf_dir: Path, *more_eos: Any) -> tuple[ChatTokenizer, frozenset[int]]:
    """A converted model's tokenizer (it must have a chat template) and its end-of-turn ids.

    The ids are the tokenizer's end token, `generation_config.json`'s and `more_eos` (ids or lists of ids, each
    engine's own config names them).
    """
    tokenizer = ChatTokenizer(hf_dir)
    if not tokenizer.chat_template:
        raise ModelError(f"model {ref.name} has no chat template (a base model?)", hint="use an instruction model")
    eos = {i for i in (tokenizer.eos_token_id,) if i is not None}
    gen_path = hf_dir / "generation_config.json"
    generation = json.loads(gen_path.read_text()) if gen_path.is_file() else {}
    for value in (generation.get("eos_token_id"), *more_eos):
        if isinstance(value, int):
            eos.add(value)
        elif isinstance(value, list):
            eos.update(v for v in value if isinstance(v, int))
    return tokenizer, frozenset(eos)


def _generator(model_dir: Path, threads: int | None) -> Any:
    """A CTranslate2 generator of a converted model: int8 on the CPU."""
    import ctranslate2

    return ctranslate2.Generator(
        str(model_dir), device="cpu", compute_type="int8", intra_threads=int(threads or 0), inter_threads=1
    )
