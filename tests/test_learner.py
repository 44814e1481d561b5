"""The shared learner model: BKT, evidence gating, persistence, concurrency, migrations, validation."""

from __future__ import annotations

import inspect
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from pedagraph.errors import DataError
from pedagraph.learner import (
    CURRENT_SCHEMA_VERSION,
    DEFAULT_BKT,
    MAX_PROBLEM_REPLIES,
    Ability,
    BKTParams,
    BridgeErrorType,
    GradedEvidence,
    LearnerConflictError,
    LearnerModel,
    LearnerStore,
    LearnerUpdate,
    MisconceptionEvidence,
    ProblemEvent,
    SkillState,
    TeachingDemo,
    TurnText,
    ability_levels,
    bkt_update,
    get_learner_store,
    mastery_to_level,
    migrate,
    validate_learner_id,
)
from pedagraph.taxonomy import ErrorType

FIXTURES = Path(__file__).parent / "fixtures" / "learner"


def ev(turn: int | None = None, session: str = "s1", grader: str = "answer_check", item: str | None = None):
    return GradedEvidence(grader=grader, session_id=session, turn=turn, item_id=item)


@pytest.fixture
def store(home) -> LearnerStore:
    return LearnerStore(home / "learners.sqlite")


def raw_row(path: Path, learner_id: str) -> tuple[int, str] | None:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT schema_version, data FROM learners WHERE learner_id = ?", (learner_id,)).fetchone()
    finally:
        conn.close()


def put_raw(path: Path, learner_id: str, data: str, version: int = 1) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT OR REPLACE INTO learners (learner_id, schema_version, updated_at, data) VALUES (?, ?, ?, ?)",
            (learner_id, version, "2025-01-01T00:00:00+00:00", data),
        )
    conn.close()


# --------------------------------------------------------------------------- BKT


def test_bkt_update_matches_hand_computed_values():
    # correct from 0.3: 0.27 / (0.27 + 0.14) = 0.6585366; + 0.3414634 * 0.15 = 0.7097561
    assert bkt_update(0.3, True) == pytest.approx(0.7097561, abs=1e-7)
    # incorrect from 0.3: 0.03 / (0.03 + 0.56) = 0.0508475; + 0.9491525 * 0.15 = 0.1932203
    assert bkt_update(0.3, False) == pytest.approx(0.1932203, abs=1e-7)
    # other params: s=0.05 g=0.25 t=0.1, p=0.5, correct: 0.475 / (0.475 + 0.125) = 0.7916667 -> 0.8125
    params = BKTParams(p_init=0.5, p_transit=0.1, p_slip=0.05, p_guess=0.25)
    assert bkt_update(0.5, True, params) == pytest.approx(0.8125, abs=1e-7)
    # ... incorrect: 0.025 / (0.025 + 0.375) = 0.0625 -> 0.0625 + 0.9375 * 0.1 = 0.15625
    assert bkt_update(0.5, False, params) == pytest.approx(0.15625, abs=1e-7)
    # no learning transition: the pure posterior
    assert bkt_update(0.3, True, BKTParams(p_transit=0.0)) == pytest.approx(0.27 / 0.41)


def test_bkt_defaults_and_edges():
    assert (DEFAULT_BKT.p_init, DEFAULT_BKT.p_transit, DEFAULT_BKT.p_slip, DEFAULT_BKT.p_guess) == (
        0.3,
        0.15,
        0.1,
        0.2,
    )
    # an impossible observation (p=0, no guessing, yet correct) leaves p, then transit applies
    assert bkt_update(0.0, True, BKTParams(p_guess=0.0, p_transit=0.15)) == pytest.approx(0.15)
    assert bkt_update(1.0, True) == 1.0
    for p in [i / 20 for i in range(1, 20)]:
        assert bkt_update(p, True) > bkt_update(p, False)
        assert 0.0 <= bkt_update(p, False) <= 1.0
    with pytest.raises(ValueError):
        bkt_update(1.2, True)
    with pytest.raises(ValueError):
        bkt_update(float("nan"), True)
    with pytest.raises(TypeError):
        bkt_update(0.5, "correct")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="p_slip"):
        BKTParams(p_slip=0.5, p_guess=0.5)


