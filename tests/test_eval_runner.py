"""The eval runner: outputs, resume after Ctrl-C and SIGKILL, errors, --retry-errors, config checks, cache, speed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pedagraph.evals.metrics import proportion
from pedagraph.evals.runner import (
    Item,
    ItemContext,
    RunConfig,
    Suite,
    compare_runs,
    get_suite,
    item_seed,
    load_suites,
    read_results,
    run_suite,
)
from typer.testing import CliRunner

from pedagraph.cli import app
from pedagraph.errors import PedagraphError
from pedagraph.llm import ScriptedChatModel
from pedagraph.testing.eval_doubles import sum_items
from pedagraph.testing.openai_stub import OpenAIStub

cli = CliRunner()


def gold_of(text: str) -> int:
    import re

    m = re.search(r"What is (\d+) plus", text)
    assert m, text
    return 2 * int(m.group(1))


def lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]


def assert_once_each(out: Path, n: int) -> list[dict[str, Any]]:
    rows = lines(out)
    ids = [r["item_id"] for r in rows]
    assert len(ids) == len(set(ids)), "an item appears twice"
    assert sorted(ids) == sorted(f"q{i}" for i in range(n))
    return rows


def solve(options: dict[str, Any] | None = None) -> Suite:
    return get_suite("solve")(options or {})


def config(out: Path, data: Path, **kw: Any) -> RunConfig:
    return RunConfig(out_dir=out, data_path=data, **kw)


def run(suite: Suite, cfg: RunConfig):
    return asyncio.run(run_suite(suite, cfg, progress=False))


class CountingReplies:
    """reply_fn answering right (or wrong) and counting its calls."""

    def __init__(self, right: bool = True, fail_on: set[int] | None = None) -> None:
        self.right = right
        self.fail_on = fail_on or set()
        self.calls = 0

    def __call__(self, call) -> str:
        self.calls += 1
        gold = gold_of(call.last_user)
        if gold // 2 in self.fail_on:
            raise RuntimeError(f"backend exploded on item {gold // 2}")
        return f"{gold // 2} + {gold // 2} makes it.\nAnswer: {gold if self.right else gold + 1}"


def scripted(fn) -> dict[str, dict[str, Any]]:
    return {"student": {"model": ScriptedChatModel(reply_fn=fn)}}


# ------------------------------------------------------------------------------------------------------------


def test_interface_and_registry():
    suites = load_suites()
    assert "solve" in suites
    ctx = ItemContext(item_seed(0, "a"), {"k": 1})
    assert ctx.rng.random() == ItemContext(item_seed(0, "a"), {}).rng.random()
    assert item_seed(0, "a") != item_seed(1, "a") != item_seed(0, "b")
    with pytest.raises(PedagraphError) as err:
        get_suite("nope")
    assert "available: " in err.value.one_line() and "solve" in err.value.one_line()


def test_outputs_are_complete_and_consistent(tmp_path):
    data = sum_items(tmp_path / "d.jsonl", 12)
    out = tmp_path / "run"
    fn = CountingReplies()
    res = run(solve(), config(out, data, models=scripted(fn), seed=7))
    assert (res.ok, res.errors, res.ran, res.skipped, res.interrupted) == (12, 0, 12, 0, False)
    rows = assert_once_each(out, 12)
    row = rows[0]
    assert set(row) >= {"item_id", "status", "error", "result", "usage", "latency_s", "finished_at"}
    assert row["usage"]["student"]["calls"] == 1 and row["usage"]["student"]["input_tokens"] > 0
    assert row["result"]["transcript"][1]["role"] == "assistant"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"items": 12, "ok": 12, "errors": 0, "missing": 0}
    assert summary["metrics"]["accuracy"]["value"] == 1.0 and summary["metrics"]["accuracy"]["n"] == 12
    assert summary["usage"]["per_role"]["student"]["calls"] == 12
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["seed"] == 7 and run_json["data"]["sha256"] and run_json["versions"]["langgraph"]
    assert run_json["models"]["student"]["model"] == "scripted:ScriptedChatModel"
    assert "api_key" not in json.dumps(run_json)
    report = (out / "report.md").read_text()
    assert "| accuracy | 1.000 | ± 0.000 | 12 |" in report
    assert "![accuracy](accuracy.png)" in report and (out / "accuracy.png").stat().st_size > 1000


@pytest.fixture
def ctrl_c():
    """Ctrl-C raises KeyboardInterrupt, even when the tests run in a background job (which ignores SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_keeps_finished_lines_and_rerun_finishes_only_the_rest(tmp_path, ctrl_c):
    data = sum_items(tmp_path / "d.jsonl", 30)
    out = tmp_path / "run"
    state = {"n": 0}

    class Interrupting(type(solve())):
        async def run_item(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
            state["n"] += 1
            if state["n"] == 10:
                os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does
                await asyncio.sleep(1)
            return await super().run_item(item, ctx)

    res = run(Interrupting({}), config(out, data, models=scripted(CountingReplies()), concurrency=1))
    assert res.interrupted
    first = lines(out)
    assert 5 <= len(first) < 30
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False and summary["counts"]["missing"] == 30 - len(first)
    assert "Incomplete run" in (out / "report.md").read_text()
    fn = CountingReplies()
    res2 = run(solve(), config(out, data, models=scripted(fn), concurrency=4))
    assert res2.skipped == len(first) and res2.ran == 30 - len(first) and fn.calls == 30 - len(first)
    assert_once_each(out, 30)


def test_truncated_last_line_is_dropped_and_rerun(tmp_path):
    data = sum_items(tmp_path / "d.jsonl", 6)
    out = tmp_path / "run"
    run(solve(), config(out, data, models=scripted(CountingReplies())))
    text = (out / "results.jsonl").read_text().splitlines(keepends=True)
    cut = text[-1][: len(text[-1]) // 2]  # a kill in the middle of a write
    (out / "results.jsonl").write_text("".join(text[:-1]) + cut)
    assert len(read_results(out / "results.jsonl")) == 5
    fn = CountingReplies()
    res = run(solve(), config(out, data, models=scripted(fn), cache=False))
    assert (res.ran, fn.calls) == (1, 1)
    assert_once_each(out, 6)


def test_sigkill_mid_run_then_resume(tmp_path):
    """A real SIGKILL of `pedagraph eval` in a subprocess; the rerun finishes exactly what is missing."""
    n = 60
    data = sum_items(tmp_path / "d.jsonl", n)
    out = tmp_path / "run"
    with OpenAIStub(delay=0.05, reply_fn=lambda body: f"Answer: {gold_of(body['messages'][-1]['content'])}") as stub:
        cmd = [
            sys.executable, "-m", "pedagraph.cli", "eval", "solve", "--data", str(data), "--out", str(out),
            "--concurrency", "2", "--no-progress", "--no-cache",
            "--model", "student=openai:stub-model", "--model", f"student.base_url={stub.base_url}",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
        deadline = time.monotonic() + 60
        results = out / "results.jsonl"
        while time.monotonic() < deadline:
            if results.exists() and results.read_text().count("\n") >= 10:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        kept = read_results(results)
        assert 10 <= len(kept) < n
        before = len(stub.chat_requests)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=dict(os.environ))
        assert done.returncode == 0, done.stderr
        assert f"({n - len(kept)} run now, {len(kept)} already done)" in done.stdout
        assert len(stub.chat_requests) - before == n - len(kept)
    rows = assert_once_each(out, n)
    assert all(r["status"] == "ok" and r["result"]["correct"] for r in rows)


def test_failing_items_are_errors_and_the_run_goes_on_then_retry_errors(tmp_path):
    data = sum_items(tmp_path / "d.jsonl", 10)
    out = tmp_path / "run"
    res = run(solve(), config(out, data, models=scripted(CountingReplies(fail_on={2, 5}))))
    assert (res.ok, res.errors) == (8, 2)
    rows = {r["item_id"]: r for r in lines(out)}
    assert rows["q2"]["status"] == "error" and rows["q2"]["result"] is None
    assert "exploded" in rows["q2"]["error"] and "\n" not in rows["q2"]["error"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["errors"] == 2 and summary["metrics"]["accuracy"]["n"] == 8
    assert sum(summary["error_reasons"].values()) == 2
    assert "## Errors" in (out / "report.md").read_text()
    # a plain rerun does not touch error items
    fn = CountingReplies()
    assert run(solve(), config(out, data, models=scripted(fn))).ran == 0 and fn.calls == 0
    res = run(solve(), config(out, data, models=scripted(fn), retry_errors=True))
    assert (res.ran, res.ok, res.errors, fn.calls) == (2, 10, 0, 2)
    rows = assert_once_each(out, 10)
    assert all(r["status"] == "ok" for r in rows)


def test_model_errors_after_retries_against_a_failing_server(tmp_path):
    data = sum_items(tmp_path / "d.jsonl", 4)
    out = tmp_path / "run"
    with OpenAIStub(fail_rate=1.0, random_faults=["500"]) as stub:
        models = {"student": {"model": "openai:stub-model", "base_url": stub.base_url, "max_retries": 2,
                              "retry_backoff": 0.0}}  # fmt: skip
        res = run(solve(), config(out, data, models=models, cache=False))
        assert len(stub.chat_requests) == 4 * 3  # each item: one call and two retries
    assert (res.ok, res.errors) == (0, 4)
    rows = lines(out)
    assert all(r["error_type"] == "ModelError" and "after 3 attempt(s)" in r["error"] for r in rows)
    assert rows[0]["usage"]["student"]["retries"] == 2 and rows[0]["usage"]["student"]["errors"] == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"] == {} and summary["counts"]["errors"] == 4
    assert list(summary["error_reasons"].values()) == [4]


def test_changed_configuration_is_refused_unless_force_new(tmp_path):
    data = sum_items(tmp_path / "d.jsonl", 3)
    out = tmp_path / "run"
    run(solve(), config(out, data, seed=1))
    with pytest.raises(PedagraphError, match="different configuration.*seed 1 -> 2"):
        run(solve(), config(out, data, seed=2))
    other = sum_items(tmp_path / "e.jsonl", 4)
    with pytest.raises(PedagraphError, match="data_sha256"):
        run(solve(), config(out, other, seed=1))
    with pytest.raises(PedagraphError, match="models"):
        run(solve(), config(out, data, seed=1, models={"student": {"model": "scripted:other"}}))
    res = run(solve(), config(out, data, seed=2, force_new=True))
    assert res.ran == 3 and list(out.glob("results.jsonl.*.bak"))
    assert json.loads((out / "run.json").read_text())["seed"] == 2


def test_cache_rerun_costs_no_calls_and_reproduces_the_metrics(tmp_path):
    data = sum_items(tmp_path / "d.jsonl", 15)
    out = tmp_path / "run"
    fn = CountingReplies(right=False)
    model = ScriptedChatModel(reply_fn=fn)
    run(solve(), config(out, data, models={"student": {"model": model}}))
    assert fn.calls == 15 and (out / "cache.sqlite").exists()
    first = json.loads((out / "summary.json").read_text())
    res = run(solve(), config(out, data, models={"student": {"model": model}}, force_new=True))
    assert res.ran == 15 and fn.calls == 15  # every reply came from the cache
    second = json.loads((out / "summary.json").read_text())
    assert second["metrics"] == first["metrics"]
    assert second["usage"]["per_role"]["student"]["cache_hits"] == 15
    assert second["usage"]["per_role"]["student"]["calls"] == 0
    # without the cache the model is called again
    run(solve(), config(out, data, models={"student": {"model": model}}, force_new=True, cache=False))
    assert fn.calls == 30


@pytest.mark.parametrize("concurrency", [1, 8])
def test_concurrency_reaches_the_server(tmp_path, concurrency):
    data = sum_items(tmp_path / "d.jsonl", 40)
    with OpenAIStub(delay=0.05, reply_fn=lambda body: f"Answer: {gold_of(body['messages'][-1]['content'])}") as stub:
        models = {"student": {"model": "openai:stub-model", "base_url": stub.base_url, "concurrency": 64}}
        res = run(solve(), config(tmp_path / "run", data, models=models, concurrency=concurrency, cache=False))
        peak = stub.max_concurrent
        from pedagraph.llm.limits import limiter_for

        client_peak = limiter_for(("openai", stub.base_url), 64, None).max_in_use
    assert res.ok == 40
    assert client_peak == concurrency  # requests in flight from the runner, exactly
    # the stub counts a handler until its response is flushed, so a next request may overlap it by one
    assert peak <= concurrency + 1
    if concurrency > 1:
        assert peak > 1


def test_compare_runs_side_by_side(tmp_path):
    data = sum_items(tmp_path / "d.jsonl", 8)
    run(solve(), config(tmp_path / "right", data, models=scripted(CountingReplies(True))))
    run(solve(), config(tmp_path / "wrong", data, models=scripted(CountingReplies(False))))
    text = compare_runs([tmp_path / "right", tmp_path / "wrong"])
    assert "`right`" in text and "`wrong`" in text
    assert "1.000 ± 0.000 (n=8)" in text and "0.000 ± 0.000 (n=8)" in text
    result = cli.invoke(app, ["eval", "compare", str(tmp_path / "right"), str(tmp_path / "wrong"),
                              "--out", str(tmp_path / "cmp.md")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "accuracy" in (tmp_path / "cmp.md").read_text()
    with pytest.raises(PedagraphError, match="no summary.json"):
        compare_runs([tmp_path / "right", tmp_path / "nowhere"])


def test_metric_uncertainty_matches_metrics_module(tmp_path):
    data = sum_items(tmp_path / "d.jsonl", 10)
    out = tmp_path / "run"

    class Half(CountingReplies):
        def __call__(self, call) -> str:
            gold = gold_of(call.last_user)
            return f"Answer: {gold if (gold // 2) % 2 == 0 else gold + 1}"

    run(solve(), config(out, data, models=scripted(Half())))
    m = json.loads((out / "summary.json").read_text())["metrics"]["accuracy"]
    assert m == proportion([True, False] * 5).to_dict()
    assert "0.500 | ± 0.158 | 10" in (out / "report.md").read_text()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pedagraph.cli", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["eval", "nosuch", "--out", "o"], "unknown suite 'nosuch' — available: "),
        (["eval", "solve", "--out", "o", "--data", "missing.jsonl"], "data file not found"),
        (["eval", "solve", "--out", "o", "--model", "student"], "is not ROLE=provider:model"),
        (["eval", "solve", "--out", "o", "--model", "pupil=scripted"], "unknown role 'pupil'"),
        (["eval", "solve", "--out", "o", "--model", "student.colour=red"], "unknown setting 'colour'"),
        (["eval", "solve", "--out", "o", "--option", "novalue"], "is not KEY=VALUE"),
        (["eval", "solve", "--out", "o", "--option", "k=1"], "takes no options"),
        (["eval", "solve", "--out", "afile"], "is a file, not a directory"),
        (["eval", "solve"], "--out DIR is required"),
        (["eval", "compare", "x"], "compare needs two or more"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, monkeypatch, capsys, args, expected):
    from pedagraph.cli import main

    (tmp_path / "afile").write_text("x")
    data = sum_items(tmp_path / "d.jsonl", 2)
    if "--data" not in args and args[1] == "solve":
        args = [*args, "--data", str(data)]
    monkeypatch.setattr(sys, "argv", ["pedagraph", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert expected in err


def test_cli_bad_data_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": 1}\n{not json\n')
    proc = _cli("eval", "solve", "--data", str(bad), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1 and "line 2 is not JSON" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_sigint_to_the_cli_stops_cleanly_with_exit_130_then_resume(tmp_path):
    n = 60
    data = sum_items(tmp_path / "d.jsonl", n)
    out = tmp_path / "run"
    with OpenAIStub(delay=0.05, reply_fn=lambda body: f"Answer: {gold_of(body['messages'][-1]['content'])}") as stub:
        cmd = [
            sys.executable, "-m", "pedagraph.cli", "eval", "solve", "--data", str(data), "--out", str(out),
            "--concurrency", "2", "--no-progress",
            "--model", "student=openai:stub-model", "--model", f"student.base_url={stub.base_url}",
        ]  # fmt: skip
        # Ctrl-C reaches the CLI even when the tests run in a background job (which starts with SIGINT ignored)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
        results = out / "results.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (results.exists() and results.read_text().count("\n") >= 6):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 130, stdout + stderr
        assert "Traceback" not in stderr and "interrupted:" in stderr and "run the same command again" in stderr
        kept = read_results(results)
        assert 6 <= len(kept) < n
        summary = json.loads((out / "summary.json").read_text())
        assert summary["complete"] is False and summary["counts"]["ok"] == len(kept)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"({n - len(kept)} run now, {len(kept)} already done)" in done.stdout
    assert_once_each(out, n)


def test_a_failing_summarize_or_plot_keeps_results_and_reports_the_failure(tmp_path):
    data = sum_items(tmp_path / "d.jsonl", 3)
    out = tmp_path / "run"

    class Broken(type(solve())):
        def summarize(self, results):
            raise ValueError("bad metric")

        def plots(self, summary, results, out_dir):
            raise RuntimeError("no display")

    res = run(Broken({}), config(out, data, models=scripted(CountingReplies())))
    assert res.ok == 3 and len(lines(out)) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"] == {}
    assert any("bad metric" in w for w in summary["warnings"]) and any("no display" in w for w in summary["warnings"])
    assert "no display" in (out / "report.md").read_text()


def test_two_runs_cannot_write_to_one_directory(tmp_path):
    import fcntl

    data = sum_items(tmp_path / "d.jsonl", 2)
    out = tmp_path / "run"
    out.mkdir()
    with (out / ".lock").open("a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # what a running `pedagraph eval` holds
        with pytest.raises(PedagraphError, match="another `pedagraph eval` is writing"):
            run(solve(), config(out, data))
    assert run(solve(), config(out, data)).ok == 2
