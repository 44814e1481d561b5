"""Benchmark the tutoring app and the tutor graph on the offline `scripted` model.

Measures, in one run:
  1. start-up: from launching `pedagraph ui --port N` to its port accepting connections (median of --starts);
  2. time to first token: from `gradio_client` submitting a learner message to `/send` until the first
     streamed update that shows tutor text, and the whole turn (median of --turns, after one warm-up);
  3. per-turn graph cost with a SqliteSaver checkpointer, an InMemorySaver, and no checkpointer, in-process.
     Without a checkpointer the human-mode interrupt cannot resume, so this part runs the simulated-student
     mode (a scripted student model answers, the teacher is the scripted default): one invoke runs a whole
     session of --graph-turns learner turns, and the per-turn figure is the invoke time divided by the turns.
     It also times human mode (interrupt + `Command(resume=...)` per turn) with both checkpointers.
     Every variant does the same node work (a fresh learner per session, learner-store writes included);
     the differences are the checkpointer's cost. Per-turn cost grows with session length (the reveal gate
     checks every earlier reply, the learner record grows), so compare variants at the same --graph-turns.

With `--baseline REF` (a git ref, e.g. the commit before a change), part 3 also runs on that ref's code, laid
out from `git archive` in a temporary directory, each variant in its own subprocess, and prints the ratio
current / baseline per variant. `--only graph` skips parts 1 and 2.

Usage: python evals/bench_tutor.py [--starts 3] [--turns 10] [--graph-turns 50] [--repeats 3]
                                   [--baseline REF] [--only graph]
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from importlib import metadata
from pathlib import Path

os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
for _name in [n for n in os.environ if n.startswith(("PEDAGRAPH_", "OPENAI_", "OLLAMA_"))]:
    del os.environ[_name]
REPO = Path(__file__).resolve().parents[1]
if not os.environ.get("BENCH_TUTOR_CODE"):  # a baseline subprocess imports the exported ref's code instead
    sys.path.insert(0, str(REPO))
# folders mapped into the pedagraph package (pyproject's package-dir)
PACKAGE_DIRS = {"agents": "agents", "graphs": "graphs", "prompts": "prompts", "evals": "evals", "ui": "ui"}

PID = "gsm8k-sample-1"
STUDENT_LINES = ["7001", "I don't know", "9", "is it 42?"]


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pedagraph_bin() -> str:
    """Return the `pedagraph` executable next to this Python."""
    exe = Path(sys.executable).with_name("pedagraph")
    return str(exe) if exe.exists() else shutil.which("pedagraph") or "pedagraph"


def start_app(home: Path, port: int) -> tuple[subprocess.Popen, float]:
    """Start `pedagraph ui` and return the process and the seconds until its port accepted a connection."""
    env = {**os.environ, "PEDAGRAPH_HOME": str(home)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [pedagraph_bin(), "ui", "--port", str(port)],
        env=env,
        cwd=home.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"pedagraph ui exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, time.perf_counter() - started
        except OSError:
            time.sleep(0.02)


def stop_app(proc: subprocess.Popen) -> None:
    """Stop an app process."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def text_of(message: dict) -> str:
    """Plain text of a chat message as gradio_client returns it."""
    content = message["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content if isinstance(p, dict))


def bench_startup(root: Path, n: int) -> list[float]:
    """Seconds from launching `pedagraph ui` to an open port, n times."""
    out = []
    for _ in range(n):
        proc, seconds = start_app(root / "home-startup", free_port())
        out.append(seconds)
        stop_app(proc)
    return out


def bench_first_token(root: Path, n: int) -> tuple[list[float], list[float], list[float]]:
    """Seconds to the first streamed tutor text, to the end of the turn, and of a bare `/restore` round trip."""
    from gradio_client import Client

    from pedagraph.testing.apps import learner_login

    port = free_port()
    login = learner_login(root / "home-stream", "bench")
    proc, _ = start_app(root / "home-stream", port)
    try:
        client = Client(f"http://127.0.0.1:{port}/", auth=login, verbose=False)
        client.predict(api_name="/restore")
        first, whole = [], []
        for i in range(n + 1):
            if i % 5 == 0:  # a fresh problem every five turns keeps the session far from its turn limit
                client.predict(PID, api_name="/start")
            text = STUDENT_LINES[i % len(STUDENT_LINES)]
            started = time.perf_counter()
            job = client.submit(text, api_name="/send")
            t_first = None
            for out in job:
                chat = out[0]
                if t_first is None and isinstance(chat, list) and len(chat) >= 2:
                    if text_of(chat[-2]) == text and chat[-1]["role"] == "assistant" and text_of(chat[-1]):
                        t_first = time.perf_counter() - started
            job.result()
            t_whole = time.perf_counter() - started
            if i > 0:  # the first turn is a warm-up
                first.append(t_first if t_first is not None else t_whole)
                whole.append(t_whole)
        bare = []
        for _ in range(n):
            started = time.perf_counter()
            client.predict(api_name="/restore")
            bare.append(time.perf_counter() - started)
        return first, whole, bare
    finally:
        stop_app(proc)


def bench_graph(root: Path, turns: int, repeats: int) -> dict[str, list[float]]:
    """Per-turn seconds of the tutor graph with each checkpointer, simulated and human mode."""
    os.environ["PEDAGRAPH_HOME"] = str(root / "home-graph")
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.types import Command
    from pedagraph.graphs.tutor import Context, build_graph

    from pedagraph.llm import ScriptedChatModel

    def student() -> ScriptedChatModel:
        lines = itertools.cycle(STUDENT_LINES)
        return ScriptedChatModel(reply_fn=lambda call: next(lines))

    savers = {
        "none": lambda: None,
        "InMemorySaver": InMemorySaver,
        "SqliteSaver": lambda: SqliteSaver(
            sqlite3.connect(root / f"ck-{time.monotonic_ns()}.sqlite", check_same_thread=False)
        ),
    }
    results: dict[str, list[float]] = {}
    for name, make in savers.items():
        graph = build_graph(checkpointer=make())
        for rep in range(repeats + 1):
            ctx = Context(learner_id=f"bench-{name}-{rep}", student_mode="simulated", student_model=student(),
                          max_turns=turns)  # fmt: skip
            config = {"configurable": {"thread_id": f"sim-{name}-{rep}"}}
            started = time.perf_counter()
            state = graph.invoke({"problem_id": PID}, config, context=ctx)
            seconds = time.perf_counter() - started
            done = state.get("turn_count", 0)
            if rep > 0 and done:  # rep 0 warms up
                results.setdefault(f"simulated, {name}", []).append(seconds / done)
    for name in ("InMemorySaver", "SqliteSaver"):
        graph = build_graph(checkpointer=savers[name]())
        for rep in range(repeats + 1):
            ctx = Context(learner_id=f"bench-human-{name}-{rep}", max_turns=turns + 1)
            config = {"configurable": {"thread_id": f"human-{name}-{rep}"}}
            graph.invoke({"problem_id": PID}, config, context=ctx)
            lines = itertools.cycle(STUDENT_LINES)
            started = time.perf_counter()
            for _ in range(turns):
                graph.invoke(Command(resume=next(lines)), config, context=ctx)
            if rep > 0:
                results.setdefault(f"human (resume per turn), {name}", []).append(
                    (time.perf_counter() - started) / turns
                )
    return results


def export_ref(ref: str, dest: Path) -> Path:
    """Lay out the pedagraph package of a git ref under `dest` as an install would; return the sys.path entry."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref], capture_output=True, check=True)
    src = dest / "src"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(src, filter="data")
    package = dest / "path" / "pedagraph"
    shutil.copytree(src / "pedagraph", package)
    for folder, name in PACKAGE_DIRS.items():
        shutil.copytree(src / folder, package / name)
    return dest / "path"


def graph_in_subprocess(code_path: Path | None, root: Path, turns: int, repeats: int) -> dict[str, list[float]]:
    """Part 3 in a fresh Python: the installed code (`code_path=None`) or the code laid out at `code_path`."""
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PEDAGRAPH_HOME": str(root / "home-graph")}
    if code_path is not None:
        env["PYTHONPATH"] = str(code_path)
        env["BENCH_TUTOR_CODE"] = str(code_path)
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--graph-json", "--graph-turns", str(turns),
         "--repeats", str(repeats)],
        env=env, cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare_with_baseline(root: Path, ref: str, turns: int, repeats: int) -> None:
    """Print part 3 for the current code and for `ref`, and the ratio per variant."""
    code = export_ref(ref, root / "baseline")
    baseline = graph_in_subprocess(code, root / "b", turns, repeats)
    current = graph_in_subprocess(None, root / "c", turns, repeats)
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", ref], capture_output=True, text=True).stdout
    print(f"\n3b. per learner turn: this code vs baseline {ref} ({sha.strip()}), same run, median ms/turn")
    for name in current:
        now, before = statistics.median(current[name]), statistics.median(baseline.get(name) or [float("nan")])
        print(f"  {name:<40} now {now * 1000:7.2f}  baseline {before * 1000:7.2f}  ratio {now / before:5.2f}")


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=3, help="app starts timed (median reported)")
    parser.add_argument("--turns", type=int, default=10, help="chat turns timed through gradio_client")
    parser.add_argument("--graph-turns", type=int, default=50, help="learner turns per in-process session")
    parser.add_argument("--repeats", type=int, default=3, help="sessions per checkpointer (after a warm-up)")
    parser.add_argument("--baseline", help="git ref whose code part 3 is also run on, for a ratio (e.g. HEAD~1)")
    parser.add_argument("--only", choices=["graph"], help="run part 3 only")
    parser.add_argument("--graph-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.graph_json:  # a subprocess of --baseline: part 3 only, as JSON on the last line
        print(json.dumps(bench_graph(Path.cwd(), args.graph_turns, args.repeats)))
        return

    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("gradio", "gradio_client", "langgraph"))
    print(f"pedagraph tutor benchmark · Python {platform.python_version()} · {versions} · {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="pedagraph-bench-") as tmp:
        root = Path(tmp)
        if args.baseline:
            compare_with_baseline(root, args.baseline, args.graph_turns, args.repeats)
        if args.only == "graph":
            return
        starts = bench_startup(root, args.starts)
        print("\n1. `pedagraph ui` launch -> port open")
        print(f"  median {statistics.median(starts):.2f} s  (runs: {', '.join(f'{s:.2f}' for s in starts)})")

        first, whole, bare = bench_first_token(root, args.turns)
        print(f"\n2. gradio_client submit -> first streamed tutor text (scripted model, n={len(first)})")
        print(f"  first token  median {statistics.median(first) * 1000:7.1f} ms  max {max(first) * 1000:7.1f} ms")
        print(f"  whole turn   median {statistics.median(whole) * 1000:7.1f} ms  max {max(whole) * 1000:7.1f} ms")
        print(f"  for scale, a /restore round trip (no graph run): median {statistics.median(bare) * 1000:.1f} ms")

        graph = bench_graph(root, args.graph_turns, args.repeats)
        print(f"\n3. tutor graph per learner turn, in-process ({args.graph_turns} turns x {args.repeats} sessions)")
        base = statistics.median(graph["simulated, none"])
        for name, samples in graph.items():
            med = statistics.median(samples)
            extra = f"  (+{(med - base) * 1000:.2f} ms vs none)" if name.startswith("simulated") else ""
            print(f"  {name:<40} median {med * 1000:7.2f} ms/turn{extra}")
        print(
            "  simulated: one invoke runs the whole session (the scripted student answers); human: one\n"
            "  invoke + Command(resume=...) per turn. Both include the node work and learner-store writes\n"
            "  (a fresh learner per session); the checkpointer's share is the difference from `none`."
        )


if __name__ == "__main__":
    main()
