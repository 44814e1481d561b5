"""The `bridge` suite: steps A/B/C against Bridge's experts, the published reference rows, the decision ablation."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from pedagraph.errors import DataError
from pedagraph.llm import StandInChatModel
from pedagraph.methods.copilot.bridge import PAPER_ERRORS, gold_label, gold_labels, published_pick

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "pedagraph" / "data" / "samples" / "bridge" / "test.json"


def _full() -> Path | None:
    for root in (os.environ.get("PEDAGRAPH_DATA_DIR"), str(REPO.parent / "shared" / "data")):
        if root and (Path(root) / "bridge" / "test.json").is_file():
            return Path(root) / "bridge" / "test.json"
    return None


DATA = [SAMPLE, *([_full()] if _full() else [])]


def run(tmp_path: Path, data: Path, **models):
    from pedagraph.evals.runner import RunConfig, get_suite, run_suite_sync

    suite = get_suite("bridge")({})
    config = RunConfig(out_dir=tmp_path / "out", data_path=data, cache=False,
                       models={role: {"model": m} for role, m in models.items()})  # fmt: skip
    return run_suite_sync(suite, config, progress=False)


def gpt4_step_a_accuracy(data: Path) -> tuple[int, int]:
    """GPT-4's step A accuracy on the coded rows, computed here straight from the two files (row i = row i)."""
    rows = json.loads(data.read_text())
    preds = json.loads((data.parent / "outputs" / "step_a_error" / "gpt4.json").read_text())
    coded = [(r, p) for r, p in zip(rows, preds, strict=True) if not gold_label("error", r["e"])[1]]
    right = sum(PAPER_ERRORS[p["pred_e"][0]["answer"]] == r["e"].replace("-", "_") for r, p in coded)
    return right, len(coded)


@pytest.mark.parametrize("data", DATA, ids=lambda p: "sample" if p == SAMPLE else "full")
def test_the_table_prints_offline_with_the_published_gpt4_row(tmp_path, data):
    result = run(tmp_path, data)
    assert result.errors == 0 and result.ok == len(json.loads(data.read_text()))
    m = result.summary["metrics"]
    right, n = gpt4_step_a_accuracy(data)
    assert m["error.gpt4.accuracy"]["n"] == n and m["error.gpt4.accuracy"]["value"] == pytest.approx(right / n)
    assert m["error.gpt4.accuracy"]["ci_low"] <= right / n <= m["error.gpt4.accuracy"]["ci_high"]
    report = result.report_path.read_text()
    assert "| GPT-4 (published) |" in report and "| Llama-2-70B-chat (published) |" in report
    assert "checks the pipeline, not quality" in report  # the scripted judge says what its table is
    assert m["decisions.rules"] == 3 * result.ok and m["decisions.model"] == 0
    if data != SAMPLE:  # the full test split
        assert (n, m["mapped.error"]) == (190, 20)
        assert m["error.gpt4.accuracy"]["value"] == pytest.approx(78 / 190)
    again = run(tmp_path, data)  # resumable: nothing runs twice
    assert again.ran == 0 and again.skipped == result.ok


def test_free_text_labels_are_mapped_and_counted():
    assert gold_label("error", "right-idea") == ("right_idea", False)
    assert gold_label("error", "The student did not make a mistake.") == ("no_error", True)
    assert gold_label("error", "End session") == ("other", True)
    assert gold_label("strategy", "Provided a visual aid.") == ("other", True)
    assert gold_labels({"e": "guess", "z_what": "ask_question", "z_why": "End session\n"})["mapped"] == ["intention"]


def test_published_answers_are_read_from_each_format():
    assert published_pick([{"answer": 3, "reason": "x"}], "answer", PAPER_ERRORS) == "right_idea"
    raw = ('### System: ... [{"answer": 5}] ### User: ...\n### Assistant:\n[{"answer": 1, "reason": "r"}]\n'
           '### User: ...\n### Assistant:\n[{"answer": 0}]')  # fmt: skip
    assert published_pick(raw, "answer", PAPER_ERRORS) == "misinterpret"  # the first answer after the prompt
    assert published_pick([{"answer": "seven"}], "answer", PAPER_ERRORS) is None
    assert published_pick([{"answer": 9}], "answer", PAPER_ERRORS) is None


def test_a_split_without_its_outputs_is_one_clear_error(tmp_path):
    from pedagraph.evals.suites.bridge import BridgeSuite

    lone = tmp_path / "test.json"
    lone.write_text(SAMPLE.read_text())
    with pytest.raises(DataError, match="published outputs are not beside it"):
        BridgeSuite({}).load_items(lone)
    with pytest.raises(DataError, match="unknown option"):
        BridgeSuite({"abaltion": False})


def _decider(error="careless", strategy="provide_hint", intention="hint_mistake", better="A"):
    def reply(call):
        if call.schema_name == "ErrorDecision":
            return {"error": error, "reason": "r"}
        if call.schema_name == "StrategyDecision":
            assert f"error: {error}" in call.last_user or f"error: {error}" in call.system  # B is given A
            return {"strategy": strategy, "reason": "r"}
        if call.schema_name == "IntentionDecision":
            return {"intention": intention, "reason": "r"}
        if call.schema_name == "Preference":
            return {"better": better, "reason": "r"}
        if call.schema_name:
            return None
        return "Let's count the sides together: how many does a hexagon have?"

    return StandInChatModel(reply_fn=reply)


def test_a_real_teacher_decides_in_sequence_and_writes_four_responses(tmp_path):
    from pedagraph.evals.runner import Item, ItemContext
    from pedagraph.evals.suites.bridge import BridgeSuite

    suite = BridgeSuite({})
    items = suite.load_items(SAMPLE)
    teacher, judge = _decider(), _decider(better="tie")
    ctx = ItemContext(0, {}, {"teacher": {"model": teacher}, "evaluator": {"model": judge}})
    r = asyncio.run(suite.run_item(Item(items[0].id, items[0].data), ctx))
    assert (r["model"]["error"], r["model"]["strategy"], r["model"]["intention"]) == \
        ("careless", "provide_hint", "hint_mistake")  # fmt: skip
    assert r["model"]["by"] == {"error": "model", "strategy": "model", "intention": "model"}
    assert set(r["responses"]) == {"expert", "model", "random", "none"} and all(r["responses"].values())
    prompts = [c.system or c.last_user for c in teacher.calls if not c.schema_name]
    assert any("provide hint" in p for p in prompts) and any("In your response" not in p for p in prompts)
    assert set(r["ablation"].values()) == {0.5} and len(r["ablation"]) == 6 and r["judge_failed.ablation"] == 0
    summary = suite.summarize([r])
    assert summary["decisions.model"] == 3 and summary["decisions.rules"] == 0
    # a judge that cannot answer: its comparisons count as ties, and the report says how many failed
    broken = StandInChatModel(reply_fn=lambda call: {"better": "maybe"} if call.schema_name else "?")
    ctx = ItemContext(0, {}, {"teacher": {"model": _decider()}, "evaluator": {"model": broken}})
    r = asyncio.run(suite.run_item(Item(items[0].id, items[0].data), ctx))
    assert r["judge_failed.ablation"] == 6 and set(r["ablation"].values()) == {0.5}
    summary = suite.summarize([r])
    assert "failed on 6 of 6 comparisons" in suite.report({"metrics": summary}, [r])
