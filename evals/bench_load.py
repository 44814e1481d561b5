"""Load benchmark: N simulated learners at once through the app, against the tutor graph alone on the same cores.

The teacher is a real-model path: an OpenAI-compatible stub (`pedagraph.testing.openai_stub`, its own process)
answering after a fixed delay, so a turn has model latency as in production and the CPU measured is pedagraph's.

For each N in --learners, in one run:
  1. the graph alone: one process, one compiled tutor graph over the app's checkpointer (SQLite, or PostgreSQL
     with --database-url), N threads,
     each a learner working a problem for --turns turns (interrupt + `Command(resume=...)` per turn);
  2. the app: `pedagraph ui` in its own process (or K processes on one PostgreSQL, --app-processes), N learners
     doing the same through `/restore`, `/start` and `/send` (streamed): browser sessions speaking the protocol of
     Gradio's page on one event loop (--driver http, the default, a light load generator), or `gradio_client`
     clients in threads (--driver gradio_client; each polls for updates, a load of its own on the same cores).
The N sessions are opened first (problem started, opener shown; a new browser session costs Gradio its own
per-session state), then their turns are timed, all at once: a turn is one learner message and the tutor's reply.
Printed per N: turns/s, p50 and p95 turn latency, CPU per turn of the serving process(es) (user + system, from
/proc) and of the load generator (this process), and the ratios app / graph. The ideal turn latency is the
model delay times the calls a turn makes.

With --floor, a no-op Gradio app with the same event shape (`no-op` rows) shows what Gradio itself costs per turn.

Usage: python evals/bench_load.py [--learners 1,8,32] [--turns 5] [--delay 0.05] [--floor]
       [--driver http|gradio_client] [--database-url postgresql://... [--app-processes K]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    wait_for_port(port, proc)
    return proc, f"http://127.0.0.1:{port}"


def drive(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) for i in range(n) at once, one thread each; their results in order."""
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{len(errors)} learner(s) failed; first: {errors[0]!r}")
    return results


def measured(
    n: int,
    opened: Callable[[int], Any],
    turns_of: Callable[[int, Any, list[float]], None],
    cpu: Callable[[], float],
) -> dict[str, float]:
    """Open n sessions (untimed), then time their turns, all at once: turns/s, latencies, CPU per turn."""
    sessions = drive(n, opened)
    latencies: list[list[float]] = [[] for _ in range(n)]
    before, own, started = cpu(), cpu_seconds(), time.perf_counter()
    drive(n, lambda i: turns_of(i, sessions[i], latencies[i]))
    return finish(started, latencies, cpu() - before, own)


def finish(started: float, latencies: list[list[float]], cpu: float, own_before: float) -> dict[str, float]:
    """The figures of a timed run that began at `started` (perf_counter), with the driver's own CPU per turn."""
    result = summary(time.perf_counter() - started, [x for mine in latencies for x in mine], cpu)
    result["driver_cpu_per_turn"] = (cpu_seconds() - own_before) / max(1, result["turns"])
    return result


def graph_alone(home: Path, n: int, turns: int) -> dict[str, float]:
    """The tutor graph in this process over the app's checkpointer (SQLite, or PostgreSQL by URL), n learners."""
    from langgraph.types import Command
    from pedagraph.graphs.tutor import Context, build_graph

    from pedagraph.checkpointing import open_checkpointer
    from pedagraph.settings import load_settings

    home.mkdir(parents=True, exist_ok=True)
    os.environ["PEDAGRAPH_HOME"] = str(home)
    graph = build_graph(checkpointer=open_checkpointer(load_settings()).saver)

    run = uuid.uuid4().hex[:8]

    def opened(i: int) -> tuple[dict[str, Any], Context]:
        name = f"g{run}-{n}-{i}"  # new ids each run: a PostgreSQL database outlives the run
        config, ctx = {"configurable": {"thread_id": name}}, Context(learner_id=name)
        graph.invoke({"problem_id": PID}, config, context=ctx)
        return config, ctx

    def turns_of(i: int, opened: tuple[dict[str, Any], Context], out: list[float]) -> None:
        config, ctx = opened
        for k in range(turns):
            started = time.perf_counter()
            for _ in graph.stream(Command(resume=STUDENT_LINES[k % len(STUDENT_LINES)]), config, context=ctx,
                                  stream_mode="custom"):  # fmt: skip
                pass
            out.append(time.perf_counter() - started)

    turns_of(-1, opened(-1), [])  # warm-up: imports, first compile, caches
    return measured(n, opened, turns_of, cpu_seconds)