# --------------------------------------------------------------------------- evidence gating


def test_record_evidence_applies_bkt_and_keeps_provenance(store):
    s1 = store.record_evidence("ana", "fractions", False, ev(1, grader="step_check"))
    assert s1.p_mastery == pytest.approx(bkt_update(0.3, False))
    s2 = store.record_evidence("ana", "fractions", True, ev(2, grader="rubric"))
    assert s2.p_mastery == pytest.approx(bkt_update(bkt_update(0.3, False), True))
    assert (s2.n_obs, s2.n_correct) == (2, 1)
    assert [o.grader for o in s2.history] == ["step_check", "rubric"]
    assert s2.history[1].p_before == pytest.approx(s1.p_mastery)
    assert s2.last_seen is not None
    stored = store.get("ana").skills["fractions"]
    assert stored == s2
    assert store.get("ana").revision == 2


def test_record_evidence_custom_params_and_ability_tags(store):
    params = BKTParams(p_init=0.5, p_transit=0.1, p_slip=0.05, p_guess=0.25)
    s = store.record_evidence("ana", "algebra", True, ev(1), params=params, abilities=["Abstract Thinking"])
    assert s.p_mastery == pytest.approx(0.8125)
    assert s.params == params
    assert s.abilities == (Ability.ABSTRACT_THINKING,)
    s = store.record_evidence("ana", "algebra", True, ev(2), abilities=["logical_reasoning", "abstract_thinking"])
    assert s.abilities == (Ability.ABSTRACT_THINKING, Ability.LOGICAL_REASONING)
    assert s.params == params  # kept for later observations
    with pytest.raises(DataError, match="unknown ability"):
        store.record_evidence("ana", "algebra", True, ev(3), abilities=["telepathy"])


def test_mastery_cannot_be_set_from_prose_or_directly(store):
    store.record_evidence("ana", "fractions", False, ev(1))
    before = store.get("ana")
    p_before = before.skills["fractions"].p_mastery

    # record_evidence only takes a bool outcome and a GradedEvidence naming a known grader
    with pytest.raises(TypeError):
        store.record_evidence("ana", "fractions", "The student clearly understands now.", ev(2))  # type: ignore
    with pytest.raises(TypeError):
        store.record_evidence("ana", "fractions", True, "the tutor says it was right")  # type: ignore
    with pytest.raises(TypeError):
        store.record_evidence("ana", "fractions", True, {"grader": "answer_check", "session_id": "s"})  # type: ignore
    with pytest.raises(ValidationError):
        GradedEvidence(grader="llm_opinion", session_id="s1")

    # skill states are immutable
    with pytest.raises(ValidationError):
        before.skills["fractions"].p_mastery = 0.99  # type: ignore[misc]

    # replacing a skill state and saving is refused
    model = store.get("ana")
    model.skills = {"fractions": before.skills["fractions"].model_copy(update={"p_mastery": 0.99})}
    with pytest.raises(DataError, match="record_evidence"):
        store.save(model)
    # so is doing it inside update(), adding a skill above its prior, or removing one
    with pytest.raises(DataError, match="changed directly"):
        store.update("ana", lambda m: setattr(m, "skills", {"fractions": SkillState(p_mastery=0.99)}))
    with pytest.raises(DataError, match="prior"):
        store.update("ana", lambda m: setattr(m, "skills", {**m.skills, "new": SkillState(p_mastery=0.9)}))
    with pytest.raises(DataError, match="removed"):
        store.update("ana", lambda m: setattr(m, "skills", {}))
    assert store.get("ana").skills["fractions"].p_mastery == p_before
    assert store.get("ana").revision == 1

    # a new skill at its prior (e.g. to tag abilities before any evidence) is fine
    geo = SkillState.prior(abilities=["spatial_imagination"])
    store.update("ana", lambda m: setattr(m, "skills", {**m.skills, "geo": geo}))
    assert store.get("ana").skills["geo"].has_evidence is False


