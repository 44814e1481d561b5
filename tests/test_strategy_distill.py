"""The strategy_distill graph and the strategy library: scripted models with known weaknesses, real embeddings."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from pedagraph.llm import StandInChatModel
from pedagraph.memory import Memory
from pedagraph.methods.distill.library import Strategy, StrategyLibrary
from pedagraph.methods.distill.scenarios import kind_of, situation_text, split
from pedagraph.methods.distill.scoring import missing_skills, rule_labels, score_labels
from pedagraph.methods.distill.tutor import run_tutor
from pedagraph.problems import bundled_problems, get_problem
from pedagraph.taxonomy import MRBenchDimension
from pedagraph.testing.distill import BAD_REPLY, GOOD_REPLY, KnownTutor, RuleJudge, WordCoach, known_scenarios

PID = "gsm8k-sample-1"


@pytest.fixture(scope="module")
def embedder():
    from pedagraph.memory.embeddings import get_embedder

    return get_embedder()


@pytest.fixture
def mem(home, embedder) -> Memory:
    return Memory(home, embedder=embedder)


@pytest.fixture
def problem():
    return get_problem(PID)


def tutor(weak: dict[str, str], name: str = "known-tutor") -> tuple[StandInChatModel, KnownTutor]:
    double = KnownTutor(weak)
    return StandInChatModel(model_name=name, reply_fn=double), double


def distill(mem, pool, teacher, **kw):
    from pedagraph.graphs.strategy_distill import Context, build_graph

    context = Context(teacher_model=teacher, evaluator_model=kw.pop("evaluator_model", "scripted"),
                      coach_model=kw.pop("coach_model", "scripted"), **kw)  # fmt: skip
    return build_graph(memory=mem).invoke({"pool": [s.model_dump(mode="json") for s in pool]}, context=context)


# -- pieces -----------------------------------------------------------------------------------------------------


def test_rule_judge_scores_the_known_replies(problem):
    good, _ = score_labels(rule_labels(GOOD_REPLY, problem))
    bad, failed = score_labels(rule_labels(BAD_REPLY, problem))
    assert good == 1.0 and bad < 0.5
    assert "Actionability" in failed and "Mistake_Identification" in failed
    told = rule_labels(f"The answer is {problem.final_answer}.", problem)
    assert told["Revealing_of_the_Answer"] == "Yes (correct)"


def test_kinds_from_mathdial_profiles_and_stable_split():
    profile = ("Mariana is a 7th grade student. She has difficulty determining which pieces of information are "
               "relevant and which are irrelevant to solving the problem.")
    assert kind_of(profile) == "relevant_information"
    assert kind_of("He likes football.") == "other"
    pool = [s.model_copy(update={"id": f"{p.id}-{s.id}"}) for p in bundled_problems()[:6]
            for s in known_scenarios(p, 2)]  # fmt: skip
    train, test = split(pool, 0.4, seed=1)
    assert train and test and not {s.id for s in train} & {s.id for s in test}
    assert not {s.problem["id"] for s in train} & {s.problem["id"] for s in test}  # disjoint by problem
    assert split(pool, 0.4, seed=1) == (train, test)


def test_missing_skill_profile_orders_weakest_kind_first():
    attempts = [
        {"kind": "a", "score": 1.0, "labels": {"Actionability": "Yes"}, "failed": []},
        {"kind": "b", "score": 0.2, "labels": {"Actionability": "No"}, "failed": ["Actionability"]},
    ]
    profile = missing_skills(attempts)
    assert profile["weakest"] == ["b", "a"]
    assert profile["kinds"]["b"]["failure_rate"]["Actionability"] == 1.0
    assert profile["skills"]["Actionability"] == 0.5


# -- the library ------------------------------------------------------------------------------------------------


def test_retrieval_brings_the_strategy_of_the_matching_situation(mem, problem):
    lib = StrategyLibrary(mem, "lib")
    by_kind = {}
    for s in known_scenarios(problem, 1):
        text = f"strategy for {s.kind}"
        by_kind[s.kind] = text
        lib.add([Strategy(strategy=text, situation=situation_text(s.student_message, "incorrect", s.profile),
                          kind=s.kind, gain=0.5)])  # fmt: skip
    assert lib.count() == 4
    for s in known_scenarios(problem, 3)[2::3]:  # other students of each kind
        found = lib.retrieve(situation_text(s.student_message, "incorrect", s.profile), k=1)
        assert [f.strategy for f in found] == [by_kind[s.kind]], s.kind
    assert StrategyLibrary(mem, "other").retrieve("anything at all", k=3) == []


def test_approve_edit_delete_and_bad_input(mem):
    from pedagraph.errors import DataError

    lib = StrategyLibrary(mem, "lib")
    [sid] = lib.add([Strategy(strategy="Ask a question.", situation="Student: I got 5.", gain=0.4,
                              provenance={"coach": "x", "round": 1})])  # fmt: skip
    assert lib.all(approved_only=True) == []
    assert lib.approve(sid).approved and [s.id for s in lib.all(approved_only=True)] == [sid]
    edited = lib.edit(sid, "  Ask one short question.  ")
    assert edited.strategy == "Ask one short question." and edited.edited and not edited.approved  # re-approve it
    assert lib.all(approved_only=True) == []
    assert edited.gain == 0.4 and edited.provenance["coach"] == "x" and edited.provenance["round"] == 1
    with pytest.raises(DataError):
        lib.edit(sid, "   ")
    with pytest.raises(DataError):
        StrategyLibrary(mem, "other").get(sid)
    assert lib.delete(sid) and lib.count() == 0
    with pytest.raises(DataError):
        lib.delete(sid)


def test_library_survives_a_restart(home, mem):
    lib = StrategyLibrary(mem, "kept")
    [sid] = lib.add([Strategy(strategy="Name the mistake first.", situation="Student: I subtracted.", gain=0.3)])
    lib.approve(sid)
    code = textwrap.dedent(f"""
        import json
        from pedagraph.methods.distill.library import StrategyLibrary
        from pedagraph.memory import Memory
        lib = StrategyLibrary(Memory({str(home)!r}), "kept")
        print(json.dumps([s.model_dump(mode="json") for s in lib.all(approved_only=True)]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    [entry] = json.loads(out.stdout.strip().splitlines()[-1])
    assert entry["id"] == sid and entry["strategy"] == "Name the mistake first." and entry["gain"] == 0.3


# -- run-time use in the tutor ----------------------------------------------------------------------------------


def test_tutor_retrieves_strategies_into_its_prompt_and_trace_and_approval_gates_them(mem, problem):
    ops = next(s for s in known_scenarios(problem, 1) if s.kind == "operations")
    lib = StrategyLibrary(mem, "lib")
    [sid] = lib.add([Strategy(strategy="Use the question move: ask what operation fits.", kind="operations",
                              situation=situation_text(ops.student_message, "incorrect", ops.profile))])  # fmt: skip
    model, double = tutor({"subtracted": "question"})
    gated = run_tutor(ops, model, strategies="lib", memory=mem, approved_only=True)
    assert gated.reply == BAD_REPLY and gated.strategies == []
    assert "Use the question move" not in double.prompts[-1]
    used = run_tutor(ops, model, strategies="lib", memory=mem)
    assert used.reply == GOOD_REPLY and [s["id"] for s in used.strategies] == [sid]
    assert used.diagnosis == "incorrect"  # the label the tutor's retrieval query uses, as the stored situation does
    assert "Use the question move" in double.prompts[-1]
    lib.approve(sid)
    approved = run_tutor(ops, model, strategies="lib", memory=mem, approved_only=True)
    assert approved.reply == GOOD_REPLY and [s["id"] for s in approved.strategies] == [sid]
    off = run_tutor(ops, model, strategies=None, memory=mem)
    assert off.reply == BAD_REPLY and off.strategies == []


def test_scripted_teacher_uses_no_strategies(mem, problem):
    ops = known_scenarios(problem, 1)[0]
    StrategyLibrary(mem, "lib").add([Strategy(strategy="Ask.", situation=situation_text(ops.student_message))])
    turn = run_tutor(ops, "scripted", strategies="lib", memory=mem)
    assert turn.reply and turn.strategies == [] and turn.reply_source != "model"


# -- the loop ---------------------------------------------------------------------------------------------------


def test_only_strategies_with_measured_gain_are_kept_and_loop_stops(mem, problem):
    pool = known_scenarios(problem, 3)
    model, _ = tutor({"subtracted": "question", "stopped": "zebra"})
    out = distill(mem, pool, model, per_round=4, rounds=4, verify_siblings=1)
    first = [c for c in out["candidates"] if c["round"] == 1]
    assert {c["kind"] for c in first} == {"operations", "procedure"}  # the two weak kinds failed
    by_kind = {c["kind"]: c for c in first}
    assert by_kind["operations"]["gain"] > 0 and by_kind["procedure"]["gain"] == 0
    kept = StrategyLibrary(mem, "default").all()
    assert {s.kind for s in kept} == {"operations"}
    assert all(s.gain > 0 and s.provenance["tutor"] and s.provenance["coach"] and s.n_verify == 2 for s in kept)
    assert out["stop_reason"] == "no_gain"
    rounds = out["rounds"]
    assert rounds[0]["kept"] >= 1 and rounds[-1]["kept"] == 0 and len(rounds) < 4
    second = [a for a in out["attempts"] if a["round"] == 2]
    assert {a["kind"] for a in second} <= {"operations", "procedure"}  # generated where the tutor was weakest
    fixed = [a for a in second if a["kind"] == "operations"]
    assert fixed and all(a["reply"] == GOOD_REPLY and a["strategies"] for a in fixed)


def test_loop_stops_at_once_when_nothing_fails(mem, problem):
    model, _ = tutor({})
    out = distill(mem, known_scenarios(problem, 2), model, per_round=4, rounds=3)
    assert out["stop_reason"] == "nothing_failed" and len(out["rounds"]) == 1
    assert StrategyLibrary(mem, "default").count() == 0


def test_real_coach_and_judge_path(mem, problem):
    pool = known_scenarios(problem, 2)
    model, _ = tutor({"subtracted": "plan-b"})
    coach = StandInChatModel(model_name="word-coach", reply_fn=WordCoach({"subtracted": "plan-b"}))
    judge = StandInChatModel(model_name="rule-judge", reply_fn=RuleJudge(problem))
    out = distill(mem, pool, model, coach_model=coach, evaluator_model=judge, per_round=4, rounds=2,
                  dimensions="Mistake_Identification,Actionability")  # fmt: skip
    assert any(c.schema_name == "ResponseLabels" for c in judge.calls)
    assert any(c.schema_name == "StrategyDraft" for c in coach.calls)
    kept = StrategyLibrary(mem, "default").all()
    assert kept and all("plan-b" in s.strategy and s.provenance["coach"].startswith("stand-in") for s in kept)
    assert all(set(a["labels"]) == {"Mistake_Identification", "Actionability"} for a in out["attempts"])
    second = [a for a in out["attempts"] if a["round"] == 2]
    assert second and all(a["scenario"]["source"] == "coach" and a["scenario_id"].endswith("~coach") for a in second)
    assert all(a["scenario"]["student_message"].startswith("Coach's student:") for a in second)


def test_bad_settings_are_one_clear_error(mem, problem):
    from pedagraph.errors import DataError

    model, _ = tutor({})
    with pytest.raises(DataError, match="per_round"):
        distill(mem, known_scenarios(problem, 1), model, per_round=0)
    with pytest.raises(DataError, match="dimension"):
        distill(mem, known_scenarios(problem, 1), model, dimensions="Nonsense")


@pytest.mark.real_model
def test_tiny_tutor_reads_given_strategies_and_names_them(mem, problem):
    from pedagraph.llm import get_model
    from pedagraph.llm.tiny import TINY_INSTALL, find_tiny_gguf

    if find_tiny_gguf() is None:
        pytest.skip(f"the tiny model is not installed ({TINY_INSTALL})")
    ops = next(s for s in known_scenarios(problem, 1) if s.kind == "operations")
    tiny = get_model("teacher", model="tiny", max_tokens=40, max_retries=0, timeout=300)
    given = {"strategy": "Ask the student which operation the story needs.", "kind": "operations"}
    turn = run_tutor(ops, tiny, strategies=[given], memory=mem)
    assert turn.reply_source == "model" and turn.reply.strip()
    assert [s["strategy"] for s in turn.strategies] == [given["strategy"]]
    judged = rule_labels(turn.reply, problem, tuple(MRBenchDimension))
    assert judged["Coherence"] == "Yes" and judged["Revealing_of_the_Answer"] == "No"  # the gate holds for tiny too
