"""The `judge` suite and the evaluator agent: MRBench loading, key normalisation, agreement metrics, runner."""

from __future__ import annotations

import asyncio
import json
import math

import pytest
from conftest import SHARED_DATA, data_file

from pedagraph.errors import DataError
from pedagraph.llm import ScriptedChatModel
from pedagraph.taxonomy import MRBenchDimension

# The full files beside the repository (../shared/data or PEDAGRAPH_DATA_DIR), else the bundled samples.
V1 = data_file("mrbench/MRBench/MRBench_V1.json")
V2 = data_file("mrbench/MRBench/MRBench_V2.json")
BEA_DEV = data_file("mrbench/BEA_Shared_Task_2025_Datasets/mrbench_v3_devset.json")
FULL = V1.origin != "sample"

D = MRBenchDimension


def suite(**options):
    from pedagraph.evals.suites.judge import JudgeSuite

    return JudgeSuite(options)


def item_ctx(model=None, seed=0, options=None):
    from pedagraph.evals.runner import ItemContext

    overrides = {"evaluator": {"model": model}} if model is not None else {}
    return ItemContext(seed, options or {}, overrides)


def labels_reply(labels: dict[str, str]) -> dict[str, str]:
    """The judge's structured reply carrying these labels (dimension value -> label)."""
    from pedagraph.agents.evaluator import field_name

    return {"rationale": "scripted", **{field_name(D(k)): v for k, v in labels.items()}}


def run_all(s, items, model, before=None):
    ctx = item_ctx(model)
    out = []
    for item in items:
        if before:
            before(item)
        out.append(asyncio.run(s.run_item(item, ctx)))
    return out


def write_json(tmp_path, rows, name="mini.json"):
    path = tmp_path / name
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


MINI = [
    {
        "conversation_id": "c1",
        "conversation_history": "Tutor: What is 2+3?\nStudent: 6",
        "Ground_Truth_Solution": "2+3=5\n 5",
        "anno_llm_responses": {
            "A": {
                "response": "Not quite, count again from 2.",
                "annotation": {
                    "Mistake_Identification": "Yes",
                    "Revealing_of_the_Answer": "Yes (and the answer is correct)",
                    "humanlikeness": "To some extent",
                    "Tutor_Tone": "Neutral",
                },
            },
            "B": {
                "response": "The answer is 4.",
                "annotation": {
                    "Mistake Identification": "yes",
                    "Revealing_of_the_Answer": "Yes (but the answer is incorrect)",
                },
            },
        },
    },
    {
        "conversation_id": "c1",
        "conversation_history": "Tutor: What is 2+3?\nStudent: 6",
        "anno_llm_responses": {"A": {"response": "Hmm.", "annotation": {"Mistake_Identification": "No"}}},
    },
]


# ------------------------------------------------------------------------------------------------ normalisation


def test_keys_and_labels_are_normalised():
    from pedagraph.agents.evaluator import normalize_annotation, normalize_dimension, normalize_label

    assert normalize_dimension("humanlikeness") == D.HUMANLIKENESS
    assert normalize_dimension("Humanlikeness") == D.HUMANLIKENESS
    assert normalize_dimension("Human-likeness") == D.HUMANLIKENESS
    assert normalize_dimension("tutor tone") == D.TUTOR_TONE
    assert normalize_dimension("Revealing_of_the_Answer") == D.REVEALING_OF_THE_ANSWER
    assert normalize_dimension("Topic") is None
    reveal = D.REVEALING_OF_THE_ANSWER
    assert normalize_label(reveal, "Yes (and the answer is correct)") == "Yes (correct)"
    assert normalize_label(reveal, "Yes (but the answer is incorrect)") == "Yes (incorrect)"
    assert normalize_label(reveal, "Yes (correct)") == "Yes (correct)"
    assert normalize_label(reveal, "No") == "No"
    assert normalize_label(D.ACTIONABILITY, "to some extent") == "To some extent"
    assert normalize_label(D.TUTOR_TONE, "encouraging") == "Encouraging"
    assert normalize_label(D.TUTOR_TONE, "Yes") is None
    assert normalize_annotation({"humanlikeness": "Yes", "Tutor Tone": "neutral", "other": "x"}) == {
        "Humanlikeness": "Yes",
        "Tutor_Tone": "Neutral",
    }
    with pytest.raises(ValueError, match="Coherence"):
        normalize_annotation({"Coherence": "Maybe"})


