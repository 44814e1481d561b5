"""Benchmark the eval runner against a local OpenAI-compatible stub that answers after a fixed delay.

Measures, in one run:
  1. the runner's wall time for N `solve` items (GSM8K test questions, or synthetic ones when the data is
     absent) at concurrency 1, 8 and 64, against the ideal calls x delay / concurrency;
  2. the same items through a plain sequential loop of bare `ChatOpenAI` calls, as the seed papers' scripts do;
  3. the same run at concurrency 8 with the stub failing a share of calls (429, 500, hangs cut by a 1 s
     timeout, malformed bodies, non-JSON content): every item must end exactly once in results.jsonl,
     scored or recorded as an error.

Usage: python evals/bench_runner.py [--n 500] [--delay 0.05] [--concurrency 1 8 64] [--fail-rate 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pedagraph.evals.runner import RunConfig, RunResult, get_suite, run_suite  # noqa: E402
from pedagraph.evals.suites.solve import _render_prompt, score  # noqa: E402

from pedagraph.answers import format_number  # noqa: E402
from pedagraph.datasets import locate  # noqa: E402
from pedagraph.testing.openai_stub import OpenAIStub  # noqa: E402

FAULTS = ("429", "500", "hang", "malformed", "bad_json_content")


def build_data(n: int, tmp: Path) -> tuple[Path, str]:
    """N solve items as generic JSON Lines: GSM8K test questions when available, synthetic sums otherwise."""
    rows: list[dict[str, Any]] = []
    located = locate("gsm8k/test.jsonl")  # the local copy (PEDAGRAPH_DATA_DIR), else `pedagraph data fetch gsm8k`
    source = "synthetic"
    if located is not None:
        source = f"GSM8K test ({located.path})"
        with located.path.open(encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if len(rows) == n:
                    break
                rows.append({"id": f"gsm8k-{i}", **json.loads(line), "dataset": "gsm8k"})
    i = 0
    while len(rows) < n:  # synthetic (or padding when the file is shorter than n)
        rows.append({"id": f"syn-{i}", "question": f"Ann has {i} apples and buys {i + 3} more. How many?",
                     "answer": f"#### {2 * i + 3}", "dataset": "synthetic"})  # fmt: skip
        i += 1
    path = tmp / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path, source


def answering(items: list[Any]) -> Any:
    """Stub reply function giving each question's gold answer, so every run is scored 1.0 when nothing fails."""
    by_prompt = {_render_prompt(item.data): item.data for item in items}

    def reply(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        data = by_prompt.get(prompt)
        if data is None:
            return "I am not sure."
        return f"Working through the problem step by step.\nAnswer: {format_number(data['gold'])}"

    return reply


class RemoteStub:
    """An OpenAIStub in a child process (its own interpreter and GIL, as a real server would be)."""

    def __init__(self, data: Path, n: int, **stub_kwargs: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, str(data), n, stub_kwargs), daemon=True)
        self._proc.start()
        self.base_url: str = self._conn.recv()

    def ask(self, command: str) -> Any:
        """Send a command (reset, stats, stop) to the child and return its answer."""
        self._conn.send(command)
        return self._conn.recv()

    def __enter__(self) -> RemoteStub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ask("stop")
        self._proc.join(timeout=10)


def _serve(conn: Any, data: str, n: int, stub_kwargs: dict[str, Any]) -> None:
    from pedagraph.testing import openai_stub

    # a client closing its keep-alive connections between runs is not worth a traceback
    openai_stub._Server.handle_error = lambda self, request, address: None  # type: ignore[method-assign]
    items = get_suite("solve")({}).load_items(Path(data))[:n]
    with OpenAIStub(reply_fn=answering(items), **stub_kwargs) as stub:
        conn.send(stub.base_url)
        while True:
            command = conn.recv()
            if command == "reset":
                stub.reset()
                conn.send(None)
            elif command == "stats":
                requests = stub.chat_requests
                faults = dict(Counter(r.fault or "none" for r in requests))
                conn.send({"requests": len(requests), "max_concurrent": stub.max_concurrent, "faults": faults})
            else:
                conn.send(None)
                return


def student(base_url: str, concurrency: int, **extra: Any) -> dict[str, dict[str, Any]]:
    """get_model overrides of the student role: the stub, with a backend limit that is not the bottleneck."""
    spec = {"model": "openai:stub-model", "base_url": base_url, "api_key": "x", "concurrency": max(64, concurrency)}
    return {"student": {**spec, **extra}}


def run_once(data: Path, out: Path, n: int, concurrency: int, models: dict[str, Any]) -> RunResult:
    """One runner invocation, cache off, no progress bar."""
    suite = get_suite("solve")({})
    cfg = RunConfig(out_dir=out, data_path=data, limit=n, concurrency=concurrency, models=models, cache=False)
    return asyncio.run(run_suite(suite, cfg, progress=False))


def bare_loop(items: list[Any], base_url: str) -> tuple[float, float]:
    """The seed papers' way: a plain for loop of ChatOpenAI.invoke, one question after the other."""
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="stub-model", base_url=base_url, api_key="x")
    correct = 0
    start = time.perf_counter()
    for item in items:
        reply = model.invoke(_render_prompt(item.data))
        correct += bool(score(item.data, str(reply.content))["correct"])
    return time.perf_counter() - start, correct / len(items)


