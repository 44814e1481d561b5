"""In-process chat models through transformers: `hf:<model dir | repo id | file.gguf>` and the bundled `tiny`.

One load per process and model, shared by every role that names it (`load_transformers`). Generation takes the
model's chat template, sampling settings (greedy unless a temperature > 0 is set or the model's generation config
samples), stop strings, a wall-clock timeout (a `StoppingCriteria`: generation stops at `timeout` seconds and
the call fails with a timeout error, never retried), token counts from the tokenizer, streaming through
`TextIteratorStreamer` in a thread, and async through the executor (LangChain's default). Structured output goes
through the model layer's JSON path (validation, one repair, then `StructuredOutputError`); for `json_schema`
requests (the default here) this backend shows the model a compact form of the schema (`json_skeleton`), opens
its answer with `{"` and stops where the JSON object closes; there is no constrained decoding. No tool calling.
CPU by default, CUDA when present.

Why not `langchain-huggingface`: its `ChatHuggingFace` over `HuggingFacePipeline` (1.2.3) has no async
(`NotImplementedError`), reports no token usage, ignores stop strings outside streaming (and maps them to single
token ids when streaming), has no timeout, and re-tokenises the templated prompt through a pipeline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
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
from pedagraph.llm.managed import as_chunk
from pedagraph.prompts import render

DEFAULT_MAX_NEW_TOKENS = 512
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


_LOADED: dict[tuple[str, str | None, str], LoadedModel] = {}
_LOAD_LOCK = threading.Lock()
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


def loaded_models() -> list[LoadedModel]:
    """The transformers models loaded in this process."""
    with _LOAD_LOCK:
        return list(_LOADED.values())


def load_transformers(ref: ModelRef, device: str | None = None) -> LoadedModel:
    """Load a model and its tokenizer once per process (keyed by source, file and device)."""
    check_dependencies(ref)
    device = device or default_device()
    key = (ref.source, ref.gguf_file, device)
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load(ref, device)
        return _LOADED[key]


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
    prompt_ids: Any
    max_new_tokens: int
    sampling: dict[str, Any]
    stops: list[str]
    prefix: str
    json: bool
    seed: int | None


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

    def start(self, timeout: float) -> None:
        """Start the wall clock: generation stops `timeout` seconds from now."""
        self.deadline = time.monotonic() + timeout

    def _decode(self, ids: Any) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        done = self._done(input_ids[0])
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    def _done(self, seq: Any) -> bool:
        if self.cancel.is_set():
            self.reason = self.reason or "cancelled"
            return True
        if time.monotonic() >= self.deadline:
            self.reason = "timeout"
            return True
        new = seq[self.prompt_len :]
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


class TransformersChatModel(BaseChatModel):
    """A chat model run in this process by transformers (a model directory, a hub repo id or a GGUF file)."""

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

    _ref: ModelRef = PrivateAttr()

    def model_post_init(self, __context: Any) -> None:
        """Check the reference and the packages it needs; the model itself loads on first use."""
        self._ref = resolve_ref(self.model_ref)
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

    def loaded(self) -> LoadedModel:
        """Load the model (once per process) and return it."""
        return load_transformers(self._ref, self.device)

    def bind_tools(
        self, tools: Any, *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Tools are not supported by in-process transformers models."""
        raise ConfigError(
            f"{self.provider} model {self.display_name} does not call tools",
            hint="use structured_method json_mode (the default for hf: and tiny)",
        )

    # -- request ----------------------------------------------------------------------------------------------
    def _request(
        self, lm: LoadedModel, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> _Request:
        rf = kwargs.get("response_format") or {}
        wants_json = rf.get("type") in ("json_object", "json_schema")
        schema = (rf.get("json_schema") or {}).get("schema") if rf.get("type") == "json_schema" else None
        if isinstance(schema, dict):  # json_mode requests come with the model layer's own instructions
            name = (rf.get("json_schema") or {}).get("name", "response")
            instructions = render("llm/json_local_instructions", schema_name=name, skeleton=json_skeleton(schema))
            messages = [SystemMessage(content=instructions), *messages]
        object_like = not isinstance(schema, dict) or schema.get("type") == "object" or "properties" in schema
        prefix = ('{"' if object_like else "") if wants_json else ""
        text = render_chat(lm.tokenizer, chat_messages(messages)) + prefix
        ids = lm.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        limit = min(self.n_ctx, lm.context_length)
        prompt_len = int(ids.shape[1])
        if prompt_len >= limit:
            raise lc_exc.ContextOverflowError(
                f"the prompt has {prompt_len} tokens; the context is {limit} "
                f"(n_ctx {self.n_ctx}, model {lm.context_length})"
            )
        wanted = int(kwargs.get("max_tokens") or self.max_tokens or DEFAULT_MAX_NEW_TOKENS)
        temperature = kwargs.get("temperature", self.temperature)
        top_p = kwargs.get("top_p", self.top_p)
        sampling: dict[str, Any]
        if temperature is None:
            sampling = {"do_sample": bool(getattr(lm.model.generation_config, "do_sample", False))}
        elif temperature <= 0:
            sampling = {"do_sample": False}
        else:
            sampling = {"do_sample": True, "temperature": float(temperature)}
        if sampling["do_sample"] and top_p is not None:
            sampling["top_p"] = float(top_p)
        if not sampling["do_sample"]:  # greedy: drop sampling values a model's generation config may carry
            sampling.update(temperature=None, top_p=None, top_k=None)
        stops = [s for s in (stop or []) if s]
        seed = kwargs.get("seed")
        return _Request(ids, max(1, min(wanted, limit - prompt_len)), sampling, stops, prefix, wants_json, seed)

    def _generate_kwargs(
        self, lm: LoadedModel, req: _Request, control: _Control, streamer: Any = None
    ) -> dict[str, Any]:
        from transformers import StoppingCriteriaList

        ids = req.prompt_ids.to(lm.device)
        pad = lm.tokenizer.pad_token_id
        if pad is None:
            pad = next(iter(lm.eos_ids), None)
        out: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": ids.new_ones(ids.shape),
            "max_new_tokens": req.max_new_tokens,
            "stopping_criteria": StoppingCriteriaList([control]),
            "eos_token_id": sorted(lm.eos_ids) or None,
            "pad_token_id": pad,
            **req.sampling,
        }
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

    def _finish(self, lm: LoadedModel, req: _Request, control: _Control, sequences: Any) -> tuple[str, dict[str, Any]]:
        """Decode the new tokens; cut at a stop string or the JSON object's end; usage and finish reason."""
        new = sequences[0][req.prompt_ids.shape[1] :]
        text = req.prefix + lm.tokenizer.decode(new, skip_special_tokens=True)
        text, stopped = cut_at_stop(text, req.stops)
        if req.json:
            end = json_object_end(text)
            if end >= 0:
                text = text[:end]
        n_out = int(new.shape[0])
        if control.reason == "timeout":
            raise lc_exc.ModelTimeoutError(f"generation stopped at the {self.timeout:g} s timeout after {n_out} tokens")
        if stopped or control.reason in ("stop", "json_end"):
            reason = "stop"
        elif n_out and int(new[-1]) in lm.eos_ids:
            reason = "stop"
        elif n_out >= req.max_new_tokens:
            reason = "length"
        else:
            reason = control.reason or "stop"
        usage = {
            "input_tokens": int(req.prompt_ids.shape[1]),
            "output_tokens": n_out,
            "total_tokens": int(req.prompt_ids.shape[1]) + n_out,
        }
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
        control = _Control(lm.tokenizer, int(req.prompt_ids.shape[1]), req)
        gen = self._generate_kwargs(lm, req, control)
        wants_logprobs = bool(kwargs.get("logprobs"))
        if wants_logprobs:  # the raw next-token logits of every generated position, as OpenAI's `logprobs`
            gen.update(output_logits=True, return_dict_in_generate=True)
        output = self._run(lm, gen, req.seed, control)
        sequences = output.sequences if wants_logprobs else output
        text, info = self._finish(lm, req, control, sequences)
        metadata: dict[str, Any] = {"model_name": self.display_name, "finish_reason": info["finish_reason"]}
        if wants_logprobs:
            new_ids = sequences[0][req.prompt_ids.shape[1] :]
            top = int(kwargs.get("top_logprobs") or 0)
            metadata["logprobs"] = token_logprobs(lm.tokenizer, new_ids, output.logits, top)
        message = AIMessage(content=text, usage_metadata=info["usage"], response_metadata=metadata)
        return ChatResult(generations=[ChatGeneration(message=message)])

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
        from transformers import TextIteratorStreamer

        lm = self.loaded()
        req = self._request(lm, messages, stop, kwargs)
        control = _Control(lm.tokenizer, int(req.prompt_ids.shape[1]), req)
        streamer = TextIteratorStreamer(lm.tokenizer, skip_prompt=True, skip_special_tokens=True)
        gen = self._generate_kwargs(lm, req, control, streamer)
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["sequences"] = self._run(lm, gen, req.seed, control)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                outcome["error"] = exc
            finally:
                streamer.end()

        worker = threading.Thread(target=work, name="pedagraph-hf-generate", daemon=True)
        worker.start()
        buffer = StopBuffer(req.stops)
        try:
            for piece in streamer:
                text = buffer.feed(piece)
                if text:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk
                if buffer.stopped:
                    control.cancel.set()
                    break
            tail = buffer.flush()
            worker.join()
            if "error" in outcome:
                raise outcome["error"]
            if tail:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=tail))
                if run_manager:
                    run_manager.on_llm_new_token(tail, chunk=chunk)
                yield chunk
            if buffer.stopped and control.reason == "cancelled":
                control.reason = "stop"
            _, info = self._finish(lm, req, control, outcome["sequences"])
        finally:
            control.cancel.set()  # the consumer stopped early: end the generation thread at its next token
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=info["usage"],
                response_metadata={"model_name": self.display_name, "finish_reason": info["finish_reason"]},
            )
        )


def token_logprobs(tokenizer: Any, new_ids: Any, logits: Any, top: int) -> dict[str, Any]:
    """OpenAI-style `logprobs` of generated tokens: each token's log-probability and the `top` most likely ones."""
    import torch

    content: list[dict[str, Any]] = []
    for position, token_id in enumerate(new_ids.tolist()[: len(logits)]):
        lp = torch.log_softmax(logits[position][0].float(), dim=-1)
        entry: dict[str, Any] = {"token": tokenizer.decode([token_id]), "logprob": float(lp[token_id]), "bytes": None,
                                 "top_logprobs": []}  # fmt: skip
        if top > 0:
            values, ids = torch.topk(lp, min(top, int(lp.shape[-1])))
            entry["top_logprobs"] = [{"token": tokenizer.decode([int(i)]), "logprob": float(v), "bytes": None}
                                     for v, i in zip(values.tolist(), ids.tolist(), strict=True)]  # fmt: skip
        content.append(entry)
    return {"content": content, "refusal": None}
