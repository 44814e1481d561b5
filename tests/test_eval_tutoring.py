"""The `tutoring` suite: simulated MathDial students with the tutor graph, Success@k / Telling@k, the runner."""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import data_file

from pedagraph.errors import DataError
from pedagraph.llm import ScriptedChatModel, StandInChatModel
from pedagraph.problems import Problem, parse_mathdial

MATHDIAL = data_file("mathdial/test.jsonl")  # the full file beside the repository, else the bundled sample
TEST = MATHDIAL.path

RECORD = {
    "qid": 1,
    "scenario": 1,
    "question": "Tom has 12 spoons after using 3 of them. His friend gave him 5. How many spoons did Tom buy?",
    "ground_truth": "Tom had 12+3=15 spoons in total.\nSo he bought 15-5=10 spoons.\n 10",
    "student_incorrect_solution": "He had 12 - 3 = 9 spoons left.\nSo he bought 9 - 5 = 4 spoons.\n 4",
    "student_profile": "Sam is a 7th grade student. He has difficulty telling relevant from irrelevant information.",
    "teacher_described_confusion": "subtracting instead of adding",
    "self-correctness": "Yes",
    "conversation": "Teacher: (generic)Hi|EOM|Student: 4",
}


def suite(**options):
    from pedagraph.evals.suites.tutoring import TutoringSuite

    return TutoringSuite(options)


def item_ctx(seed=0, **models):
    from pedagraph.evals.runner import ItemContext

    return ItemContext(seed, {}, {role: {"model": m} for role, m in models.items()})


def record_item(record=None):
    from pedagraph.evals.runner import Item

    problem = parse_mathdial(record or RECORD, "mathdial-1")
    return Item(id=problem.id, data=problem.model_dump(mode="json"))


def run(s, items, seed=0, **models):
    return [asyncio.run(s.run_item(item, item_ctx(seed + i, **models))) for i, item in enumerate(items)]


def write_jsonl(tmp_path, rows):
    path = tmp_path / "mini.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------ data, persona


def test_real_mathdial_items_load():
    items = suite().load_items(TEST)
    n = 479 if MATHDIAL.origin != "sample" else 40
    assert len(items) == n and len({i.id for i in items}) == n
    first = Problem.model_validate(items[0].data)
    assert first.steps and first.final_value is not None
    assert first.extras["student_incorrect_solution"] and first.extras["student_profile"]


def test_mini_file_and_bad_options(tmp_path):
    items = suite().load_items(write_jsonl(tmp_path, [RECORD]))
    assert [i.id for i in items] == ["mathdial-1"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError):
        suite().load_items(bad)
    with pytest.raises(DataError, match="student"):
        suite(student="human")
    with pytest.raises(DataError, match="max_turns"):
        suite(max_turns="0")
    with pytest.raises(DataError, match="reveal_policy"):
        suite(reveal_policy="always")
    assert suite(max_turns="3", base="0.5").max_turns == 3  # CLI options arrive as text


def test_persona_is_built_from_the_record():
    from pedagraph.agents.student import mathdial_persona

    persona = mathdial_persona(RECORD)
    assert RECORD["student_profile"] in persona
    assert "subtracting instead of adding" in persona
    assert "12 - 3 = 9" in persona


# ------------------------------------------------------------------------------------------------ scoring


