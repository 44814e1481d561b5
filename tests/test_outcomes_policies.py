"""Outcome policies of other methods: CoPilot with expert/model/random/no Bridge decisions, the tutor with a library.

Offline: the bundled GSM8K sample, the scripted tutor and copilot, the offline learner. With the scripted teacher
the `model` decisions are the rules' and the library is read by no one; the tests below pin down which conditions
coincide offline and which differ.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pedagraph.evals.runner import RunConfig, get_suite, run_suite

from pedagraph.llm import get_model
from pedagraph.methods.copilot.bridge import ERROR_LABELS, check_decisions
from pedagraph.outcomes import LearnerParams, PolicyEnv, get_policy, policy_names, seed_learner
from pedagraph.outcomes.copilot import EXPERT_BY_ERROR, expert_decisions, known_error, random_valid
from pedagraph.outcomes.items import bundled_profiles
from pedagraph.problems import bundled_problems

SAMPLE = Path(__file__).resolve().parents[1] / "pedagraph" / "data" / "problems" / "gsm8k_sample.jsonl"
COPILOT = ("copilot_expert", "copilot_model", "copilot_random", "copilot_none")
PROBLEMS = [p for p in bundled_problems() if p.has_steps][:4]


def episode(name: str, problem: Any, *, profile: int = 1, seed_key: str = "0:1", **options: Any):
    models = {r: get_model(r, model="scripted") for r in ("teacher", "evaluator", "student")}
    learner = seed_learner(bundled_profiles()[profile], LearnerParams(), random.Random(profile), "x")
    env = PolicyEnv(learner_id=f"sim:test:{name}:{profile}:{seed_key}", rng=random.Random(seed_key), models=models,
                    seed_key=seed_key)  # fmt: skip
    return get_policy(name, options).run(problem, learner, env), learner


def test_the_policies_register():
    names = policy_names()
    assert {"tutor_library", *COPILOT} <= set(names)
    assert names[:5] == ["none", "tell", "tutor", "lesson", "tutor_no_tom"]  # the earlier ones keep their order
    assert {get_policy(n).name for n in COPILOT} == set(COPILOT)
    assert get_policy("tutor_library").strategies == "outcomes"
    assert get_policy("tutor_library", {"library": "mine", "approved_only": "true"}).approved_only


# ------------------------------------------------------------------------------------------------ decisions


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), verdict=st.sampled_from(["correct", "incorrect", None]))
def test_random_decisions_are_valid_for_the_verdict_and_seeded(seed, verdict):
    drawn = random_valid(random.Random(seed), verdict)
    assert drawn == random_valid(random.Random(seed), verdict)
    assert drawn["error"] in ERROR_LABELS and "other" not in drawn.values()
    for step, value in drawn.items():
        assert check_decisions(step, value, verdict=verdict) is None, (step, value, verdict)


def test_random_decisions_cover_their_options():
    rng = random.Random(0)
    seen = {random_valid(rng, "incorrect")["strategy"] for _ in range(400)}
    assert "affirm_correct_answer" not in seen and "provide_correction" not in seen and len(seen) == 8


@pytest.mark.parametrize("profile", bundled_profiles(), ids=lambda p: p.name)
def test_the_expert_decides_from_the_learners_known_error(profile):
    learner = seed_learner(profile, LearnerParams(), random.Random(0), "x")
    error = known_error(learner)
    assert error == learner.misconceptions[0].error_type
    wrong = expert_decisions("incorrect", error)
    assert wrong["error"] == error and (wrong["strategy"], wrong["intention"]) == EXPERT_BY_ERROR[error]
    assert expert_decisions("correct", error)["strategy"] == "affirm_correct_answer"
    assert expert_decisions(None, error) is None  # an ungraded turn: the rules decide
    for step, value in wrong.items():
        assert check_decisions(step, value, verdict="incorrect") is None


def test_the_expert_table_is_bridges_most_frequent_valid_choice(data_file):
    """Recount EXPERT_BY_ERROR from Bridge's training split: on the full split each pair is the most frequent valid
    choice for its error; on the bundled sample (too few rows to rank) each pair is valid and found among the
    experts' choices for its error."""
    import json
    from collections import Counter, defaultdict

    from pedagraph.methods.copilot.bridge import gold_labels

    found = data_file("bridge/train.json")
    rows = json.loads(found.path.read_text(encoding="utf-8"))
    counts: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        gold = gold_labels(row)
        if not gold["mapped"] and "other" not in (gold["strategy"], gold["intention"]):
            if check_decisions("strategy", gold["strategy"], verdict="incorrect") is None:
                counts[gold["error"]][(gold["strategy"], gold["intention"])] += 1
    for error, (strategy, intention) in EXPERT_BY_ERROR.items():
        assert check_decisions("strategy", strategy, verdict="incorrect") is None, error
        assert check_decisions("intention", intention, verdict="incorrect") is None, error
    if found.origin == "sample":
        seen = [e for e, pair in EXPERT_BY_ERROR.items() if pair in counts[e]]
        assert len(seen) >= len(EXPERT_BY_ERROR) - 1, seen
        return
    for error, pair in EXPERT_BY_ERROR.items():
        assert counts[error].most_common(1)[0][0] == pair, error