def test_no_public_api_takes_a_mastery_value():
    for name, member in inspect.getmembers(LearnerStore, inspect.isfunction):
        if name.startswith("_"):
            continue
        params = set(inspect.signature(member).parameters)
        assert not params & {"p_mastery", "mastery", "p", "text", "prose"}, name
    sig = inspect.signature(LearnerStore.record_evidence)
    assert list(sig.parameters) == ["self", "learner_id", "skill", "correct", "evidence", "params", "abilities"]


def test_replayed_evidence_counts_once(store):
    store.record_evidence("ana", "f", True, ev(3, item="q1"))
    again = store.record_evidence("ana", "f", True, ev(3, item="q1"))
    assert again.n_obs == 1
    assert store.get("ana").revision == 1  # nothing written
    with pytest.raises(DataError, match="already graded"):
        store.record_evidence("ana", "f", False, ev(3, item="q1"))
    store.record_evidence("ana", "f", True, ev(3, item="q2"))  # another item in the same turn
    store.record_evidence("ana", "f", True, ev(None))
    store.record_evidence("ana", "f", True, ev(None))  # no turn: no dedupe
    assert store.get("ana").skills["f"].n_obs == 4


# --------------------------------------------------------------------------- persistence


def test_get_does_not_write_and_save_persists(store, home):
    fresh = store.get("new-learner", kind="llm_student")
    assert fresh.kind == "llm_student" and fresh.skills == {} and fresh.revision == 0
    assert store.list_learners() == [] and not store.exists("new-learner")
    fresh.persona_text = "forgets carries"
    store.save(fresh)
    assert fresh.revision == 1
    again = LearnerStore(home / "learners.sqlite").get("new-learner")
    assert again.persona_text == "forgets carries" and again.kind == "llm_student"
    store.save(fresh)  # the saved object stays current
    assert store.get("new-learner").revision == 2