def test_success_and_telling_by_hand():
    from pedagraph.evals.suites.tutoring import (
        first_mention,
        first_success,
        first_telling,
        success_at,
        telling_at,
        tutor_states_answer,
    )

    q = "Tom has 12 spoons. How many?"
    assert tutor_states_answer("So the answer is ten spoons.", 10, q)
    assert tutor_states_answer("It comes to $10.", 10, q)
    assert not tutor_states_answer("Tom has 12 spoons. How many? Try again.", 12, q)  # the quoted problem
    assert not tutor_states_answer("Think about 15 - 5.", 10, q)
    assert not tutor_states_answer("Well done! Step 2 of 3: how many spoons?", 2, q)  # a step label
    assert tutor_states_answer("Step 1: it is 2.", 2, q)
    student = ["4", "I think 15", "so 10 spoons"]
    tutor = ["Hi! What is 12+3?", "How did you get 4?", "Right, next: 15-5?", "Yes, 10!"]
    assert first_success(student, 10) == 3
    assert first_mention(tutor, 10, q, False) == 4
    assert first_telling(tutor, 10, q, False, 3) is None  # the affirmation after turn 3 is no telling
    told = ["Hi!", "The answer is 10.", "ok"]
    r = {"success_turn": 3, "telling_turn": first_telling(told, 10, q, False, 3)}
    assert r["telling_turn"] == 2
    assert [success_at(r, k) for k in (1, 2, 3, 4)] == [False, False, True, True]
    assert [telling_at(r, k) for k in (1, 2, 3, 4)] == [False, True, True, True]
    late = {"success_turn": 1, "telling_turn": 2}  # told after the student had it: not telling
    assert not any(telling_at(late, k) for k in range(1, 5))
    assert first_telling(told, 10, q, False, None) == 2
    assert first_telling(told, 10, q, True, None) is None  # the problem prints its answer: not detectable


def test_summary_by_hand():
    s = suite()
    results = [
        {"max_turns": 3, "success_turn": 2, "telling_turn": None, "moves": ["probing", "generic"],
         "end_reason": "solved", "reveal_events": [], "student_turns": 2},
        {"max_turns": 3, "success_turn": None, "telling_turn": 3, "moves": ["telling"], "end_reason": "turn_limit",
         "reveal_events": [{"action": "replaced"}], "student_turns": 3},
    ]  # fmt: skip
    m = s.summarize(results)
    assert [m[f"success@{k}"]["value"] for k in (1, 2, 3)] == [0.0, 0.5, 0.5]
    assert [m[f"telling@{k}"]["value"] for k in (1, 2, 3)] == [0.0, 0.0, 0.5]
    assert m["turns_to_success"]["value"] == 2.0 and m["turns_to_success"]["n"] == 1
    assert m["move.probing"]["value"] == pytest.approx(1 / 3) and m["move.probing"]["n"] == 3
    assert m["reveal_gate.events_per_dialogue"]["value"] == 0.5
    assert m["reveal_gate.replaced_per_dialogue"]["value"] == 0.5
    assert m["end_reason.solved"]["value"] == 0.5 and m["end_reason.revealed"]["value"] == 0.0


# ------------------------------------------------------------------------------------------------ simulators


def test_probabilistic_student_learns_and_errs_from_its_solution():
    from pedagraph.agents.student import ProbabilisticStudent, incorrect_results, off_by_operation

    problem = parse_mathdial(RECORD, "mathdial-1")
    student = ProbabilisticStudent(seed=3, base=0.2, learn=0.2)
    state = {"problem": problem.model_dump(mode="json"), "turns": [], "step_index": 0}
    assert student.probability(state, 0) == pytest.approx(0.2)
    state["turns"] = [
        {"plan": {"step_index": 0, "strategy": "ask_question"}},
        {"plan": {"step_index": 0, "strategy": "explain_concept"}},
        {"plan": {"step_index": 1, "strategy": "provide_hint"}},
    ]
    assert student.probability(state, 0) == pytest.approx(0.2 + 0.2 * 3)
    assert student.probability(state, 1) == pytest.approx(0.4)
    state["turns"] *= 3
    assert student.probability(state, 0) == 0.95  # the ceiling
    assert incorrect_results(RECORD["student_incorrect_solution"]) == [9.0, 4.0]
    rng = __import__("random").Random(0)
    assert student.wrong_answer(problem, problem.steps[0], 15.0, rng) == (None, 9.0)
    assert student.wrong_answer(problem, problem.steps[1], 10.0, rng) == (None, 4.0)  # the answer it believes in
    bare = problem.model_copy(update={"extras": {}})
    assert student.wrong_answer(bare, problem.steps[0], 15.0, rng) == ("12 - 3", 9.0)  # off by an operation
    assert off_by_operation(problem.steps[1]) == ("15 + 5", 20.0)
    # a fixed seed and turn give the same text
    assert student(state, None) == student(state, None)