# ------------------------------------------------------------------------------------------------ copilot episodes


@pytest.mark.parametrize("name", COPILOT)
def test_each_copilot_policy_runs_offline_and_logs_who_decided(name):
    ep, learner = episode(name, PROBLEMS[2])
    source = name.split("_", 1)[1]
    assert ep.turns >= 2 and ep.extra["decision_source"] == source and ep.extra["fallbacks"] == 0
    log = ep.extra["decisions"]
    assert log and len(log) == len(ep.learner)  # one decision record per learner turn
    who = {b for d in log for b in d["by"].values()}
    if source == "model":
        assert who == {"rules"}  # the scripted teacher decides nothing: the rules do
    elif source == "expert":
        assert who <= {"expert", "rules"} and "expert" in who
    else:
        assert who == {source}
    assert learner.snapshot()["know"] != learner.start or source == "none"


def test_copilot_episodes_are_reproducible_for_a_seed():
    for name in COPILOT:
        a, _ = episode(name, PROBLEMS[1])
        b, _ = episode(name, PROBLEMS[1])
        assert a.dump() == b.dump(), name
    c, _ = episode("copilot_random", PROBLEMS[1], seed_key="7:1")
    a, _ = episode("copilot_random", PROBLEMS[1])
    assert [d["strategy"] for d in c.extra["decisions"]] != [d["strategy"] for d in a.extra["decisions"]]


def test_the_decision_sources_give_different_replies_offline():
    replies = {n: [tuple(episode(n, p, profile=i)[0].replies) for p in PROBLEMS for i in (0, 1)] for n in COPILOT}
    assert replies["copilot_random"] != replies["copilot_model"]
    assert replies["copilot_expert"] != replies["copilot_model"]
    assert replies["copilot_none"] != replies["copilot_model"]
    none = [episode("copilot_none", p)[0] for p in PROBLEMS]
    assert all(e.extra["step_results_told"] == 0 and not e.told for e in none)  # no decision, no content


def test_copilot_model_offline_sends_what_the_tutor_would():
    """Offline the model's decisions are the rules': the copilot sends the tutor graph's replies."""
    for p in PROBLEMS[:2]:
        assert episode("copilot_model", p)[0].replies == episode("tutor", p)[0].replies


def _decider(calls: list[Any]) -> Any:
    """A stand-in real teacher: fixed Bridge decisions (some contradict the verdict), question-only replies."""
    from pedagraph.llm import StandInChatModel

    def reply(call: Any) -> Any:
        calls.append(call)
        if call.schema_name == "ErrorDecision":
            return {"error": "careless", "reason": "r"}  # invalid on a right answer
        if call.schema_name == "StrategyDecision":
            return {"strategy": "affirm_correct_answer", "reason": "r"}  # invalid on a wrong answer
        if call.schema_name == "IntentionDecision":
            return {"intention": "support_thinking", "reason": "r"}  # always valid
        if call.schema_name:
            return None
        return "What do you notice about what this step asks?"

    return StandInChatModel(model_name="decider", reply_fn=reply)


def test_with_a_real_teacher_the_model_decides_checked_and_none_writes_without_decisions():
    calls: list[Any] = []
    models = {"teacher": _decider(calls), **{r: get_model(r, model="scripted") for r in ("evaluator", "student")}}

    def run(name: str) -> Any:
        learner = seed_learner(bundled_profiles()[1], LearnerParams(), random.Random(1), "x")
        env = PolicyEnv(learner_id=f"sim:test:real:{name}", rng=random.Random(0), models=models, seed_key="0:1")
        return get_policy(name).run(PROBLEMS[2], learner, env)

    model = run("copilot_model")
    who = [b for d in model.extra["decisions"] for b in d["by"].values()]
    assert "model" in who and "replaced" in who and "rules" not in who  # the model decides, the rules check
    assert all(d["intention"] == "support_thinking" for d in model.extra["decisions"])
    calls.clear()
    none = run("copilot_none")
    respond = [c for c in calls if not c.schema_name and "respond to a student's mistake" in c.system]
    assert respond and not any("The student's error:" in c.system for c in respond)  # no decision in the prompt
    assert {d["reply"] for d in none.extra["decisions"]} == {"model"}
    assert "What do you notice about what this step asks?" in none.replies


# ------------------------------------------------------------------------------------------------ the library