def test_persistence_across_store_instances_and_processes(store, home):
    store.record_evidence("ana", "fractions", True, ev(1))
    store.add_misconception(
        "ana",
        "fractions",
        "careless",
        "drops a sign",
        evidence=MisconceptionEvidence(session_id="s1", turn=1, text="-3+5=-2"),
    )
    expected = store.get("ana")
    assert LearnerStore(home / "learners.sqlite").get("ana") == expected

    code = textwrap.dedent(
        """
        import json
        from pedagraph.learner import GradedEvidence, get_learner_store
        store = get_learner_store()
        model = store.get("ana")
        state = store.record_evidence("ana", "fractions", False,
                                      GradedEvidence(grader="human", session_id="s2", turn=0))
        print(json.dumps({"p_seen": model.skills["fractions"].p_mastery, "n_obs": state.n_obs,
                          "misconceptions": len(model.misconceptions), "path": str(store.path)}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=os.environ)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["p_seen"] == pytest.approx(expected.skills["fractions"].p_mastery)
    assert seen["misconceptions"] == 1 and seen["n_obs"] == 2
    assert Path(seen["path"]) == (home / "learners.sqlite").resolve()
    after = store.get("ana").skills["fractions"]
    assert after.n_obs == 2 and after.history[-1].grader == "human"


def test_learners_are_isolated(store):
    store.record_evidence("ana", "fractions", True, ev(1))
    store.add_misconception("ana", "fractions", "guess", "guessed")
    store.record_evidence("ben", "fractions", False, ev(1))
    ana, ben = store.get("ana"), store.get("ben")
    assert ana.skills["fractions"].p_mastery > ben.skills["fractions"].p_mastery
    assert ana.skills["fractions"].n_correct == 1 and ben.skills["fractions"].n_correct == 0
    assert len(ana.misconceptions) == 1 and ben.misconceptions == []
    assert store.list_learners() == ["ana", "ben"]
    assert store.delete("ana") is True and store.delete("ana") is False
    assert store.list_learners() == ["ben"]
    assert store.get("ana").skills == {}


def test_store_uses_wal_and_default_path(home):
    store = LearnerStore()
    assert store.path == home / "learners.sqlite"
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert get_learner_store() is get_learner_store(home)
    other = get_learner_store(home / "elsewhere")
    assert other is not get_learner_store() and other.path == (home / "elsewhere" / "learners.sqlite").resolve()


# --------------------------------------------------------------------------- concurrency


def test_concurrent_threads_do_not_lose_updates(store, home):
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        own = store if i % 2 else LearnerStore(home / "learners.sqlite")  # shared and separate instances
        try:
            for j in range(25):
                own.record_evidence("ana", "fractions", j % 2 == 0, ev(turn=j, session=f"thread-{i}"))
                if j % 5 == 0:
                    own.increment_stats("ana", hints_received=1)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    model = store.get("ana")
    state = model.skills["fractions"]
    assert state.n_obs == 200
    assert state.n_correct == 8 * 13
    assert model.stats.hints_received == 8 * 5
    assert model.revision == 200 + 40
    assert len(state.history) == 100


def test_concurrent_processes_do_not_lose_updates(store):
    store.get("ana")  # database created and in WAL mode before the workers start
    code = textwrap.dedent(
        """
        import sys
        from pedagraph.learner import GradedEvidence, get_learner_store
        store = get_learner_store()
        for j in range(15):
            store.record_evidence("ana", "fractions", True,
                                  GradedEvidence(grader="answer_check", session_id=sys.argv[1], turn=j))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, f"proc-{i}"], stderr=subprocess.PIPE, text=True) for i in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert store.get("ana").skills["fractions"].n_obs == 45


def test_stale_save_is_refused(store):
    a = store.get("ana")
    b = store.get("ana")
    a.persona_text = "first"
    store.save(a)
    b.persona_text = "second"
    with pytest.raises(LearnerConflictError, match="changed since"):
        store.save(b)
    c = store.get("ana")
    store.record_evidence("ana", "f", True, ev(1))
    c.persona_text = "third"
    with pytest.raises(LearnerConflictError):
        store.save(c)
    assert store.get("ana").persona_text == "first"


def test_update_is_atomic_and_validated(store):
    store.update("ana", lambda m: setattr(m, "persona_text", "likes diagrams"))
    assert store.get("ana").persona_text == "likes diagrams"

    def boom(m):
        m.persona_text = "half-done"
        raise RuntimeError("fail midway")

    with pytest.raises(RuntimeError):
        store.update("ana", boom)
    with pytest.raises(TypeError):
        store.update("ana", lambda m: "not a model")

    def bad_demo(m):
        m.demos.append({"question": "q"})  # not validated by list.append

    with pytest.raises(DataError, match="invalid"):
        store.update("ana", bad_demo)
    with pytest.raises(DataError, match="learner id"):
        store.update("ana", lambda m: m.model_copy(update={"learner_id": "ben"}))
    model = store.get("ana")
    assert model.persona_text == "likes diagrams" and model.demos == [] and model.revision == 1


# --------------------------------------------------------------------------- misconceptions, demos, stats


