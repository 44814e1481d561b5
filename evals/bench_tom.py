"""Benchmark the `tom` suite's full sweep against a local OpenAI-compatible stub that answers after a fixed delay.

The sweep of the issue: 200 StrategyQA dev items x seeds 41, 42, 43, budgets 0, 0.2, ..., 1, the five deployable
intervention functions, human explanations, multi-turn 2/4/6/8/10 (three demo sets each), the student reasoning
first (its answer and log-probabilities on its last line). Teacher and student are two model names on one stub
(its own process, so client and server do not share a GIL); the stub plays a student of fixed behaviour (right
unaided on ~55% of items, on ~80% with an explanation) and a teacher whose mental model sees it (log-probabilities
0.8 / 0.2), so expected utility should beat random at low budgets.
Every budget x function is replayed from one measurement per item and seed, so the calls do not grow with budgets
or functions. Reports wall time against the ideal calls x delay / concurrency, then reruns into the same directory
(a resumed sweep: nothing to redo).

Usage: python evals/bench_tom.py [--n 200] [--delay 0.1] [--concurrency 8 32]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pedagraph.evals.runner import RunConfig, RunResult, get_suite, run_suite  # noqa: E402

from pedagraph.testing.openai_stub import OpenAIStub  # noqa: E402
from pedagraph.testing.tom import EXPLAIN_OPENING, MENTAL_MODEL_OPENING  # noqa: E402


def _h(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest()[:6], 16) % 100


_GOLD: dict[str, str] = {}


def _load_gold() -> None:
    from pedagraph.methods.tom.items import registry_items

    _GOLD.update({f"Question: {i.question}": i.gold_label for i in registry_items("strategyqa", "test")})


def _answer(body: dict[str, Any]) -> tuple[str, dict[str, float] | None]:
    """The stub's reply and its first-token probabilities (None: no log-probabilities for this reply)."""
    text = body["messages"][-1]["content"]
    start = text.rfind("Question: ")
    tail = text[start:] if start >= 0 else text
    question = tail.splitlines()[0]
    explained = "\nExplanation: " in tail and not tail.rstrip().endswith("Explanation:")
    gold = _GOLD.get(question, "yes")
    wrong = "no" if gold == "yes" else "yes"
    right = _h(question) < (80 if explained or "after reading an explanation" in text else 55)
    if text.startswith(EXPLAIN_OPENING):
        return f"The facts decide it.\nAnswer: {gold}", None
    if text.startswith(MENTAL_MODEL_OPENING):  # the mental model sees the student's behaviour, with some doubt
        p = 0.8 if right else 0.2
        return (gold if right else wrong), {gold: p, wrong: 1 - p}
    answer = gold if right else wrong  # the student (and the teacher answering for its confidence)
    probs = {answer: 0.9, ("no" if answer == "yes" else "yes"): 0.1}
    if tail.rstrip().endswith("Explanation:"):  # the unaided student reasons first; its answer ends the reply
        return f"Some facts bear on it.\nAnswer: {answer}", probs
    return answer, probs


def reply(body: dict[str, Any]) -> str:
    """Answers of a student of fixed behaviour, a teacher's explanations, the mental model's simulations."""
    return _answer(body)[0]


def logprobs(body: dict[str, Any], text: str) -> dict[str, float] | None:
    """First-token probabilities of the reply."""
    return _answer(body)[1]


class RemoteStub:
    """An OpenAIStub in a child process."""

    def __init__(self, **stub_kwargs: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, stub_kwargs), daemon=True)
        self._proc.start()
        self.base_url: str = self._conn.recv()

    def ask(self, command: str) -> Any:
        """Send reset / stats / stop to the child."""
        self._conn.send(command)
        return self._conn.recv()

    def __enter__(self) -> RemoteStub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ask("stop")
        self._proc.join(timeout=10)


def _serve(conn: Any, stub_kwargs: dict[str, Any]) -> None:
    from pedagraph.testing import openai_stub

    openai_stub._Server.handle_error = lambda self, request, address: None  # type: ignore[method-assign]
    _load_gold()
    with OpenAIStub(reply_fn=reply, logprobs_fn=logprobs, logprobs_slot="last", **stub_kwargs) as stub:
        conn.send(stub.base_url)
        while True:
            command = conn.recv()
            if command == "reset":
                stub.reset()
                conn.send(None)
            elif command == "stats":
                conn.send({"requests": len(stub.chat_requests), "max_concurrent": stub.max_concurrent})
            else:
                conn.send(None)
                return


def models(base_url: str) -> dict[str, dict[str, Any]]:
    """Teacher and student: two model names on the stub, with backend limits that are not the bottleneck."""
    common = {"base_url": base_url, "api_key": "x", "concurrency": 128, "temperature": 0}
    return {"teacher": {"model": "openai:stub-teacher", **common},
            "student": {"model": "openai:stub-student", **common}}  # fmt: skip


def run_once(out: Path, n: int, concurrency: int, base_url: str) -> RunResult:
    """One sweep with the suite's defaults (cache off: every call reaches the stub)."""
    suite = get_suite("tom")({"dataset": "strategyqa"})
    from pedagraph.datasets import require

    data = require("strategyqa/dev.json").path
    cfg = RunConfig(out_dir=out, data_path=data, limit=n, concurrency=concurrency, models=models(base_url),
                    cache=False)  # fmt: skip
    return asyncio.run(run_suite(suite, cfg, progress=False))


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    args = parser.parse_args()
    print(f"pedagraph tom-sweep benchmark — Python {platform.python_version()}, {os.cpu_count()} CPU(s); "
          f"stub delay {args.delay * 1000:.0f} ms; {args.n} StrategyQA items x 3 seeds x 6 budgets x 5 functions")
    print(f"{'run':<34}{'calls':>7}{'wall s':>9}{'ideal s':>9}{'ratio':>7}{'peak':>6}  EU@0.2  random@0.2")
    with RemoteStub(delay=args.delay) as stub, tempfile.TemporaryDirectory() as tmp:
        for c in args.concurrency:
            stub.ask("reset")
            out = Path(tmp) / f"c{c}"
            t0 = time.perf_counter()
            result = run_once(out, args.n, c, stub.base_url)
            wall = time.perf_counter() - t0
            stats = stub.ask("stats")
            ideal = stats["requests"] * args.delay / c
            m = result.summary["metrics"]
            eu, rnd = m["acc[human|expected_utility|0.2]"]["value"], m["acc[human|random|0.2]"]["value"]
            print(f"{'sweep, concurrency ' + str(c):<34}{stats['requests']:>7}{wall:>9.1f}{ideal:>9.1f}"
                  f"{wall / ideal:>7.2f}{stats['max_concurrent']:>6}  {eu:.3f}   {rnd:.3f}")
            stub.ask("reset")
            t0 = time.perf_counter()
            again = run_once(out, args.n, c, stub.base_url)
            print(f"{'  resumed (same --out)':<34}{stub.ask('stats')['requests']:>7}{time.perf_counter() - t0:>9.1f}"
                  f"{'':>9}{'':>7}{'':>6}  ran {again.ran}, skipped {again.skipped}")


if __name__ == "__main__":
    main()