def test_parse_dimensions_option():
    from pedagraph.agents.evaluator import ALL_DIMENSIONS, parse_dimensions

    assert parse_dimensions(None) == ALL_DIMENSIONS
    assert parse_dimensions("humanlikeness, mistake_identification") == (D.MISTAKE_IDENTIFICATION, D.HUMANLIKENESS)
    with pytest.raises(ValueError, match="unknown"):
        parse_dimensions("empathy")
    with pytest.raises(DataError, match="unknown"):
        suite(dimensions="empathy")


def test_mini_file_items_ids_and_gold(tmp_path):
    items = suite().load_items(write_json(tmp_path, MINI))
    assert [i.id for i in items] == ["c1/A", "c1/B", "c1#2/A"]  # a repeated conversation id stays unique
    assert items[0].data["gold"] == {
        "Mistake_Identification": "Yes",
        "Revealing_of_the_Answer": "Yes (correct)",
        "Tutor_Tone": "Neutral",
        "Humanlikeness": "To some extent",
    }
    assert items[1].data["gold"] == {"Mistake_Identification": "Yes", "Revealing_of_the_Answer": "Yes (incorrect)"}
    assert items[0].data["ground_truth"].startswith("2+3=5") and items[2].data["ground_truth"] is None
    assert [i.id for i in suite(tutors="B").load_items(write_json(tmp_path, MINI))] == ["c1/B"]
    shuffled = [i.id for i in suite(shuffle="1").load_items(write_json(tmp_path, MINI))]
    assert sorted(shuffled) == sorted(i.id for i in items)
    assert shuffled == [i.id for i in suite(shuffle=1).load_items(write_json(tmp_path, MINI))]  # a seed, stable


def test_bad_files_are_data_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="JSON"):
        suite().load_items(bad)
    with pytest.raises(DataError, match="array"):
        suite().load_items(write_json(tmp_path, {"a": 1}))
    with pytest.raises(DataError, match="not an MRBench conversation"):
        suite().load_items(write_json(tmp_path, [{"conversation_id": "x"}]))
    wrong = json.loads(json.dumps(MINI))
    wrong[0]["anno_llm_responses"]["A"]["annotation"]["Tutor_Tone"] = "Angry"
    with pytest.raises(DataError, match="Tutor_Tone"):
        suite().load_items(write_json(tmp_path, wrong))
    unlabelled = [{"conversation_id": "x", "conversation_history": "h", "tutor_responses": {"T": {"response": "r"}}}]
    with pytest.raises(DataError, match="no annotated"):
        suite().load_items(write_json(tmp_path, unlabelled))


# ------------------------------------------------------------------------------------------------ real data


def test_real_files_load_with_their_dimensions(tmp_path):
    v1 = suite().load_items(V1.path)
    n_v1 = 1589 if FULL else 202  # tutor responses of the full file / of its first 24 dialogues (the sample)
    assert len(v1) == n_v1 and len({i.id for i in v1}) == n_v1
    assert all(set(i.data["gold"]) == {d.value for d in D} for i in v1)
    reveal = {i.data["gold"]["Revealing_of_the_Answer"] for i in v1}
    assert reveal == {"No", "Yes (correct)", "Yes (incorrect)"}
    assert len(suite().load_items(V2.path)) == (1655 if V2.origin != "sample" else 202)
    bea = suite().load_items(BEA_DEV.path)
    assert len(bea) == (2476 if BEA_DEV.origin != "sample" else 201)
    assert set(bea[0].data["gold"]) == {
        "Mistake_Identification",
        "Mistake_Location",
        "Providing_Guidance",
        "Actionability",
    }
    # the shared task's test inputs (not in the registry): the real file when it is here, else the dev sample as
    # the test file has it (tutor names hidden, no annotations)
    bea_test = SHARED_DATA / "mrbench/BEA_Shared_Task_2025_Datasets/mrbench_v3_testset.json" if SHARED_DATA else None
    if bea_test is None or not bea_test.is_file():
        rows = json.loads(BEA_DEV.path.read_text(encoding="utf-8"))
        for row in rows:
            row["tutor_responses"] = {f"Tutor_{n}": {"response": r["response"]}
                                      for n, r in enumerate(row["tutor_responses"].values(), 1)}  # fmt: skip
        bea_test = write_json(tmp_path, rows)
    with pytest.raises(DataError, match="no annotated tutor responses"):
        suite().load_items(bea_test)


