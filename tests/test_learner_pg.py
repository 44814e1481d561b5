"""The learner store and the checkpointer on PostgreSQL (PEDAGRAPH_DATABASE_URL), several processes at once.

Needs a server: `.ci/run` starts one (`scripts/test_postgres.sh`) and exports PEDAGRAPH_TEST_DATABASE_URL; without
it every test here skips with the reason. Each test gets a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import test_learner as sqlite_suite
from test_learner import (  # noqa: F401 - the SQLite store's tests, run again here on the PostgreSQL store
    test_ability_levels_from_mastery,
    test_concurrent_processes_do_not_lose_updates,
    test_demos_bank_and_useful_explanations,
    test_export_round_trips,
    test_increment_stats,
    test_invalid_learner_ids_are_rejected,
    test_learners_are_isolated,
    test_mastery_cannot_be_set_from_prose_or_directly,
    test_misconception_merge_confidence_and_resolution,
    test_problem_events_are_kept_per_problem_once_per_turn_and_bounded,
    test_record_evidence_applies_bkt_and_keeps_provenance,
    test_record_evidence_custom_params_and_ability_tags,
    test_replayed_evidence_counts_once,
    test_stale_save_is_refused,
    test_update_is_atomic_and_validated,
    test_valid_learner_ids_and_skill_names,
)

from pedagraph.errors import ConfigError, DataError
from pedagraph.learner import LearnerModel, bkt_update, get_learner_store
from pedagraph.testing.postgres import TEST_URL, fresh_schema, unavailable

REASON = unavailable()
FIXTURES = Path(__file__).parent / "fixtures" / "learner"
ev = sqlite_suite.ev


@pytest.fixture
def pg_url(monkeypatch) -> str:
    """A URL of an empty schema of the test server, also set as PEDAGRAPH_DATABASE_URL (child processes too)."""
    if REASON is not None:
        pytest.skip(REASON)
    assert TEST_URL is not None
    with fresh_schema(TEST_URL) as url:
        monkeypatch.setenv("PEDAGRAPH_DATABASE_URL", url)
        yield url


@pytest.fixture
def store(pg_url):
    """The configured store: the PostgreSQL one (the imported SQLite tests run on it)."""
    from pedagraph.learner_pg import PostgresLearnerStore

    found = get_learner_store()
    assert isinstance(found, PostgresLearnerStore) and found is get_learner_store()
    return found


def put_raw(url: str, learner_id: str, data: str, version: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO learners (learner_id, schema_version, updated_at, data) VALUES (%s, %s, now(), %s) "
            "ON CONFLICT (learner_id) DO UPDATE SET schema_version = excluded.schema_version, data = excluded.data",
            (learner_id, version, data),
        )


def raw_row(url: str, learner_id: str) -> tuple[int, str] | None:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT schema_version, data FROM learners WHERE learner_id = %s", (learner_id,)).fetchone()


def in_threads(calls: list, timeout: float | None = None) -> None:
    """Run the calls in threads at once and wait for all of them."""
    threads = [threading.Thread(target=call) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)


# --------------------------------------------------------------------------- the store


def test_url_is_chosen_by_setting_and_never_shown_with_its_password(pg_url, home):
    from pedagraph.learner_pg import PostgresLearnerStore, redact_url

    assert isinstance(get_learner_store(), PostgresLearnerStore)
    assert type(get_learner_store(home)).__name__ == "LearnerStore"  # an explicit home stays SQLite
    assert redact_url("postgresql://ana:s3cret@db:5432/x") == "postgresql://ana:***@db:5432/x"
    store = PostgresLearnerStore(pg_url.replace("postgres@", "postgres:hunter2@"))  # trust auth ignores it
    assert "hunter2" not in repr(store) and "hunter2" not in store.path
    bad = pg_url.replace("postgres@", "nobody:hunter2@")
    with pytest.raises(DataError) as info:
        PostgresLearnerStore(bad)
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


def test_bad_database_url_is_one_clear_config_error(monkeypatch):
    from pedagraph.settings import load_settings

    monkeypatch.setenv("PEDAGRAPH_DATABASE_URL", "mysql://root:pw@db/x")
    with pytest.raises(ConfigError, match="PEDAGRAPH_DATABASE_URL must be a postgresql:// URL") as info:
        load_settings()
    assert "pw" not in str(info.value)


def test_database_url_from_the_config_file_beats_the_environment(tmp_path, monkeypatch):
    from pedagraph.settings import load_settings

    monkeypatch.setenv("PEDAGRAPH_DATABASE_URL", "postgresql://env@db/x")
    assert load_settings().database_url.get_secret_value() == "postgresql://env@db/x"
    (tmp_path / "cfg").mkdir()
    config = tmp_path / "cfg" / "pedagraph.toml"  # not in the working directory, where it would be found
    config.write_text('database_url = "postgres://file:pw@db/y"\n')
    settings = load_settings(config)
    assert settings.database_url.get_secret_value() == "postgres://file:pw@db/y" and "pw" not in repr(settings)
    config.write_text('database_url = "sqlite:///x.db"\n')
    with pytest.raises(ConfigError, match="database_url must be a postgresql:// URL, got sqlite://"):
        load_settings(config)
    monkeypatch.delenv("PEDAGRAPH_DATABASE_URL")
    assert load_settings().database_url is None  # SQLite stays the default


def test_concurrent_threads_and_instances_do_not_lose_updates(store, pg_url):
    from pedagraph.learner_pg import PostgresLearnerStore

    other = PostgresLearnerStore(pg_url)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        own = store if i % 2 else other
        try:
            for j in range(15):
                own.record_evidence("new-learner", "fractions", j % 2 == 0, ev(turn=j, session=f"thread-{i}"))
                if j % 5 == 0:
                    own.increment_stats("new-learner", hints_received=1)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    in_threads([lambda i=i: worker(i) for i in range(6)])
    assert errors == []
    model = store.get("new-learner")  # no row existed when the writers started: the advisory lock covers it
    assert model.skills["fractions"].n_obs == 90 and model.skills["fractions"].n_correct == 6 * 8
    assert model.stats.hints_received == 18 and model.revision == 90 + 18


def test_old_rows_migrate_on_read_and_newer_rows_are_refused(store, pg_url):
    put_raw(pg_url, "ana-7b", (FIXTURES / "v1.json").read_text(encoding="utf-8"), version=1)
    model = store.get("ana-7b")
    assert model == LearnerModel.from_data(json.loads((FIXTURES / "v2.json").read_text(encoding="utf-8")))
    assert raw_row(pg_url, "ana-7b")[0] == 1  # reading does not write
    state = store.record_evidence("ana-7b", "fractions.add", True, ev(1))
    assert state.p_mastery == pytest.approx(bkt_update(0.42, True)) and raw_row(pg_url, "ana-7b")[0] == 3

    future = json.dumps({**json.loads((FIXTURES / "v3.json").read_text(encoding="utf-8")), "schema_version": 4})
    put_raw(pg_url, "ana-7b", future, version=4)
    with pytest.raises(DataError, match="newer"):
        store.record_evidence("ana-7b", "fractions.add", True, ev(2))
    assert raw_row(pg_url, "ana-7b") == (4, future)


def test_corrupt_row_is_a_clear_error_and_others_still_work(store, pg_url):
    store.record_evidence("ben", "f", True, ev(1))
    put_raw(pg_url, "ana", "{not json", version=2)
    with pytest.raises(DataError, match="'ana'.*not valid JSON"):
        store.get("ana")
    with pytest.raises(DataError):
        store.record_evidence("ana", "f", True, ev(1))
    assert raw_row(pg_url, "ana") == (2, "{not json")
    store.record_evidence("ben", "f", True, ev(2))  # the failed transaction left the connection usable
    assert store.list_learners() == ["ana", "ben"] and store.delete("ana")


def test_dropped_connections_are_replaced_and_no_server_is_one_clear_error(store, pg_url):
    import psycopg

    from pedagraph.learner_pg import PostgresLearnerStore

    store.record_evidence("ana", "f", True, ev(1))
    with psycopg.connect(pg_url, autocommit=True) as admin:  # the server drops every connection of the store
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND application_name = ''"
        )
    assert store.get("ana").skills["f"].n_obs == 1  # checked on checkout: a new connection serves
    port = int(pg_url.split("@127.0.0.1:")[1].split("/")[0])
    down = pg_url.replace(f":{port}/", f":{_free_port()}/")
    with pytest.raises(DataError, match="learner database .*127.0.0.1") as info:
        PostgresLearnerStore(down, timeout=2)
    assert "PEDAGRAPH_DATABASE_URL" in info.value.hint


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connections_are_pooled_and_bounded(store):
    from pedagraph.learner_pg import POOL_SIZE

    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(5):
                store.record_evidence("ana", "f", True, ev(None))
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    in_threads([reader] * (POOL_SIZE * 3))
    assert errors == [] and store.get("ana").skills["f"].n_obs == POOL_SIZE * 15
    pool = store._pool()
    assert pool.get_stats()["pool_size"] <= POOL_SIZE
    store.close()
    assert store.get("ana").skills["f"].n_obs == POOL_SIZE * 15  # reopened on demand


# --------------------------------------------------------------------------- two app processes

APP_PROCESS = textwrap.dedent(
    """
    import json, pathlib, sys, time
    from pedagraph.problems import get_problem
    from pedagraph.ui.service import TutorService

    name, pid, learners, rounds = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])
    service = TutorService()
    barrier = pathlib.Path(sys.argv[5])  # both processes start tutoring together, so their writes overlap
    (barrier / name).touch()
    deadline = time.monotonic() + 120
    while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    problem = get_problem(pid)
    sessions = []
    for r in range(rounds):
        for learner in learners:
            session = {"thread_id": f"{name}-{learner}-{r}", "learner_id": learner}
            list(service.start(session, problem_id=pid))
            for text in ("I don't know", problem.steps[0].answer):
                replies = list(service.send(session, text))
                assert replies[-1].done and replies[-1].notice is None, replies[-1]
            sessions.append(session["thread_id"])
    print(json.dumps({"kind": service.checkpointer.kind, "sessions": sessions}))
    service.close()
    """
)


def test_two_app_processes_serve_the_same_learners_without_losing_updates(pg_url, home):
    """Two TutorService processes tutor the same learners at once: every graded turn of both is counted."""
    from pedagraph.ui.service import TutorService

    from pedagraph.problems import get_problem

    pid = sqlite_suite_problem()
    barrier = home.parent / "barrier"
    barrier.mkdir()
    learners, rounds = "ana", 8  # one learner, many sessions: the two processes write it at the same moments
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APP_PROCESS, name, pid, learners, str(rounds), str(barrier)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("app1", "app2")
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-3000:]
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert {o["kind"] for o in outs} == {"postgres"}

    # one more process (this one) sees both apps' sessions in the shared checkpointer, and can continue them
    service = TutorService()
    problem = get_problem(pid)
    for o in outs:
        for thread in o["sessions"]:
            learner_said = [m["content"] for m in service.history(thread) if m["role"] == "user"]
            assert learner_said == ["I don't know", problem.steps[0].answer]
    assert not (home / "checkpoints.sqlite").exists()

    store = get_learner_store()
    for learner in learners.split(","):
        model = store.get(learner)
        observations = [o for s in model.skills.values() for o in s.history]
        per_session: dict[str, int] = {}
        for o in observations:
            per_session[o.session_id] = per_session.get(o.session_id, 0) + 1
        # every session ran the same turns, so each recorded the same evidence; a lost update would drop some
        assert set(per_session) == {f"{app}-{learner}-{r}" for app in ("app1", "app2") for r in range(rounds)}
        assert len(set(per_session.values())) == 1 and min(per_session.values()) > 0
        assert sum(s.n_obs for s in model.skills.values()) == len(observations)
        assert model.stats.sessions == 2 * rounds
    service.close()


def sqlite_suite_problem() -> str:
    from pedagraph.problems import bundled_problems

    return bundled_problems()[0].id


@pytest.mark.slow
def test_two_pedagraph_ui_servers_share_sessions_and_learners(pg_url, tmp_path):
    """Two `pedagraph ui` processes (each its own home, as on two machines) on one PostgreSQL database."""
    from test_ui import App, restore, send, start, text_of

    from pedagraph.problems import get_problem

    pid = "gsm8k-sample-1"
    problem = get_problem(pid)
    apps = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        app = App(tmp_path / name / "home", tmp_path / name)
        app.extra_env = {"PEDAGRAPH_DATABASE_URL": pg_url}
        apps.append(app)
    in_threads([app.start for app in apps])
    logins = [apps[0].new_learner(), apps[0].new_learner()]  # the accounts live in PostgreSQL too
    try:
        errors: list[BaseException] = []

        def tutor(index: int) -> None:
            client = apps[index].client(logins[index])  # each learner on their own server, at the same time
            try:
                for _round in range(2):
                    start(client, pid)
                    (chat, *_), _ = send(client, problem.steps[0].answer)
                    assert text_of(chat[-1])
            except BaseException as exc:  # noqa: BLE001 - surfaced below
                errors.append(exc)

        in_threads([lambda i=i: tutor(i) for i in range(2)], timeout=240)
        assert not errors, errors
        # the first learner's conversation, continued on the other server: it lives in PostgreSQL
        chat_a, _, _ = restore(apps[0].client(logins[0]))
        chat_b, status_b, _ = restore(apps[1].client(logins[0]))
        assert chat_a == chat_b and "step 2 of 2" in status_b
        (chat, *_), _ = send(apps[1].client(logins[0]), problem.final_answer)
        assert "solved" in text_of(chat[-1])
    finally:
        for app in apps:
            app.stop()
    for index, login in enumerate(logins):
        model = get_learner_store().get(f"user:{login[0]}")
        per_session: dict[str, int] = {}
        for skill in model.skills.values():
            for o in skill.history:
                per_session[o.session_id] = per_session.get(o.session_id, 0) + 1
        assert len(per_session) == 2 and model.stats.sessions == 2  # every session's evidence, none lost
        counts = sorted(per_session.values())
        assert counts[-1] > counts[0] if index == 0 else counts[0] == counts[-1]  # the continued one got one more