def test_context_simulator_is_backward_compatible():
    from pedagraph.agents.student import SIMULATORS, mathdial_student, simulate_student, simulator_of
    from pedagraph.graphs.tutor import Context

    assert simulator_of(Context()) is simulate_student
    assert simulator_of(Context(student_simulator="mathdial")) is mathdial_student
    assert simulator_of(Context(student_simulator="probabilistic")) is SIMULATORS["probabilistic"]
    fn = lambda state, ctx: "7"  # noqa: E731
    assert simulator_of(Context(student_simulator=fn)) is fn
    with pytest.raises(DataError, match="simulator"):
        simulator_of(Context(student_simulator="oracle"))


# ------------------------------------------------------------------------------------------------ dialogues


def test_probabilistic_student_on_the_scripted_tutor_is_monotone_safe_and_deterministic():
    s = suite(max_turns=6)
    items = s.load_items(TEST)[:5]
    first = run(s, items)
    second = run(s, items)
    assert first == second  # deterministic for the seeds
    summary = s.summarize(first)
    success = [summary[f"success@{k}"]["value"] for k in range(1, 7)]
    assert success == sorted(success)
    assert all(summary[f"telling@{k}"]["value"] == 0.0 for k in range(1, 7))  # reveal policy never
    r = first[0]
    assert r["student_simulator"] == "probabilistic" and r["models"]["student"].startswith("probabilistic")
    assert r["transcript"][0]["role"] == "tutor" and r["transcript"][1]["role"] == "student"
    assert r["student_turns"] <= 6 and r["end_reason"] in ("solved", "turn_limit")
    labels = r["turn_labels"]
    assert labels[0]["kind"] == "open" and all(
        lab["move"] in ("focus", "probing", "telling", "generic") for lab in labels
    )
    assert {"category", "move", "strategy", "gate"} <= set(labels[1])
    other = run(s, items, seed=100)
    assert other != first  # another seed, other dialogues


def test_a_strong_probabilistic_student_solves_in_two_turns():
    s = suite(max_turns=8, base="0.9", learn="0", hint_rate="0")
    (r,) = run(s, [record_item()])
    assert r["success_turn"] == 2 and r["end_reason"] == "solved"  # a strong student answers both steps
    assert [t["role"] for t in r["transcript"]] == ["tutor", "student"] * 2 + ["tutor"]


def test_llm_student_path_with_a_scripted_student_model():
    problem = parse_mathdial(RECORD, "mathdial-1")
    answers = iter(["I'm sure it's 9.", "Oh wait, 12 + 3 = 15.", "So 15 - 5 = 10."])
    student = ScriptedChatModel(reply_fn=lambda call: next(answers))
    s = suite(student="llm", max_turns=5)
    (r,) = run(s, [record_item()], student=student)
    assert r["student_simulator"] == "llm" and r["scripted"]["student"]
    assert r["success_turn"] == 3 and r["telling_turn"] is None and r["end_reason"] == "solved"
    assert r["answer_mention_turn"] == 4  # the tutor's affirmation after the student said it
    assert len(student.calls) == 3
    call = student.calls[-1]
    assert "believe your own solution" in call.system and problem.question in call.system
    assert "subtracting instead of adding" in call.system and "12 - 3 = 9" in call.system
    assert [m.type for m in call.messages[1:]] == ["human", "ai", "human", "ai", "human"]  # tutor speaks as user
    seen = "\n".join(str(m.content) for m in call.messages[1:]).lower()
    assert "strategy" not in seen and "subproblem" not in seen


