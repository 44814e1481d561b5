"""The `distill` suite on doubles: a library built on training scenarios helps the known-weak tutor on held-out ones."""

from __future__ import annotations

import json

import pytest
from conftest import data_file

from pedagraph.errors import DataError
from pedagraph.llm import StandInChatModel
from pedagraph.testing.distill import KnownTutor


@pytest.fixture
def mathdial(tmp_path):
    """The first 24 MathDial records (of the full file or the bundled sample), as a file of their own."""
    lines = data_file("mathdial/test.jsonl").path.read_text(encoding="utf-8").splitlines()[:24]
    path = tmp_path / "mathdial.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_library_helps_the_known_weak_tutor_on_held_out_scenarios_and_resume_reuses_it(tmp_path, mathdial):
    from pedagraph.evals.runner import RunConfig, get_suite, run_suite_sync

    # Weak everywhere ("" is in every message) unless a strategy says "question": the stock Actionability one does.
    double = KnownTutor({"": "question"})
    models = {"teacher": {"model": StandInChatModel(model_name="known-tutor", reply_fn=double)}}
    options = {"train": 4, "per_round": 4, "rounds": 1, "max_turns": 1, "max_strategies": 2}
    config = RunConfig(out_dir=tmp_path / "run", data_path=mathdial, models=models, concurrency=2, limit=4,
                       cache=False)  # fmt: skip
    result = run_suite_sync(get_suite("distill")(options), config, progress=False)
    assert result.ok == 4 and result.errors == 0
    metrics = json.loads(result.summary_path.read_text())["metrics"]
    built = json.loads((tmp_path / "run" / "library.json").read_text())
    assert built["kept"] >= 1 and all(s["gain"] > 0 for s in built["strategies"])
    assert not set(built["train"]) & {json.loads(x)["item_id"] for x in result.results_path.read_text().splitlines()}
    assert metrics["tutor/without.strategies_used"]["value"] == 0
    assert metrics["tutor/with.strategies_used"]["value"] > 0
    assert metrics["tutor/with.judge.score"]["value"] > metrics["tutor/without.judge.score"]["value"]
    assert metrics["gain.tutor"]["value"] > 0 and metrics["gain.tutor"]["se"] is not None
    assert "tutor/generic.judge.score" in metrics and "gain_over_generic.tutor" in metrics  # the generic baseline
    assert "tutor/with.success@1" in metrics and "tutor/with.telling@1" in metrics
    assert (tmp_path / "run" / "distill_with_without.png").is_file()
    assert "with and without the library" in result.report_path.read_text()
    calls = len(double.prompts)
    again = run_suite_sync(get_suite("distill")(options), config, progress=False)
    assert again.ok == 4 and len(double.prompts) == calls  # resumed: nothing re-run, the library not rebuilt


def test_bad_options_are_one_clear_error():
    from pedagraph.evals.runner import get_suite

    with pytest.raises(DataError, match="held_out"):
        get_suite("distill")({"held_out": 1.5})
    with pytest.raises(DataError, match="train"):
        get_suite("distill")({"train": "many"})
    with pytest.raises(DataError, match="student"):
        get_suite("distill")({"student": "robot"})


def test_the_library_is_given_to_another_small_model_over_http(tmp_path, mathdial, monkeypatch):
    """Transfer: `transfer_model` (here an OpenAI-compatible server) answers the same held-out scenarios with and
    without the library built for the first tutor; its prompts carry the retrieved strategies only 'with'."""
    from pedagraph.evals.runner import RunConfig, get_suite, run_suite_sync

    from pedagraph.testing.openai_stub import OpenAIStub

    double = KnownTutor({"": "question"})
    models = {"teacher": {"model": StandInChatModel(model_name="known-tutor", reply_fn=double)}}
    options = {"train": 4, "per_round": 4, "rounds": 1, "max_turns": 1, "max_strategies": 2,
               "transfer_model": "openai:other-small-model"}  # fmt: skip
    with OpenAIStub(models=["other-small-model"], reply_fn=lambda body: "What did you do first?") as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{stub.base_url}")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-transfer-test-0000")
        config = RunConfig(out_dir=tmp_path / "run", data_path=mathdial, models=models, concurrency=1, limit=2,
                           cache=False)  # fmt: skip
        result = run_suite_sync(get_suite("distill")(options), config, progress=False)
        prompts = [json.dumps(r.body) for r in stub.chat_requests]
    assert result.ok == 2 and result.errors == 0
    metrics = json.loads(result.summary_path.read_text())["metrics"]
    assert "transfer/with.judge.score" in metrics and "transfer/without.judge.score" in metrics
    assert metrics["transfer/with.strategies_used"]["value"] > 0 == metrics["transfer/without.strategies_used"]["value"]
    built = json.loads((tmp_path / "run" / "library.json").read_text())
    texts = [s["strategy"] for s in built["strategies"]]
    assert prompts and any(t[:40] in p for p in prompts for t in texts)  # the strategies reached the other model