def test_misconception_merge_confidence_and_resolution(store):
    e1 = MisconceptionEvidence(session_id="s1", turn=2, text="1/2 + 1/3 = 2/5")
    e2 = MisconceptionEvidence(session_id="s2", turn=4, text="2/3 + 1/4 = 3/7")
    m1 = store.add_misconception("ana", "fractions", "right-idea", "adds denominators", evidence=e1)
    assert m1.error_type is BridgeErrorType.RIGHT_IDEA and m1.confidence == 0.5
    assert BridgeErrorType is ErrorType  # one shared enum
    m2 = store.add_misconception(
        "ana", "fractions", "right_idea", "sums bottoms too", evidence=e2, mistake_type="calculation"
    )
    assert m2.id == m1.id
    assert m2.confidence == pytest.approx(0.75)
    assert [e.text for e in m2.evidence] == [e1.text, e2.text]
    assert m2.description == "adds denominators" and m2.mistake_type == "calculation"
    # the same evidence again changes nothing
    m3 = store.add_misconception("ana", "fractions", "right_idea", "x", evidence=e2)
    assert m3.confidence == pytest.approx(0.75) and len(m3.evidence) == 2
    # another error type or skill is another entry
    other = store.add_misconception("ana", "fractions", BridgeErrorType.CARELESS, "slip")
    store.add_misconception("ana", "decimals", "right_idea", "aligns digits left")
    model = store.get("ana")
    assert len(model.misconceptions) == 3
    assert len(model.active_misconceptions("fractions")) == 2

    done = store.resolve_misconception("ana", m1.id, evidence=MisconceptionEvidence(session_id="s3", text="3/4"))
    assert done.status == "remediated" and done.remediated_at is not None and len(done.evidence) == 3
    assert store.resolve_misconception("ana", m1.id).remediated_at == done.remediated_at  # idempotent
    # a recurrence after remediation opens a new active entry
    again = store.add_misconception("ana", "fractions", "right_idea", "adds denominators again")
    assert again.id != m1.id and again.status == "active"
    assert {m.id for m in store.get("ana").active_misconceptions("fractions")} == {other.id, again.id}

    with pytest.raises(DataError, match="no misconception"):
        store.resolve_misconception("ana", "nope")
    with pytest.raises(DataError, match="Bridge error types"):
        store.add_misconception("ana", "fractions", "confused", "x")
    with pytest.raises(DataError, match="description"):
        store.add_misconception("ana", "fractions", "guess", "  ")


def test_demos_bank_and_useful_explanations(store):
    t = [datetime(2025, 3, 1, 10, i, tzinfo=UTC) for i in range(6)]
    demos = [
        TeachingDemo(item_id="q1", question="1/4+1/2?", learner_answer="2/6", correct=False, at=t[0]),
        TeachingDemo(
            item_id="q1", question="1/4+1/2?", explanation="use quarters", learner_answer="3/4", correct=True, at=t[1]
        ),
        TeachingDemo(item_id="q2", question="2+2?", learner_answer="4", correct=True, at=t[2]),
        TeachingDemo(item_id="q2", question="2+2?", explanation="count", learner_answer="4", correct=True, at=t[3]),
        TeachingDemo(item_id="q3", question="3*3?", learner_answer="6", correct=False, at=t[4]),
        TeachingDemo(
            item_id="q3", question="3*3?", explanation="3 groups of 3", learner_answer="6", correct=False, at=t[5]
        ),
    ]
    for d in demos:
        store.add_demo("ana", d)
    store.add_demo("ana", demos[0])  # same id: kept once
    model = store.get("ana")
    assert len(model.demos) == 6
    bank = model.mental_model_bank()
    assert len(bank["pre"]) == 3 and len(bank["post"]) == 3
    assert all(d.explanation is None for d in bank["pre"])
    assert [d.id for d in model.useful_explanations()] == [demos[1].id]
    exported = store.export("ana")
    assert [d["id"] for d in exported["derived"]["useful_explanations"]] == [demos[1].id]

    assert TeachingDemo(question="q", explanation="", learner_answer="a", correct=True).with_explanation is False
    with pytest.raises(ValidationError, match="with_explanation"):
        TeachingDemo(question="q", learner_answer="a", correct=True, with_explanation=True)