class BrowserSession:
    """One browser session on the app, over the protocol Gradio's own page uses.

    An event joins the queue, then the session's event stream is read until it completes (streamed updates
    arrive as diffs, as in a browser); then, as the page does, the events chained after it (`.then`) run (the
    app's chained events take no input: the server knows the learner from the login cookie of `http`).
    """

    def __init__(self, http: Any, config: dict[str, Any]) -> None:
        self.http, self.hash = http, uuid.uuid4().hex
        deps = config["dependencies"]
        self.fns = {d["api_name"]: d["id"] for d in deps if d.get("api_name")}
        self.chained: dict[int, list[int]] = {}
        for d in deps:
            if d.get("trigger_after") is not None:
                if d["inputs"]:
                    raise SystemExit(f"chained event {d['id']} takes {len(d['inputs'])} inputs; the driver gives none")
                self.chained.setdefault(d["trigger_after"], []).append(d["id"])

    async def call(self, api_name: str, *data: Any) -> list[Any]:
        """Run one event of the app, then the events chained after it, and return the event's final outputs."""
        fn = self.fns[api_name]
        outputs = await self._run(fn, list(data))
        for chained in self.chained.get(fn, []):
            await self._run(chained, [])
        return outputs

    async def _run(self, fn: int, data: list[Any]) -> list[Any]:
        body = {"data": data, "fn_index": fn, "session_hash": self.hash, "event_data": None}
        joined = await self.http.post("/gradio_api/queue/join", json=body)
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        async with self.http.stream("GET", "/gradio_api/queue/data", params={"session_hash": self.hash}) as stream:
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                    if not message.get("success"):
                        raise RuntimeError(f"event {fn} failed: {message.get('output')}")
                    return message["output"]["data"]
        raise RuntimeError(f"event {fn}: the event stream ended before the event completed")


def app(home: Path, n: int, turns: int, driver: str = "http", processes: int = 1) -> dict[str, float]:
    """`pedagraph ui` in its own process(es), n learners at once: browser sessions (`http`) or `gradio_client` ones.

    With several processes (one database by URL), learner i stays on process i mod k, as behind a balancer with
    session affinity; the CPU is the sum of the processes'.
    """
    from pedagraph.testing.apps import learner_login

    procs = []
    try:
        urls = []
        for k in range(processes):
            port = free_port()
            # each process its own home (upload folder, browser key); the sessions and learners are in the database
            where = home / f"app{k}" if processes > 1 else home
            where.parent.mkdir(parents=True, exist_ok=True)
            for i in range(-processes, n):  # the learners (and one for each process's warm-up) log in
                learner_login(where, f"bench{i}")
            procs.append(start_app(where, port)[0])
            urls.append(f"http://127.0.0.1:{port}/")
        cpu = lambda: sum(cpu_seconds(p.pid) for p in procs)  # noqa: E731
        if driver == "gradio_client":
            return _app_gradio_client(urls[0], n, turns, cpu, home)
        return asyncio.run(_app_http(urls, n, turns, cpu, home))
    finally:
        for proc in procs:
            stop_app(proc)


