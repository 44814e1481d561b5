"""The shared eval runner: suites, concurrent items, resumable results.jsonl, summary, report and plots.

A suite (`evals/suites/<name>.py`) loads items from a data file, runs one item at a time as a coroutine and
turns the ok results into metrics, a markdown body and plots. `run_suite` does everything else: it runs items
concurrently up to `concurrency` (the model layer's per-backend limits still apply), appends one line per
finished item to `results.jsonl` (flushed and fsynced, from one writer), resumes a killed run by skipping the
items that already have a line, records the full configuration in `run.json`, and writes `summary.json`,
`report.md` and the suite's PNG plots. Where the items run is the backend: `local` (coroutines in this process)
or `ray` (`evals/ray_backend.py`: Ray worker processes run `execute_item` and return the rows; this process still
writes every line, so resume and no-duplicate hold on both).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import json
import math
import os
import platform
import random
import re
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pedagraph.errors import DataError, PedagraphError
from pedagraph.redact import redact
from pedagraph.tracing import traced

if TYPE_CHECKING:
    from pedagraph.llm import ManagedChatModel

__all__ = [
    "DATA_DIR_ENV",
    "SUITES",
    "Item",
    "ItemContext",
    "RunConfig",
    "RunResult",
    "Suite",
    "data_root",
    "get_suite",
    "load_suites",
    "read_results",
    "register_suite",
    "resolve_data_path",
    "run_suite",
    "run_suite_sync",
]

DATA_DIR_ENV = "PEDAGRAPH_DATA_DIR"
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"
RUN_FILE = "run.json"
CACHE_FILE = "cache.sqlite"
BACKENDS = ("local", "ray")
_REPO = Path(__file__).resolve().parents[1]

_SUITE_MODULES = (
    "solve", "judge", "tutoring", "tom", "lesson", "copilot", "coach", "distill", "bridge", "outcomes",
)


# ----------------------------------------------------------------------------------------------------------
# The suite interface
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One input of a suite: a stable id and JSON-serialisable data."""

    id: str
    data: dict[str, Any]


class ItemContext:
    """What a suite gets while running one item: its seed, the suite options and the run's models."""

    def __init__(
        self,
        item_seed: int,
        options: dict[str, Any],
        model_overrides: dict[str, dict[str, Any]] | None = None,
        config_path: str | None = None,
        *,
        models: dict[str, ManagedChatModel] | None = None,
        out_dir: Path | None = None,
    ) -> None:
        self.item_seed = item_seed
        self.options = options
        self.out_dir = out_dir
        """The run's output directory (None outside a run), e.g. for a suite's own stores."""
        self._overrides = model_overrides or {}
        self._config_path = config_path
        self._models = models if models is not None else {}  # shared by the items of one run
        self._rng: random.Random | None = None

    def model(self, role: str) -> ManagedChatModel:
        """Return `get_model(role)` with the run's per-role overrides applied."""
        model = self._models.get(role)
        if model is None:
            from pedagraph.llm import get_model

            model = self._models[role] = get_model(
                role, config_path=self._config_path, **self._overrides.get(role, {})
            )
        return model

    @property
    def rng(self) -> random.Random:
        """A random generator seeded with this item's seed."""
        if self._rng is None:
            self._rng = random.Random(self.item_seed)  # noqa: S311 - reproducible sampling, not security
        return self._rng


