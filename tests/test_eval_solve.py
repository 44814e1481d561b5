"""The `solve` suite: data formats, answer extraction, and end-to-end runs on slices of GSM8K, StrategyQA, ECQA."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from conftest import data_file
from pedagraph.evals.runner import RunConfig, get_suite, resolve_data_path, run_suite
from pedagraph.evals.suites.solve import extract_choice, extract_number, extract_yes_no, load_solve_items
from typer.testing import CliRunner

from pedagraph.cli import app
from pedagraph.errors import DataError
from pedagraph.llm import ScriptedChatModel

cli = CliRunner()
OPTIONS = ["greedy", "worry", "have knowledge", "take charge", "boss"]
DATASETS = {"gsm8k": "gsm8k/test.jsonl", "strategyqa": "strategyqa/dev.json", "ecqa": "ecqa/cqa_data_test.csv"}


def shared(rel: str) -> Path:
    """The full file beside the repository (../shared/data or PEDAGRAPH_DATA_DIR), else its bundled sample."""
    return data_file(rel).path


# ------------------------------------------------------------------------------------------------------------
# extraction
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("16 - 3 - 4 = 9 eggs. 9 * 2 = 18.\nAnswer: 18", 18),
        ("Answer: $1,234.50 per week", 1234.5),
        ("She makes 9 * 2 = $18.\n#### 18", 18),
        ("The answer is 42 (6 boxes x 7 pens).", 42),
        ("**Final answer:** 7", 7),
        ("Answer: 9 * 2 = 18", 18),
        ("First I thought 12, but 3 + 4 = 7 so the answer is 7 apples. Check: 7 - 4 = 3.", 7),
        ("Total: 5 + 6 = 11", 11),
        ("So she has eighteen dollars left.", 18),
        ("The answer is -3.", -3),
        ("Answer: 3/4", 0.75),
        ("We need 9 * 2", None),
        ("I don't know.", None),
        ("", None),
    ],
)
def test_extract_number(text, value):
    got, _, method = extract_number(text)
    if value is None:
        assert got is None and method is None
    else:
        assert got == pytest.approx(value), (text, got, method)


def test_extract_number_percent_reading():
    got, readings, _ = extract_number("Answer: 50%")
    assert got == 50 and 0.5 in readings


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Albany GA has 75,000 people, Albany NY about 100,000.\nAnswer: No", False),
        ("Answer: Yes.", True),
        ("No. Hamsters are not able to do that.", False),
        ("Yes, because pigs can swim.", True),
        ("There is no evidence against it, and everyone agrees.\nSo yes.", True),
        ("No one has ever done it. Still, it is possible.\nAnswer: yes", True),
        ("The question asks yes or no. The answer is no.", False),
        ("Reasoning...\nFinal answer: **No**", False),
        ("Is it true? Not true.", False),
        ("It's true: they do.", True),
        ("Let me think (yes/no): I know nothing about eyes.", None),
        ("Nobody knows.", None),
        ("The answer is false", False),
    ],
)
def test_extract_yes_no(text, value):
    got, method = extract_yes_no(text)
    assert got is value, (text, got, method)


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("Someone in charge wants skilled people.\nAnswer: C", 2),
        ("Answer: (c)", 2),
        ("Answer: C) have knowledge", 2),
        ("The answer is have knowledge.", 2),
        ("Answer: 5", 4),
        ("Answer: boss", 4),
        ("I think it's option D because they take charge.", 3),
        ("Looking at (A) greedy and (B) worry, neither fits.\nhave knowledge", 2),
        ("Answer: a", 0),
        ("Answer: a boss", 4),
        ("Answer: greedy or boss", None),
        ("No idea.", None),
    ],
)
def test_extract_choice(text, index):
    got, method = extract_choice(text, OPTIONS)
    assert got == index, (text, got, method)


# ------------------------------------------------------------------------------------------------------------
# data formats
# ------------------------------------------------------------------------------------------------------------


def test_generic_and_bad_files(tmp_path):
    good = tmp_path / "mix.jsonl"
    good.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": "n", "question": "2+2?", "answer": 4},
                {"question": "Sky blue?", "answer": "yes", "dataset": "misc"},
                {"question": "Pick", "choices": ["x", "y"], "answer": "B"},
            ]
        )
    )
    items = load_solve_items(good)
    assert [i.data["kind"] for i in items] == ["number", "yes_no", "choice"]
    assert items[0].id == "n" and items[1].id == "mix-1" and items[2].data["gold"] == 1
    for name, text, msg in [
        ("a.jsonl", '{"question": "q"}\n', "no 'answer'"),
        ("b.jsonl", "[1,2]\n", "expected a JSON object"),
        ("c.json", '{"x": 1}', "expected a JSON list"),
        ("d.csv", "a,b\n1,2\n", "not an ECQA CSV"),
        ("e.txt", "hello", "unsupported file type"),
        ("f.jsonl", "", "no questions"),
        ("g.json", '[{"qid": "1", "question": "q"}]', "unlabelled"),
        ("h.jsonl", '{"question": "q", "choices": ["a", "b"], "answer": "z"}', "none of the choices"),
    ]:
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(DataError, match=msg):
            load_solve_items(path)


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_bundled_formats(dataset):
    items = load_solve_items(shared(DATASETS[dataset]))
    assert len({i.id for i in items}) == len(items) > (100 if data_file(DATASETS[dataset]).origin != "sample" else 39)
    first = items[0].data
    assert first["dataset"] == dataset
    if dataset == "gsm8k":
        assert items[0].id == "gsm8k-0" and first["gold"] == 18
    elif dataset == "strategyqa":
        assert first["gold"] is False
    else:
        assert first["options"][first["gold"]] == "have knowledge"


# ------------------------------------------------------------------------------------------------------------
# end to end
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_cli_end_to_end_with_the_scripted_model(tmp_path, dataset):
    path = shared(DATASETS[dataset])
    out = tmp_path / "run"
    result = cli.invoke(app, ["eval", "solve", "--data", str(path), "--out", str(out), "--limit", "8", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "8 scored, 0 errors of 8 items" in result.output
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == len({r["item_id"] for r in rows}) == 8
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"items": 8, "ok": 8, "errors": 0, "missing": 0}
    assert summary["metrics"]["accuracy"]["value"] <= 0.25
    report = (out / "report.md").read_text()
    assert "| accuracy |" in report and "±" in report and "scripted" in report
    assert (out / "accuracy.png").is_file() and (out / "run.json").is_file()
    # rerun: nothing left to do
    again = cli.invoke(app, ["eval", "solve", "--data", str(path), "--out", str(out), "--limit", "8", "--no-progress"])
    assert "(0 run now, 8 already done)" in again.output


def _answering(items, right: bool):
    gold = {}
    for item in items:
        gold[item.data["question"]] = item.data

    def reply(call) -> str:
        data = next(d for q, d in gold.items() if q in call.last_user)
        if data["kind"] == "number":
            value = data["gold"] if right else data["gold"] + 1
            return f"Let me work it out step by step.\nAnswer: {value:g}"
        if data["kind"] == "yes_no":
            value = data["gold"] if right else not data["gold"]
            return f"Thinking about the facts.\nAnswer: {'Yes' if value else 'No'}"
        index = data["gold"] if right else (data["gold"] + 1) % len(data["options"])
        return f"Considering the options.\nAnswer: {'ABCDE'[index]}"

    return reply


@pytest.mark.parametrize("dataset", sorted(DATASETS))
@pytest.mark.parametrize("right", [True, False])
def test_accuracy_is_one_or_zero_with_a_model_that_answers_right_or_wrong(tmp_path, dataset, right):
    path = shared(DATASETS[dataset])
    suite = get_suite("solve")({})
    items = suite.load_items(path)[:10]
    model = ScriptedChatModel(reply_fn=_answering(items, right))
    cfg = RunConfig(out_dir=tmp_path / "run", data_path=resolve_data_path(suite, path), limit=10,
                    models={"student": {"model": model}})  # fmt: skip
    res = asyncio.run(run_suite(suite, cfg, progress=False))
    metrics = res.summary["metrics"]
    assert metrics["accuracy"]["value"] == (1.0 if right else 0.0) and metrics["accuracy"]["n"] == 10
    assert metrics["extraction_failure_rate"]["value"] == 0.0
    report = res.report_path.read_text()
    assert "scripted**" not in report.split("## Solve")[1]  # a reply function is not the echoing default
    assert re.search(r"\| accuracy \| (1|0)\.000 \| ± 0\.000 \| 10 \|", report)
