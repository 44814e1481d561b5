"""Benchmark the model layer: what `get_model` costs per call on top of the backend it wraps.

Measures, in one run:
  1. the built-in `scripted` model through `get_model` (no network);
  2. an OpenAI-compatible stub server with zero delay, through `get_model` (ChatOpenAI behind retries,
     limiter and usage accounting) versus a bare `langchain_openai.ChatOpenAI` to the same server;
  3. optionally, `get_model` against a stub failing 20% of requests (rate limits, 5xx, broken bodies).

Usage: python evals/bench_model_layer.py [--n-scripted 2000] [--n-http 300] [--warmup 30] [--n-faulty 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

# Offline and untraced, whatever the caller's environment says.
os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.messages import HumanMessage  # noqa: E402

from pedagraph.llm import get_model, track_usage  # noqa: E402
from pedagraph.testing.openai_stub import OpenAIStub  # noqa: E402

PROMPT = [HumanMessage(content="Explain why the sky is blue in one sentence.")]


def summarize(samples: list[float]) -> dict[str, float]:
    """Return mean, p50 and p95 of per-call seconds, in milliseconds."""
    ordered = sorted(samples)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return {"mean": statistics.fmean(samples) * 1000, "p50": pct(0.50), "p95": pct(0.95), "n": len(samples)}


def fmt(name: str, stats: dict[str, float]) -> str:
    """One aligned line of figures."""
    return (
        f"  {name:<34} n={int(stats['n']):>5}  mean {stats['mean']:8.3f} ms"
        f"  p50 {stats['p50']:8.3f} ms  p95 {stats['p95']:8.3f} ms"
    )


def timed(call: Callable[[], object]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def bench_scripted(n: int, warmup: int) -> dict[str, float]:
    """Per-call time of the scripted model through get_model."""
    model = get_model("teacher", model="scripted")
    for _ in range(warmup):
        model.invoke(PROMPT)
    return summarize([timed(lambda: model.invoke(PROMPT)) for _ in range(n)])


def bench_http(n: int, warmup: int) -> tuple[dict[str, float], dict[str, float], int]:
    """Per-call time to a zero-delay stub: get_model versus a bare ChatOpenAI, calls interleaved."""
    from langchain_openai import ChatOpenAI

    with OpenAIStub() as stub:
        managed = get_model("teacher", model="openai:stub-model", base_url=stub.base_url, api_key="x")
        bare = ChatOpenAI(model="stub-model", base_url=stub.base_url, api_key="x", max_retries=0)
        for _ in range(warmup):
            managed.invoke(PROMPT)
            bare.invoke(PROMPT)
        managed_s: list[float] = []
        bare_s: list[float] = []
        for _ in range(n):  # interleaved, so drift (CPU frequency, GC) hits both alike
            managed_s.append(timed(lambda: managed.invoke(PROMPT)))
            bare_s.append(timed(lambda: bare.invoke(PROMPT)))
        requests = len(stub.chat_requests)
    return summarize(managed_s), summarize(bare_s), requests


def bench_faulty(n: int, fail_rate: float) -> None:
    """get_model against a stub that fails `fail_rate` of requests: every call should still succeed."""
    with OpenAIStub(fail_rate=fail_rate, seed=1234) as stub, track_usage() as usage:
        model = get_model(
            "student", model="openai:stub-model", base_url=stub.base_url, api_key="x", retry_backoff=0.005
        )
        ok = errors = 0
        samples: list[float] = []
        for _ in range(n):
            start = time.perf_counter()
            try:
                model.invoke(PROMPT)
                ok += 1
            except Exception:  # noqa: BLE001 - counted, not raised: this is a measurement
                errors += 1
            samples.append(time.perf_counter() - start)
        faults = [r.fault for r in stub.chat_requests if r.fault]
    totals = usage.totals()
    print(f"\nget_model vs a stub failing {fail_rate:.0%} of requests (seeded), retry_backoff=0.005 s")
    print(fmt("managed, with retries", summarize(samples)))
    print(
        f"  calls ok {ok}/{n}, errors {errors}; server saw {len(stub.chat_requests)} requests, "
        f"{len(faults)} faults ({', '.join(f'{k}={faults.count(k)}' for k in sorted(set(faults)))}); "
        f"usage: retries {int(totals['retries'])}, tokens {int(totals['total_tokens'])}"
    )


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-scripted", type=int, default=2000, help="calls to the scripted model")
    parser.add_argument("--n-http", type=int, default=300, help="calls to the stub, per client")
    parser.add_argument("--warmup", type=int, default=30, help="untimed calls first, per client")
    parser.add_argument("--n-faulty", type=int, default=200, help="calls against a failing stub (0 skips)")
    parser.add_argument("--fail-rate", type=float, default=0.2, help="failure rate of the failing stub")
    args = parser.parse_args(argv)

    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("langchain-core", "langchain-openai", "openai"))
    print(f"pedagraph model-layer benchmark — Python {platform.python_version()}, {versions}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU(s)\n")

    scripted = bench_scripted(args.n_scripted, args.warmup)
    print("scripted model (in-process, no network)")
    print(fmt("get_model('teacher', model='scripted')", scripted))

    managed, bare, requests = bench_http(args.n_http, args.warmup)
    print("\nOpenAI-compatible stub on 127.0.0.1, zero delay (HTTP round trip included)")
    print(fmt("get_model -> ChatOpenAI (managed)", managed))
    print(fmt("bare ChatOpenAI(max_retries=0)", bare))
    print(
        f"  overhead managed/bare: mean x{managed['mean'] / bare['mean']:.3f}, "
        f"p50 x{managed['p50'] / bare['p50']:.3f}; "
        f"added per call: {managed['mean'] - bare['mean']:+.3f} ms (mean), {managed['p50'] - bare['p50']:+.3f} ms (p50)"
    )
    print(f"  server saw {requests} requests (expected {2 * (args.n_http + args.warmup)})")

    if args.n_faulty > 0:
        bench_faulty(args.n_faulty, args.fail_rate)


if __name__ == "__main__":
    main()
