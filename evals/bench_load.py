"""Load benchmark: N simulated learners at once through the app, against the tutor graph alone on the same cores.

The teacher is a real-model path: an OpenAI-compatible stub (`pedagraph.testing.openai_stub`, its own process)
answering after a fixed delay, so a turn has model latency as in production and the CPU measured is pedagraph's.

For each N in --learners, in one run:
  1. the graph alone: one process, one compiled tutor graph over one SqliteSaver (as the app has), N threads,
     each a learner working a problem for --turns turns (interrupt + `Command(resume=...)` per turn);
  2. the app: `pedagraph ui` in its own process, N `gradio_client` clients in threads doing the same through
     `/start` and `/send` (streamed), as N browsers would.
Printed per N: turns/s, p50 and p95 turn latency, CPU seconds per turn of the serving process (user + system,
from /proc), and the ratios app / graph. The ideal turn latency is the model delay times the calls a turn makes.

Usage: python evals/bench_load.py [--learners 1,8,32] [--turns 5] [--delay 0.05]
       [--database-url postgresql://...]   (the same with Postgres, where the store supports it)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ["LANGSMITH_TRACING"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"
for _name in [n for n in os.environ if n.startswith(("PEDAGRAPH_", "OPENAI_"))]:
    del os.environ[_name]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evals.bench_tutor import PID, STUDENT_LINES, free_port, start_app, stop_app  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (this one by default), children excluded."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def model_env(stub_url: str) -> dict[str, str]:
    """The environment that makes the teacher the stub (other roles stay scripted)."""
    return {"PEDAGRAPH_TEACHER_MODEL": "openai:stub-model", "OPENAI_BASE_URL": f"{stub_url}/v1",
            "OPENAI_API_KEY": "sk-load-bench-0000"}  # fmt: skip


def start_stub(delay: float) -> tuple[subprocess.Popen, str]:
    """The OpenAI-compatible stub in its own process (its CPU is not the server's)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pedagraph.testing.openai_stub", "--port", str(port),
                             "--delay", str(delay)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    import socket

    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the stub server did not start")


def drive(n: int, session: Callable[[int, list[float]], None]) -> tuple[float, list[float]]:
    """Run n learner sessions at once; (wall seconds, turn latencies)."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        mine: list[float] = []
        try:
            session(i, mine)
        except BaseException as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{len(errors)} learner(s) failed; first: {errors[0]!r}")
    return time.perf_counter() - started, latencies


def graph_alone(home: Path, n: int, turns: int) -> dict[str, float]:
    """The tutor graph in this process over one SqliteSaver, n learners in threads."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.types import Command
    from pedagraph.graphs.tutor import Context, build_graph

    home.mkdir(parents=True, exist_ok=True)
    os.environ["PEDAGRAPH_HOME"] = str(home)
    graph = build_graph(checkpointer=SqliteSaver(sqlite3.connect(home / "ck.sqlite", check_same_thread=False)))

    def session(i: int, out: list[float]) -> None:
        config, ctx = {"configurable": {"thread_id": f"g{n}-{i}"}}, Context(learner_id=f"g{n}-{i}")
        graph.invoke({"problem_id": PID}, config, context=ctx)
        for k in range(turns):
            started = time.perf_counter()
            for _ in graph.stream(Command(resume=STUDENT_LINES[k % len(STUDENT_LINES)]), config, context=ctx,
                                  stream_mode="custom"):  # fmt: skip
                pass
            out.append(time.perf_counter() - started)

    session(-1, [])  # warm-up: imports, first compile, caches
    cpu = cpu_seconds()
    wall, latencies = drive(n, session)
    return summary(wall, latencies, cpu_seconds() - cpu)


def app(home: Path, n: int, turns: int) -> dict[str, float]:
    """`pedagraph ui` in its own process, n gradio_client learners in threads."""
    from gradio_client import Client

    port = free_port()
    proc, _ = start_app(home, port)
    try:
        url = f"http://127.0.0.1:{port}/"
        clients = [Client(url, verbose=False) for _ in range(n + 1)]

        def session(i: int, out: list[float]) -> None:
            client = clients[i]
            state = client.predict({}, api_name="/restore")[0]
            state = client.predict(state, PID, api_name="/start")[0]
            for k in range(turns):
                started = time.perf_counter()
                job = client.submit(state, STUDENT_LINES[k % len(STUDENT_LINES)], api_name="/send")
                for _ in job:
                    pass
                state = job.result()[0]
                out.append(time.perf_counter() - started)

        session(-1, [])  # warm-up
        cpu = cpu_seconds(proc.pid)
        wall, latencies = drive(n, session)
        return summary(wall, latencies, cpu_seconds(proc.pid) - cpu)
    finally:
        stop_app(proc)


def summary(wall: float, latencies: list[float], cpu: float) -> dict[str, float]:
    """Turns/s, latency percentiles and CPU per turn of one run."""
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return {"turns": len(ordered), "turns_per_s": len(ordered) / wall, "p50": statistics.median(ordered),
            "p95": p95, "cpu_per_turn": cpu / max(1, len(ordered))}  # fmt: skip


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", default="1,8,32", help="comma-separated numbers of simultaneous learners")
    parser.add_argument("--turns", type=int, default=5, help="learner turns per session")
    parser.add_argument("--delay", type=float, default=0.05, help="the stub model's latency per call, seconds")
    parser.add_argument("--database-url", help="PEDAGRAPH_DATABASE_URL for both (Postgres); default SQLite")
    args = parser.parse_args()
    stub, stub_url = start_stub(args.delay)
    os.environ.update(model_env(stub_url))
    if args.database_url:
        os.environ["PEDAGRAPH_DATABASE_URL"] = args.database_url
    store = "Postgres" if args.database_url else "SQLite"
    print(f"stub model delay {args.delay * 1000:.0f} ms per call; {args.turns} turns per learner; store: {store}; "
          f"{os.cpu_count()} cores")  # fmt: skip
    print(f"{'learners':>8} {'where':>6} {'turns/s':>8} {'p50 s':>7} {'p95 s':>7} {'CPU ms/turn':>12}")
    try:
        for n in [int(x) for x in args.learners.split(",") if x.strip()]:
            with tempfile.TemporaryDirectory(prefix="pedagraph-load-") as tmp:
                g = graph_alone(Path(tmp) / "graph", n, args.turns)
                a = app(Path(tmp) / "app", n, args.turns)
            for name, r in (("graph", g), ("app", a)):
                print(f"{n:>8} {name:>6} {r['turns_per_s']:>8.2f} {r['p50']:>7.3f} {r['p95']:>7.3f} "
                      f"{r['cpu_per_turn'] * 1000:>12.1f}")  # fmt: skip
            print(f"{'':>8} ratios app/graph: turns/s {a['turns_per_s'] / g['turns_per_s']:.2f}, "
                  f"CPU per turn {a['cpu_per_turn'] / g['cpu_per_turn']:.2f}")  # fmt: skip
    finally:
        stub.terminate()


if __name__ == "__main__":
    main()
