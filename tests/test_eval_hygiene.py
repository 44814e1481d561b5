"""Evaluation hygiene: what a method is tested on is not what it was given, and reports say what made each part.

Each test fails on the behaviour before these fixes (19d0c01): test problems that are the lesson's own targets or
worked examples, a held-out split that shares problems with training, a "before" score that is the failure that
selected the scenario, a coach that reads the gold move labels or calls rules-filled scores the model's, and an
unapproved strategy passed through an `approved_only` filter.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pedagraph.methods.coach.coaching import CoachTurn, find_moments, parse_transcript, score_transcript
from pedagraph.methods.distill.library import strategies_for
from pedagraph.methods.distill.scenarios import problem_key, split
from pedagraph.methods.eduplanner.plans import (
    ScoredPlan,
    example_problems,
    improve_plan,
    pick_test_problems,
    target_problems,
)
from pedagraph.problems import bundled_problems, get_problem
from pedagraph.testing.distill import known_scenarios


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@pytest.mark.parametrize("topic", ["", "fractions of amounts", "percentages", "rates"])
@pytest.mark.parametrize("count", [1, 4, 8])
def test_eduplanner_test_problems_are_never_the_lesson_targets(topic, count):
    targets = target_problems(topic, []) if topic else [get_problem("gsm8k-sample-1")]
    tests = pick_test_problems(targets, count, seed=3)
    assert len(tests) == count
    assert not {p.id for p in tests} & {p.id for p in targets}
    assert not {_norm(p.question) for p in tests} & {_norm(p.question) for p in targets}


def test_eduplanner_worked_examples_never_use_a_test_problem():
    targets = [get_problem("gsm8k-sample-1")]
    tests = pick_test_problems(targets, 4, seed=0)
    skill = next(s for p in tests for s in p.skills)
    parent = ScoredPlan(id="p", round=0, origin="draft", markdown="# Plan", success=0.5,
                        suggestions=[f"add a worked example on {skill}"])  # fmt: skip
    text = improve_plan(parent, 0, targets, tests, {}, None)
    assert not any(p.question.strip() in text for p in tests)
    assert not {p.id for p in example_problems(targets, tests)} & {p.id for p in tests}


def test_eduplanner_graph_setup_keeps_targets_out_of_the_tests():
    from pedagraph.graphs.eduplanner import Context, build_graph

    graph = build_graph()  # the full state (the served `graph` shows a learner-facing view)

    out = graph.invoke({"problems": [get_problem("gsm8k-sample-1").model_dump(mode="json")], "levels": [3] * 5},
                       context=Context(rounds=0, candidates=1, test_problems=4, repeats=1, material_k=0))  # fmt: skip
    assert not {p["id"] for p in out["tests"]} & {p["id"] for p in out["targets"]}


def test_distillation_split_is_disjoint_by_problem():
    pool = [s.model_copy(update={"id": f"{p.id}-{s.id}"}) for p in bundled_problems()[:8]
            for s in known_scenarios(p, 2)]  # fmt: skip
    for seed in range(5):
        train, test = split(pool, 0.5, seed)
        assert not {problem_key(s) for s in train} & {problem_key(s) for s in test}


def test_distillation_measures_before_afresh_not_the_selecting_failure(monkeypatch):
    import pedagraph.agents.distill as nodes

    from pedagraph.methods.distill.context import DistillContext

    scenario = known_scenarios(get_problem("gsm8k-sample-1"), 1)[0]
    fresh = {"with": 0.75, "without": 0.5}
    monkeypatch.setattr(nodes, "write_strategy", lambda *a, **k: "Ask for the next small step.")
    monkeypatch.setattr(nodes, "try_scenario", lambda s, ctx, strategies: {
        "score": fresh["with" if isinstance(strategies, dict) else "without"], "reply": "r"})  # fmt: skip
    failure = {"scenario": scenario.model_dump(mode="json"), "reply": "bad", "labels": {}, "score": 0.0,
               "failed": ["Actionability"], "rationale": "", "judge": "rules", "situation": "s"}  # fmt: skip
    task = {"attempt": failure, "skill": "Actionability", "round": 1, "pool": []}
    (candidate,) = nodes.improve(task, SimpleNamespace(context=DistillContext(verify_siblings=0)))["candidates"]
    assert candidate["before"] == 0.5  # measured again, not the 0.0 that selected the scenario
    assert candidate["gain"] == pytest.approx(0.25)


LABELLED = [
    CoachTurn(n=1, speaker="teacher", text="What is 3 times 4?"),
    CoachTurn(n=2, speaker="student", text="12"),
    CoachTurn(n=3, speaker="teacher", text="Nice. What would you do next?", label="telling"),
]


def test_the_rule_coach_does_not_read_gold_move_labels():
    unlabelled = [t.model_copy(update={"label": None}) for t in LABELLED]
    assert find_moments(LABELLED) == find_moments(unlabelled)
    assert not [f for f in find_moments(LABELLED) if f.kind == "missed"]
    assert score_transcript(LABELLED) == score_transcript(unlabelled)


def test_the_rule_coach_gives_the_same_report_with_or_without_mathdial_labels():
    from pedagraph.graphs.coach import Context, build_graph

    graph = build_graph()  # the full state (the served `graph` shows a learner-facing view)

    labelled = ("Teacher: (telling)Nice, and what comes next?|EOM|Student: 12|EOM|"
                "Teacher: (telling)Good. What do you notice?|EOM|Student: it doubles")  # fmt: skip
    bare = labelled.replace("(telling)", "(generic)")
    outs = [graph.invoke({"mathdial": {"conversation": c}}, context=Context()) for c in (labelled, bare)]
    assert [t.label for t in parse_transcript(labelled, "mathdial")][0] == "telling"
    assert outs[0]["scores"] == outs[1]["scores"] and outs[0]["findings"] == outs[1]["findings"]


def test_coach_sources_say_which_scores_the_rules_filled():
    from pedagraph.graphs.coach import Context, build_graph

    from pedagraph.llm import StandInChatModel

    graph = build_graph()  # the full state (the served `graph` shows a learner-facing view)

    def reply(call):
        if call.schema_name == "ModelScores":
            return {"scores": [{"code": "CLINSTD", "score": 5, "evidence": [1], "reason": "asks"}]}
        return None

    out = graph.invoke({"transcript": "Teacher: What is 3 times 4?\nStudent: 12"},
                       context=Context(coach_model=StandInChatModel(reply_fn=reply)))  # fmt: skip
    assert out["sources"]["scores"] == "model; rules filled CLPC, REMED, SMQR"


@pytest.mark.parametrize("setting", [
    [{"strategy": "Ask first.", "approved": False}],
    {"given": [{"strategy": "Ask first.", "approved": False}]},
    {"given": ["Ask first."], "library": ""},
])  # fmt: skip
def test_approved_only_never_returns_an_unapproved_strategy(setting, tmp_path):
    from pedagraph.memory import Memory

    memory = Memory(tmp_path)
    assert strategies_for(setting, "a student subtracted", memory=memory, approved_only=True) == []
    assert strategies_for(setting, "a student subtracted", memory=memory, approved_only=False)


def test_the_rationalize_teacher_answers_first_then_explains_its_own_answer():
    """Saha et al.'s `blind_teacher_rationalize`: demos `A: <answer> because <explanation>`; no gold answer given."""
    from pedagraph.llm import StandInChatModel
    from pedagraph.methods.tom.calls import EXPLANATION_TYPES, explain
    from pedagraph.methods.tom.items import TeachItem

    item = TeachItem(id="r", dataset="d", kind="yes_no", question="Can a penguin fly?", gold=False,
                     explanation="Penguins are flightless birds.")  # fmt: skip
    teacher = StandInChatModel(reply_fn=lambda call: "no\nExplanation: Penguins have flippers, not wings for flight.")
    expl = explain(teacher, item, "rationalize")
    (call,) = teacher.calls
    assert "The answer to the last question is" not in call.last_user and "Can a penguin fly?" in call.last_user
    assert call.last_user.rstrip().endswith("Answer:")  # it answers first
    assert expl.answer == "no" and expl.text == "Penguins have flippers, not wings for flight."
    assert "rationalize" in EXPLANATION_TYPES
    scripted = explain(None, item, "rationalize")
    assert scripted.source == "template" and scripted.answer == "no"
