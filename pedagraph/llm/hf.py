"""In-process chat models (`hf:<model dir | repo id | file.gguf>`, the bundled `tiny`) on three engines.

One load per process and model, shared by every role that names it (`load_model`). The engine (`engine` setting):
`auto` runs ONNX Runtime GenAI int8 on the CPU (`pedagraph.llm.ort`: it keeps conversations' caches and reads only
what is new), else CTranslate2 int8 (`pedagraph.llm.ct2`), both from copies converted once into the cache by
`pedagraph.llm.convert`, and transformers otherwise (a GPU, or `engine = "transformers"`; a GGUF file is read from
the cached de-quantised copy). All take the model's chat template, sampling settings (greedy unless a temperature
> 0 is set), seeds, stop strings, a wall-clock timeout (generation stops at `timeout` seconds and the call fails
with a timeout error, never retried), token counts, first-token log-probabilities, streaming, and async through
the executor (LangChain's default). JSON replies (`json_schema` requests, the default here) show the model a
compact form of the schema (`json_skeleton`) and are decoded under the schema's grammar (llguidance): valid by
construction; a schema the grammar library refuses falls back to opening the answer with `{"` and the model
layer's validation and one repair. No tool calling. See docs/local-models.md.

Why not `langchain-huggingface`: its `ChatHuggingFace` over `HuggingFacePipeline` (1.2.3) has no async
(`NotImplementedError`), reports no token usage, ignores stop strings outside streaming (and maps them to single
token ids when streaming), has no timeout, and re-tokenises the templated prompt through a pipeline.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from langchain_core import exceptions as lc_exc
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, PrivateAttr

from pedagraph.errors import ConfigError, ModelError
from pedagraph.llm.ct2 import Sampling
from pedagraph.llm.managed import as_chunk
from pedagraph.llm.usage import record_engine_call
from pedagraph.prompts import render

DEFAULT_MAX_NEW_TOKENS = 512
STRUCTURED_MIN_TOKENS = 384
"""Token budget of a grammar-constrained reply at least (a role's smaller `max_tokens` would cut the object)."""
GGUF_DEPS_HINT = "pip install 'gguf>=0.10' 'accelerate>=1.1' (dependencies of pedagraph; was it installed --no-deps?)"


@dataclass(frozen=True)
class ModelRef:
    """Where a transformers model comes from: a local directory, a hub repo id, and a GGUF file in either."""

    source: str
    gguf_file: str | None
    local: bool
    name: str


@dataclass
class LoadedModel:
    """A loaded model and tokenizer, shared by every role that uses them; `lock` serialises generation."""

    ref: ModelRef
    model: Any
    tokenizer: Any
    device: str
    load_seconds: float
    context_length: int
    eos_ids: frozenset[int]
    lock: threading.Lock = field(default_factory=threading.Lock)
    engine: str = "transformers"
    ll_tokenizer: Any = None
    closing_ids: Any = None

    def grammar_tokenizer(self) -> Any:
        """The grammar library's (llguidance) view of the tokenizer (built once; about a second)."""
        if self.ll_tokenizer is None:
            import llguidance.hf

            self.ll_tokenizer = llguidance.hf.from_tokenizer(self.tokenizer, n_vocab=len(self.tokenizer))
        return self.ll_tokenizer

    def closing(self) -> list[Any]:
        """The token tiers that close a JSON value soonest (`pedagraph.llm.ct2.closing_tiers`, built once)."""
        if self.closing_ids is None:
            from pedagraph.llm.ct2 import closing_tiers

            self.closing_ids = closing_tiers(lambda i: self.tokenizer.decode([i]), len(self.tokenizer))
        return self.closing_ids


_LOADED: dict[tuple[Any, ...], Any] = {}
_LOAD_LOCK = threading.Lock()
_CONVERT_LOCK = threading.Lock()
_THREADS: list[int] = []


def _process_threads() -> int:
    """The process's torch thread count before any model here changed it, restored after each pinned call."""
    import torch

    with _LOAD_LOCK:
        if not _THREADS:
            _THREADS.append(torch.get_num_threads())
        return _THREADS[0]


def resolve_ref(spec: str) -> ModelRef:
    """Read `hf:` model text: a directory, a `.gguf` file, a hub repo id, or `org/repo/file.gguf` on the hub."""
    text = spec.strip()
    if not text:
        raise ConfigError("hf: needs a model directory, repo id or .gguf file", hint="e.g. hf:/models/SmolLM2")
    path = Path(text).expanduser()
    looks_local = text.startswith(("/", "./", "../", "~")) or path.exists()
    if looks_local:
        if not path.exists():
            raise ConfigError(f"model path not found: {path}", hint="give an existing directory or .gguf file")
        path = path.resolve()
        if path.is_file():
            if path.suffix.lower() != ".gguf":
                raise ConfigError(f"{path} is a file but not a .gguf file", hint="give the model's directory instead")
            return ModelRef(str(path.parent), path.name, True, path.stem)
        if not (path / "config.json").is_file():
            ggufs = sorted(path.glob("*.gguf"))
            if len(ggufs) == 1:
                return ModelRef(str(path), ggufs[0].name, True, ggufs[0].stem)
            raise ConfigError(
                f"{path} has no config.json" + (f" and {len(ggufs)} .gguf files" if ggufs else ""),
                hint="give a transformers model directory or one .gguf file",
            )
        return ModelRef(str(path), None, True, path.name)
    if text.lower().endswith(".gguf") and text.count("/") >= 2:
        repo, _, file = text.rpartition("/")
        return ModelRef(repo, file, False, Path(file).stem)
    return ModelRef(text, None, False, text)


def default_device() -> str:
    """CUDA when torch sees a GPU, else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_dependencies(ref: ModelRef) -> None:
    """Raise a one-line ConfigError when a package needed to load `ref` is missing (checked without importing)."""
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None:
        raise ConfigError("in-process models need torch and transformers", hint="pip install transformers torch")
    if ref.gguf_file:
        missing = [name for name in ("gguf", "accelerate") if importlib.util.find_spec(name) is None]
        if missing:
            raise ConfigError(
                f"loading a GGUF file with transformers needs {' and '.join(missing)}", hint=GGUF_DEPS_HINT
            )


def loaded_models() -> list[Any]:
    """The in-process models loaded in this process (transformers `LoadedModel`s and CTranslate2 `Ct2Model`s)."""
    with _LOAD_LOCK:
        return list(_LOADED.values())


ENGINES = ("auto", "onnxruntime", "ctranslate2", "transformers")
_PACKAGES = {"onnxruntime": ("onnxruntime_genai", "onnxruntime-genai"), "ctranslate2": ("ctranslate2", "ctranslate2")}


def ctranslate2_available() -> bool:
    """True when the CTranslate2 engine is installed."""
    return importlib.util.find_spec("ctranslate2") is not None


def onnxruntime_available() -> bool:
    """True when the ONNX Runtime GenAI engine is installed."""
    return importlib.util.find_spec("onnxruntime_genai") is not None


def resolve_engine(engine: str | None, device: str | None) -> str:
    """The engine that runs a model: `auto` is ONNX Runtime GenAI, else CTranslate2, on the CPU; else transformers."""
    chosen = (engine or "auto").strip().lower()
    if chosen not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}", hint=f"use one of {', '.join(ENGINES)}")
    if chosen in _PACKAGES:
        module, package = _PACKAGES[chosen]
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"engine {chosen} is not installed", hint=f"pip install {package}")
        if device not in (None, "cpu"):
            raise ConfigError(f"engine {chosen} runs on the CPU here, not {device}", hint="use engine transformers")
    if chosen == "auto":
        if device not in (None, "cpu"):
            return "transformers"
        if onnxruntime_available():
            return "onnxruntime"
        return "ctranslate2" if ctranslate2_available() else "transformers"
    return chosen


def local_source(ref: ModelRef) -> tuple[Path, str | None]:
    """The model's files on this machine: a local path as given, or the hub copy (downloaded unless offline)."""
    if ref.local:
        return Path(ref.source), ref.gguf_file
    from huggingface_hub import hf_hub_download, snapshot_download

    try:
        if ref.gguf_file:
            path = Path(hf_hub_download(ref.source, ref.gguf_file))
            return path.parent, path.name
        patterns = ["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt"]
        return Path(snapshot_download(ref.source, allow_patterns=patterns)), None
    except Exception as exc:  # noqa: BLE001 - hub errors come in many types
        raise ModelError(
            f"cannot find model {ref.source} on this machine: {type(exc).__name__}", hint="download it first"
        ) from None


def load_model(ref: ModelRef, device: str | None = None, engine: str | None = None, threads: int | None = None) -> Any:
    """Load a model once per process with its engine: an `OrtModel`, a `Ct2Model` or a `LoadedModel` (transformers).

    A GGUF model is converted once into the cache (`pedagraph.llm.convert`) for every installed engine; each engine
    loads its copy. A model the chosen engine cannot convert runs on the next one (CTranslate2, then transformers).
    """
    chosen = resolve_engine(engine, device)
    if chosen == "transformers":
        return load_transformers(ref, device)
    with _LOAD_LOCK:
        if (ref.source, ref.gguf_file, chosen, threads) in _LOADED:
            return _LOADED[(ref.source, ref.gguf_file, chosen, threads)]
    from pedagraph.llm.convert import converted

    source, gguf = local_source(ref)
    with _CONVERT_LOCK:
        copy = converted(source, gguf, want_ct2=ctranslate2_available(), want_ort=onnxruntime_available())
    if chosen == "onnxruntime" and copy.ort is not None:
        from pedagraph.llm.ort import load_ort

        name, load = "onnxruntime", lambda: load_ort(ref, copy.ort, copy.hf, threads)
    elif copy.ct2 is not None and ctranslate2_available():
        from pedagraph.llm.ct2 import load_ct2

        name, load = "ctranslate2", lambda: load_ct2(ref, copy.ct2, copy.hf, threads)
    else:
        return load_transformers(ref, device)
    key = (ref.source, ref.gguf_file, name, threads)
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = load()
        return _LOADED[key]


def load_transformers(ref: ModelRef, device: str | None = None) -> LoadedModel:
    """Load a model and its tokenizer with transformers once per process (keyed by source, file and device).

    A GGUF file is read from its cached de-quantised copy when one can be made (seconds instead of a GGUF parse).
    """
    check_dependencies(ref)
    device = device or default_device()
    key = (ref.source, ref.gguf_file, device)
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
    target = ref
    if ref.gguf_file:
        from pedagraph.llm.convert import converted

        source, gguf = local_source(ref)
        try:
            with _CONVERT_LOCK:
                copy = converted(source, gguf, want_ct2=ctranslate2_available(), want_ort=onnxruntime_available())
            target = ModelRef(str(copy.hf), None, True, ref.name)
        except OSError:
            target = ref  # no writable cache: parse the GGUF file on every start, as before
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load(target, device)
        return _LOADED[key]


def _drop_engines() -> None:
    """Free native engines' generators before the interpreter exits (one stopped early aborts the exit otherwise)."""
    with _LOAD_LOCK:
        for key in [k for k, v in _LOADED.items() if getattr(v, "engine", "") != "transformers"]:
            model = _LOADED.pop(key)
            if model.engine == "ctranslate2":
                model.generator = None
            else:
                model.drop()


atexit.register(_drop_engines)


def _load(ref: ModelRef, device: str) -> LoadedModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    kwargs: dict[str, Any] = {}
    if ref.gguf_file:
        kwargs["gguf_file"] = ref.gguf_file
    if ref.local or os.environ.get("HF_HUB_OFFLINE", "").strip() in ("1", "true", "True", "YES", "yes"):
        kwargs["local_files_only"] = True
    if device == "cpu":
        dtype: Any = torch.float32
    else:
        dtype = torch.float16 if ref.gguf_file else "auto"
    try:
        with quiet_loading():
            tokenizer = AutoTokenizer.from_pretrained(ref.source, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(ref.source, dtype=dtype, **kwargs)
        model.to(device)
        model.eval()
    except (OSError, ValueError, RuntimeError, KeyError, ImportError) as exc:
        detail = " ".join(str(exc).split())[:300]
        where = f"{ref.source}/{ref.gguf_file}" if ref.gguf_file else ref.source
        raise ModelError(
            f"cannot load transformers model {where}: {type(exc).__name__}: {detail}",
            hint="check the path or repo id; a hub model must be downloaded first when offline",
        ) from None
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(
            f"model {ref.name} has no chat template (a base model?)", hint="use an instruction-tuned chat model"
        )
    eos: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            eos.add(value)
        elif isinstance(value, list | tuple):
            eos.update(v for v in value if isinstance(v, int))
    context = int(getattr(model.config, "max_position_embeddings", 0) or 0) or 2048
    return LoadedModel(ref, model, tokenizer, device, time.perf_counter() - start, context, frozenset(eos))


class quiet_loading:  # noqa: N801 - used as a context manager
    """Silence transformers' progress bars (weights, and the GGUF de-quantisation's bare tqdm) while loading."""

    def __enter__(self) -> None:
        from transformers.utils import logging as hf_logging

        self._bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        self._module = None
        try:
            import transformers.modeling_gguf_pytorch_utils as module
        except ImportError:
            return
        self._module, self._tqdm = module, module.tqdm
        module.tqdm = lambda *args, **kwargs: self._tqdm(*args, **{**kwargs, "disable": True})

    def __exit__(self, *exc: object) -> None:
        from transformers.utils import logging as hf_logging

        if self._bars:
            hf_logging.enable_progress_bar()
        if self._module is not None:
            self._module.tqdm = self._tqdm


# -- text helpers -------------------------------------------------------------------------------------------------


def json_object_end(text: str) -> int:
    """Index just past the first complete top-level JSON object in `text` (strings respected), or -1."""
    depth, in_string, escaped, started = 0, False, False, False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = started
        elif ch == "{":
            depth += 1
            started = True
        elif ch == "}" and started:
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def json_skeleton(schema: dict[str, Any], *, depth: int = 0, defs: dict[str, Any] | None = None) -> str:
    """A compact form of a JSON schema that a small model can copy: `{"answer": <integer>, "why": <string: ...>}`."""
    defs = {**(defs or {}), **schema.get("$defs", {}), **schema.get("definitions", {})}
    node = schema
    for _ in range(16):
        if "$ref" not in node:
            break
        node = {**defs.get(node["$ref"].split("/")[-1], {}), **{k: v for k, v in node.items() if k != "$ref"}}
    note = " ".join(str(node.get("description", "")).split())[:80]
    if "enum" in node:
        choices = ", ".join(json.dumps(v) for v in node["enum"])
        return f"<one of {choices}: {note}>" if note else f"<one of {choices}>"
    if "const" in node:
        return json.dumps(node["const"])
    options = node.get("anyOf") or node.get("oneOf")
    if options:
        real = [o for o in options if o.get("type") != "null"]
        shown = " or ".join(json_skeleton(o, depth=depth + 1, defs=defs) for o in real[:3])
        return shown + (" or null" if len(real) < len(options) else "")
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or ("properties" in node and kind is None):
        if depth > 4:
            return "{...}"
        props = node.get("properties", {})
        inner = ", ".join(f"{json.dumps(k)}: {json_skeleton(v, depth=depth + 1, defs=defs)}" for k, v in props.items())
        return "{" + inner + "}"
    if kind == "array":
        return "[" + json_skeleton(node.get("items", {}), depth=depth + 1, defs=defs) + ", ...]"
    label = {"integer": "integer", "number": "number", "boolean": "true or false"}.get(str(kind), "string")
    return f"<{label}: {note}>" if note else f"<{label}>"


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """Text before the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class StopBuffer:
    """Streams text pieces, holding back any tail that could begin a stop string, and cutting at a stop string."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Return the text that is safe to emit after `piece` (empty once a stop string was seen)."""
        if self.stopped:
            return ""
        self.pending += piece
        text, found = cut_at_stop(self.pending, self.stops)
        if found:
            self.stopped, self.pending = True, ""
            return text
        hold = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(text)), 0, -1):
                if text.endswith(stop[:n]):
                    hold = max(hold, n)
                    break
        out, self.pending = text[: len(text) - hold], text[len(text) - hold :]
        return out

    def flush(self) -> str:
        """The held-back tail at the end of the stream (no stop string came)."""
        out, self.pending = ("" if self.stopped else self.pending), ""
        return out


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
    return "".join(parts)