def test_judge_copying_gold_agrees_perfectly():
    s = suite()
    items = s.load_items(V1.path)[:60]
    current: dict[str, str] = {}
    model = ScriptedChatModel(reply_fn=lambda call: labels_reply(current))
    results = run_all(s, items, model, before=lambda item: current.update(item.data["gold"]))
    summary = s.summarize(results)
    for dim in D:
        assert summary[f"{dim.value}.accuracy"]["value"] == 1.0
        assert summary[f"{dim.value}.accuracy"]["n"] == 60
        f1 = summary[f"{dim.value}.macro_f1"]
        assert f1["value"] == 1.0 and f1["ci_low"] == 1.0 and f1["ci_high"] == 1.0
    assert summary["all.accuracy"]["value"] == 1.0
    rates = summary["per_tutor"]["GPT4"]["Mistake_Identification"]
    assert rates["human"] == rates["judge"]
    # the prompt carries the dialogue, the response, the reference solution and only the requested labels
    call = model.calls[-1]
    assert items[-1].data["response"].strip() in call.last_user
    assert "reference solution" in call.last_user
    assert all(r["judge_scripted"] for r in results)


def test_judge_always_no_scores_the_share_of_gold_no():
    s = suite()
    items = s.load_items(V1.path)[:80]
    no = {d.value: "No" for d in D} | {"Tutor_Tone": "Neutral"}
    results = run_all(s, items, ScriptedChatModel(reply_fn=lambda call: labels_reply(no)))
    summary = s.summarize(results)
    for dim in D:
        if dim == D.TUTOR_TONE:
            continue
        share = sum(i.data["gold"][dim.value] == "No" for i in items) / len(items)
        assert math.isclose(summary[f"{dim.value}.accuracy"]["value"], share)


def test_bea_style_item_judges_only_its_dimensions(tmp_path):
    rows = [
        {
            "conversation_id": "b1",
            "conversation_history": "Tutor: 2+3?\nStudent: 6",
            "tutor_responses": {"T": {"response": "Check again.", "annotation": {"Mistake_Identification": "Yes"}}},
        }
    ]
    s = suite()
    items = s.load_items(write_json(tmp_path, rows))
    model = ScriptedChatModel(reply_fn=lambda call: labels_reply({"Mistake_Identification": "Yes"}))
    (result,) = run_all(s, items, model)
    assert result["pred"] == {"Mistake_Identification": "Yes"} and result["match"] == {"Mistake_Identification": True}
    schema = model.calls[0].response_format["json_schema"]["schema"]
    assert set(schema["properties"]) == {"rationale", "mistake_identification"}
    assert "humanlikeness" not in model.calls[0].system  # only the requested definitions
    summary = s.summarize([result])
    assert "Humanlikeness.accuracy" not in summary and summary["Mistake_Identification.accuracy"]["value"] == 1.0


def test_scripted_default_judge_gives_schema_valid_labels(tmp_path):
    from pedagraph.agents.evaluator import LABELS

    s = suite()
    items = s.load_items(write_json(tmp_path, MINI))
    results = run_all(s, items, None)
    for r in results:
        assert r["judge_scripted"]
        for k, v in r["pred"].items():
            assert v in LABELS[D(k)]


