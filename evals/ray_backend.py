"""The Ray backend of the eval runner: `pedagraph eval SUITE ... --backend ray` runs the items on a Ray cluster.

The runner (`evals/runner.py`) stays the one runner: it loads the items, skips those already in results.jsonl,
and is the only writer of results.jsonl, summary.json and report.md. With this backend it sends each remaining
item (at most `--concurrency` in flight) to one of a pool of Ray actors (`ItemWorker`, one process with
`--ray-cpus` CPUs each, as many as the cluster's CPUs allow, capped by the concurrency) instead of awaiting it
in-process. The actor runs the suite's `run_item` through the same `execute_item` as the local backend and returns
the row; the driver writes it. So outputs, resume (rerun the same command) and no-duplicate guarantees are the
local runner's. A worker that dies mid-item (killed, out of memory, a lost node) is restarted by Ray and its
unfinished items run again, up to `MAX_RETRIES` times; after that those items are recorded as errors
(`--retry-errors` runs them again) and the dead worker is replaced by a fresh one, so the run goes on. An
item is never written twice: only the driver writes, once per item.

Without `--ray-address` a local Ray is started for the run (all cores) and stopped after; with one (`auto`,
`ray://host:10001`), the run joins that cluster. Workers read their own environment and pedagraph.toml for model
settings and keys (nothing secret is shipped with the items); `--model` overrides travel with the run. The
response cache (`OUT/cache.sqlite`) and suites that keep files in OUT need OUT on a filesystem the workers share
(true on one machine); a worker that cannot reach it runs without the cache.
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

__all__ = ["MAX_RETRIES", "ItemWorker", "RayItems", "WorkerSpec"]

MAX_RETRIES = 3
"""Times Ray restarts a worker that died, and runs its unfinished items again."""
WORKER_START_TIMEOUT = 300.0
"""Seconds the run waits for its Ray workers to start."""
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


class ItemWorker:
    """A Ray actor: one worker process that runs many items of a run concurrently (asyncio), reusing its models.

    Items are mostly waiting on model calls, so one process per core with several items in flight each uses the
    cores without a process per in-flight item (each would pay pedagraph's import, seconds on a small machine).
    """

    def __init__(self, suite: Suite, spec: WorkerSpec) -> None:
        self.suite = suite
        self.spec = spec
        self.models: dict[str, Any] = {}  # the run's models, built once in this process
        self.cache: Any = None
        if spec.cache_path is not None and Path(spec.cache_path).parent.is_dir():  # OUT reachable from here
            from pedagraph.llm.cache import ResponseCache

            self.cache = ResponseCache(spec.cache_path)

    async def ready(self) -> bool:
        """Return True once the worker is up (its imports done)."""
        return True

    async def run(self, item: Item) -> dict[str, Any]:
        """Run one item and return its results.jsonl row (the driver writes it)."""
        from pedagraph.llm.cache import use_response_cache

        spec = self.spec
        ctx = ItemContext(
            item_seed(spec.seed, item.id), spec.options, spec.models, spec.config_path, models=self.models,
            out_dir=Path(spec.out_dir),
        )  # fmt: skip
        with use_response_cache(self.cache) if self.cache is not None else contextlib.nullcontext():
            return await execute_item(self.suite, item, ctx, spec.model_names)


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
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        n_workers = max(1, min(config.concurrency, int(cpus // config.ray_cpus) or 1))
        per_worker = -(-config.concurrency // n_workers)
        actor = self._actor = ray.remote(ItemWorker).options(
            num_cpus=config.ray_cpus, max_concurrency=per_worker, max_restarts=MAX_RETRIES,
            max_task_retries=MAX_RETRIES,
        )  # fmt: skip
        self._suite = suite
        self._workers = [actor.remote(suite, self._spec) for _ in range(n_workers)]
        self.replaced = 0
        """Workers that died for good (restarts used up) and were replaced by fresh ones."""
        t0 = time.perf_counter()
        try:  # wait for the workers to be up (imports done), so a broken worker environment fails here, once
            ray.get([worker.ready.remote() for worker in self._workers], timeout=WORKER_START_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - one clear line, not Ray's traceback
            self.close()
            raise ConfigError(
                f"Ray workers did not start: {error_line(exc)}",
                hint="check that pedagraph[ray] is installed where the workers run",
            ) from None
        self.startup_s = time.perf_counter() - t0
        """Seconds the workers took to start (paid once per run, before the first item)."""
        self._load = [0] * n_workers
        self._models = model_names

    async def __call__(self, item: Item) -> dict[str, Any]:
        """Run `item` as a Ray task and return its row; a task Ray gave up on is an error row."""
        start = time.perf_counter()
        index = min(range(len(self._workers)), key=self._load.__getitem__)  # the least busy worker
        self._load[index] += 1
        worker = self._workers[index]
        ref = worker.run.remote(item)
        try:
            return await ref
        except asyncio.CancelledError:  # the run was interrupted: its unfinished items run again on resume
            with contextlib.suppress(Exception):
                self._ray.cancel(ref)
            raise
        except self._ray.exceptions.RayError as exc:  # the worker died more than MAX_RETRIES times, ...
            if isinstance(exc, self._ray.exceptions.RayActorError) and self._workers[index] is worker:
                self._workers[index] = self._actor.remote(self._suite, self._spec)  # the run keeps its capacity
                self.replaced += 1
                with contextlib.suppress(Exception):
                    self._ray.kill(worker)
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
        finally:
            self._load[index] -= 1

    def close(self) -> None:
        """Stop the run's workers, and the local Ray this run started (a joined cluster is left running)."""
        for worker in getattr(self, "_workers", []):
            self._ray.kill(worker)
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
