"""The Ray backend of the eval runner: `pedagraph eval SUITE ... --backend ray` runs each item as a Ray task.

The runner (`evals/runner.py`) stays the one runner: it loads the items, skips those already in results.jsonl,
and is the only writer of results.jsonl, summary.json and report.md. With this backend it dispatches each
remaining item to a Ray task (at most `--concurrency` in flight) instead of awaiting it in-process; the task runs
the suite's `run_item` through the same `execute_item` as the local backend and returns the result row, which
the driver writes. So outputs, resume (rerun the same command) and no-duplicate guarantees are those of the local
runner. A worker that dies mid-item (killed, out of memory, a lost node) makes Ray run the task again, up to
`MAX_RETRIES` times; after that the item is recorded as an error (`--retry-errors` runs it again). A task is
never written twice: only the driver writes, once per item.

Without `--ray-address` a local Ray is started for the run (all cores) and stopped after; with one
(`auto`, `ray://host:10001`), the run joins that cluster. Workers read their own environment and pedagraph.toml
for model settings and keys (nothing secret is shipped with the tasks); `--model` overrides travel with the
run. The response cache (`OUT/cache.sqlite`) and suites that keep files in OUT need OUT on a filesystem the
workers share (true on one machine); a worker that cannot reach it runs without the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedagraph.evals.runner import (
    Item,
    ItemContext,
    RunConfig,
    Suite,
    _now,
    error_line,
    execute_item,
    item_seed,
)

from pedagraph.errors import ConfigError

__all__ = ["MAX_RETRIES", "RayItems", "WorkerSpec"]

MAX_RETRIES = 3
"""Times Ray runs an item's task again after its worker process died."""
LOCAL_OBJECT_STORE_BYTES = 200 * 1024 * 1024
"""Object store of a local Ray started for a run (items and rows are small)."""


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs besides the suite and the item: the run's seed, options, models, cache and OUT."""

    seed: int
    options: dict[str, Any]
    models: dict[str, dict[str, Any]]
    model_names: dict[str, Any]
    config_path: str | None
    out_dir: str
    cache_path: str | None


_POOLS: dict[str, dict[str, Any]] = {}
_CACHES: dict[str, Any] = {}


def _worker_cache(path: str | None) -> Any:
    """This worker process's handle on the run's response cache (None without one or when OUT is unreachable)."""
    if path is None or not Path(path).parent.is_dir():
        return None
    cache = _CACHES.get(path)
    if cache is None:
        from pedagraph.llm.cache import ResponseCache

        cache = _CACHES[path] = ResponseCache(path)
    return cache


def run_item_on_worker(suite: Suite, item: Item, spec: WorkerSpec) -> dict[str, Any]:
    """Run one item in a Ray worker and return its results.jsonl row (the driver writes it)."""
    from pedagraph.llm.cache import use_response_cache

    pool = _POOLS.setdefault(repr((spec.models, spec.config_path)), {})  # models reused across a worker's items
    ctx = ItemContext(
        item_seed(spec.seed, item.id), spec.options, spec.models, spec.config_path, models=pool,
        out_dir=Path(spec.out_dir),
    )  # fmt: skip
    cache = _worker_cache(spec.cache_path)
    with use_response_cache(cache) if cache is not None else contextlib.nullcontext():
        return asyncio.run(execute_item(suite, item, ctx, spec.model_names))


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray", hint="pip install 'pedagraph[ray]'") from None
    return ray


class RayItems:
    """The runner's `execute(item)` on Ray: one task per item, the row awaited by the driver."""

    def __init__(self, suite: Suite, config: RunConfig, model_names: dict[str, Any]) -> None:
        ray = self._ray = _ray()
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                                      "log_to_driver": False}  # fmt: skip
            if config.ray_address:
                kwargs["address"] = config.ray_address
            else:
                kwargs["object_store_memory"] = LOCAL_OBJECT_STORE_BYTES
            try:
                ray.init(**kwargs)
            except Exception as exc:  # noqa: BLE001 - a cluster that cannot be reached is one clear line
                where = config.ray_address or "a local Ray"
                raise ConfigError(f"cannot start or join {where}: {error_line(exc)}",
                                  hint="check --ray-address (e.g. auto, ray://host:10001)") from None  # fmt: skip
            self._started = True
        out = Path(config.out_dir).resolve()
        cache = config.effective_cache_path
        self._spec = WorkerSpec(
            seed=config.seed,
            options=config.options,
            models=config.models,
            model_names=model_names,
            config_path=str(Path(config.config_path).resolve()) if config.config_path else None,
            out_dir=str(out),
            cache_path=str(Path(cache).resolve()) if cache else None,
        )
        self._suite_ref = ray.put(suite)
        self._task = ray.remote(run_item_on_worker).options(
            num_cpus=config.ray_cpus, max_retries=MAX_RETRIES, retry_exceptions=False
        )
        self._models = model_names

    async def __call__(self, item: Item) -> dict[str, Any]:
        """Run `item` as a Ray task and return its row; a task Ray gave up on is an error row."""
        start = time.perf_counter()
        ref = self._task.remote(self._suite_ref, item, self._spec)
        try:
            return await ref
        except asyncio.CancelledError:
            self._ray.cancel(ref, force=True)
            raise
        except self._ray.exceptions.RayError as exc:  # the worker died more than MAX_RETRIES times, ...
            cause = getattr(exc, "cause", None)
            shown = cause if isinstance(cause, BaseException) else exc
            return {
                "item_id": item.id,
                "status": "error",
                "error": error_line(shown),
                "error_type": type(shown).__name__,
                "result": None,
                "models": self._models,
                "usage": {},
                "latency_s": round(time.perf_counter() - start, 4),
                "finished_at": _now(),
            }

    def close(self) -> None:
        """Stop the local Ray this run started (a joined cluster is left running)."""
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