def test_judge_response_reusable_on_a_message_history():
    from langchain_core.messages import AIMessage, HumanMessage
    from pedagraph.agents.evaluator import judge_response

    from pedagraph.llm import get_model

    model = ScriptedChatModel(reply_fn=lambda call: labels_reply({"Tutor_Tone": "Encouraging", "Coherence": "Yes"}))
    history = [AIMessage(content="What is 2+3?"), HumanMessage(content="6")]
    j = judge_response(get_model("evaluator", model=model), history, "Nice try! Count again.", dimensions=["coherence"])
    assert j.labels == {"Coherence": "Yes"}
    j = judge_response(
        get_model("evaluator", model=model), history, "Nice try!", dimensions=[D.TUTOR_TONE, D.COHERENCE]
    )
    assert j.labels == {"Coherence": "Yes", "Tutor_Tone": "Encouraging"}
    assert j.desirable() == {"Coherence": True, "Tutor_Tone": True}
    assert "Tutor: What is 2+3?\nStudent: 6" in model.calls[-1].last_user


# ------------------------------------------------------------------------------------------------ metrics


def test_metrics_by_hand_on_a_tiny_example():
    s = suite()
    dim = "Actionability"
    gold = ["Yes", "Yes", "No", "To some extent"]
    pred = ["Yes", "No", "No", "Yes"]
    tutors = ["T1", "T1", "T2", "T2"]
    results = [{"tutor": t, "gold": {dim: g}, "pred": {dim: p}} for t, g, p in zip(tutors, gold, pred, strict=True)]
    summary = s.summarize(results)
    acc = summary[f"{dim}.accuracy"]
    assert acc["value"] == 0.5 and acc["n"] == 4 and math.isclose(acc["se"], 0.25)
    # F1: Yes 2*1/(2+1+1)=0.5, No 2*1/(2+1+0)=2/3, To some extent 0 -> mean 7/18
    f1 = summary[f"{dim}.macro_f1"]
    assert math.isclose(f1["value"], (0.5 + 2 / 3 + 0) / 3) and f1["n"] == 4
    assert f1["ci_low"] <= f1["value"] <= f1["ci_high"]
    t1 = summary["per_tutor"]["T1"][dim]
    assert t1["human"]["value"] == 1.0 and t1["judge"]["value"] == 0.5
    t2 = summary["per_tutor"]["T2"][dim]
    assert t2["human"]["value"] == 0.0 and t2["judge"]["value"] == 0.5
    assert "Coherence.accuracy" not in summary
    report = s.report(summary, results)
    assert "| Actionability | 4 | 0.500 ± 0.250 |" in report


def test_plot_is_written(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    s = suite()
    results = [
        {
            "tutor": "T",
            "gold": {"Coherence": g, "Tutor_Tone": "Neutral"},
            "pred": {"Coherence": p, "Tutor_Tone": "Neutral"},
        }
        for g, p in [("Yes", "Yes"), ("No", "Yes"), ("No", "No")]
    ]
    paths = s.plots(s.summarize(results), results, tmp_path)
    assert [p.name for p in paths] == ["judge_agreement.png"] and paths[0].stat().st_size > 1000


# ------------------------------------------------------------------------------------------------ runner and CLI


def test_runs_end_to_end_through_the_runner(tmp_path):
    from pedagraph.evals.runner import RunConfig, run_suite_sync

    cfg = RunConfig(out_dir=tmp_path / "run", data_path=V1.path, limit=5, concurrency=2, cache=False)
    result = run_suite_sync(suite(), cfg, progress=False)
    assert result.ok == 5 and result.errors == 0
    report = result.report_path.read_text(encoding="utf-8")
    assert "Judge agreement" in report and "scripted" in report
    assert (tmp_path / "run" / "judge_agreement.png").is_file()
    summary = json.loads(result.summary_path.read_text(encoding="utf-8"))
    assert summary["metrics"]["Coherence.accuracy"]["n"] == 5


def _eval_cli_available() -> bool:
    from pedagraph.cli import app

    return any(getattr(c, "name", None) == "eval" for c in app.registered_commands) or any(
        getattr(g, "name", None) == "eval" for g in app.registered_groups
    )


def test_cli_eval_judge_limit_3(tmp_path):
    assert _eval_cli_available()
    from typer.testing import CliRunner

    from pedagraph.cli import app

    out = tmp_path / "cli-judge"
    result = CliRunner().invoke(app, ["eval", "judge", "--limit", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and all(json.loads(line)["status"] == "ok" for line in lines)
    assert "Judge agreement" in (out / "report.md").read_text(encoding="utf-8")