def test_increment_stats(store):
    store.increment_stats("ana", sessions=1, hints_received=3)
    stats = store.increment_stats("ana", answers_revealed=1)
    assert (stats.sessions, stats.hints_received, stats.answers_revealed) == (1, 3, 1)
    with pytest.raises(DataError):
        store.increment_stats("ana", sessions=-1)


# --------------------------------------------------------------------------- ability levels


def test_mastery_to_level_buckets():
    cases = {0.0: 1, 0.19: 1, 0.2: 2, 0.39: 2, 0.4: 3, 0.6: 4, 0.79: 4, 0.8: 5, 1.0: 5}
    assert {p: mastery_to_level(p) for p in cases} == cases
    with pytest.raises(ValueError):
        mastery_to_level(1.5)


def test_ability_levels_from_mastery(store):
    store.record_evidence("ana", "arith", True, ev(1), abilities=["numerical_calculation"])
    store.record_evidence("ana", "arith", True, ev(2))  # 0.3 -> 0.71 -> ~0.95
    store.record_evidence("ana", "proofs", False, ev(3), abilities=["logical_reasoning", "abstract_thinking"])
    geo = SkillState.prior(abilities=["spatial_imagination"])
    store.update("ana", lambda m: setattr(m, "skills", {**m.skills, "geo": geo}))
    model = store.get("ana")
    levels = ability_levels(model)
    assert list(levels) == list(Ability)
    assert levels == {
        Ability.NUMERICAL_CALCULATION: 5,
        Ability.ABSTRACT_THINKING: 1,  # 0.19
        Ability.LOGICAL_REASONING: 1,
        Ability.ANALOGY_ASSOCIATION: 3,  # no skill tagged
        Ability.SPATIAL_IMAGINATION: 3,  # tagged, but only the prior: no evidence
    }
    # an explicit mapping overrides the tags; mastery is averaged before bucketing: (0.95 + 0.19) / 2 -> 3
    mapped = ability_levels(model, {"arith": "Logical Reasoning", "proofs": ["logical_reasoning"], "ghost": []})
    assert mapped[Ability.LOGICAL_REASONING] == 3
    assert mapped[Ability.NUMERICAL_CALCULATION] == 3
    assert ability_levels(LearnerModel(learner_id="x")) == dict.fromkeys(Ability, 3)
    assert Ability.NUMERICAL_CALCULATION.label == "Numerical Calculation"
    assert store.export("ana")["derived"]["ability_levels"]["numerical_calculation"] == 5


# --------------------------------------------------------------------------- versions and migrations


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_v1_v2_and_v3_fixtures_load_to_equal_models():
    v1, v2, v3 = load_fixture("v1.json"), load_fixture("v2.json"), load_fixture("v3.json")
    versions = (v1["schema_version"], v2["schema_version"], v3["schema_version"])
    assert versions == (1, 2, 3) and CURRENT_SCHEMA_VERSION == 3
    from_v1 = LearnerModel.from_data(v1)
    from_v2 = LearnerModel.from_data(v2)
    from_v3 = LearnerModel.from_data(v3)
    assert from_v1 == from_v2 == from_v3.model_copy(update={"problems": {}})
    assert from_v2.problems == {}  # v2 kept no per-problem record: it starts empty
    history = from_v3.gate_history("gsm8k-sample-1")
    assert history.extraction and history.replies == ("What is 16 - 3 - 4? Take it one step at a time.",)
    assert from_v3.gate_history("gsm8k-sample-1", before_session="s-1") == from_v3.gate_history("unknown")
    assert from_v1.skills["fractions.add"].p_mastery == 0.42
    assert from_v1.skills["fractions.add"].has_evidence
    assert from_v1.misconceptions[0].description == "adds numerators and denominators separately"
    assert from_v1.persona_text.startswith("Year 7") and from_v1.stats.sessions == 4
    assert v1 == load_fixture("v1.json")  # migrate() does not mutate its input
    assert migrate(v3) == v3
    assert v2 == load_fixture("v2.json") and migrate(v2) == {**v2, "schema_version": 3, "problems": {}}