async def _app_http(
    urls: list[str], n: int, turns: int, cpu: Callable[[], float], home: Path | None = None
) -> dict[str, float]:
    """The app driven by n browser sessions on one event loop of this process; home None: no login (no-op app)."""
    import httpx

    from pedagraph.testing.apps import learner_login

    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    async with contextlib.AsyncExitStack() as stack:

        async def browser(i: int) -> Any:
            """A browser of learner `bench{i}`, logged in (its own cookie) on process i mod k."""
            url = urls[i % len(urls)]
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=300, limits=limits))
            if home is None:
                return http
            name, password = learner_login(home / f"app{i % len(urls)}" if len(urls) > 1 else home, f"bench{i}")
            (await http.post("/login", data={"username": name, "password": password})).raise_for_status()
            return http

        first = [await browser(-k - 1) for k in range(len(urls))]
        configs = [(await http.get("/config")).json() for http in first]

        async def opened(i: int, http: Any = None) -> BrowserSession:
            session = BrowserSession(http or await browser(i), configs[i % len(urls)])
            await session.call("restore")
            await session.call("start", PID)
            return session

        async def turns_of(session: BrowserSession, out: list[float]) -> None:
            for k in range(turns):
                started = time.perf_counter()
                await session.call("send", STUDENT_LINES[k % len(STUDENT_LINES)])
                out.append(time.perf_counter() - started)

        for k, http in enumerate(first):
            await turns_of(await opened(-k - 1, http), [])  # warm-up, each process
        sessions = await asyncio.gather(*(opened(i) for i in range(n)))
        latencies: list[list[float]] = [[] for _ in range(n)]
        before, own, started = cpu(), cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(turns_of(sessions[i], latencies[i]) for i in range(n)))
        return finish(started, latencies, cpu() - before, own)


def _app_gradio_client(url: str, n: int, turns: int, cpu: Callable[[], float], home: Path) -> dict[str, float]:
    """The app driven by n `gradio_client` clients in threads (heavier: each client has threads of its own)."""
    from gradio_client import Client

    from pedagraph.testing.apps import learner_login

    clients = [Client(url, auth=learner_login(home, f"bench{i}"), verbose=False) for i in range(-1, n)]

    def opened(i: int) -> Any:
        client = clients[i + 1]
        client.predict(api_name="/restore")
        return client.predict(PID, api_name="/start")

    def turns_of(i: int, _state: Any, out: list[float]) -> None:
        client = clients[i + 1]
        for k in range(turns):
            started = time.perf_counter()
            # streamed as in a browser; waiting on the result rather than iterating the job's updates keeps the
            # client from polling them every millisecond (gradio_client's iterator) on the cores the app runs on
            job = client.submit(STUDENT_LINES[k % len(STUDENT_LINES)], api_name="/send")
            job.result()
            out.append(time.perf_counter() - started)

    turns_of(-1, opened(-1), [])  # warm-up
    return measured(n, opened, turns_of, cpu)


def serve_floor(port: int) -> None:
    """Serve a no-op Gradio app whose turn has the app's shape (7 outputs, 3 updates, a 14-message chat)."""
    import gradio as gr

    chat = [{"role": "user" if i % 2 else "assistant", "content": f"message {i} " * 20} for i in range(14)]

    session = {"thread_id": "t", "learner_id": "l"}

    def restore() -> tuple[Any, ...]:
        return session, chat, "status", "panel"

    def start(problem_id: str) -> Any:
        yield session, chat, "status", "panel"

    def send(message: str) -> Any:
        asked = [*chat, {"role": "user", "content": message}]
        yield session, asked, "", "status", "panel", "<svg/>", "Next"
        time.sleep(0.1)  # the two model calls of a turn
        yield session, [*asked, {"role": "assistant", "content": "a reply"}], "", "status", "panel", "<svg/>", "Next"
        yield session, [*asked, {"role": "assistant", "content": "a reply, whole"}], "", "s", "p", "<svg/>", "Next"

    with gr.Blocks() as demo:
        state = gr.BrowserState({})
        chatbot, status, panel, box = gr.Chatbot(), gr.Markdown(), gr.Markdown(), gr.Textbox()
        plot, button, picker = gr.HTML(), gr.Button("Next"), gr.Dropdown(choices=[PID])
        demo.load(restore, [], [state, chatbot, status, panel], api_name="restore")  # the app's events: no state in
        button.click(start, [picker], [state, chatbot, status, panel], api_name="start")  # (login cookie instead)
        box.submit(send, [box], [state, chatbot, box, status, panel, plot, button], api_name="send")
    demo.queue(default_concurrency_limit=32).launch(server_port=port, max_threads=48, quiet=True)


