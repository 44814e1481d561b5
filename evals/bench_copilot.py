"""Benchmark the copilot and the coach on the scripted model, each against a baseline measured in the same run.

* copilot turn: a student message -> the suggestion on the tutor's screen (diagnose, plan, draft, gate, interrupt),
  over a SqliteSaver as in the app, against the tutor graph's turn on the same messages (its reply sent directly);
* copilot resume after a restart: a new connection, saver and compiled graph, then the tutor's `send`;
* coach: the whole graph on MathDial conversations against reading them alone (`parse_transcript`).

Usage: python evals/bench_copilot.py [--turns 30] [--transcripts 479]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph.checkpoint.sqlite import SqliteSaver  # noqa: E402
from langgraph.types import Command  # noqa: E402

PID = "gsm8k-sample-1"
STUDENT = ["7001", "I don't know", "12", "16 - 3 - 4", "9", "is it 20?", "18"]


def _turns(build, context_cls, student_mode: str, n: int, db: Path, copilot: bool) -> list[float]:
    """Seconds per student turn (to the next pause) over n turns, restarting the problem when it ends."""
    conn = sqlite3.connect(db, check_same_thread=False)
    graph = build(checkpointer=SqliteSaver(conn))
    times: list[float] = []
    thread = 0
    while len(times) < n:
        thread += 1
        cfg = {"configurable": {"thread_id": f"t{thread}"}}
        ctx = context_cls(learner_id=f"bench-{thread}", student_mode=student_mode)
        out = graph.invoke({"problem_id": PID}, cfg, context=ctx)
        if copilot:
            out = graph.invoke(Command(resume={"action": "send"}), cfg, context=ctx)
        for text in STUDENT:
            if "__interrupt__" not in out or len(times) >= n:
                break
            t0 = time.perf_counter()
            out = graph.invoke(Command(resume=text), cfg, context=ctx)
            times.append(time.perf_counter() - t0)
            if copilot and "__interrupt__" in out:
                out = graph.invoke(Command(resume={"action": "send"}), cfg, context=ctx)
    conn.close()
    return times


def _restart_resume(db: Path, repeats: int = 7) -> float:
    """Median seconds to reopen the database, compile the graph and resume a waiting tutor with `send`."""
    from pedagraph.graphs.copilot import Context, build_graph

    times = []
    for i in range(repeats):
        conn = sqlite3.connect(db, check_same_thread=False)
        graph = build_graph(checkpointer=SqliteSaver(conn))
        cfg, ctx = {"configurable": {"thread_id": f"restart-{i}"}}, Context(learner_id=f"bench-restart-{i}")
        graph.invoke({"problem_id": PID}, cfg, context=ctx)
        graph.invoke(Command(resume={"action": "send"}), cfg, context=ctx)
        graph.invoke(Command(resume="7001"), cfg, context=ctx)
        conn.close()
        t0 = time.perf_counter()
        conn = sqlite3.connect(db, check_same_thread=False)
        graph = build_graph(checkpointer=SqliteSaver(conn))
        out = graph.invoke(Command(resume={"action": "send"}), cfg, context=ctx)
        times.append(time.perf_counter() - t0)
        assert out["__interrupt__"][0].value["type"] == "await_learner"
        conn.close()
    return statistics.median(times)


def _coach(records: list[dict]) -> tuple[float, float]:
    from pedagraph.graphs.coach import build_graph

    from pedagraph.methods.coach.coaching import parse_transcript

    graph = build_graph()  # the full state (the served `graph` shows a learner-facing view)

    t0 = time.perf_counter()
    for r in records:
        parse_transcript(r["conversation"], "mathdial")
    parse = time.perf_counter() - t0
    t0 = time.perf_counter()
    for r in records:
        graph.invoke({"mathdial": r})
    return parse, time.perf_counter() - t0


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--transcripts", type=int, default=479)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PEDAGRAPH_HOME"] = str(Path(tmp) / "home")
        from pedagraph.graphs import copilot, tutor

        from pedagraph.datasets import require

        lines = require("mathdial/test.jsonl").path.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines[: args.transcripts]]
        print(f"pedagraph copilot/coach benchmark — Python {platform.python_version()}, {os.cpu_count()} CPU(s), "
              "scripted model, SqliteSaver")  # fmt: skip
        _turns(tutor.build_graph, tutor.Context, "human", 3, Path(tmp) / "warm.sqlite", False)  # imports, caches
        base = _turns(tutor.build_graph, tutor.Context, "human", args.turns, Path(tmp) / "tutor.sqlite", False)
        mine = _turns(copilot.build_graph, copilot.Context, "human", args.turns, Path(tmp) / "copilot.sqlite", True)
        b, m = statistics.median(base), statistics.median(mine)
        print(f"{'measure':<52}{'median ms':>10}{'ratio':>8}")
        print(f"{'tutor graph: student turn -> reply (baseline)':<52}{b * 1000:>10.1f}{1.0:>8.2f}")
        print(f"{'copilot: student turn -> suggestion on screen':<52}{m * 1000:>10.1f}{m / b:>8.2f}")
        restart = _restart_resume(Path(tmp) / "restart.sqlite")
        print(f"{'copilot: reopen the database + resume (send)':<52}{restart * 1000:>10.1f}{restart / b:>8.2f}")
        parse, whole = _coach(records)
        per_parse, per_whole = parse / len(records), whole / len(records)
        print(f"{f'coach: read {len(records)} MathDial transcripts (baseline)':<52}{per_parse * 1000:>10.2f}"
              f"{1.0:>8.2f}")  # fmt: skip
        print(f"{'coach: whole graph (A, B, C, novelty, report)':<52}{per_whole * 1000:>10.2f}"
              f"{per_whole / per_parse:>8.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
