"""The `copilot` and `coach` suites: MathDial replays against the copilot, transcripts through the coach, the runner."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import data_file

from pedagraph.errors import DataError
from pedagraph.llm import ScriptedChatModel, StandInChatModel
from pedagraph.problems import parse_mathdial

TEST = data_file("mathdial/test.jsonl").path  # the full file beside the repository, else the bundled sample

RECORD = {
    "qid": 1,
    "question": "Tom has 12 spoons after using 3 of them. His friend gave him 5. How many spoons did Tom buy?",
    "ground_truth": "Tom had 12+3=15 spoons in total.\nSo he bought 15-5=10 spoons.\n 10",
    "student_incorrect_solution": "He had 12 - 3 = 9 spoons left.\nSo he bought 9 - 5 = 4 spoons.\n 4",
    "conversation": "Teacher: (generic)Hi Sam, talk me through your solution|EOM|"
    "Student: I did 12 - 3 = 9 and then 9 - 5 = 4.|EOM|"
    "Teacher: (focus)What happens to the 3 spoons he used? Does he still have them?|EOM|"
    "Student: 4|EOM|"
    "Teacher: (telling)He still has them, so the answer is 10 spoons.|EOM|"
    "Student: Oh, 10.",
}


def item_ctx(seed=0, **models):
    from pedagraph.evals.runner import ItemContext

    return ItemContext(seed, {}, {role: {"model": m} for role, m in models.items()})


def copilot_item():
    from pedagraph.evals.runner import Item

    problem = parse_mathdial(RECORD, "mathdial-1")
    return Item(id=problem.id, data=problem.model_dump(mode="json"))


def test_copilot_suite_compares_each_suggestion_with_the_teacher_turn():
    from pedagraph.evals.suites.copilot import CopilotSuite

    suite = CopilotSuite({})
    r = asyncio.run(suite.run_item(copilot_item(), item_ctx()))
    rows = r["rows"]
    assert [row["turn"] for row in rows] == [3, 5]  # every teacher turn after the greeting
    assert [row["teacher_move"] for row in rows] == ["focus", "telling"]
    assert rows[0]["history"] == [("tutor", "Hi Sam, talk me through your solution"),
                                  ("student", "I did 12 - 3 = 9 and then 9 - 5 = 4.")]  # fmt: skip
    assert rows[1]["teacher_tells_answer"] and not any(row["suggestion_tells_answer"] for row in rows)
    assert r["gate_overrides"] == 1  # the real teacher's "the answer is 10" was sent over the gate's warning
    summary = suite.summarize([r])
    assert summary["teacher.move.telling"]["value"] == 0.5 and summary["teacher.tells_answer"]["value"] == 0.5
    assert summary["suggestion.tells_answer"]["value"] == 0.0 and summary["turns"] == 2
    assert "| states the final answer |" in suite.report(summary, [r])


def test_copilot_suite_judges_both_texts_with_the_evaluator():
    from pedagraph.evals.suites.copilot import CopilotSuite

    def evaluator_reply(call):
        if call.schema_name == "ResponseLabels":
            return {"rationale": "ok", "revealing_of_the_answer": "Yes (correct)" if "answer is 10" in call.last_user
                    else "No"}  # fmt: skip
        return None

    evaluator = ScriptedChatModel(reply_fn=evaluator_reply)
    suite = CopilotSuite({"judge": "true", "judge_dimensions": "revealing_of_the_answer"})
    r = asyncio.run(suite.run_item(copilot_item(), item_ctx(evaluator=evaluator)))
    summary = suite.summarize([r])
    assert summary["judge.suggestion.Revealing_of_the_Answer"]["value"] == 1.0
    assert summary["judge.teacher.Revealing_of_the_Answer"]["value"] == 0.5


def test_copilot_suite_refuses_bad_options():
    from pedagraph.evals.suites.copilot import CopilotSuite

    with pytest.raises(DataError, match="unknown option"):
        CopilotSuite({"turns": 3})
    with pytest.raises(DataError, match="at least 1"):
        CopilotSuite({"max_turns": 0})


@pytest.mark.parametrize("name", ["copilot", "coach"])
def test_suites_run_end_to_end_through_the_runner(tmp_path, name):
    from pedagraph.evals.runner import RunConfig, get_suite, run_suite_sync

    cfg = RunConfig(out_dir=tmp_path / name, data_path=TEST, limit=3, concurrency=2, cache=False)
    result = run_suite_sync(get_suite(name)({}), cfg, progress=False)
    assert result.ok == 3 and result.errors == 0
    metrics = json.loads(result.summary_path.read_text(encoding="utf-8"))["metrics"]
    plot = "move_mix.png" if name == "copilot" else "score_distributions.png"
    assert (tmp_path / name / plot).is_file()
    if name == "copilot":
        assert metrics["turns"] >= 3 and metrics["agreement"]["n"] >= 1
    else:
        assert metrics["transcripts"] == 3 and sum(metrics["distribution.CLINSTD"].values()) == 3
        assert "dropped_share" in metrics and "Novelty check" in result.report_path.read_text(encoding="utf-8")


def test_coach_suite_rates_kept_suggestions_with_a_real_evaluator(tmp_path):
    from pedagraph.evals.runner import Item
    from pedagraph.evals.suites.coach import CoachSuite

    path = tmp_path / "lessons.jsonl"
    rows = [{"id": "a", "transcript": "Teacher: What is 3 x 4?\nStudent: 7\nTeacher: No, it is 12.\nStudent: ok"},
            {"id": "b", "transcript": "Teacher: Why is 3 x 4 = 12?\nStudent: because 4+4+4 is 12"}]  # fmt: skip
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    suite = CoachSuite({})
    items = suite.load_items(path)
    assert [i.id for i in items] == ["a", "b"]
    evaluator = StandInChatModel(reply_fn=lambda call: {"relevance": 3, "faithfulness": 2, "actionability": 3,
                                                        "novelty": 1} if call.schema_name else None)  # fmt: skip
    results = [asyncio.run(suite.run_item(i, item_ctx(evaluator=evaluator))) for i in items]
    assert results[0]["kept"] and len(results[0]["ratings"]) == len(results[0]["kept"])
    summary = suite.summarize(results)
    assert summary["rating.faithfulness"]["value"] == 2.0 and summary["judged"] is True
    scripted = [asyncio.run(suite.run_item(items[0], item_ctx()))]
    assert scripted[0]["ratings"] == [] and "not rated" in suite.report(suite.summarize(scripted), scripted)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "text": "no transcript here"}\n', encoding="utf-8")
    with pytest.raises(DataError, match="needs a transcript"):
        suite.load_items(bad)
    assert all(isinstance(i, Item) for i in items)


def test_saying_the_answer_after_the_student_did_is_affirming_not_telling():
    from pedagraph.evals.suites.copilot import CopilotSuite

    problem = parse_mathdial(RECORD, "mathdial-1")
    suggestion = {"text": "Yes, 10 spoons!", "labels": {"move": "generic"}}
    before = CopilotSuite({})._row(problem, 5, suggestion, "It is 10.", "telling", [("student", "is it 4?")])
    after = CopilotSuite({})._row(problem, 5, suggestion, "It is 10.", "telling", [("student", "so 10 then")])
    assert before["suggestion_tells_answer"] and before["teacher_tells_answer"]
    assert not after["suggestion_tells_answer"] and not after["teacher_tells_answer"] and after["student_said_answer"]