class Suite(ABC):
    """An evaluation suite: items from a data file, one coroutine per item, metrics, a report and plots."""

    name: ClassVar[str]
    description: ClassVar[str]
    roles: ClassVar[tuple[str, ...]]
    default_data: ClassVar[str]

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = dict(options)

    @abstractmethod
    def load_items(self, path: Path) -> list[Item]:
        """Read the items of a data file (DataError with a clear message on a bad file)."""

    @abstractmethod
    async def run_item(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        """Run one item and return its JSON result; raising records the item as an error."""

    @abstractmethod
    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """Metrics of the ok items' results: metric name -> Metric.to_dict()."""

    def report(self, summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
        """Markdown body the suite adds to report.md."""
        return ""

    def plots(self, summary: dict[str, Any], results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
        """Write PNG plots into `out_dir` and return their paths."""
        return []


SUITES: dict[str, type[Suite]] = {}


def register_suite(cls: type[Suite]) -> type[Suite]:
    """Class decorator: make a suite available to `pedagraph eval` under its `name`."""
    SUITES[cls.name] = cls
    return cls


def load_suites() -> dict[str, type[Suite]]:
    """Import the bundled suite modules that exist and return the registry."""
    for name in _SUITE_MODULES:
        module = f"pedagraph.evals.suites.{name}"
        try:
            importlib.import_module(module)
        except ImportError as exc:
            if exc.name != module:
                raise
    return SUITES


def get_suite(name: str) -> type[Suite]:
    """Return the suite class called `name` (a one-line error listing the suites otherwise)."""
    suites = load_suites()
    if name not in suites:
        raise PedagraphError(f"unknown suite {name!r}", hint=f"available: {', '.join(sorted(suites)) or 'none'}")
    return suites[name]


# ----------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------


def data_root() -> Path | None:
    """The local copy of the datasets configured with $PEDAGRAPH_DATA_DIR, or None."""
    from pedagraph.datasets import local_copy

    return local_copy()


def resolve_data_path(suite: type[Suite] | Suite, data: str | os.PathLike[str] | None) -> Path:
    """The data file of a run: `data` (a path, a dataset file key or name) or the suite's default, via the registry.

    A default or a key is looked up in the local copy ($PEDAGRAPH_DATA_DIR), then in $PEDAGRAPH_HOME/data; when
    it is in neither, the error names the `pedagraph data fetch` command that gets it.
    """
    from pedagraph import datasets

    if data is None:
        return datasets.require(suite.default_data, suite=suite.name).path.resolve()
    path = Path(data).expanduser()
    if not path.exists() and not path.is_absolute():
        located = datasets.resolve_name(str(data))
        if located is not None:
            path = located.path
        elif datasets.find_file(str(data)) is not None:
            datasets.require(str(data))  # raises: names the fetch command
    if not path.exists():
        raise DataError(
            f"data file not found: {path}",
            hint="pass a path, or a dataset file such as gsm8k/test.jsonl (`pedagraph data list`)",
        )
    if not path.is_file():
        raise DataError(f"data path is not a file: {path}")
    return path.resolve()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def item_seed(seed: int, item_id: str) -> int:
    """A per-item seed derived from the run seed and the item id (stable across runs and machines)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{item_id}".encode()).digest()[:8], "big")


# ----------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------


@dataclass
class RunConfig:
    """Everything a run depends on. `models` maps a role to `get_model` overrides (model, temperature, ...)."""

    out_dir: Path
    data_path: Path
    limit: int | None = None
    seed: int = 0
    concurrency: int = 8
    options: dict[str, Any] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    cache: bool = True
    cache_path: Path | None = None
    retry_errors: bool = False
    force_new: bool = False
    config_path: str | None = None
    backend: str = "local"
    """`local` (items as coroutines in this process) or `ray` (items on Ray workers; see `evals/ray_backend.py`)."""
    ray_address: str | None = None
    """Ray cluster to join (`ray://host:10001`, `auto`); None starts a local Ray for the run."""
    ray_cpus: float = 1.0
    """CPUs per Ray worker process; the run uses cluster CPUs / this many workers (each runs several items)."""

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        self.data_path = Path(self.data_path)
        if self.backend not in BACKENDS:
            raise PedagraphError(f"unknown --backend {self.backend!r}", hint=f"one of: {', '.join(BACKENDS)}")
        if not self.ray_cpus > 0:
            raise PedagraphError(f"--ray-cpus must be positive, got {self.ray_cpus}")
        if self.concurrency < 1:
            raise PedagraphError(f"--concurrency must be at least 1, got {self.concurrency}")
        if self.limit is not None and self.limit < 0:
            raise PedagraphError(f"--limit must not be negative, got {self.limit}")

    @property
    def effective_cache_path(self) -> Path | None:
        """The response cache file in use (None when the cache is off)."""
        if not self.cache:
            return None
        return Path(self.cache_path) if self.cache_path else self.out_dir / CACHE_FILE


@dataclass
class RunResult:
    """What a run did and where it wrote it."""

    out_dir: Path
    summary: dict[str, Any]
    items: int
    ok: int
    errors: int
    skipped: int
    ran: int
    interrupted: bool
    wall_time_s: float
    plots: list[Path] = field(default_factory=list)
    items_time_s: float = 0.0  # from the first item started to the last line written

    @property
    def results_path(self) -> Path:
        """results.jsonl of the run."""
        return self.out_dir / RESULTS_FILE

    @property
    def summary_path(self) -> Path:
        """summary.json of the run."""
        return self.out_dir / SUMMARY_FILE

    @property
    def report_path(self) -> Path:
        """report.md of the run."""
        return self.out_dir / REPORT_FILE

    def shared_data_error(self) -> str | None:
        """The data error every item of a finished run ended in, when it is one and the same; else None."""
        if self.interrupted or self.ok or not self.errors or self.errors != self.items:
            return None
        rows = read_results(self.results_path).values()
        errors = {(r.get("error_type"), r.get("error")) for r in rows if r.get("status") == "error"}
        if len(errors) != 1:
            return None
        kind, text = errors.pop()
        return str(text) if kind == "DataError" else None

    @property
    def missing(self) -> int:
        """Items without a line yet (non-zero only after an interrupted run)."""
        return self.items - self.ok - self.errors


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=_REPO, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", sha) else None


def describe_models(roles: Iterable[str], config: RunConfig) -> dict[str, dict[str, Any]]:
    """Per role: model spec, provider, base URL, temperature and max tokens as the run resolves them (no keys)."""
    from langchain_core.language_models import BaseChatModel

    from pedagraph.llm import describe_model
    from pedagraph.settings import load_settings

    out: dict[str, dict[str, Any]] = {}
    for role in roles:
        overrides = dict(config.models.get(role, {}))
        instance = overrides.pop("model", None) if isinstance(overrides.get("model"), BaseChatModel) else None
        spec = load_settings(config.config_path, **overrides).model_for(role)
        if instance is not None:
            provider = str(getattr(instance, "_llm_type", "custom"))
            out[role] = {
                "model": f"{provider}:{type(instance).__name__}",
                "provider": provider,
                "base_url": None,
                "temperature": getattr(instance, "temperature", None),
                "max_tokens": getattr(instance, "max_tokens", None),
                "scripted": provider == "scripted",
                "backend_concurrency": spec.concurrency,
            }
            continue
        info = describe_model(role, config_path=config.config_path, **overrides)
        out[role] = {
            "model": info.model,
            "provider": info.provider,
            "base_url": info.base_url,
            "temperature": spec.temperature,
            "max_tokens": spec.max_tokens,
            "scripted": info.is_scripted,
            "backend_concurrency": spec.concurrency,
        }
    return out


def _final(row: dict[str, Any]) -> bool:
    """True for a result `--retry-errors` keeps: ok, and not marked `retryable` by its suite (a failed student)."""
    result = row.get("result")
    return row.get("status") == "ok" and not (isinstance(result, dict) and result.get("retryable"))


def _retry_reason(row: dict[str, Any]) -> str:
    """Why a scored result is to run again (its suite's `retry_reason`, e.g. the student's model failed)."""
    result = row.get("result") if isinstance(row.get("result"), dict) else {}
    return str(result.get("retry_reason") or "marked to run again by the suite")


def build_run_record(suite: Suite, config: RunConfig, data_sha: str, n_items: int) -> dict[str, Any]:
    """The run.json record: everything needed to know what produced the results."""
    source = _data_source(config, data_sha)
    return {
        "suite": suite.name,
        "data": {
            "path": str(config.data_path),
            "sha256": data_sha,
            "items": n_items,
            "source": source,
            "sample": source.get("origin") == "sample",
        },
        "limit": config.limit,
        "seed": config.seed,
        "concurrency": config.concurrency,
        "backend": config.backend,
        "options": config.options,
        "models": describe_models(suite.roles, config),
        "cache": str(config.effective_cache_path) if config.cache else None,
        "versions": {
            "pedagraph": _version("pedagraph"),
            "langgraph": _version("langgraph"),
            "langchain": _version("langchain"),
            "langchain-core": _version("langchain-core"),
            "langchain-openai": _version("langchain-openai"),
            "python": platform.python_version(),
        },
        "git_sha": _git_sha(),
        "started_at": _now(),
    }


def _data_source(config: RunConfig, data_sha: str) -> dict[str, Any]:
    from pedagraph.datasets import describe

    try:
        return describe(config.data_path, data_sha)
    except PedagraphError as exc:  # e.g. an unreadable config file: the run still records its data hash
        return {"origin": "unknown", "error": exc.one_line()}


def fingerprint(record: dict[str, Any]) -> dict[str, Any]:
    """The part of a run record that determines results: suite, data hash, models, options, seed."""
    return {
        "suite": record.get("suite"),
        "data_sha256": (record.get("data") or {}).get("sha256"),
        "models": {
            role: {k: m.get(k) for k in ("model", "temperature", "max_tokens")}
            for role, m in (record.get("models") or {}).items()
        },
        "options": record.get("options") or {},
        "seed": record.get("seed"),
    }


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    def shown(value: Any) -> str:
        text = json.dumps(value, default=str, sort_keys=True)
        return text[:13] + '…"' if re.fullmatch(r'"[0-9a-f]{64}"', text) else text

    return [f"{key} {shown(old.get(key))} -> {shown(new.get(key))}" for key in new if old.get(key) != new.get(key)]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------------------------------------
# results.jsonl
# ----------------------------------------------------------------------------------------------------------


def read_results(path: Path, *, repair: bool = False) -> dict[str, dict[str, Any]]:
    """Read results.jsonl into item id -> line; a truncated last line (a killed writer) is dropped.

    With `repair`, the file is cut back to its last complete line. A bad line anywhere else is a DataError.
    """
    if not path.exists():
        return {}
    raw = path.read_bytes()
    good_end = raw.rfind(b"\n") + 1  # whatever follows the last newline is a line cut short
    lines = raw[:good_end].split(b"\n")[:-1]
    out: dict[str, dict[str, Any]] = {}
    offset = 0
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or "item_id" not in row:
                    raise ValueError("not a result object")
            except ValueError as exc:
                if number == len(lines):
                    good_end = offset  # a damaged last line is dropped too: its item runs again
                    break
                raise DataError(f"{path}: line {number} is not a result ({exc})", hint="fix or remove it") from None
            out[str(row["item_id"])] = row
        offset += len(line) + 1
    if repair and good_end != len(raw):
        with path.open("r+b") as fh:
            fh.truncate(good_end)
            fh.flush()
            os.fsync(fh.fileno())
    return out


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _json_line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, default=str, allow_nan=False) + "\n"


class _Writer:
    """The one writer of results.jsonl: appends queued lines in batches, each batch flushed and fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.written = 0

    def _write(self, lines: list[str]) -> None:
        data = "".join(lines).encode("utf-8")
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        os.fsync(self._fd)

    async def run(self) -> None:
        done = False
        while not done:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            lines = [line for line in batch if line is not None]
            done = len(lines) != len(batch)
            if lines:
                await asyncio.to_thread(self._write, lines)
                self.written += len(lines)

    def close(self) -> None:
        os.close(self._fd)


# ----------------------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------------------


def error_line(exc: BaseException) -> str:
    """One redacted line describing why an item failed."""
    if isinstance(exc, PedagraphError):
        text = exc.one_line()
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(redact(text).split())
    return text[:500] or type(exc).__name__


def error_reason(row: dict[str, Any]) -> str:
    """A short reason for the error histogram: the error type and its message with numbers and URLs blurred."""
    text = row.get("error") or "unknown error"
    text = re.sub(r"https?://\S+", "URL", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    kind = row.get("error_type") or ""
    return (f"{kind}: " if kind and not text.startswith(kind) else "") + text[:160]


def _usage_of(tracker: Any) -> dict[str, dict[str, Any]]:
    from dataclasses import asdict

    return {
        role: {**asdict(u), "seconds": round(u.seconds, 4), "total_tokens": u.total_tokens}
        for role, u in sorted(tracker.by_role().items())
    }


def _fallbacks_of(tracker: Any) -> dict[str, int]:
    """Structured calls per node whose caller used its deterministic fallback (failed or unanswered)."""
    out: dict[str, int] = {}
    for row in tracker.structured_rows():
        if row["fallback"]:
            out[row["node"]] = out.get(row["node"], 0) + row["fallback"]
    return out


def decisions_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Who made the pedagogical decisions over a run's rows: per kind and in total, with the share made by rules."""
    per_kind: dict[str, dict[str, int]] = {}
    fallbacks: dict[str, int] = {}
    for r in rows:
        for kind, counts in (r.get("decisions") or {}).items():
            agg = per_kind.setdefault(kind, {"model": 0, "rules": 0, "replaced": 0})
            for by, n in counts.items():
                agg[by] = agg.get(by, 0) + int(n)
        for node, n in (r.get("fallbacks") or {}).items():
            fallbacks[node] = fallbacks.get(node, 0) + int(n)
    total = {by: sum(c.get(by, 0) for c in per_kind.values()) for by in ("model", "rules", "replaced")}
    count = sum(total.values())
    share = round((total["rules"] + total["replaced"]) / count, 4) if count else None
    return {"per_kind": dict(sorted(per_kind.items())), "total": total, "rules_share": share,
            "fallbacks_per_node": dict(sorted(fallbacks.items()))}  # fmt: skip


def _progress(total: int, done: int, suite: str, enabled: bool) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.speed
            return Text(f"{speed:.1f} it/s" if speed else "- it/s")

    progress = Progress(
        TextColumn(f"[bold]{suite}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )
    task = progress.add_task(suite, total=total, completed=done, status="")
    return progress, task


@contextlib.contextmanager
def _exclusive(out: Path) -> Any:
    """Hold an exclusive lock on OUT for the run (two runs appending to one results.jsonl would duplicate work)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with (out / ".lock").open("a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise PedagraphError(
                f"another `pedagraph eval` is writing to {out}", hint="wait for it to finish, or use another --out"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


async def run_suite(suite: Suite, config: RunConfig, *, progress: bool = True) -> RunResult:
    """Run `suite` over the config's data into `config.out_dir`, resuming what an earlier run left."""
    t0 = time.perf_counter()
    out = config.out_dir
    if out.exists() and not out.is_dir():
        raise PedagraphError(f"--out {out} is a file, not a directory", hint="pass a directory path")
    items_all = suite.load_items(config.data_path)
    _check_ids(items_all, config.data_path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PedagraphError(f"cannot create --out {out}: {exc.strerror or exc}") from None
    with _exclusive(out):
        return await _run_locked(suite, config, items_all, t0, progress)


async def _run_locked(
    suite: Suite, config: RunConfig, items_all: list[Item], t0: float, progress: bool
) -> RunResult:
    from pedagraph.llm.cache import use_response_cache

    out = config.out_dir
    items = items_all if config.limit is None else items_all[: config.limit]
    data_sha = file_sha256(config.data_path)
    record = build_run_record(suite, config, data_sha, len(items_all))
    results_path = out / RESULTS_FILE
    run_path = out / RUN_FILE

    history: list[str] = []
    if run_path.exists() or results_path.exists():
        previous: dict[str, Any] = {}
        if run_path.exists():
            try:
                previous = json.loads(run_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                previous = {}
        changed = _diff(fingerprint(previous), fingerprint(record)) if previous else []
        if config.force_new:
            _set_aside(out)
        elif changed and not config.retry_errors:
            raise PedagraphError(
                f"{out} holds a run with a different configuration ({'; '.join(changed)[:400]})",
                hint="use another --out, or --force-new to start over (old results are kept as .bak)",
            )
        else:
            history = [*previous.get("history", []), previous.get("started_at")] if previous else []
            if changed:
                record["changed_on_retry"] = changed
    record["history"] = [h for h in history if h]
    _write_atomic(run_path, json.dumps(record, indent=2, default=str) + "\n")

    done = read_results(results_path, repair=True)
    if config.retry_errors and any(not _final(row) for row in done.values()):
        done = {k: v for k, v in done.items() if _final(row=v)}
        _write_atomic(results_path, "".join(_json_line(row) for row in done.values()))
    wanted = {item.id for item in items}
    todo = [item for item in items if item.id not in done]
    skipped = len(items) - len(todo)

    models = {role: m["model"] for role, m in record["models"].items()}
    for role, m in record["models"].items():
        if m["backend_concurrency"] < min(config.concurrency, len(todo)):
            sys.stderr.write(
                f"note: the {role} backend allows {m['backend_concurrency']} concurrent requests "
                f"(concurrency in pedagraph.toml or PEDAGRAPH_CONCURRENCY); --concurrency is {config.concurrency}\n"
            )

    model_pool: dict[str, ManagedChatModel] = {}
    ray_items: Any = None
    if config.backend == "ray" and todo:  # nothing left to run: no cluster to start
        from pedagraph.evals.ray_backend import RayItems

        ray_items = RayItems(suite, config, models)
        execute: Any = ray_items
    else:

        async def execute(item: Item) -> dict[str, Any]:
            ctx = ItemContext(
                item_seed(config.seed, item.id), config.options, config.models, config.config_path,
                models=model_pool, out_dir=out,
            )  # fmt: skip
            return await execute_item(suite, item, ctx, models)

    writer = _Writer(results_path)
    ok = sum(1 for k, v in done.items() if k in wanted and v.get("status") == "ok")
    err = sum(1 for k, v in done.items() if k in wanted and v.get("status") != "ok")
    bar, task = _progress(len(items), skipped, suite.name, progress)
    queue: asyncio.Queue[Item] = asyncio.Queue()
    for item in todo:
        queue.put_nowait(item)
    interrupted = False
    ran = 0

    async def one(item: Item) -> None:
        nonlocal ok, err, ran
        row = await execute(item)
        try:
            line = _json_line(row)
        except ValueError as exc:  # NaN or the like in a result
            row.update(status="error", error=error_line(exc), error_type=type(exc).__name__, result=None)
            line = _json_line(row)
        done[item.id] = row
        ran += 1
        if row["status"] == "ok":
            ok += 1
        else:
            err += 1
        writer.queue.put_nowait(line)
        bar.update(task, advance=1, status=f"ok {ok} · errors {err}")

    async def worker() -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await one(item)

    cache_cm = use_response_cache(config.effective_cache_path) if config.cache else contextlib.nullcontext()
    writer_task = asyncio.create_task(writer.run())
    workers: list[asyncio.Task[None]] = []
    t_items = time.perf_counter()
    try:
        with cache_cm as cache, bar:
            workers = [asyncio.create_task(worker()) for _ in range(min(config.concurrency, max(1, len(todo))))]
            try:
                await asyncio.gather(*workers)
            except (KeyboardInterrupt, asyncio.CancelledError):
                interrupted = True
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
            finally:
                if cache is not None:
                    cache.close()
    finally:
        writer.queue.put_nowait(None)
        await asyncio.shield(writer_task)
        writer.close()
        if ray_items is not None:
            ray_items.close()
    items_time = time.perf_counter() - t_items

    wall = time.perf_counter() - t0
    rows = [done[i.id] for i in items if i.id in done]
    summary = build_summary(suite, record, rows, len(items), wall, complete=not interrupted)
    plots: list[Path] = []
    ok_results = [r["result"] for r in rows if r.get("status") == "ok"]
    if not interrupted:
        plots = _make_plots(suite, summary, ok_results, out)
    _write_atomic(out / SUMMARY_FILE, json.dumps(summary, indent=2, default=str) + "\n")
    _write_atomic(out / REPORT_FILE, render_report(suite, summary, ok_results, plots, out))
    return RunResult(
        out_dir=out,
        summary=summary,
        items=len(items),
        ok=summary["counts"]["ok"],
        errors=summary["counts"]["errors"],
        skipped=skipped,
        ran=ran,
        interrupted=interrupted,
        wall_time_s=wall,
        plots=plots,
        items_time_s=items_time,
    )


async def execute_item(suite: Suite, item: Item, ctx: ItemContext, models: dict[str, Any]) -> dict[str, Any]:
    """Run one item and return its results.jsonl row (a failure of the item is recorded in the row, not raised)."""
    from pedagraph.llm.usage import track_usage

    start = time.perf_counter()
    with track_usage() as tracker, traced(suite=suite.name, item=item.id, seed=ctx.item_seed):
        try:
            result: dict[str, Any] | None = await suite.run_item(item, ctx)
            if not isinstance(result, dict):
                raise TypeError(f"suite {suite.name} returned {type(result).__name__}, not a dict")
            json.dumps(result, default=str, allow_nan=False)
            status, error, error_type = "ok", None, None
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of an item is recorded, the run goes on
            result, status, error, error_type = None, "error", error_line(exc), type(exc).__name__
    return {
        "item_id": item.id,
        "status": status,
        "error": error,
        "error_type": error_type,
        "result": result,
        "models": models,
        "usage": _usage_of(tracker),
        "decisions": tracker.decision_rows(),
        "fallbacks": _fallbacks_of(tracker),
        "latency_s": round(time.perf_counter() - start, 4),
        "finished_at": _now(),
    }


def run_suite_sync(suite: Suite, config: RunConfig, *, progress: bool = True) -> RunResult:
    """Blocking wrapper of `run_suite` (Ctrl-C stops cleanly and returns an interrupted result)."""
    return asyncio.run(run_suite(suite, config, progress=progress))


def _check_ids(items: list[Item], path: Path) -> None:
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise DataError(f"{path}: item id {item.id!r} appears twice", hint="ids must be unique in a data file")
        seen.add(item.id)


def _set_aside(out: Path) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for name in (RESULTS_FILE, SUMMARY_FILE, REPORT_FILE, RUN_FILE):
        path = out / name
        if path.exists():
            os.replace(path, out / f"{name}.{stamp}.bak")


def _make_plots(suite: Suite, summary: dict[str, Any], results: list[dict[str, Any]], out: Path) -> list[Path]:
    if not results:
        return []
    import matplotlib

    matplotlib.use("Agg")
    try:
        return [Path(p) for p in suite.plots(summary, results, out)]
    except Exception as exc:  # noqa: BLE001 - a failing plot must not lose the report
        summary.setdefault("warnings", []).append(f"plots failed: {error_line(exc)}")
        return []


# ----------------------------------------------------------------------------------------------------------
# Summary and report
# ----------------------------------------------------------------------------------------------------------


def _is_metric(value: Any) -> bool:
    return isinstance(value, dict) and "value" in value and "n" in value


def build_summary(
    suite: Suite, record: dict[str, Any], rows: list[dict[str, Any]], n_items: int, wall: float, *, complete: bool
) -> dict[str, Any]:
    """summary.json: suite metrics over ok items, counts, error reasons, usage per role, wall time, config."""
    from pedagraph.evals.metrics import mean

    ok_rows = [r for r in rows if r.get("status") == "ok"]
    err_rows = [r for r in rows if r.get("status") != "ok"]
    warnings: list[str] = []
    try:
        metrics = suite.summarize([r["result"] for r in ok_rows]) if ok_rows else {}
    except Exception as exc:  # noqa: BLE001 - the results are safe on disk; say what failed instead of crashing
        metrics = {}
        warnings.append(f"{suite.name}.summarize failed: {error_line(exc)}")
    reasons = Counter(error_reason(r) for r in err_rows)
    again = Counter(_retry_reason(r) for r in ok_rows if not _final(r))
    usage: dict[str, dict[str, float]] = {}
    for r in rows:
        for role, u in (r.get("usage") or {}).items():
            agg = usage.setdefault(role, {})
            for key, value in u.items():
                if isinstance(value, (int, float)):
                    agg[key] = round(agg.get(key, 0) + value, 4)
    total: dict[str, float] = {}
    for u in usage.values():
        for key, value in u.items():
            total[key] = round(total.get(key, 0) + value, 4)
    latency = mean([float(r.get("latency_s") or 0.0) for r in ok_rows]).to_dict()
    return {
        "suite": suite.name,
        "complete": complete and len(rows) == n_items,
        "counts": {"items": n_items, "ok": len(ok_rows), "errors": len(err_rows), "missing": n_items - len(rows)},
        "metrics": metrics,
        "error_reasons": dict(reasons.most_common()),
        "retry_reasons": dict(again.most_common()),
        "usage": {"per_role": usage, "total": total},
        "decisions": decisions_summary(rows),
        "latency_s": latency,
        "wall_time_s": round(wall, 3),
        "config": record,
        **({"warnings": warnings} if warnings else {}),
    }



def _source_text(source: dict[str, Any]) -> str:
    """One line saying where a run's data came from and what its checksum means."""
    from pedagraph.datasets.store import CHECKSUM_TEXT

    if not source.get("file"):
        return f"a file outside the registry ({source.get('origin', 'path')})"
    origin = source.get("origin")
    if origin == "sample":
        return (f"`{source['file']}` ({source.get('dataset')}), **the bundled sample** (the first rows only, not the "
                f"full dataset): `{source.get('full_data')}` gets the full file")  # fmt: skip
    if origin == "local copy":
        where = f"in the local copy {source.get('root')}"
    elif origin == "fetched":
        where = f"fetched from {source.get('fetched_from')}"
    else:
        where = "a path given with --data"
    checksum = CHECKSUM_TEXT.get(str(source.get("checksum")), "")
    return f"`{source['file']}` ({source.get('dataset')}), {where}; {checksum}"


def format_metric(m: dict[str, Any], digits: int = 3) -> tuple[str, str, str]:
    """(value, uncertainty, n) of a Metric dict as text: `± se` or `[lo, hi]` (95% CI)."""
    value = m.get("value")
    n = str(m.get("n", ""))
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a", "", n
    text = f"{value:.{digits}f}"
    if m.get("se") is not None:
        unc = f"± {m['se']:.{digits}f}"
    elif m.get("ci_low") is not None and m.get("ci_high") is not None:
        unc = f"[{m['ci_low']:.{digits}f}, {m['ci_high']:.{digits}f}]"
    else:
        unc = ""
    return text, unc, n


def _md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _decision_lines(decisions: dict[str, Any]) -> list[str]:
    """Who made the pedagogical decisions (model, rules, rules replacing an invalid model answer)."""
    total = decisions.get("total") or {}
    if not any(total.values()):
        return []
    lines = ["", f"Decisions: {total.get('model', 0)} by the model, {total.get('rules', 0)} by the rules, "
             f"{total.get('replaced', 0)} invalid model decisions replaced by the rules (share made by rules "
             f"{decisions.get('rules_share', 0):.1%}).", "",
             "| decision | model | rules | replaced |", "| --- | --- | --- | --- |"]  # fmt: skip
    for kind, c in (decisions.get("per_kind") or {}).items():
        lines.append(f"| {kind} | {c.get('model', 0)} | {c.get('rules', 0)} | {c.get('replaced', 0)} |")
    fallbacks = decisions.get("fallbacks_per_node") or {}
    if fallbacks:
        lines += ["", "Structured calls that fell back to the rules, per node: "
                  + ", ".join(f"{node} {n}" for node, n in fallbacks.items()) + "."]  # fmt: skip
    return lines


def render_report(
    suite: Suite, summary: dict[str, Any], results: list[dict[str, Any]], plots: list[Path], out: Path
) -> str:
    """report.md: title, configuration, counts, metrics with n and uncertainty, errors, suite body, plots."""
    cfg = summary["config"]
    counts = summary["counts"]
    lines = [f"# Evaluation report: `{suite.name}`", ""]
    if not summary.get("complete"):
        lines += [f"> **Incomplete run**: {counts['missing']} of {counts['items']} items have no result yet. "
                  "Run the same command again to finish.", ""]  # fmt: skip
    lines += ["## Configuration", "", "| setting | value |", "| --- | --- |"]
    data = cfg.get("data", {})
    rows = [
        ("suite", suite.name),
        ("data", f"`{data.get('path')}`"),
        ("data sha256", f"`{str(data.get('sha256'))[:16]}…`"),
        *([("data source", _source_text(data["source"]))] if data.get("source") else []),
        ("items", f"{counts['items']} (limit {cfg.get('limit')})"),
        ("seed", cfg.get("seed")),
        ("concurrency", cfg.get("concurrency")),
        ("options", json.dumps(cfg.get("options") or {}, sort_keys=True)),
    ]
    for role, m in (cfg.get("models") or {}).items():
        extra = f", temperature {m['temperature']}" if m.get("temperature") is not None else ""
        where = f" at {m['base_url']}" if m.get("base_url") else ""
        rows.append((f"model ({role})", f"`{m.get('model')}`{where}{extra}"))
    versions = cfg.get("versions") or {}
    rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)))
    if cfg.get("git_sha"):
        rows.append(("git", f"`{cfg['git_sha'][:12]}`"))
    rows.append(("started", cfg.get("started_at")))
    lines += [f"| {k} | {_md_escape(v)} |" for k, v in rows]
    scripted = [role for role, m in (cfg.get("models") or {}).items() if m.get("scripted")]
    if scripted:
        lines += ["", f"> Role(s) {', '.join(scripted)} ran on the built-in **scripted** model: their replies are "
                  "scripted, not written by a language model, so the scores below do not measure one."]  # fmt: skip
    lines += [
        "",
        "## Results",
        "",
        f"{counts['items']} items: **{counts['ok']} scored**, **{counts['errors']} errors**"
        + (f", {counts['missing']} missing" if counts["missing"] else "")
        + f". Wall time of the last invocation {summary['wall_time_s']:.1f} s.",
        "",
        "| metric | value | ± SE / 95% CI | n |",
        "| --- | --- | --- | --- |",
    ]
    for name, m in summary["metrics"].items():
        if _is_metric(m):
            value, unc, n = format_metric(m)
            lines.append(f"| {_md_escape(name)} | {value} | {unc} | {n} |")
    if not summary["metrics"]:
        lines.append("| (no scored items) | | | |")
    usage = summary.get("usage", {}).get("per_role", {})
    if usage:
        lines += ["", "| role | calls | cache hits | input tokens | output tokens | retries | errors |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for role, u in usage.items():
            lines.append(
                f"| {role} | {int(u.get('calls', 0))} | {int(u.get('cache_hits', 0))} | {int(u.get('input_tokens', 0))}"
                f" | {int(u.get('output_tokens', 0))} | {int(u.get('retries', 0))} | {int(u.get('errors', 0))} |"
            )
    lines += _decision_lines(summary.get("decisions") or {})
    lines += ["", "## Errors", ""]
    if summary["error_reasons"]:
        lines += ["| reason | items |", "| --- | --- |"]
        lines += [f"| {_md_escape(reason)} | {n} |" for reason, n in summary["error_reasons"].items()]
        lines += ["", "Errors are counted apart: the metrics above cover scored items only. "
                  "`--retry-errors` runs them again."]  # fmt: skip
    else:
        lines.append("None.")
    if summary.get("retry_reasons"):
        lines += ["", "Scored items to run again (their result is kept and counted until then):", "",
                  "| reason | items |", "| --- | --- |"]  # fmt: skip
        lines += [f"| {_md_escape(reason)} | {n} |" for reason, n in summary["retry_reasons"].items()]
        lines += ["", "`--retry-errors` runs them again."]
    for warning in summary.get("warnings", []):
        lines += ["", f"> warning: {warning}"]
    try:
        body = suite.report(summary, results).strip() if results else ""
    except Exception as exc:  # noqa: BLE001 - keep the rest of the report
        body = f"> warning: {suite.name}.report failed: {error_line(exc)}"
    if body:
        lines += ["", body]
    if plots:
        lines += ["", "## Plots", ""]
        for p in plots:
            rel = os.path.relpath(p, out)
            lines += [f"![{Path(rel).stem}]({rel})", ""]
    return "\n".join(lines).rstrip() + "\n"


def compare_runs(dirs: list[Path | str]) -> str:
    """Markdown table of the metrics of several run directories side by side, with n and uncertainty."""
    runs = []
    for d in dirs:
        path = Path(d)
        summary_path = path / SUMMARY_FILE
        if not summary_path.is_file():
            raise PedagraphError(f"no {SUMMARY_FILE} in {path}", hint="pass directories written by `pedagraph eval`")
        try:
            runs.append((path, json.loads(summary_path.read_text(encoding="utf-8"))))
        except ValueError as exc:
            raise DataError(f"{summary_path} is not valid JSON: {exc}") from None
    if not runs:
        raise PedagraphError("nothing to compare", hint="pass two or more run directories")
    suites = {s.get("suite") for _, s in runs}
    if len(suites) > 1:
        raise PedagraphError(f"runs are of different suites: {', '.join(sorted(map(str, suites)))}")
    names: list[str] = []
    for _, s in runs:
        names += [k for k, v in s.get("metrics", {}).items() if _is_metric(v) and k not in names]
    header = ["", *[f"`{p.name or p}`" for p, _ in runs]]
    lines = [f"# Comparison: `{suites.pop()}`", "", "| " + " | ".join(header) + " |",
             "|" + " --- |" * len(header)]  # fmt: skip

    def row(label: str, cells: list[str]) -> None:
        lines.append("| " + " | ".join([label, *[_md_escape(c) for c in cells]]) + " |")

    roles = sorted({r for _, s in runs for r in (s.get("config", {}).get("models") or {})})
    for role in roles:
        cells = []
        for _, s in runs:
            m = (s.get("config", {}).get("models") or {}).get(role, {})
            temp = f" (t={m['temperature']})" if m.get("temperature") is not None else ""
            cells.append(f"{m.get('model', '-')}{temp}")
        row(f"model ({role})", cells)
    row("options", [json.dumps(s.get("config", {}).get("options") or {}, sort_keys=True) for _, s in runs])
    row("seed", [str(s.get("config", {}).get("seed")) for _, s in runs])
    row("data", [f"{Path(str(s.get('config', {}).get('data', {}).get('path'))).name} "
                 f"({str(s.get('config', {}).get('data', {}).get('sha256'))[:8]})" for _, s in runs])  # fmt: skip
    row("items (ok / errors)", [f"{s['counts']['items']} ({s['counts']['ok']} / {s['counts']['errors']})"
                                for _, s in runs])
    for name in names:
        cells = []
        for _, s in runs:
            m = s.get("metrics", {}).get(name)
            if not _is_metric(m):
                cells.append("-")
                continue
            value, unc, n = format_metric(m)
            cells.append(f"{value} {unc} (n={n})".replace("  ", " "))
        row(f"**{name}**", cells)
    return "\n".join(lines) + "\n"
