"""The shared core: structured calls with fallbacks, services passed to build_graph, one learner transaction per
turn, the learner-model rules and the typed records graphs exchange."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from pydantic import BaseModel

from pedagraph.learner import (
    GradedEvidence,
    LearnerStore,
    LearnerUpdate,
    MisconceptionEvidence,
    TeachingDemo,
    get_learner_store,
)
from pedagraph.learning import graded_turn, primary_skill, reply_shown, session_started
from pedagraph.llm import ScriptedChatModel, StandInChatModel, get_model, track_usage
from pedagraph.methods.tutor.diagnosis import classify_turn
from pedagraph.methods.tutor.policy import Progress, choose_move
from pedagraph.problems import get_problem
from pedagraph.runtime import BaseContext, real_model
from pedagraph.structured import ask
from pedagraph.taxonomy import Diagnosis, StudentResponse, TutorMove

PID = "gsm8k-sample-1"


class Verdict(BaseModel):
    correct: bool


def test_ask_returns_the_instance_and_counts_repairs_and_fallbacks():
    inner = StandInChatModel(replies=['{"correct": true}', "not json", '{"correct": false}', "nope", "still nope"])
    model = get_model("evaluator", model=inner)
    with track_usage() as usage:
        assert ask(model, Verdict, "first", node="judge_a") == Verdict(correct=True)
        assert ask(model, Verdict, "second", node="judge_a") == Verdict(correct=False)  # repaired once
        assert ask(model, Verdict, "third", node="judge_b") is None  # failed the repair: the caller falls back
    rows = {r["node"]: r for r in usage.to_dict()["structured"]}
    assert rows["judge_a"]["calls"] == 2 and rows["judge_a"]["repaired"] == 1 and rows["judge_a"]["fallback"] == 0
    assert rows["judge_b"]["calls"] == 1 and rows["judge_b"]["failed"] == 1 and rows["judge_b"]["fallback"] == 1
    assert all(r["role"] == "evaluator" for r in rows.values())


def test_real_model_is_none_exactly_for_the_scripted_provider():
    assert real_model(BaseContext(), "teacher") is None  # nothing configured: scripted -> templates
    assert real_model(BaseContext(teacher_model=ScriptedChatModel(reply_fn=lambda c: "x")), "teacher") is None
    stand_in = StandInChatModel(replies=["x"])
    model = real_model(BaseContext(teacher_model=stand_in), "teacher")
    assert model is not None and model.model_spec == "stand-in:StandInChatModel"


def _tutor(**kw):
    from pedagraph.graphs.tutor import build_graph

    return build_graph(checkpointer=InMemorySaver(), **kw)


def _context(**kw):
    from pedagraph.graphs.tutor import Context

    return Context(**kw)


def test_build_graph_uses_the_learner_store_it_is_given(tmp_path):
    own = LearnerStore(tmp_path / "own" / "learners.sqlite")
    graph = _tutor(learners=own)
    config = {"configurable": {"thread_id": "s"}}
    context = _context(learner_id="nia")
    graph.invoke({"problem_id": PID}, config, context=context)
    graph.invoke(Command(resume=get_problem(PID).steps[0].answer), config, context=context)
    assert own.get("nia").skills and own.get("nia").stats.sessions == 1
    assert not get_learner_store().exists("nia")  # the process-wide store of PEDAGRAPH_HOME was not touched


class CountingStore(LearnerStore):
    """A learner store that counts its write transactions."""

    writes = 0

    def _modify(self, learner_id, change):
        type(self).writes += 1
        return super()._modify(learner_id, change)


def test_a_turn_is_one_learner_model_transaction(tmp_path):
    store = CountingStore(tmp_path / "learners.sqlite")
    graph = _tutor(learners=store)
    problem = get_problem(PID)
    config = {"configurable": {"thread_id": "t"}}
    context = _context(learner_id="tx")
    graph.invoke({"problem_id": PID}, config, context=context)
    assert CountingStore.writes == 1  # the opener: one session counted
    CountingStore.writes = 0
    out = graph.invoke(Command(resume="7001"), config, context=context)  # wrong: evidence, demo, stats
    assert CountingStore.writes == 1
    learner = store.get("tx")
    assert learner.skills and learner.demos and out["pending_learning"] == {}
    CountingStore.writes = 0
    graph.invoke(Command(resume=problem.steps[0].answer), config, context=context)
    assert CountingStore.writes == 1
    assert store.get("tx").stats.sessions == 1


def test_learner_update_applies_as_the_single_calls_do(tmp_path):
    one, many = LearnerStore(tmp_path / "a.sqlite"), LearnerStore(tmp_path / "b.sqlite")
    evidence = GradedEvidence(grader="step_check", session_id="s", turn=1, item_id="p#0")
    demo = TeachingDemo(id="d1", question="How many?", learner_answer="3", correct=False)
    mis = MisconceptionEvidence(session_id="s", turn=1, text="3")
    problem = get_problem(PID)
    d = classify_turn("7001", problem, 0)
    update = graded_turn(problem=problem, step=problem.steps[0], diagnosis=d, learner_text="7001",
                         session_id="s", turn=1)  # fmt: skip
    assert update.evidence and all(not e.correct for e in update.evidence) and len(update.demos) == 1
    extra = LearnerUpdate(demos=(demo,)) + session_started() + reply_shown(hint=True, revealed=False)
    one.apply("x", update + extra)
    for e in update.evidence:
        many.record_evidence("x", e.skill, e.correct, e.evidence)
    for dm in (*update.demos, demo):
        many.add_demo("x", dm)
    for m in update.misconceptions:
        many.add_misconception("x", m.skill, m.error_type, m.description, evidence=m.evidence, confidence=m.confidence)
    many.increment_stats("x", sessions=1, hints_received=1)
    a, b = one.get("x"), many.get("x")
    assert {k: v.p_mastery for k, v in a.skills.items()} == {k: v.p_mastery for k, v in b.skills.items()}
    assert [d.id for d in a.demos] == [d.id for d in b.demos] and a.stats == b.stats
    assert [m.description for m in a.misconceptions] == [m.description for m in b.misconceptions]
    # replaying the same update changes nothing (a re-run node): evidence and demos are deduplicated
    before = one.get("x").skills
    one.apply("x", update)
    assert {k: v.n_obs for k, v in one.get("x").skills.items()} == {k: v.n_obs for k, v in before.items()}
    with pytest.raises(TypeError):
        one.apply("x", {"evidence": []})  # type: ignore[arg-type]
    assert mis.text == "3" and evidence.turn == 1


def test_misconceptions_are_filed_under_the_operation_skill():
    assert primary_skill(["rates", "subtraction", "money"]) == "subtraction"
    assert primary_skill(["rates"]) == "rates" and primary_skill([]) is None


def test_typed_records_round_trip_through_state():
    problem = get_problem(PID)
    d = classify_turn("7001", problem, 0)
    assert d.category == StudentResponse.INCORRECT and d.verdict == "incorrect" and d.value == 7001
    assert Diagnosis.of(d.dump()) == d and Diagnosis.of({}) is None
    progress = Progress(step_index=0, attempts=(1, 0, 0), hint_level=(0, 0, 0), explained=(False,) * 3)

    class Policy:
        reveal_policy, reveal_after, step_tell_after = "never", 3, 3
        explanation_budget, tom_threshold, tom_simulator = 3, 0.15, "bkt"

    move = choose_move(problem=problem, diagnosis=d, progress=progress, policy=Policy())
    assert move.kind == "probe" and move.values["number"] == "7001"
    assert TutorMove.of(move.dump()) == move
    assert TutorMove.of({**move.dump(), "added_by_a_newer_version": 1}) == move  # unknown keys are ignored
