"""Benchmark `pedagraph eval --backend ray` against the local runner on this machine: items per second.

Two workloads, each run once per backend into fresh output directories, same items, same seed:
  1. `solve` against the OpenAI-compatible stub answering after a fixed delay (model-bound, like an API sweep):
     local runner at --concurrency C; Ray at the same C over one worker process per core (--ray-cpus 1).
  2. `tutoring` on the scripted model with the offline probabilistic students (CPU-bound: the tutor graph
     itself), MathDial test items: local runner (one process, one core for Python) vs Ray (one worker process per core).
Throughput is items / the items' time (first item started to last line written): Ray's start-up (the local
cluster and its workers importing pedagraph) is printed apart, as it is paid once per run, not per item.
Both backends must produce the same results (compared without timings); the script says if they do not.

Usage: python evals/bench_ray.py [--solve-items 400] [--delay 0.05] [--concurrency 16] [--ray-cpus 1]
                                 [--tutoring-items 24] [--tutoring-concurrency 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pedagraph.evals.runner import RunConfig, RunResult, get_suite, resolve_data_path, run_suite  # noqa: E402

from pedagraph.testing.eval_doubles import sum_items  # noqa: E402
from pedagraph.testing.openai_stub import OpenAIStub  # noqa: E402


def answer(body: dict[str, Any]) -> str:
    """The stub's reply: the right sum."""
    import re

    i = int(re.search(r"What is (\d+) plus", body["messages"][-1]["content"]).group(1))
    return f"Answer: {2 * i}"


def comparable(out: Path) -> dict[str, Any]:
    """results.jsonl by item id without timing fields."""
    rows = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        row = json.loads(line)
        row.pop("latency_s"), row.pop("finished_at")
        for usage in row["usage"].values():
            usage.pop("seconds", None)
        rows[row["item_id"]] = row
    return rows


def run(suite_name: str, out: Path, data: Path, **kw: Any) -> RunResult:
    """One run of a suite into `out`."""
    options = kw.pop("options", {})
    config = RunConfig(out_dir=out, data_path=data, cache=False, seed=1, **kw)
    return asyncio.run(run_suite(get_suite(suite_name)(options), config, progress=False))


def line(name: str, res: RunResult, base: RunResult | None) -> str:
    """A result line: items, items/s, wall time, ratio to the local runner."""
    rate = res.ran / res.items_time_s if res.items_time_s else float("nan")
    ratio = ""
    if base is not None and base.items_time_s:
        ratio = f"  x{rate / (base.ran / base.items_time_s):.2f} vs local"
    return (f"  {name:<28} {res.ran:>5} items  {rate:8.1f} items/s  items {res.items_time_s:6.2f} s"
            f"  wall {res.wall_time_s:6.2f} s{ratio}")  # fmt: skip


def start_ray() -> float:
    """Start the local Ray used by the Ray runs (all cores); return the seconds it took, warm-up task included."""
    import ray

    t0 = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, object_store_memory=200 * 1024 * 1024)
    ray.get([ray.remote(lambda: __import__("pedagraph.evals.runner")).remote() for _ in range(2)])
    return time.perf_counter() - t0


def main() -> None:
    """Run both workloads on both backends and print items per second."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solve-items", type=int, default=400)
    parser.add_argument("--delay", type=float, default=0.05, help="stub seconds per request")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--ray-cpus", type=float, default=1.0, help="CPUs per Ray worker process")
    parser.add_argument("--tutoring-items", type=int, default=24)
    parser.add_argument("--tutoring-concurrency", type=int, default=2)
    args = parser.parse_args()

    import ray

    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        os.environ["PEDAGRAPH_HOME"] = str(tmp / "home")  # inherited by the Ray workers started below
        print(f"pedagraph bench_ray: Python {platform.python_version()}, ray {metadata.version('ray')}, "
              f"{os.cpu_count()} CPUs")  # fmt: skip
        startup = start_ray()
        print(f"Ray start-up (local cluster + 2 workers importing pedagraph): {startup:.1f} s, paid once per run")
        try:
            data = sum_items(tmp / "solve.jsonl", args.solve_items)
            print(f"\n1. solve, stub delay {args.delay * 1000:.0f} ms/call, concurrency {args.concurrency} "
                  f"(ideal {args.concurrency / args.delay:.0f} items/s)")  # fmt: skip
            with OpenAIStub(delay=args.delay, reply_fn=answer) as stub:
                models = {"student": {"model": "openai:stub-model", "base_url": stub.base_url}}
                local = run("solve", tmp / "solve-local", data, models=models, concurrency=args.concurrency)
                print(line("local runner", local, None))
                remote = run("solve", tmp / "solve-ray", data, models=models, concurrency=args.concurrency,
                             backend="ray", ray_cpus=args.ray_cpus)  # fmt: skip
                print(line(f"ray ({args.ray_cpus} CPU/worker)", remote, local))
            same = comparable(tmp / "solve-local") == comparable(tmp / "solve-ray")
            print(f"  same results on both backends: {same}")

            mathdial = resolve_data_path(get_suite("tutoring")({}), None)
            print(f"\n2. tutoring, scripted tutor + probabilistic students, {mathdial.name} "
                  f"(first {args.tutoring_items}), concurrency {args.tutoring_concurrency}")  # fmt: skip
            common = {"limit": args.tutoring_items, "concurrency": args.tutoring_concurrency}
            local = run("tutoring", tmp / "tut-local", mathdial, **common)
            print(line("local runner", local, None))
            remote = run("tutoring", tmp / "tut-ray", mathdial, backend="ray", ray_cpus=1.0, **common)
            print(line("ray (1 CPU/worker)", remote, local))
            same = comparable(tmp / "tut-local") == comparable(tmp / "tut-ray")
            print(f"  same results on both backends: {same}")
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
