"""`pedagraph eval ... --backend ray`: same outputs, resume and no duplicates as the local runner, killed workers.

A local Ray (2 CPUs) is started once for the module; the CLI test starts and stops its own. The model is the
OpenAI-compatible stub server on 127.0.0.1, which the Ray workers reach over HTTP like a real provider.
Skipped with the reason where Ray is not installed (the `ray` extra; `.ci/run` installs it).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'pedagraph[ray]'; .ci/run installs it)")

from pedagraph.evals.runner import RunConfig, get_suite, read_results, run_suite  # noqa: E402

from pedagraph.testing.eval_doubles import WorkerKillingSolve, sum_items  # noqa: E402
from pedagraph.testing.openai_stub import OpenAIStub  # noqa: E402

pytestmark = pytest.mark.slow


def answer(body: dict[str, Any]) -> str:
    import re

    i = int(re.search(r"What is (\d+) plus", body["messages"][-1]["content"]).group(1))
    return f"{i} and {i} together.\nAnswer: {2 * i if i % 4 else 2 * i + 1}"  # every 4th answer is wrong


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    home = tmp_path_factory.mktemp("ray-home")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024 * 1024, log_to_driver=False,
             runtime_env={"env_vars": {"PEDAGRAPH_HOME": str(home)}})  # fmt: skip
    yield
    ray.shutdown()


@pytest.fixture
def stub():
    with OpenAIStub(delay=0.02, reply_fn=answer) as server:
        yield server


def models(stub: OpenAIStub) -> dict[str, dict[str, Any]]:
    return {"student": {"model": "openai:stub-model", "base_url": stub.base_url}}


def run(suite, out: Path, data: Path, stub: OpenAIStub, **kw: Any):
    config = RunConfig(out_dir=out, data_path=data, models=models(stub), cache=False, **kw)
    return asyncio.run(run_suite(suite, config, progress=False))


def rows(out: Path) -> dict[str, dict[str, Any]]:
    """results.jsonl by item id, each item exactly once, without the timing fields."""
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    ids = [r["item_id"] for r in lines]
    assert len(ids) == len(set(ids)), "an item appears twice"
    for r in lines:
        r.pop("latency_s"), r.pop("finished_at")
        for usage in r["usage"].values():
            usage.pop("seconds")
    return {r["item_id"]: r for r in lines}


# First: before the module's Ray starts, so the CLI's own local Ray does not run beside it.
def test_cli_backend_ray_starts_a_local_ray_and_bad_backends_are_one_line(stub, tmp_path, monkeypatch, capsys):
    from pedagraph.cli import main

    data = sum_items(tmp_path / "d.jsonl", 6)
    out = tmp_path / "run"
    args = ["eval", "solve", "--data", str(data), "--out", str(out), "--no-progress",
            "--model", "student=openai:stub-model", "--model", f"student.base_url={stub.base_url}"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["pedagraph", *args, "--backend", "spark"])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 1 and len(err.splitlines()) == 1
    assert "unknown --backend 'spark'" in err and "local, ray" in err
    cmd = [sys.executable, "-m", "pedagraph.cli", *args, "--backend", "ray", "--ray-cpus", "0.5"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "solve: 6 scored, 0 errors of 6 items (6 run now, 0 already done)" in done.stdout
    assert json.loads((out / "run.json").read_text())["backend"] == "ray"
    assert len(stub.chat_requests) == 6


def test_ray_run_equals_the_local_run_even_when_workers_are_killed(local_ray, stub, tmp_path):
    n = 16
    data = sum_items(tmp_path / "d.jsonl", n)
    local = run(get_suite("solve")({}), tmp_path / "local", data, stub, concurrency=4)
    suite = WorkerKillingSolve(kill_items={"q3", "q10"}, marks=tmp_path / "marks")
    remote = run(suite, tmp_path / "ray", data, stub, concurrency=4, backend="ray")
    assert suite.killed() == ["q10", "q3"]  # two workers really died mid-item; Ray ran those items again
    assert (remote.ok, remote.errors, remote.ran, remote.interrupted) == (n, 0, n, False)
    assert rows(tmp_path / "ray") == rows(tmp_path / "local")
    assert len(rows(tmp_path / "ray")) == n
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("local", "ray")]
    assert summaries[0]["metrics"] == summaries[1]["metrics"] and summaries[1]["metrics"]["accuracy"]["value"] == 0.75
    assert summaries[0]["counts"] == summaries[1]["counts"] == {"items": n, "ok": n, "errors": 0, "missing": 0}
    assert summaries[1]["usage"]["per_role"]["student"]["calls"] == n == local.ok
    run_json = json.loads((tmp_path / "ray" / "run.json").read_text())
    assert run_json["backend"] == "ray" and (tmp_path / "ray" / "report.md").is_file()


def test_ray_resume_runs_only_the_missing_items_once(local_ray, stub, tmp_path):
    n = 12
    data = sum_items(tmp_path / "d.jsonl", n)
    out = tmp_path / "run"
    first = run(get_suite("solve")({}), out, data, stub, limit=5, backend="ray")
    assert (first.ran, first.ok) == (5, 5)
    text = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(text[:-1]) + text[-1][:20])  # killed mid-write
    assert len(read_results(out / "results.jsonl")) == 4
    before = len(stub.chat_requests)
    second = run(get_suite("solve")({}), out, data, stub, backend="ray", concurrency=3)
    assert (second.skipped, second.ran, second.ok) == (4, n - 4, n)
    assert len(stub.chat_requests) - before == n - 4  # no item ran twice
    assert sorted(rows(out)) == sorted(f"q{i}" for i in range(n))
    again = run(get_suite("solve")({}), out, data, stub, backend="ray")
    assert (again.ran, again.skipped) == (0, n) and len(stub.chat_requests) - before == n - 4


def test_a_poison_item_that_kills_every_worker_is_an_error_and_the_run_goes_on(local_ray, stub, tmp_path):
    n = 8
    data = sum_items(tmp_path / "d.jsonl", n)
    out = tmp_path / "run"
    suite = WorkerKillingSolve(kill_items={"q2"}, marks=tmp_path / "marks", every_attempt=True)
    res = run(suite, out, data, stub, concurrency=2, backend="ray")
    got = rows(out)
    assert sorted(got) == sorted(f"q{i}" for i in range(n)) and res.interrupted is False
    assert got["q2"]["status"] == "error" and "died" in got["q2"]["error"].lower()
    assert all(r["status"] == "ok" for r in got.values() if r["status"] != "error")
    errors = {i for i, r in got.items() if r["status"] == "error"}
    # fixed (here: the suite no longer kills), --retry-errors runs the errors again and nothing else
    res2 = run(get_suite("solve")({}), out, data, stub, backend="ray", retry_errors=True)
    assert res2.ran == len(errors) and all(r["status"] == "ok" for r in rows(out).values())


def test_a_worker_dead_for_good_is_replaced(local_ray, stub, tmp_path):
    from pedagraph.evals.ray_backend import RayItems

    data = sum_items(tmp_path / "d.jsonl", 4)
    suite = get_suite("solve")({})
    items = suite.load_items(data)
    config = RunConfig(out_dir=tmp_path / "run", data_path=data, models=models(stub), cache=False, concurrency=2,
                       backend="ray")  # fmt: skip
    pool = RayItems(suite, config, {"student": "openai:stub-model"})
    try:
        ray.kill(pool._workers[0], no_restart=True)  # gone for good, as after its last restart
        first = asyncio.run(pool(items[0]))  # sent to the least busy worker: the dead one
        assert first["status"] == "error" and first["item_id"] == "q0" and pool.replaced == 1
        later = [asyncio.run(pool(item)) for item in items[1:]]
        assert [r["status"] for r in later] == ["ok"] * 3 and pool.replaced == 1
    finally:
        pool.close()
    assert ray.is_initialized()  # the module's Ray was joined, not started, so it is left running


def test_the_outcomes_suite_on_ray_equals_the_local_run(local_ray, stub, tmp_path):
    data = Path(__file__).resolve().parents[1] / "pedagraph" / "data" / "problems" / "gsm8k_sample.jsonl"
    options = {"policy": "tell,tutor,tutor_library,copilot_random", "learners": 3, "items": 1, "realism": 0,
               "student": "offline"}  # fmt: skip
    local = run(get_suite("outcomes")(options), tmp_path / "local", data, stub, concurrency=4)
    remote = run(get_suite("outcomes")(options), tmp_path / "ray", data, stub, concurrency=4, backend="ray")
    assert (local.ok, remote.ok, remote.errors) == (12, 12, 0)  # the library is built on a worker too

    def without_ids(out: Path) -> dict[str, Any]:  # learner ids name their run's directory
        got = rows(out)
        for r in got.values():
            assert r["result"].pop("learner_id").startswith("sim:outcomes-")
        return got

    assert without_ids(tmp_path / "ray") == without_ids(tmp_path / "local")
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("local", "ray")]
    assert summaries[0]["metrics"] == summaries[1]["metrics"]
    assert "tutor.normalised_gain" in summaries[1]["metrics"]
