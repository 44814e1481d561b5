"""The graphs served by `langgraph dev` (the LangGraph API server) and driven with `langgraph-sdk`, as an app would.

One server for the module, on a free loopback port, in its own PEDAGRAPH_HOME; models are the built-in `scripted`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
LANGGRAPH = shutil.which("langgraph", path=str(Path(sys.executable).parent)) or shutil.which("langgraph")

pytestmark = pytest.mark.skipif(LANGGRAPH is None, reason="langgraph CLI not installed (pip install -e '.[studio]')")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A `langgraph dev` server of this repository's langgraph.json; yields (url, PEDAGRAPH_HOME)."""
    home = tmp_path_factory.mktemp("server-home")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEDAGRAPH_", "OPENAI_", "LANGSMITH_"))}
    env.update(PEDAGRAPH_HOME=str(home), LANGSMITH_TRACING="false", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [LANGGRAPH, "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port),
         "--config", str(ROOT / "langgraph.json")],  # fmt: skip
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            if proc.poll() is not None:
                tail = (home / "server.log").read_text()[-3000:]
                pytest.fail(f"langgraph dev exited with {proc.returncode}:\n{tail}")
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"langgraph dev did not start:\n{(home / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, home
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_every_graph_is_served_with_a_described_context_schema(server):
    from langgraph_sdk import get_sync_client

    url, _home = server
    client = get_sync_client(url=url)
    declared = set(json.loads((ROOT / "langgraph.json").read_text())["graphs"])
    assistants = {a["graph_id"]: a for a in client.assistants.search(limit=100)}
    assert declared <= set(assistants)
    for graph_id in declared:
        schema = client.assistants.get_schemas(assistants[graph_id]["assistant_id"])["context_schema"]
        fields = schema["properties"]
        assert "learner_id" in fields
        undocumented = [name for name, spec in fields.items() if not spec.get("description")]
        assert not undocumented, (graph_id, undocumented)


def test_tutor_interrupts_for_the_learner_and_resumes_over_http(server):
    from langgraph_sdk import get_sync_client

    from pedagraph.learner import LearnerStore
    from pedagraph.problems import get_problem

    url, home = server
    client = get_sync_client(url=url)
    thread = client.threads.create()["thread_id"]
    context = {"learner_id": "via-server"}
    client.runs.wait(thread, "tutor", input={"problem_id": "gsm8k-sample-1"}, context=context)
    state = client.threads.get_state(thread)
    assert state["next"] == ["student_turn"]
    assert any(task["interrupts"] for task in state["tasks"])
    opener = state["values"]["messages"][-1]
    assert opener["type"] == "ai" and "16" in opener["content"]

    step = get_problem("gsm8k-sample-1").steps[0]
    chunks = list(client.runs.stream(thread, "tutor", command={"resume": f"16 - 3 = {step.answer}"}, context=context,
                                     stream_mode=["custom", "values"]))  # fmt: skip
    tokens = "".join(c.data["text"] for c in chunks if c.event == "custom" and c.data.get("type") == "token")
    values = [c.data for c in chunks if c.event == "values"][-1]
    assert values["step_index"] == 1 and values["turn_count"] == 1
    reply = values["messages"][-1]["content"]
    assert tokens and reply.startswith(tokens[: len(tokens) // 2])
    assert "18" not in reply  # the final answer stays hidden over HTTP too
    learner = LearnerStore(home / "learners.sqlite").get("via-server")
    assert learner.stats.sessions == 1 and learner.problems["gsm8k-sample-1"].replies


def test_tom_teacher_runs_over_http(server):
    from langgraph_sdk import get_sync_client

    from pedagraph.testing.tom import synthetic_items

    url, _home = server
    client = get_sync_client(url=url)
    thread = client.threads.create()["thread_id"]
    items = [i.model_dump(mode="json") for i in synthetic_items(3)]
    pool = [i.model_dump(mode="json") for i in synthetic_items(4, prefix="p")]
    context = {"budget": 0.34, "function": "random", "calibration_items": 4, "seed": 3}
    out = client.runs.wait(thread, "tom_teacher", input={"items": items, "pool": pool}, context=context)
    assert out["summary"]["items"] == 3 and out["summary"]["explained"] == 1  # the served view: no per-item gold
    assert len(out["plan"]) == 3 and "result" not in out and "answers" not in out


def test_streamed_values_and_thread_state_carry_no_answer(server):
    """The served tutor shows its learner-facing view only: no final answer, step answers or worked solution."""
    from langgraph_sdk import get_sync_client

    from pedagraph.problems import get_problem

    url, _home = server
    client = get_sync_client(url=url)
    problem = get_problem("gsm8k-sample-1")
    thread = client.threads.create()["thread_id"]
    context = {"learner_id": "embedder"}
    seen = [c.data for c in client.runs.stream(thread, "tutor", input={"problem_id": problem.id}, context=context,
                                               stream_mode="values") if c.event == "values"]  # fmt: skip
    resumed = client.runs.stream(thread, "tutor", command={"resume": "I have no idea"}, context=context,
                                 stream_mode="values")  # fmt: skip
    seen += [c.data for c in resumed if c.event == "values"]
    seen.append(client.threads.get_state(thread)["values"])
    extra = [sorted(set(v) - {"learner_id", "messages", "turn_count", "end_reason", "step_index", "__interrupt__",
                              "learner_solved", "revealed", "done", "mode"}) for v in seen]  # fmt: skip
    assert seen and not any(extra), extra
    text = json.dumps(seen)
    for secret in ("final_answer", "solution", "steps", "answer"):
        assert f'"{secret}"' not in text
    shown = " ".join(m["content"] for v in seen for m in v.get("messages", []) if isinstance(m.get("content"), str))
    assert problem.final_answer == "18" and not re.search(r"\b18\b", shown)  # not given away by the replies


VIEWS = {
    "tutor": "pedagraph.state:LearnerView",
    "copilot": "pedagraph.state:LearnerView",
    "coach": "graphs.coach:CoachView",
    "eduplanner": "graphs.eduplanner:PlanView",
    "tom_teacher": "graphs.tom_teacher:TomView",
    "strategy_distill": "graphs.strategy_distill:DistillView",
}
SECRET_KEYS = ("final_answer", "solution", "solution_text", "steps", "answer", "answers", "gold", "ground_truth",
               "markdown", "per_item", "pool", "attempts", "mathdial", "label", "student_incorrect_solution")
"""Keys that hold answers, worked solutions or gold labels (`summary.items` of tom_teacher and `rounds[].scenarios`
of strategy_distill are counts, and tom_teacher's `explanation` the kind of explanation: texts are checked instead)."""


def _served_runs() -> dict[str, tuple[dict, dict, list[str]]]:
    """graph id -> (input, context, texts that must never come out): each input carries answers and gold labels."""
    from pedagraph.datasets import require
    from pedagraph.problems import get_problem
    from pedagraph.testing.tom import synthetic_items

    problem = get_problem("gsm8k-sample-1")
    solution = [s.solution_text for s in problem.steps if s.solution_text]
    lines = require("mathdial/test.jsonl").path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    record = records[0]
    worked = [line.strip() for r in records for line in r["ground_truth"].splitlines() if len(line.strip()) > 20]
    items = [i.model_dump(mode="json") for i in synthetic_items(3)]
    return {
        "tutor": ({"problem_id": problem.id}, {"learner_id": "embedder"}, solution),
        "copilot": ({"problem_id": problem.id}, {"learner_id": "embedder", "student_mode": "simulated"}, solution),
        "coach": ({"mathdial": record}, {}, [record["ground_truth"], record["student_incorrect_solution"], *worked]),
        "eduplanner": ({"problems": [problem.model_dump(mode="json")], "levels": [3] * 5},
                       {"rounds": 0, "candidates": 1, "test_problems": 4, "repeats": 1, "material_k": 0}, solution),
        "tom_teacher": ({"items": items, "pool": [i.model_dump(mode="json") for i in synthetic_items(4, prefix="p")]},
                        {"budget": 0.34, "function": "random", "calibration_items": 4, "seed": 3},
                        [i["explanation"] for i in items]),
        "strategy_distill": ({}, {"rounds": 1, "per_round": 2}, worked),  # its pool: MathDial's problems
    }  # fmt: skip


def test_every_served_graph_streams_only_its_learner_facing_view(server):
    """Every graph of langgraph.json declares an output schema; its streamed `values` and state carry no answer."""
    import importlib

    from langgraph_sdk import get_sync_client

    url, _home = server
    client = get_sync_client(url=url)
    declared = set(json.loads((ROOT / "langgraph.json").read_text())["graphs"])
    runs = _served_runs()
    assert declared == set(VIEWS) == set(runs)
    for graph_id in sorted(declared):
        module, name = VIEWS[graph_id].split(":")
        view = set(getattr(importlib.import_module(module), name).__annotations__)
        inp, context, secrets = runs[graph_id]
        thread = client.threads.create()["thread_id"]
        seen = [c.data for c in client.runs.stream(thread, graph_id, input=inp, context=context, stream_mode="values")
                if c.event == "values"]  # fmt: skip
        seen.append(client.threads.get_state(thread)["values"])
        assert seen[0], graph_id
        extra = sorted({k for v in seen for k in v} - view - {"__interrupt__"})
        assert not extra, (graph_id, extra)
        shown = [{k: v for k, v in values.items() if k != "__interrupt__"} for values in seen]
        text = json.dumps(shown)
        leaked = [k for k in SECRET_KEYS if f'"{k}"' in text] + [s[:40] for s in secrets if s.strip() and s in text]
        assert not leaked, (graph_id, leaked)