def bare_gather(items: list[Any], base_url: str, concurrency: int) -> tuple[float, float]:
    """The client's own ceiling: bare ChatOpenAI.ainvoke over the items with asyncio.gather and a semaphore."""
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="stub-model", base_url=base_url, api_key="x")

    async def go() -> int:
        gate = asyncio.Semaphore(concurrency)

        async def one(item: Any) -> bool:
            async with gate:
                reply = await model.ainvoke(_render_prompt(item.data))
            return bool(score(item.data, str(reply.content))["correct"])

        return sum(await asyncio.gather(*(one(item) for item in items)))

    start = time.perf_counter()
    correct = asyncio.run(go())
    return time.perf_counter() - start, correct / len(items)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="solve items per run")
    parser.add_argument("--delay", type=float, default=0.05, help="stub seconds before each answer")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--fail-rate", type=float, default=0.2, help="share of failing calls in the fault run")
    parser.add_argument("--fault-concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=1.0, help="client timeout that cuts hanging calls")
    parser.add_argument("--skip-bare", action="store_true", help="skip the sequential ChatOpenAI loop")
    args = parser.parse_args(argv)

    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("langchain-core", "langchain-openai", "openai"))
    print(f"pedagraph eval-runner benchmark — Python {platform.python_version()}, {versions}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU(s); stub delay {args.delay * 1000:.0f} ms, "
          f"{args.n} solve items, response cache off\n")  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="bench-runner-") as tmpdir:
        tmp = Path(tmpdir)
        data, source = build_data(args.n, tmp)
        items = get_suite("solve")({}).load_items(data)[: args.n]
        print(f"items: {source}")
        print(f"\n{'run':<34} {'calls':>6} {'wall s':>8} {'items s':>8} {'ideal s':>8} {'ratio':>6} "
              f"{'items/s':>8} {'peak':>5} {'acc':>6}")  # fmt: skip
        with RemoteStub(data, args.n, delay=args.delay) as stub:
            for c in args.concurrency:
                stub.ask("reset")
                res = run_once(data, tmp / f"c{c}", args.n, c, student(stub.base_url, c))
                stats = stub.ask("stats")
                calls = stats["requests"]
                ideal = calls * args.delay / c
                acc = res.summary["metrics"]["accuracy"]["value"]
                print(f"{f'runner, concurrency {c}':<34} {calls:>6} {res.wall_time_s:>8.2f} {res.items_time_s:>8.2f} "
                      f"{ideal:>8.2f} {res.items_time_s / ideal:>6.2f} {args.n / res.items_time_s:>8.1f} "
                      f"{stats['max_concurrent']:>5} {acc:>6.3f}")  # fmt: skip
            if not args.skip_bare:
                top = max(args.concurrency)
                for label, c, fn in (
                    ("bare ChatOpenAI loop (sequential)", 1, lambda: bare_loop(items, stub.base_url)),
                    (f"bare ChatOpenAI gather, {top} at once", top, lambda: bare_gather(items, stub.base_url, top)),
                ):
                    stub.ask("reset")
                    wall, acc = fn()
                    stats = stub.ask("stats")
                    ideal = stats["requests"] * args.delay / c
                    peak = stats["max_concurrent"]
                    print(f"{label:<34} {stats['requests']:>6} {wall:>8.2f} {wall:>8.2f} {ideal:>8.2f} "
                          f"{wall / ideal:>6.2f} {args.n / wall:>8.1f} {peak:>5} {acc:>6.3f}")  # fmt: skip
        print("  wall s = the whole run_suite call (load, run.json, items, summary, report, plot);")
        print("  items s = the item phase; ratio = items s / ideal, ideal = calls x delay / concurrency;")
        print("  peak = most requests in flight at the stub (a separate process); acc = accuracy of the run")

        # -- with failures ----------------------------------------------------------------------------------
        c = args.fault_concurrency
        print(f"\nwith the stub failing {args.fail_rate:.0%} of calls ({', '.join(FAULTS)}), concurrency {c}, "
              f"timeout {args.timeout:g} s, 3 retries, backoff 0.05 s")  # fmt: skip
        stub_kwargs = {"delay": args.delay, "fail_rate": args.fail_rate, "random_faults": FAULTS, "seed": 5,
                       "hang_seconds": 5.0}  # fmt: skip
        with RemoteStub(data, args.n, **stub_kwargs) as stub:
            models = student(stub.base_url, c, timeout=args.timeout, max_retries=3, retry_backoff=0.05)
            out = tmp / "faults"
            res = run_once(data, out, args.n, c, models)
            stats = stub.ask("stats")
            faults, requests = stats["faults"], stats["requests"]
        lines = [json.loads(x) for x in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
        ids = Counter(x["item_id"] for x in lines)
        wanted = {item.id for item in items}
        status = Counter(x["status"] for x in lines)
        usage = res.summary["usage"]["per_role"].get("student", {})
        print(f"  wall {res.wall_time_s:.2f} s; server saw {requests} requests: "
              + ", ".join(f"{k} {v}" for k, v in sorted(faults.items())))  # fmt: skip
        print(f"  results.jsonl: {len(lines)} lines, {len(ids)} distinct items of {len(wanted)}; "
              f"scored {status.get('ok', 0)}, errors {status.get('error', 0)}; "
              f"lost {len(wanted - set(ids))}, twice {sum(1 for v in ids.values() if v > 1)}")  # fmt: skip
        print(f"  retries {int(usage.get('retries', 0))}; accuracy of scored items "
              f"{res.summary['metrics'].get('accuracy', {}).get('value', float('nan')):.3f} "
              "(bad_json_content replies are scored, as wrong answers)")  # fmt: skip
        for reason, count in res.summary["error_reasons"].items():
            print(f"  error x{count}: {reason[:150]}")
        ok = len(lines) == len(ids) == len(wanted) and set(ids) == wanted
        print(f"  every item exactly once: {'yes' if ok else 'NO'}")
        if not ok:
            sys.exit(1)


if __name__ == "__main__":
    main()
