"""Benchmark strategy-teaching distillation: what retrieval adds to a tutor turn, and one loop on a known tutor.

1. Tutor-turn latency (the `tutor` graph answering one scenario, a stand-in teacher so the model costs nothing):
   without strategies (the baseline, measured in the same run) and with a library of `--entries` strategies
   retrieved each turn; the ratio is what retrieval costs.
2. The `strategy_distill` loop on `KnownTutor` (weak on two of four scenario kinds, one weakness fixable), the
   scripted coach and judge: rounds, strategies written and kept, the judge score per round, wall time.

Run: .venv/bin/python evals/bench_distill.py [--entries 200] [--turns 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def _median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    """Print the tutor-turn latency with and without retrieval, and one distillation loop's figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200, help="strategies in the library")
    parser.add_argument("--turns", type=int, default=15, help="tutor turns timed per condition")
    args = parser.parse_args()
    os.environ["PEDAGRAPH_HOME"] = tempfile.mkdtemp(prefix="pedagraph-bench-distill-")

    from pedagraph.graphs.strategy_distill import Context, build_graph

    from pedagraph.llm import StandInChatModel
    from pedagraph.memory import get_memory
    from pedagraph.methods.distill.library import Strategy, StrategyLibrary
    from pedagraph.methods.distill.scenarios import situation_text
    from pedagraph.methods.distill.tutor import run_tutor
    from pedagraph.problems import get_problem
    from pedagraph.testing.distill import KnownTutor, known_scenarios

    problem = get_problem("gsm8k-sample-1")
    memory = get_memory()
    scenarios = known_scenarios(problem, 3)
    lib = StrategyLibrary(memory, "bench")
    lib.add([Strategy(strategy=f"Strategy {i}: ask about step {i % 5}.",
                      situation=situation_text(f"{scenarios[i % len(scenarios)].student_message} (variant {i})",
                                               "incorrect", scenarios[i % len(scenarios)].profile))
             for i in range(args.entries)])  # fmt: skip
    tutor = StandInChatModel(model_name="bench-tutor", reply_fn=KnownTutor({"subtracted": "question"}))
    scenario = scenarios[3]
    run_tutor(scenario, tutor, strategies="bench", memory=memory)  # warm: embedder, Chroma, graph imports
    base = _median_ms(lambda: run_tutor(scenario, tutor, strategies=None, memory=memory), args.turns)
    with_lib = _median_ms(lambda: run_tutor(scenario, tutor, strategies="bench", memory=memory), args.turns)
    print(f"tutor turn (stand-in teacher), median of {args.turns}: without strategies {base:.1f} ms; "
          f"with a {args.entries}-entry library {with_lib:.1f} ms; ratio {with_lib / base:.2f}x")

    double = KnownTutor({"subtracted": "question", "stopped": "zebra"})
    tutor = StandInChatModel(model_name="known-tutor", reply_fn=double)
    t0 = time.perf_counter()
    out = build_graph(memory=memory).invoke(
        {"pool": [s.model_dump(mode="json") for s in scenarios]},
        context=Context(teacher_model=tutor, coach_model="scripted", evaluator_model="scripted", library="loop",
                        per_round=4, rounds=4),
    )  # fmt: skip
    wall = time.perf_counter() - t0
    for r in out["rounds"]:
        print(f"round {r['round']}: {r['scenarios']} scenarios, mean judge score {r['mean_score']:.2f}, "
              f"{r['failures']} failures, {r['candidates']} strategies written, {r['kept']} kept")
    tutor_turns = len(double.prompts)
    print(f"stop: {out['stop_reason']}; library: {StrategyLibrary(memory, 'loop').count()} strategies; "
          f"{tutor_turns} tutor turns in {wall:.1f} s ({1000 * wall / max(1, tutor_turns):.0f} ms per turn, "
          f"{1000 * wall / max(1, tutor_turns) / base:.2f}x a bare tutor turn)")


if __name__ == "__main__":
    main()