def test_full_v2_fixture_is_consistent():
    model = LearnerModel.from_data(load_fixture("v2_full.json"))
    state = model.skills["fractions.add"]
    p = state.params.p_init
    for obs in state.history:
        assert obs.p_before == pytest.approx(p)
        p = bkt_update(p, obs.correct, state.params)
        assert obs.p_after == pytest.approx(p)
    assert state.p_mastery == pytest.approx(p)
    assert [d.id for d in model.useful_explanations()] == ["d2"]
    assert model.misconceptions[0].error_type is BridgeErrorType.RIGHT_IDEA
    assert LearnerModel.from_data(model.model_dump(mode="json")) == model


def test_migration_errors_are_clear():
    with pytest.raises(DataError, match="newer"):
        migrate({**load_fixture("v3.json"), "schema_version": CURRENT_SCHEMA_VERSION + 1})
    with pytest.raises(DataError, match="schema_version"):
        migrate({"learner_id": "x"})
    with pytest.raises(DataError, match="unknown key"):
        migrate({**load_fixture("v1.json"), "favourite_colour": "blue"})
    with pytest.raises(DataError, match="no migration"):
        migrate({"schema_version": 0, "learner_id": "x"})
    with pytest.raises(ValidationError):
        LearnerModel(learner_id="x", schema_version=1)


def test_old_rows_migrate_on_read_and_are_rewritten_on_save(store):
    put_raw(store.path, "ana-7b", (FIXTURES / "v1.json").read_text(encoding="utf-8"), version=1)
    model = store.get("ana-7b")
    assert model == LearnerModel.from_data(load_fixture("v2.json"))
    assert raw_row(store.path, "ana-7b")[0] == 1  # reading does not write
    model.persona_text += " Likes diagrams."
    store.save(model)
    version, data = raw_row(store.path, "ana-7b")
    assert version == 3 and json.loads(data)["schema_version"] == 3
    again = store.get("ana-7b")
    assert again.skills == model.skills and again.persona_text.endswith("Likes diagrams.")

    # evidence on a migrated row continues from its v1 estimate
    put_raw(store.path, "ana-7b", (FIXTURES / "v1.json").read_text(encoding="utf-8"), version=1)
    state = store.record_evidence("ana-7b", "fractions.add", True, ev(1))
    assert state.p_mastery == pytest.approx(bkt_update(0.42, True)) and state.n_obs == 1
    assert raw_row(store.path, "ana-7b")[0] == 3


def test_newer_rows_are_refused_and_never_overwritten(store):
    future = {**load_fixture("v3.json"), "schema_version": 4, "new_field": [1, 2]}
    text = json.dumps(future)
    put_raw(store.path, "ana-7b", text, version=4)
    with pytest.raises(DataError, match="newer"):
        store.get("ana-7b")
    with pytest.raises(DataError, match="newer"):
        store.record_evidence("ana-7b", "fractions.add", True, ev(1))
    with pytest.raises(DataError, match="newer"):
        store.save(LearnerModel(learner_id="ana-7b"))
    assert raw_row(store.path, "ana-7b") == (4, text)


def _event(kind: str, session: str, turn: int, text: str, problem: str = "p-1") -> ProblemEvent:
    return ProblemEvent(problem_id=problem, kind=kind, said=TurnText(session_id=session, turn=turn, text=text))