def test_a_student_model_that_fails_ends_the_dialogue_with_a_reason_not_an_item_error(tmp_path):
    """A timeout (or any model failure) on turn 2 keeps turn 1 and the tutor's replies; the runner can retry it."""
    from langchain_core.exceptions import ModelTimeoutError
    from pedagraph.evals.runner import RunConfig, run_suite_sync

    def reply(call):
        if len(student.calls) >= 2:
            raise ModelTimeoutError("generation stopped at the 60 s timeout after 3 tokens")
        return "I think it's 9."

    student = ScriptedChatModel(reply_fn=reply)
    s = suite(student="llm", max_turns=5)
    (r,) = run(s, [record_item()], student=student)
    assert r["end_reason"] == "student_failed" and r["retryable"] and r["student_turns"] == 1
    assert "timed out" in r["student_error"] and "\n" not in r["student_error"]
    assert [t["role"] for t in r["transcript"]] == ["tutor", "student", "tutor"]
    assert s.summarize([r])["end_reason.student_failed"]["value"] == 1.0
    data = write_jsonl(tmp_path, [RECORD])
    cfg = RunConfig(out_dir=tmp_path / "run", data_path=data, options={"student": "llm", "max_turns": 5},
                    models={"student": {"model": ScriptedChatModel(reply_fn=reply)}}, cache=False)  # fmt: skip
    student = cfg.models["student"]["model"]
    result = run_suite_sync(suite(student="llm", max_turns=5), cfg, progress=False)
    assert result.ok == 1 and result.errors == 0  # the dialogue is a result, not an item error
    (reason,) = result.summary["retry_reasons"]  # ... and said to be run again, with why
    assert reason.startswith("the simulated student failed: ") and "timed out" in reason
    assert result.summary["retry_reasons"][reason] == 1
    report = (tmp_path / "run" / "report.md").read_text()
    assert "Scored items to run again" in report and "timed out" in report
    student = ScriptedChatModel(reply_fn=lambda call: "So 15 - 5 = 10.")
    again = RunConfig(out_dir=tmp_path / "run", data_path=data, options={"student": "llm", "max_turns": 5},
                      models={"student": {"model": student}}, cache=False, retry_errors=True)  # fmt: skip
    result = run_suite_sync(suite(student="llm", max_turns=5), again, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["result"]["end_reason"] == "solved"  # --retry-errors ran it again


def test_auto_uses_the_llm_student_only_for_a_real_model():
    s = suite()
    assert s.student_kind(student_scripted=True) == "probabilistic"
    assert s.student_kind(student_scripted=False) == "llm"
    assert suite(student="llm").student_kind(True) == "llm"


def test_telling_is_detected_when_the_policy_allows_the_answer():
    student = ScriptedChatModel(reply_fn=lambda call: "Just tell me the answer please.")
    s = suite(student="llm", reveal_policy="on_request", max_turns=4)
    (r,) = run(s, [record_item()], student=student)
    assert r["end_reason"] == "revealed" and r["graph_revealed"]
    assert r["telling_turn"] == 2 and r["success_turn"] is None  # the reply to turn 1 stated it
    summary = s.summarize([r])
    assert summary["telling@1"]["value"] == 0.0 and summary["telling@2"]["value"] == 1.0
    assert summary["reveal_gate.allowed_per_dialogue"]["value"] >= 1


def test_report_and_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    s = suite(max_turns=4)
    results = run(s, [record_item()])
    summary = s.summarize(results)
    report = s.report({"metrics": summary}, results)
    assert "| 4 | " in report and "probabilistic" in report and "scripted" in report
    paths = s.plots(summary, results, tmp_path)
    assert [p.name for p in paths] == ["tutoring_success_telling.png"] and paths[0].stat().st_size > 1000


# ------------------------------------------------------------------------------------------------ runner and CLI


def test_runs_end_to_end_through_the_runner(tmp_path):
    from pedagraph.evals.runner import RunConfig, run_suite_sync

    cfg = RunConfig(out_dir=tmp_path / "run", data_path=TEST, limit=3, concurrency=3, cache=False)
    result = run_suite_sync(suite(), cfg, progress=False)
    assert result.ok == 3 and result.errors == 0
    summary = json.loads(result.summary_path.read_text(encoding="utf-8"))
    assert summary["metrics"]["success@8"]["n"] == 3
    assert (tmp_path / "run" / "tutoring_success_telling.png").is_file()
    assert "Success@k" in result.report_path.read_text(encoding="utf-8")


def test_cli_eval_tutoring_limit_3(tmp_path):
    from typer.testing import CliRunner

    from pedagraph.cli import app

    out = tmp_path / "cli-tutoring"
    args = ["eval", "tutoring", "--limit", "3", "--out", str(out), "--option", "max_turns=4"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)
    assert all(r["result"]["max_turns"] == 4 for r in rows)
    assert "Success@k" in (out / "report.md").read_text(encoding="utf-8")


def test_a_leaky_model_tutor_is_gated_and_not_counted_as_telling():
    """A real-model tutor (scripted stand-in) that blurts the answer: the reveal gate replaces it, Telling stays 0."""

    def teacher_reply(call):
        return None if call.schema_name else "The answer is 10 spoons, so just write 10."

    teacher = StandInChatModel(reply_fn=teacher_reply)
    student = ScriptedChatModel(reply_fn=lambda call: "I still think it's 9.")
    s = suite(student="llm", max_turns=3)
    (r,) = run(s, [record_item()], teacher=teacher, student=student)
    assert r["models"]["teacher"] == "stand-in:StandInChatModel"
    assert any(lab["reply_source"] == "model" for lab in r["turn_labels"])  # the model path, not templates
    assert r["telling_turn"] is None and r["answer_mention_turn"] is None
    assert r["end_reason"] == "turn_limit" and r["student_turns"] == 3
    assert len(r["reveal_events"]) >= 3 and {e["action"] for e in r["reveal_events"]} <= {"replaced", "regenerated"}
    assert all("10" not in t["text"] for t in r["transcript"] if t["role"] == "tutor")


def test_judge_option_scores_every_tutor_reply_with_the_evaluator():
    def evaluator_reply(call):
        if call.schema_name == "ResponseLabels":
            return {"rationale": "ok", "revealing_of_the_answer": "No", "tutor_tone": "Neutral"}
        return None  # the tutor graph's own diagnosis call: schema-valid defaults

    evaluator = ScriptedChatModel(reply_fn=evaluator_reply)
    s = suite(max_turns=3, judge="true", judge_dimensions="revealing_of_the_answer,tutor_tone")
    (r,) = run(s, [record_item()], evaluator=evaluator)
    tutor_replies = [i for i, t in enumerate(r["transcript"]) if t["role"] == "tutor" and i > 0]
    assert [j["index"] for j in r["judged"]] == tutor_replies
    assert all(j["labels"] == {"Revealing_of_the_Answer": "No", "Tutor_Tone": "Neutral"} for j in r["judged"])
    judge_calls = [c for c in evaluator.calls if c.schema_name == "ResponseLabels"]
    assert len(judge_calls) == len(tutor_replies)
    assert r["transcript"][tutor_replies[-1]]["text"].strip() in judge_calls[-1].last_user
    summary = s.summarize([r])
    assert summary["judge.Revealing_of_the_Answer"]["value"] == 1.0 and summary["judge.Tutor_Tone"]["value"] == 0.0
    assert "judge.Coherence" not in summary
    assert "MRBench desirable-label rates" in s.report(summary, [r])
    with pytest.raises(DataError, match="unknown MRBench dimension"):
        suite(judge="true", judge_dimensions="empathy")


def test_a_judge_that_fails_its_schema_leaves_that_reply_unjudged_not_the_dialogue_lost():
    def evaluator_reply(call):
        if call.schema_name == "ResponseLabels":
            return "I think the tutor was nice."  # no JSON at all, twice: the judge call fails after one repair
        return None

    s = suite(max_turns=2, judge="true", judge_dimensions="tutor_tone")
    (r,) = run(s, [record_item()], evaluator=ScriptedChatModel(reply_fn=evaluator_reply))
    assert r["judged"] and all(j["labels"] == {} and "after one repair attempt" in j["error"] for j in r["judged"])
    summary = s.summarize([r])
    assert summary["judge.failed"]["value"] == 1.0 and "judge.Tutor_Tone" not in summary
    assert "could not label" in s.report(summary, [r])