def test_the_library_reaches_a_real_teachers_prompt_and_not_the_scripted_one():
    from pedagraph.llm import StandInChatModel
    from pedagraph.outcomes.policies import TutorGraph
    from pedagraph.testing.distill import KnownTutor

    strategy = {"strategy": "Ask which operation fits the story before any number.", "approved": True}
    double = KnownTutor({"zzz-never": "fix"})
    teacher = StandInChatModel(model_name="known-tutor", reply_fn=double)
    learner = seed_learner(bundled_profiles()[1], LearnerParams(), random.Random(0), "x")
    models = {"teacher": teacher, **{r: get_model(r, model="scripted") for r in ("evaluator", "student")}}

    def env(name: str) -> PolicyEnv:
        return PolicyEnv(learner_id=f"sim:test:{name}", rng=random.Random(0), models=models, seed_key="0:0")

    with_lib = TutorGraph(name="tutor_library", strategies=[strategy]).run(PROBLEMS[0], learner, env("lib"))
    assert with_lib.extra["strategies_used"] > 0 and any(strategy["strategy"] in p for p in double.prompts)
    double.prompts.clear()
    TutorGraph(name="tutor").run(PROBLEMS[0], learner, env("plain"))
    assert double.prompts and not any(strategy["strategy"] in p for p in double.prompts)
    scripted, _ = episode("tutor_library", PROBLEMS[0], library="any")
    assert scripted.extra["strategies_used"] == 0 and scripted.replies == episode("tutor", PROBLEMS[0])[0].replies


def test_library_options_are_checked_in_one_line(tmp_path):
    from pedagraph.errors import DataError

    with pytest.raises(DataError, match="library_train must be at least 1"):
        get_suite("outcomes")({"policy": "tutor_library", "library_train": "0"})
    suite = get_suite("outcomes")({"policy": "tutor_library", "library_data": str(tmp_path / "missing.jsonl")})
    with pytest.raises(DataError, match="no MathDial file to build the strategy library from"):
        suite.library_scenarios()


def test_the_library_is_built_on_scenarios_disjoint_from_the_outcome_items(tmp_path):
    from pedagraph.evals.suites.outcomes import question_key

    from pedagraph.methods.distill.scenarios import problem_key
    from pedagraph.problems import load_problems

    suite = get_suite("outcomes")({"policy": "tutor_library", "learners": 2, "items": 1, "realism": 0})
    suite.load_items(SAMPLE)
    outcome = {question_key(p.question) for p in load_problems(SAMPLE)}
    train = suite.library_scenarios()
    assert train and not {problem_key(s) for s in train} & outcome
    suite._questions |= {problem_key(s) for s in train[:3]}  # an outcome file holding three of those problems
    again = suite.library_scenarios()
    assert not {problem_key(s) for s in again} & suite._questions and train[0].id not in {s.id for s in again}


# ------------------------------------------------------------------------------------------------ the suite


def run(options: dict[str, Any], out: Path):
    suite = get_suite("outcomes")({"realism": 0, **options})
    config = RunConfig(out_dir=out, data_path=SAMPLE, cache=False, concurrency=4)
    return asyncio.run(run_suite(suite, config, progress=False))


def test_the_suite_reports_who_decided_and_fallbacks_reproducibly(tmp_path):
    options = {"policy": ",".join(["tutor", "tutor_library", *COPILOT]), "learners": 4, "items": 1, "seeds": "0,1"}
    first = run(options, tmp_path / "a")
    assert first.errors == 0 and first.ok == 48
    summary = first.summary["metrics"]
    by = summary["decided_by"]
    assert set(by) == set(COPILOT) and set(by["copilot_none"]) == {"none"} and set(by["copilot_model"]) == {"rules"}
    assert by["copilot_random"].get("random", 0) > 0 and by["copilot_expert"].get("expert", 0) > 0
    assert summary["copilot_none.tokens"]["value"] < summary["copilot_model.tokens"]["value"]  # content-free replies
    assert summary["copilot_model.strategy_met"]["value"] == 1.0
    assert 0 < summary["copilot_random.strategy_met"]["value"] < 1
    assert set(summary["fallbacks_by_policy"]) == {"tutor", "tutor_library", *COPILOT}
    assert summary["decisions_by_policy"]["copilot_model"]["bridge.strategy"]["rules"] > 0
    report = (tmp_path / "a" / "report.md").read_text()
    assert "Who made the Bridge decisions" in report and "| `copilot_random` | random" in report
    library = (tmp_path / "a" / "library.json").read_text()
    assert '"train"' in library
    # offline the library changes nothing (the scripted teacher reads no strategies): the same figures as tutor
    for fig in ("normalised_gain", "tokens", "turns"):
        assert summary[f"tutor_library.{fig}"] == summary[f"tutor.{fig}"]
    second = run(options, tmp_path / "b")
    keep = [k for k in summary if "." in k and not k.startswith("diff.")]
    assert {k: summary[k] for k in keep} == {k: second.summary["metrics"][k] for k in keep}
