"""The `outcomes` method: simulated learners that learn from reply text, plans, policies, the suite and its figures.

Offline: the bundled GSM8K sample, the six bundled MathDial profiles, the scripted tutor, a Bridge fixture made
here, and the OpenAI-compatible stub on 127.0.0.1 for the LLM learner's path.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest
from pedagraph.evals.runner import RunConfig, get_suite, read_results, run_suite

from pedagraph.answers import compare, evaluate_arithmetic
from pedagraph.errors import DataError
from pedagraph.outcomes import (
    LearnerParams,
    PolicyEnv,
    credit,
    get_policy,
    load_profiles,
    normalised_gain,
    plan_for,
    read_reply,
    run_learner,
    seed_learner,
    sim_learner_id,
    variant,
)
from pedagraph.outcomes.items import bundled_profiles, operation_skills
from pedagraph.problems import Problem, bundled_problems, parse_gsm8k, steps_of

SAMPLE = Path(__file__).resolve().parents[1] / "pedagraph" / "data" / "problems" / "gsm8k_sample.jsonl"
DUCKS = parse_gsm8k({
    "question": "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
    "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh "
    "duck egg. How much in dollars does she make every day at the farmers' market?",
    "answer": "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day."
    "\n#### 18",
}, "ducks")  # fmt: skip


def bridge_fixture(path: Path, n: int = 6) -> Path:
    """A small Bridge-shaped file (made here, not the real data)."""
    rows = []
    for i in range(n):
        rows.append({
            "c_id": f"c{i}", "lesson_topic": "Adding fractions",
            "c_h": [{"id": 1, "text": "What is 3 + 4?", "user": "tutor"},
                    {"id": 2, "text": ["8", "is it 12?", "seven i think", "I don't know"][i % 4], "user": "student"}],
            "c_r": [], "e": ["careless", "guess", "right-idea", "diagnose"][i % 4], "z_what": "provide_hint",
        })  # fmt: skip
    rows.append({"c_id": "short", "c_h": [{"id": 1, "text": "hi", "user": "student"}], "e": "guess"})
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------ features


def test_reply_features_come_from_the_text_only():
    step = DUCKS.steps[0]
    hint = read_reply("Try subtraction with 16, 3 and 4. What do you get?", step, DUCKS)
    assert hint.operation and hint.quantities == 1.0 and hint.asks
    assert read_reply("Take 3 away from 16.", step, DUCKS).quantities == pytest.approx(2 / 3, abs=1e-3)
    assert not hint.result_stated and not hint.worked_example and not hint.final_stated
    told = read_reply("She has 16 - 3 - 4 = 9 eggs left.", step, DUCKS)
    assert told.result_stated and told.worked_example and told.operation
    example = read_reply("For example, 10 - 2 - 1 = 7. Now yours.", step, DUCKS)
    assert example.worked_example and not example.result_stated
    quoting = read_reply(DUCKS.question, step, DUCKS)  # quoting the problem states no result
    assert not quoting.result_stated and not quoting.final_stated
    assert read_reply("", step, DUCKS) == read_reply("   ", step, DUCKS)
    assert read_reply("The answer is 18.", DUCKS.steps[1], DUCKS).final_stated


def test_credit_and_normalised_gain():
    assert credit("9 * 2 = 18\nAnswer: 18", DUCKS) == (1.0, True)
    assert credit("16 - 3 - 4 = 9\n9 + 2 = 11\nAnswer: 11", DUCKS) == (0.5, False)  # step 1 of 2 right
    assert credit("I don't know", DUCKS) == (0.0, False)
    assert normalised_gain(0.5, 0.75) == pytest.approx(0.5)
    assert normalised_gain(1.0, 1.0) is None
    assert normalised_gain(0.5, 0.25) == pytest.approx(-0.5)


# ------------------------------------------------------------------------------------------------ learners


def test_learners_are_seeded_from_mathdial_profiles():
    profiles = bundled_profiles()
    assert len(profiles) == 6 and all(p.profile and p.confusion for p in profiles)
    mariana = next(p for p in profiles if p.name == "Mariana")  # "subtracting instead of adding"
    learner = seed_learner(mariana, LearnerParams(), random.Random(0), "sim:t")
    assert learner.kind == "relevance"
    assert learner.misconceptions[0].skill == "subtraction" and learner.misconceptions[0].active
    others = [v for s, v in learner.know.items() if s != "subtraction"]
    assert learner.know["subtraction"] < max(others)


def _episode(learner, problem: Problem, rng: random.Random, *, told: bool) -> None:
    """Each step: its worked line, result included (the learner copies it); or its hint, then the learner works."""
    for step in steps_of(problem):
        if told:
            learner.read(step.solution_text, problem, step, rng)
            continue
        for _ in range(3):
            learner.read(step.hint, problem, step, rng)  # the operation and the quantities, never the result
            if learner.work(step, rng)[2]:
                break


def test_a_learner_told_the_answers_gains_less_on_the_post_test_than_one_made_to_work():
    problems = [p for p in bundled_problems() if len(p.steps) >= 2][:12]
    profiles = bundled_profiles()
    told_gain, worked_gain = [], []
    for i in range(24):
        profile = profiles[i % len(profiles)]
        plan = plan_for(bundled_problems(), i, 3, random.Random(f"plan:{i}"))
        scores = {}
        for mode in ("told", "worked"):
            learner = seed_learner(profile, LearnerParams(), random.Random(f"learner:{i}"), f"sim:t:{i}")
            pre = [credit(learner.answer_test(p, random.Random(f"pre:{i}:{p.id}")), p)[0] for p in plan.pre]
            _episode(learner, problems[i % len(problems)], random.Random(f"ep:{i}"), told=mode == "told")
            learner.rest()
            post = [credit(learner.answer_test(p, random.Random(f"post:{i}:{p.id}")), p)[0] for p in plan.post]
            scores[mode] = statistics.mean(post) - statistics.mean(pre)
        told_gain.append(scores["told"])
        worked_gain.append(scores["worked"])
    assert statistics.mean(worked_gain) > statistics.mean(told_gain) + 0.03
    assert sum(w >= t for w, t in zip(worked_gain, told_gain, strict=True)) >= 16


def test_knowledge_moves_only_through_reading_and_working_and_stays_in_bounds():
    learner = seed_learner(bundled_profiles()[0], LearnerParams(), random.Random(1), "sim:t")
    start = dict(learner.know)
    rng = random.Random(0)
    learner.answer_test(DUCKS, rng)  # a test teaches nothing
    assert learner.know == start
    learner.read("Nice weather today.", DUCKS, DUCKS.steps[0], rng)  # nothing about the step
    assert learner.know == start
    for _ in range(200):
        learner.read("16 - 3 - 4 = 9: subtract 3 and 4 from 16.", DUCKS, DUCKS.steps[0], rng)
        learner.work(DUCKS.steps[0], rng)
    assert learner.know["subtraction"] <= LearnerParams().max_p + 1e-9
    assert learner.know["subtraction"] > start["subtraction"]
    for _ in range(100):
        learner.rest()
    assert all(learner.know[s] >= start[s] - 1e-9 for s in start)  # forgetting goes back to the start, not below
    assert learner.know["subtraction"] == pytest.approx(start["subtraction"], abs=1e-3)


# ------------------------------------------------------------------------------------------------ items


@pytest.mark.parametrize("problem", bundled_problems(), ids=lambda p: p.id)
def test_variants_are_isomorphic_with_other_numbers(problem):
    v = variant(problem, random.Random(problem.id))
    if v is None:
        return
    assert v.id == f"{problem.id}~v1" and v.extras["variant_of"] == problem.id
    assert len(v.steps) == len(problem.steps) and v.question != problem.question
    assert operation_skills(v) == operation_skills(problem)
    for s in v.steps:
        assert compare(evaluate_arithmetic(s.expression), s.answer_value)
        assert s.answer_value == int(s.answer_value) and s.answer_value >= 0
    assert compare(v.steps[-1].answer_value, v.final_value)


def test_some_variants_exist_and_stepless_problems_have_none():
    assert sum(variant(p, random.Random(0)) is not None for p in bundled_problems()) >= 15
    stepless = Problem(id="x", question="What is 2 + 2?", final_answer="4", final_value=4)
    assert variant(stepless, random.Random(0)) is None


def test_plans_are_problem_disjoint_and_share_skills():
    problems = bundled_problems()
    for i in range(10):
        plan = plan_for(problems, i, 3, random.Random(i))
        assert len(plan.pre) == len(plan.post) == 3 and len(plan.practice) == 1
        ids = [p.id for p in [*plan.pre, *plan.post, *plan.practice]]
        assert len(ids) == len(set(ids))
        practice = plan.practice[0].id
        assert all(p.extras.get("variant_of") != practice for p in [*plan.pre, *plan.post])
        assert all(operation_skills(p) & set(plan.skills) for p in [*plan.pre, *plan.post])
    parallel = plan_for(problems, 0, 3, random.Random(0), parallel=True)  # post = the pre items, other numbers
    assert [p.extras.get("variant_of") for p in parallel.post if p.extras.get("variant_of")]
    assert {p.extras.get("variant_of") for p in parallel.post} - {None} <= {p.id for p in parallel.pre}
    few = problems[:4]  # too few problems: variants fill the tests
    plan = plan_for(few, 0, 3, random.Random(0))
    assert plan.variants > 0
    with pytest.raises(DataError, match="usable problem"):
        plan_for(problems[:1], 0, 3, random.Random(0))


def test_profiles_from_a_mathdial_file(tmp_path):
    rows = [{"qid": 1, "question": "What is 2 + 3?", "ground_truth": "2 + 3 = 5\n 5", "student_incorrect_solution":
             "2 - 3 = -1", "student_profile": "Ana is a 7th grade student. She struggle to put the numbers in the "
             "correct order in the equation or determine the correct operation to use.",
             "teacher_described_confusion": "subtracting instead of adding",
             "conversation": "Teacher: hi"}]  # fmt: skip
    path = tmp_path / "md.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    profiles, source = load_profiles(path)
    assert [p.name for p in profiles] == ["Ana"] and "1 profiles" in source
    with pytest.raises(DataError, match="not found"):
        load_profiles(tmp_path / "missing.jsonl")


# ------------------------------------------------------------------------------------------------ one learner


def test_one_learner_is_kept_in_the_shared_learner_model_under_a_sim_id():
    from pedagraph.learner import get_learner_store

    store = get_learner_store()
    plan = plan_for(bundled_problems(), 2, 2, random.Random(2))
    learner = seed_learner(bundled_profiles()[3], LearnerParams(), random.Random(2), "x")
    lid = sim_learner_id(2, "tutor", 0)
    assert lid.startswith("sim:")
    result = run_learner(plan, learner, get_policy("tutor"), PolicyEnv(learner_id=lid, rng=None), store,
                         seed_key="0:2")  # fmt: skip
    record = store.get(lid)
    assert record.kind == "llm_student" and "7th grade" in record.persona_text
    assert record.misconceptions and record.skills
    sessions = {o.session_id for s in record.skills.values() for o in s.history}
    assert f"{lid}:pre" in sessions and f"{lid}:post" in sessions  # graded test answers, as BKT evidence
    assert result["turns"] >= 2 and result["tokens"] > 0 and not result["told"]
    again = run_learner(plan, seed_learner(bundled_profiles()[3], LearnerParams(), random.Random(2), "x"),
                        get_policy("tutor"), PolicyEnv(learner_id=lid, rng=None), store, seed_key="0:2")  # fmt: skip
    assert again["pre"] == result["pre"] and again["post"] == result["post"]  # deterministic, record started afresh


def test_tell_is_one_reply_that_tells():
    learner = seed_learner(bundled_profiles()[0], LearnerParams(), random.Random(0), "x")
    episode = get_policy("tell").run(DUCKS, learner, PolicyEnv(learner_id="sim:x", rng=random.Random(0)))
    assert episode.turns == 1 and episode.told and episode.explanations == 1 and "18" in episode.replies[0]
    assert get_policy("none").run(DUCKS, learner, PolicyEnv(learner_id="sim:x", rng=random.Random(0))).turns == 0
    lesson = get_policy("lesson").run(DUCKS, learner, PolicyEnv(learner_id="sim:x", rng=random.Random(0)))
    assert lesson.turns == 1 and "Lesson plan" in lesson.replies[0] and lesson.tokens > episode.tokens
    with pytest.raises(DataError, match="unknown policy"):
        get_policy("lecture")


# ------------------------------------------------------------------------------------------------ the suite


def run(options: dict[str, Any], out: Path, data: Path = SAMPLE, **kw: Any):
    suite = get_suite("outcomes")({"realism": 0, **options})
    config = RunConfig(out_dir=out, data_path=data, cache=False, concurrency=4, **kw)
    return asyncio.run(run_suite(suite, config, progress=False))


def test_the_benchmark_orders_tell_at_once_below_the_tutor(tmp_path):
    result = run({"policy": "none,tell,tutor", "learners": 12, "items": 2, "seeds": "0,1"}, tmp_path / "run")
    assert result.errors == 0 and result.ok == 72
    m = result.summary["metrics"]
    gain = {p: m[f"{p}.normalised_gain"]["value"] for p in ("none", "tell", "tutor")}
    assert gain["tutor"] > gain["tell"] > gain["none"]
    diff = m["diff.tell-tutor.normalised_gain"]
    assert diff["value"] < 0 and diff["ci_high"] < 0  # paired CI excludes no difference
    assert m["tell.telling_rate"]["value"] == 1.0 and m["tutor.telling_rate"]["value"] == 0.0
    assert m["tutor.turns"]["value"] > m["tell.turns"]["value"] == 1.0 and m["none.turns"]["value"] == 0.0
    assert m["none.gain_per_turn"]["value"] is None and m["tell.gain_per_100_tokens"]["value"] > 0
    assert m["tell.pre"] == m["tutor.pre"]  # the same learners, the same pre-test draws
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| `tutor` |" in report and "Paired difference" in report and "does not measure" in report
    assert (tmp_path / "run" / "outcomes_gain_vs_help.png").stat().st_size > 5000
    assert "Skipped" in report  # realism=0


def test_resumes_without_duplicates(tmp_path):
    out = tmp_path / "run"
    options = {"policy": "tell,tutor", "learners": 3, "items": 1}
    first = run(options, out, limit=2)
    assert first.ok == 2
    second = run(options, out)
    assert second.skipped == 2 and second.ran == 4
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 6 == len(read_results(out / "results.jsonl"))
    ids = {r["result"]["learner_id"] for r in read_results(out / "results.jsonl").values()}
    other = run(options, tmp_path / "other", limit=2)  # another run in the same home: its own learner records
    other_ids = {r["result"]["learner_id"] for r in read_results(other.results_path).values()}
    assert all(i.startswith("sim:outcomes-") for i in ids | other_ids) and not ids & other_ids


def test_realism_on_a_bridge_fixture_and_a_clear_skip(tmp_path, monkeypatch):
    bridge = bridge_fixture(tmp_path / "bridge.json")
    result = run({"policy": "tell", "learners": 1, "items": 1, "realism": 5, "bridge": str(bridge)}, tmp_path / "r")
    assert result.errors == 0 and result.ok == 1 + 5
    m = result.summary["metrics"]
    assert m["realism.words_real"]["n"] == 5 and m["realism.error_type_tvd"]["value"] is not None
    assert 0.0 <= m["realism.same_error_type"]["value"] <= 1.0
    assert "Realism: simulated vs real" in (tmp_path / "r" / "report.md").read_text()
    import pedagraph.evals.suites.outcomes as mod

    import pedagraph.datasets as datasets

    monkeypatch.setattr(datasets, "locate", lambda key: None)
    monkeypatch.setattr(mod, "BUNDLED_BRIDGE", ("data", "no-such-file.json"))
    skipped = run({"policy": "tell", "learners": 1, "items": 1, "realism": 3}, tmp_path / "s")
    assert skipped.ok == 1
    assert "Skipped: no Bridge data" in (tmp_path / "s" / "report.md").read_text()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"policy": "lecture"}, "unknown policy 'lecture'"),
        ({"learners": "many"}, "learners must be a whole number"),
        ({"items": 0}, "items must be at least 1"),
        ({"colour": "red"}, "unknown option"),
        ({"student": "human"}, "student must be one of"),
        ({"learn_told": 2}, "bad learner rate"),
        ({"bridge": "/no/such/bridge.json"}, "Bridge file not found"),
        ({"policy": "tell,tell"}, "named twice"),
        ({"forms": "mirror"}, "forms must be split or parallel"),
    ],
)
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(DataError, match=message):
        get_suite("outcomes")(options)


def test_cli_flags(tmp_path, monkeypatch, capsys):
    from pedagraph.cli import main

    out = tmp_path / "cli"
    args = ["pedagraph", "eval", "outcomes", "--data", str(SAMPLE), "--out", str(out), "--no-progress",
            "--policy", "none,tell", "--learners", "2", "--items", "1", "--option", "realism=0"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code in (0, None)
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["options"]["policy"] == "none,tell" and run_json["options"]["learners"] == 2
    monkeypatch.setattr(sys, "argv", [*args[:-4], "--policy", "lecture"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 1
    assert "unknown policy 'lecture'" in capsys.readouterr().err


def test_the_llm_learner_reads_its_notebook_in_the_post_test(tmp_path):
    from pedagraph.testing.openai_stub import OpenAIStub

    seen: list[str] = []
    answers = {p.question: p.final_answer for p in bundled_problems()}

    def reply(body: dict[str, Any]) -> str:  # right only with a lesson in the notebook
        system, question = body["messages"][0]["content"], body["messages"][-1]["content"]
        seen.append(system)
        return f"Answer: {answers.get(question, '0')}" if "The answer is" in system else "I think.\nAnswer: -1"

    with OpenAIStub(reply_fn=reply) as stub:
        models = {"student": {"model": "openai:stub-model", "base_url": stub.base_url}}
        result = run({"policy": "none,tell", "learners": 2, "items": 1}, tmp_path / "llm", models=models)
    assert result.errors == 0
    rows = [r["result"] for r in read_results(tmp_path / "llm" / "results.jsonl").values()]
    assert {r["student"] for r in rows} == {"llm"}
    tell = [r for r in rows if r["policy"] == "tell"]
    none = [r for r in rows if r["policy"] == "none"]
    assert all(r["post_score"] == 1.0 for r in tell) and all(r["post_score"] < 1.0 for r in none)
    assert any("(nothing yet)" in s for s in seen) and any("The answer is" in s for s in seen)


@pytest.mark.real_model
@pytest.mark.slow
def test_the_tiny_model_as_the_student_runs_tell_and_none_without_errors(tmp_path):
    from pedagraph.llm.tiny import find_tiny_gguf

    if find_tiny_gguf() is None:
        pytest.skip("the tiny model is not installed")
    models = {"student": {"model": "tiny", "max_tokens": 32}}
    result = run({"policy": "none,tell", "learners": 1, "items": 1}, tmp_path / "tiny", models=models)
    assert (result.ok, result.errors) == (2, 0)
    rows = {r["result"]["policy"]: r["result"] for r in read_results(result.results_path).values()}
    assert rows["tell"]["student"] == "llm" and rows["tell"]["told"] and rows["tell"]["turns"] == 1
    for row in rows.values():
        assert 0.0 <= row["pre_score"] <= 1.0 and 0.0 <= row["post_score"] <= 1.0 and row["post"][0]["answer"]
