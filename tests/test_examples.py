"""The embedding examples in examples/ work as their docstrings say: a FastAPI app, and the tutor as a subgraph."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from pedagraph.problems import get_problem

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"pedagraph_example_{name}", EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_fastapi_example_tutors_a_session_over_http(tmp_path):
    from fastapi.testclient import TestClient

    app = load("fastapi_app").create_app(str(tmp_path / "checkpoints.sqlite"))
    client = TestClient(app)
    opened = client.post("/sessions", json={"learner_id": "ana", "problem_id": "gsm8k-sample-1"}).json()
    assert "Janet" in opened["reply"] and not opened["done"]
    session = opened["session_id"]
    for step in get_problem("gsm8k-sample-1").steps:
        out = client.post(f"/sessions/{session}/messages", json={"learner_id": "ana", "text": step.answer}).json()
    assert out["done"] and "solved" in out["reply"]
    review = client.post(f"/sessions/{session}/messages", json={"learner_id": "ana", "text": "solution"}).json()
    assert review["reply"] != out["reply"]  # after the problem, a message is a question about it
    # errors are answers, not tracebacks
    other = client.post(f"/sessions/{session}/messages", json={"learner_id": "bob", "text": "9"})
    assert other.status_code == 400 and "learner" in other.json()["detail"]
    fresh = client.post("/sessions", json={"learner_id": "ana"}).json()["session_id"]
    assert client.post(f"/sessions/{fresh}/messages", json={"learner_id": "bob", "text": "9"}).status_code == 400
    assert client.post("/sessions/nope/messages", json={"learner_id": "ana", "text": "9"}).status_code == 404
    assert client.post(f"/sessions/{session}/messages", json={"learner_id": "ana", "text": ""}).status_code == 422


def test_subgraph_example_pauses_inside_the_tutor_and_finishes_the_flow(capsys):
    load("subgraph").main()
    printed = capsys.readouterr().out
    assert printed.count("learner:") == len(get_problem("gsm8k-sample-1").steps)
    assert "log: ['chose gsm8k-sample-1', 'finished: True" in printed