def test_problem_events_are_kept_per_problem_once_per_turn_and_bounded(store):
    update = LearnerUpdate(problem_events=(_event("reply", "s-1", 0, "Try 1 first."),
                                           _event("extraction", "s-1", 1, "give me the first digit")))  # fmt: skip
    store.apply("ana", update)
    store.apply("ana", update)  # a turn committed twice (a retried node) is remembered once
    model = store.get("ana")
    assert [r.text for r in model.problems["p-1"].replies] == ["Try 1 first."]
    assert len(model.problems["p-1"].extraction_attempts) == 1
    assert model.gate_history("p-1", before_session="s-2").extraction
    assert model.gate_history("p-1", before_session="s-1") == model.gate_history("p-2")
    replies = [_event("reply", "s-2", t, f"reply {t}") for t in range(MAX_PROBLEM_REPLIES + 5)]
    many = LearnerUpdate(problem_events=tuple(replies))
    model = store.apply("ana", many)
    texts = [r.text for r in model.problems["p-1"].replies]
    assert len(texts) == MAX_PROBLEM_REPLIES and texts[-1] == f"reply {MAX_PROBLEM_REPLIES + 4}"
    assert LearnerModel.from_data(store.export("ana")) == model
    assert LearnerUpdate(problem_events=update.problem_events).is_empty is False


# --------------------------------------------------------------------------- corruption and validation


def test_corrupt_row_is_a_clear_error_and_others_still_work(store):
    store.record_evidence("ben", "f", True, ev(1))
    put_raw(store.path, "ana", "{not json", version=2)
    put_raw(
        store.path,
        "cleo",
        json.dumps({**load_fixture("v2.json"), "learner_id": "cleo", "skills": {"f": {"p_mastery": 2.0}}}),
        version=2,
    )
    with pytest.raises(DataError, match="'ana'.*not valid JSON") as info:
        store.get("ana")
    assert "delete" in info.value.hint
    with pytest.raises(DataError, match="'cleo'.*p_mastery"):
        store.get("cleo")
    with pytest.raises(DataError):
        store.record_evidence("ana", "f", True, ev(1))
    assert raw_row(store.path, "ana") == (2, "{not json")
    assert store.get("ben").skills["f"].n_obs == 1
    store.record_evidence("ben", "f", True, ev(2))
    assert store.list_learners() == ["ana", "ben", "cleo"]
    assert store.delete("ana")
    assert store.get("ana").revision == 0


def test_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "junk.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DataError, match="not a usable learner database"):
        LearnerStore(bad)


@pytest.mark.parametrize(
    "bad", ["", "   ", "a" * 129, "a\nb", "nul\x00", "tab\there", " lead", "trail ", "bidi\u202e", 42, None]
)
def test_invalid_learner_ids_are_rejected(store, bad):
    with pytest.raises(DataError, match="learner id"):
        validate_learner_id(bad)
    with pytest.raises(DataError, match="learner id"):
        store.get(bad)
    with pytest.raises(DataError, match="learner id"):
        store.record_evidence(bad, "f", True, ev(1))
    assert store.list_learners() == []


def test_valid_learner_ids_and_skill_names(store):
    for good in ["a" * 128, "Zoë-学生 7", "user@example.org", "thread-1/learner:2"]:
        assert validate_learner_id(good) == good
        store.record_evidence(good, "f", True, ev(1))
        assert store.get(good).learner_id == good
    with pytest.raises(ValidationError):
        LearnerModel(learner_id="bad\nid")
    with pytest.raises(DataError, match="skill name"):
        store.record_evidence("ana", "", True, ev(1))
    with pytest.raises(DataError, match="skill name"):
        store.add_misconception("ana", "x\x07", "guess", "beep")


def test_export_round_trips(store):
    store.record_evidence("ana", "f", True, ev(1), abilities=["numerical_calculation"])
    store.add_demo("ana", TeachingDemo(question="q", learner_answer="a", correct=False))
    data = store.export("ana")
    json.dumps(data)  # JSON-ready
    assert set(data["derived"]) == {"ability_levels", "useful_explanations"}
    assert LearnerModel.from_data(data) == store.get("ana")
    with pytest.raises(DataError, match="no stored learner"):
        store.export("nobody")