def floor(n: int, turns: int) -> dict[str, float]:
    """The no-op app of the same shape under the same learners: Gradio's own cost per turn."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_ANALYTICS_CACHE_FREQUENCY": "1000"}
    proc = subprocess.Popen([sys.executable, __file__, "--serve-floor", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for_port(port, proc)
        return asyncio.run(_app_http([f"http://127.0.0.1:{port}/"], n, turns, lambda: cpu_seconds(proc.pid)))
    finally:
        stop_app(proc)


def wait_for_port(port: int, proc: subprocess.Popen) -> None:
    """Wait until a server process accepts connections on 127.0.0.1:port."""
    import socket

    for _ in range(1200):
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not start")


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
    parser.add_argument(
        "--driver",
        choices=["http", "gradio_client"],
        default="http",
        help="the learners: browser sessions on one event loop (light), or gradio_client clients",
    )
    parser.add_argument("--app-processes", type=int, default=1,
                        help="app processes sharing the database (needs --database-url); learners split between them")
    parser.add_argument("--floor", action="store_true",
                        help="also run a no-op Gradio app of the same event shape (Gradio's own cost per turn)")
    parser.add_argument("--serve-floor", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help="PEDAGRAPH_DATABASE_URL for both (Postgres); default SQLite")
    args = parser.parse_args()
    if args.serve_floor:
        serve_floor(args.serve_floor)
        return
    if args.app_processes > 1 and not args.database_url:
        parser.error("--app-processes above 1 needs --database-url (app processes share PostgreSQL)")
    if args.app_processes > 1 and args.driver != "http":
        parser.error("--app-processes above 1 needs --driver http")
    stub, stub_url = start_stub(args.delay)
    os.environ.update(model_env(stub_url))
    if args.database_url:
        os.environ["PEDAGRAPH_DATABASE_URL"] = args.database_url
    store = "Postgres" if args.database_url else "SQLite"
    print(f"stub model delay {args.delay * 1000:.0f} ms per call; {args.turns} turns per learner; store: {store}; "
          f"learners: {args.driver}; app processes: {args.app_processes}; {os.cpu_count()} cores")  # fmt: skip
    print(f"{'learners':>8} {'where':>6} {'turns/s':>8} {'p50 s':>7} {'p95 s':>7} {'CPU ms/turn':>12} "
          f"{'driver ms/turn':>15}")  # fmt: skip
    try:
        for n in [int(x) for x in args.learners.split(",") if x.strip()]:
            with tempfile.TemporaryDirectory(prefix="pedagraph-load-") as tmp:
                g = graph_alone(Path(tmp) / "graph", n, args.turns)
                a = app(Path(tmp) / "app", n, args.turns, args.driver, args.app_processes)
            rows = [("graph", g), ("app", a)] + ([("no-op", floor(n, args.turns))] if args.floor else [])
            for name, r in rows:
                print(f"{n:>8} {name:>6} {r['turns_per_s']:>8.2f} {r['p50']:>7.3f} {r['p95']:>7.3f} "
                      f"{r['cpu_per_turn'] * 1000:>12.1f} {r['driver_cpu_per_turn'] * 1000:>15.1f}")  # fmt: skip
            print(f"{'':>8} ratios app/graph: turns/s {a['turns_per_s'] / g['turns_per_s']:.2f}, "
                  f"CPU per turn {a['cpu_per_turn'] / g['cpu_per_turn']:.2f}")  # fmt: skip
    finally:
        stub.terminate()


if __name__ == "__main__":
    main()
