"""Benchmark EduPlanner: model calls per plan at the original parameters, and sequential against fanned-out wall time.

One plan with N=20 rounds, K=3 candidates, P=3 survivors, T=8 test problems, M=5 repeats (methods.md §2.3), the
early stop off (every round runs), against a local OpenAI-compatible stub (`pedagraph.testing.openai_stub`) that
answers every request after a fixed delay: the planner gets a fixed plan text, the simulated learners and the CIDDP
judge schema-valid JSON. It prints the calls the stub received against the formula
`targets + K + K(TM+1) + N(K + K(TM+1))`, and the wall time of the same plan evaluated one call after the other
(`Context(fan_out=False)`, the original's loop) and fanned out with `Send` (LangGraph's `max_concurrency` as given),
as a ratio measured in the same run. The stub runs in this process (its waits release the GIL).

Usage: python evals/bench_eduplanner.py [--delay 0.02] [--rounds 20] [--fan 8 32]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pedagraph.graphs.eduplanner import Context, build_graph  # noqa: E402

from pedagraph.llm import get_model  # noqa: E402
from pedagraph.methods.eduplanner.context import ORIGINAL  # noqa: E402
from pedagraph.methods.eduplanner.plans import draft_plan, target_problems  # noqa: E402
from pedagraph.testing.openai_stub import OpenAIStub  # noqa: E402
from pedagraph.testing.tom import prompt_opening  # noqa: E402

TOPIC = "fractions of amounts"
LEVELS = [4, 4, 3, 4, 3]
PLANNER_OPENINGS = tuple(prompt_opening(n) for n in ("planner/draft", "planner/optimise"))
_PLAN = draft_plan(TOPIC, target_problems(TOPIC, []), {}, None)


def reply(body: dict[str, Any]) -> str | None:
    """A fixed plan for the planner's free-text prompts; None (schema-valid JSON) for everything else."""
    messages = body.get("messages") or []
    text = str(messages[-1].get("content") or "") if messages else ""
    return _PLAN if text.startswith(PLANNER_OPENINGS) else None


def expected_calls(targets: int, rounds: int, k: int, t: int, m: int) -> int:
    """Model calls of one plan: the analyst per target, K drafts, N rounds of K plans, K(TM+1) evaluations a round."""
    evaluation = k * (t * m + 1)
    return targets + k + evaluation + rounds * (k + evaluation)


def run_plan(base_url: str, rounds: int, *, fan_out: bool, fan: int) -> tuple[float, dict[str, Any]]:
    """One plan at the original K, P, T, M and `rounds` rounds, early stop off; wall seconds and the result."""
    common = {"base_url": base_url, "api_key": "x", "concurrency": 256, "temperature": 0, "cache": False}
    models = {f"{role}_model": get_model(role, model=f"openai:stub-{role}", **common)
              for role in ("planner", "student", "evaluator")}  # fmt: skip
    params = {**ORIGINAL, "rounds": rounds}
    ctx = Context(**params, patience=0, fan_out=fan_out, material_k=0, **models)
    t0 = time.perf_counter()
    out = build_graph().invoke({"topic": TOPIC, "levels": LEVELS}, {"max_concurrency": fan}, context=ctx)
    return time.perf_counter() - t0, out["result"]


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay", type=float, default=0.02, help="seconds the stub waits before each answer")
    parser.add_argument("--rounds", type=int, default=ORIGINAL["rounds"])
    parser.add_argument("--fan", type=int, nargs="+", default=[8, 32], help="LangGraph max_concurrency values")
    args = parser.parse_args()
    k, t, m = ORIGINAL["candidates"], ORIGINAL["test_problems"], ORIGINAL["repeats"]
    targets = len(target_problems(TOPIC, []))
    formula = expected_calls(targets, args.rounds, k, t, m)
    print(f"pedagraph eduplanner benchmark — Python {platform.python_version()}, {os.cpu_count()} CPU(s); stub delay "
          f"{args.delay * 1000:.0f} ms; N={args.rounds} K={k} P={ORIGINAL['survivors']} T={t} M={m}, early stop off")
    print(f"model calls per plan by the formula: {formula} ({targets} analyst + {k} drafts + {k * (t * m + 1)} "
          f"evaluations in round 0, then {k + k * (t * m + 1)} per round)")
    print(f"{'evaluation':<28}{'calls':>7}{'wall s':>9}{'calls x delay':>15}{'vs sequential':>15}")
    with OpenAIStub(delay=args.delay, reply_fn=reply) as stub:
        seq_wall, result = run_plan(stub.base_url, args.rounds, fan_out=False, fan=1)
        seq_calls = len(stub.chat_requests)
        print(f"{'sequential (original loop)':<28}{seq_calls:>7}{seq_wall:>9.1f}{seq_calls * args.delay:>15.1f}"
              f"{1.0:>15.2f}")
        assert result["calls"] == seq_calls, (result["calls"], seq_calls)
        for fan in args.fan:
            stub.reset()
            wall, result = run_plan(stub.base_url, args.rounds, fan_out=True, fan=fan)
            calls = len(stub.chat_requests)
            print(f"{'fanned out, Send x' + str(fan):<28}{calls:>7}{wall:>9.1f}{calls * args.delay:>15.1f}"
                  f"{seq_wall / wall:>14.2f}x  (peak {stub.max_concurrent} in flight)")
    print(f"calls measured = formula: {seq_calls == formula}")


if __name__ == "__main__":
    main()