_ROLE_OF = {"system": "system", "human": "user", "ai": "assistant"}


def chat_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as chat-template dicts (tool and other messages are read as user turns)."""
    return [{"role": _ROLE_OF.get(m.type, "user"), "content": _text_of(m.content)} for m in messages]


def _normalised(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """For strict templates: system text folded into the first user turn, consecutive same-role turns merged."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system:
        if rest and rest[0]["role"] == "user":
            rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
        else:
            rest.insert(0, {"role": "user", "content": system})
    merged: list[dict[str, str]] = []
    for m in rest:
        if merged and merged[-1]["role"] == m["role"]:
            merged[-1]["content"] += "\n\n" + m["content"]
        else:
            merged.append(m)
    return merged


def render_chat(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The prompt text of `messages` with the model's chat template and the assistant turn opened."""
    try:
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    except Exception:  # noqa: BLE001 - jinja raises TemplateError for roles or orders a template refuses
        return tokenizer.apply_chat_template(_normalised(messages), add_generation_prompt=True, tokenize=False)


# -- generation ---------------------------------------------------------------------------------------------------


@dataclass
class _Request:
    prompt_ids: list[int]
    max_new_tokens: int
    sampling: Sampling
    stops: list[str]
    prefix: str
    json: bool
    grammar: str | None = None
    reserve: int = 0
    """Tokens of the budget kept to close a constrained object (see `pedagraph.llm.ct2.fitted_schema`)."""


class _Control:
    """Stopping criteria: wall-clock deadline, a cancel event, stop strings and the end of a JSON object."""

    def __init__(self, tokenizer: Any, prompt_len: int, req: _Request) -> None:
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.stops = req.stops
        self.prefix = req.prefix
        self.json = req.json
        self.deadline = float("inf")
        self.cancel = threading.Event()
        self.reason: str | None = None
        self.tail_tokens = max((len(s) for s in self.stops), default=0) + 2
        self.started: float | None = None
        self.first_token: float | None = None  # monotonic times of the first and the latest new token
        self.last_token: float | None = None

    def start(self, timeout: float) -> None:
        """Start the wall clock: generation stops `timeout` seconds from now."""
        self.started = time.monotonic()
        self.deadline = self.started + timeout

    def _decode(self, ids: Any) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        done = self.check(input_ids[0][self.prompt_len :])
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    def check(self, new: Any) -> bool:
        """True when generation must stop after the new token ids `new` (and why, in `reason`)."""
        if len(new):
            self.last_token = time.monotonic()
            self.first_token = self.first_token or self.last_token
        if self.cancel.is_set():
            self.reason = self.reason or "cancelled"
            return True
        if time.monotonic() >= self.deadline:
            self.reason = "timeout"
            return True
        if self.stops and len(new):
            tail = self._decode(new[-self.tail_tokens :])
            if any(s in tail for s in self.stops):
                self.reason = "stop"
                return True
        if self.json and len(new) and "}" in self._decode(new[-1:]):
            if json_object_end(self.prefix + self._decode(new)) >= 0:
                self.reason = "json_end"
                return True
        return False


class _GrammarMask:
    """A transformers logits processor that allows only the tokens the grammar accepts next (llguidance).

    After `free` new tokens it allows only the closing tokens (`pedagraph.llm.ct2.closing_candidates`) where the
    grammar has any, so the object ends within the budget.
    """

    def __init__(self, lm: LoadedModel, grammar: str, prompt_len: int, free: int | None = None) -> None:
        import llguidance

        self.lm = lm
        self.matcher = llguidance.LLMatcher(lm.grammar_tokenizer(), grammar)
        self.prompt_len = prompt_len
        self.free = free
        self.seen = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np
        import torch

        new = input_ids[0][self.prompt_len :]
        for token in new[self.seen :].tolist():
            self.matcher.consume_token(int(token))
        self.seen = len(new)
        allowed = np.frombuffer(self.matcher.compute_logit_bias(), dtype=np.uint8) > 0
        if self.free is not None and self.seen >= self.free:
            from pedagraph.llm.ct2 import closing_candidates

            candidates = closing_candidates(self.matcher, self.lm.closing())
            if candidates.size:
                allowed = np.zeros_like(allowed)
                allowed[candidates[candidates < allowed.shape[0]]] = True
        vocab = scores.shape[-1]
        mask = torch.ones(vocab, dtype=torch.bool, device=scores.device)
        width = min(vocab, allowed.shape[0])
        mask[:width] = torch.from_numpy(~allowed[:width]).to(scores.device)
        return scores.masked_fill(mask, float("-inf"))


@lru_cache(maxsize=256)
def _grammar_of(schema_json: str, budget: int) -> tuple[str, int] | None:
    """A JSON Schema's grammar fitted to `budget` tokens and its closing reserve; None: no llguidance, or refused."""
    if importlib.util.find_spec("llguidance") is None:
        return None
    from pedagraph.llm.ct2 import json_grammar

    try:
        import llguidance

        grammar, reserve = json_grammar(json.loads(schema_json) if schema_json else None, budget)
        failed, _ = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
        return None if failed else (grammar, min(reserve, max(budget - 1, 0)))
    except Exception:  # noqa: BLE001 - an unsupported schema keyword: validate-and-repair serves
        return None


class TransformersChatModel(BaseChatModel):
    """A chat model run in this process (a model directory, a hub repo id or a GGUF file) on one of three engines.

    `engine` picks the runtime (`auto`: ONNX Runtime GenAI int8, else CTranslate2 int8, on the CPU when installed;
    else transformers); all share the prompt, stop, timeout, usage and structured-output behaviour. JSON replies
    are decoded under the schema's grammar (llguidance) unless `constrained` is off.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_ref: str
    """What was configured after `hf:` (or the bundled file for `tiny`)."""
    display_name: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    timeout: float = 60.0
    n_ctx: int = 4096
    device: str | None = None
    threads: int | None = None
    provider: str = "hf"
    engine: str = "auto"
    constrained: bool = True
    """Decode JSON replies under the schema's grammar (llguidance), so they are valid by construction."""

    _ref: ModelRef = PrivateAttr()

    def model_post_init(self, __context: Any) -> None:
        """Check the reference, the engine and the packages they need; the model itself loads on first use."""
        self._ref = resolve_ref(self.model_ref)
        resolve_engine(self.engine, self.device)
        check_dependencies(self._ref)
        if not self.display_name:
            self.display_name = self._ref.name

    @property
    def _llm_type(self) -> str:
        return self.provider

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": self.display_name,
            "source": self._ref.source,
            "gguf_file": self._ref.gguf_file,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }

    def loaded(self) -> Any:
        """Load the model with its engine (once per process) and return it (`Ct2Model` or `LoadedModel`)."""
        return load_model(self._ref, self.device, self.engine, self.threads)

    def bind_tools(
        self, tools: Any, *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Tools are not supported by in-process models."""
        raise ConfigError(
            f"{self.provider} model {self.display_name} does not call tools",
            hint="use structured_method json_schema (the default for hf: and tiny)",
        )

    # -- request ----------------------------------------------------------------------------------------------
    def _request(
        self, lm: Any, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> _Request:
        rf = kwargs.get("response_format") or {}
        wants_json = rf.get("type") in ("json_object", "json_schema")
        schema = (rf.get("json_schema") or {}).get("schema") if rf.get("type") == "json_schema" else None
        if isinstance(schema, dict):  # json_mode requests come with the model layer's own instructions
            name = (rf.get("json_schema") or {}).get("name", "response")
            instructions = render("llm/json_local_instructions", schema_name=name, skeleton=json_skeleton(schema))
            messages = [SystemMessage(content=instructions), *messages]
        limit = min(self.n_ctx, lm.context_length)
        wanted = int(kwargs.get("max_tokens") or self.max_tokens or DEFAULT_MAX_NEW_TOKENS)
        grammar, reserve = None, 0
        if wants_json and self.constrained:
            from pedagraph.llm.ct2 import structured_budget

            # a decision must close: its budget is raised for its schema, then its bounds are fitted to the budget
            wanted = structured_budget(schema, max(wanted, STRUCTURED_MIN_TOKENS))
            fitted = _grammar_of(json.dumps(schema) if isinstance(schema, dict) else "", wanted)
            grammar, reserve = fitted if fitted is not None else (None, 0)
        object_like = not isinstance(schema, dict) or schema.get("type") == "object" or "properties" in schema
        prefix = ('{"' if object_like else "") if wants_json and grammar is None else ""
        text = render_chat(lm.tokenizer, chat_messages(messages)) + prefix
        ids = [int(i) for i in lm.tokenizer(text, add_special_tokens=False)["input_ids"]]
        prompt_len = len(ids)
        if prompt_len >= limit:
            raise lc_exc.ContextOverflowError(
                f"the prompt has {prompt_len} tokens; the context is {limit} "
                f"(n_ctx {self.n_ctx}, model {lm.context_length})"
            )
        if grammar is not None and wanted > limit - prompt_len:  # the budget the bounds were fitted to is not there
            fitted = _grammar_of(json.dumps(schema) if isinstance(schema, dict) else "", limit - prompt_len)
            grammar, reserve = fitted if fitted is not None else (None, 0)
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is None and lm.engine == "transformers":
            if getattr(lm.model.generation_config, "do_sample", False):  # the model's own sampling settings
                temperature = getattr(lm.model.generation_config, "temperature", None) or 1.0
        sampling = Sampling(temperature, kwargs.get("top_p", self.top_p), kwargs.get("seed"))
        stops = [s for s in (stop or []) if s]
        budget = max(1, min(wanted, limit - prompt_len))
        return _Request(ids, budget, sampling, stops, prefix, wants_json, grammar, reserve)

    # -- transformers ------------------------------------------------------------------------------------------
    def _generate_kwargs(
        self, lm: LoadedModel, req: _Request, control: _Control, streamer: Any = None
    ) -> dict[str, Any]:
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        ids = torch.tensor([req.prompt_ids], device=lm.device)
        pad = lm.tokenizer.pad_token_id
        if pad is None:
            pad = next(iter(lm.eos_ids), None)
        if req.sampling.greedy:  # drop sampling values a model's generation config may carry
            sampling: dict[str, Any] = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        else:
            sampling = {"do_sample": True, "temperature": float(req.sampling.temperature or 1.0)}
            if req.sampling.top_p is not None:
                sampling["top_p"] = float(req.sampling.top_p)
        out: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": ids.new_ones(ids.shape),
            "max_new_tokens": req.max_new_tokens,
            "stopping_criteria": StoppingCriteriaList([control]),
            "eos_token_id": sorted(lm.eos_ids) or None,
            "pad_token_id": pad,
            **sampling,
        }
        if req.grammar is not None:
            mask = _GrammarMask(lm, req.grammar, len(req.prompt_ids), req.max_new_tokens - req.reserve)
            out["logits_processor"] = LogitsProcessorList([mask])
        if streamer is not None:
            out["streamer"] = streamer
        return out

    def _run(self, lm: LoadedModel, gen_kwargs: dict[str, Any], seed: int | None, control: _Control) -> Any:
        """Call `generate` holding the model's lock, with this model's thread count and seed.

        The timeout counts from the moment this call holds the model, not while it waits for another role's call.
        """
        import torch

        with lm.lock:
            pinned = bool(self.threads) and lm.device == "cpu"
            if pinned:
                default = _process_threads()
                torch.set_num_threads(int(self.threads or 1))
            try:
                if seed is not None:
                    torch.manual_seed(int(seed))
                control.start(self.timeout)
                with torch.inference_mode():
                    return lm.model.generate(**gen_kwargs)
            finally:
                if pinned:
                    torch.set_num_threads(default)

    def _transformers_generate(
        self, lm: LoadedModel, req: _Request, control: _Control, logprobs: bool, top: int
    ) -> Any:
        gen = self._generate_kwargs(lm, req, control)
        if logprobs:  # the raw next-token logits of every generated position, as OpenAI's `logprobs`
            gen.update(output_logits=True, return_dict_in_generate=True)
        output = self._run(lm, gen, req.sampling.seed, control)
        sequences = output.sequences if logprobs else output
        new = [int(i) for i in sequences[0][len(req.prompt_ids) :].tolist()]
        rows = None
        if logprobs:
            import torch

            rows = [torch.log_softmax(step[0].float(), dim=-1).numpy() for step in output.logits]
        return new, rows

    # -- ONNX Runtime GenAI and CTranslate2 ------------------------------------------------------------------
    def _native_generate(self, lm: Any, req: _Request, control: _Control, logprobs: bool) -> Any:
        with lm.lock:
            control.start(self.timeout)
            if req.grammar is not None:
                new, reason = lm.constrained(
                    req.prompt_ids, req.max_new_tokens, req.sampling, req.grammar, control.deadline, req.reserve
                )
                control.reason = "timeout" if reason == "timeout" else control.reason
                return new, None
            if logprobs:
                return lm.logprobs(req.prompt_ids, req.max_new_tokens, req.sampling, control.check)
            new: list[int] = []
            for token in lm.tokens(req.prompt_ids, req.max_new_tokens, req.sampling):
                new.append(token)
                if control.check(new):
                    break
            return new, None

    # -- both ------------------------------------------------------------------------------------------------
    def _finish(self, lm: Any, req: _Request, control: _Control, new: list[int]) -> tuple[str, dict[str, Any]]:
        """Decode the new tokens; cut at a stop string or the JSON object's end; usage and finish reason."""
        text = req.prefix + lm.tokenizer.decode(new, skip_special_tokens=True)
        text, stopped = cut_at_stop(text, req.stops)
        if req.json:
            end = json_object_end(text)
            if end >= 0:
                text = text[:end]
        n_out = len(new)
        if control.reason == "timeout":
            raise lc_exc.ModelTimeoutError(f"generation stopped at the {self.timeout:g} s timeout after {n_out} tokens")
        if stopped or control.reason in ("stop", "json_end"):
            reason = "stop"
        elif n_out and new[-1] in lm.eos_ids:
            reason = "stop"
        elif n_out >= req.max_new_tokens:
            reason = "length"
        else:
            reason = control.reason or "stop"
        n_in = len(req.prompt_ids)
        if control.started is not None:
            since = [None if t is None else t - control.started for t in (control.first_token, control.last_token)]
            record_engine_call(lm.engine, n_in, n_out, time.monotonic() - control.started, *since)
        usage = {"input_tokens": n_in, "output_tokens": n_out, "total_tokens": n_in + n_out}
        return text, {"usage": usage, "finish_reason": reason}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        lm = self.loaded()
        req = self._request(lm, messages, stop, kwargs)
        control = _Control(lm.tokenizer, len(req.prompt_ids), req)
        wants_logprobs = bool(kwargs.get("logprobs")) and req.grammar is None
        top = int(kwargs.get("top_logprobs") or 0)
        if lm.engine != "transformers":
            new, rows = self._native_generate(lm, req, control, wants_logprobs)
        else:
            new, rows = self._transformers_generate(lm, req, control, wants_logprobs, top)
        text, info = self._finish(lm, req, control, new)
        metadata: dict[str, Any] = {"model_name": self.display_name, "finish_reason": info["finish_reason"]}
        if wants_logprobs and rows is not None:
            metadata["logprobs"] = token_logprobs(lm.tokenizer, new, rows, top)
        message = AIMessage(content=text, usage_metadata=info["usage"], response_metadata=metadata)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _pieces(self, lm: Any, req: _Request, control: _Control, outcome: dict[str, Any]) -> Iterator[str]:
        """Text pieces as they are generated (the new token ids end up in `outcome["new"]`)."""
        if lm.engine != "transformers":
            new: list[int] = outcome.setdefault("new", [])
            shown = ""
            with lm.lock:
                control.start(self.timeout)
                for token in lm.tokens(req.prompt_ids, req.max_new_tokens, req.sampling):
                    new.append(token)
                    text = lm.tokenizer.decode(new, skip_special_tokens=True)
                    if not text.endswith("\ufffd") and len(text) > len(shown):  # whole characters only
                        piece, shown = text[len(shown) :], text
                        yield piece
                    if control.check(new):
                        break
            return
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(lm.tokenizer, skip_prompt=True, skip_special_tokens=True)
        gen = self._generate_kwargs(lm, req, control, streamer)

        def work() -> None:
            try:
                sequences = self._run(lm, gen, req.sampling.seed, control)
                outcome["new"] = [int(i) for i in sequences[0][len(req.prompt_ids) :].tolist()]
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                outcome["error"] = exc
            finally:
                streamer.end()

        worker = threading.Thread(target=work, name="pedagraph-hf-generate", daemon=True)
        worker.start()
        try:
            yield from streamer
        finally:
            control.cancel.set()  # the consumer stopped early: end the generation thread at its next token
            worker.join()
        if "error" in outcome:
            raise outcome["error"]

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if (kwargs.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
            yield as_chunk(self._generate(messages, stop, **kwargs))  # a JSON reply is used whole
            return
        lm = self.loaded()
        req = self._request(lm, messages, stop, kwargs)
        control = _Control(lm.tokenizer, len(req.prompt_ids), req)
        outcome: dict[str, Any] = {}
        buffer = StopBuffer(req.stops)
        pieces = self._pieces(lm, req, control, outcome)
        try:
            for piece in pieces:
                text = buffer.feed(piece)
                if text:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk
                if buffer.stopped:
                    control.cancel.set()
                    break
        finally:
            pieces.close()
        tail = buffer.flush()
        if tail:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=tail))
            if run_manager:
                run_manager.on_llm_new_token(tail, chunk=chunk)
            yield chunk
        if buffer.stopped and control.reason == "cancelled":
            control.reason = "stop"
        _, info = self._finish(lm, req, control, outcome.get("new", []))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=info["usage"],
                response_metadata={"model_name": self.display_name, "finish_reason": info["finish_reason"]},
            )
        )


def token_logprobs(tokenizer: Any, new_ids: list[int], rows: list[Any], top: int) -> dict[str, Any]:
    """OpenAI-style `logprobs` of generated tokens from each step's log-probability row (numpy): token and top-k."""
    import numpy as np

    content: list[dict[str, Any]] = []
    for token_id, row in zip(new_ids, rows, strict=False):
        entry: dict[str, Any] = {"token": tokenizer.decode([token_id]), "logprob": float(row[token_id]), "bytes": None,
                                 "top_logprobs": []}  # fmt: skip
        if top > 0:
            best = np.argsort(row)[::-1][: min(top, int(row.shape[-1]))]
            entry["top_logprobs"] = [{"token": tokenizer.decode([int(i)]), "logprob": float(row[i]), "bytes": None}
                                     for i in best]  # fmt: skip
        content.append(entry)
    return {"content": content, "refusal": None}
