"""Accounts: argon2 hashes, roles, classes, the audit log; `pedagraph users`; the same on PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pedagraph.accounts import AccountStore, learner_id_of, parse_roster
from pedagraph.errors import DataError
from pedagraph.testing.postgres import TEST_URL, fresh_schema, unavailable

REASON = unavailable()


def check_store(store: AccountStore) -> None:
    teacher = store.add("ms.rivera", "teacher", "a-good-password", display_name="Ms Rivera")
    assert teacher.class_code and store.classes_of("ms.rivera") == [teacher.class_code]
    kid = store.add("kid1", "learner", "kid-password-1", class_code=teacher.class_code)
    other = store.add("mr.lee", "teacher", "another-password")
    assert store.teaches(teacher, "kid1") and not store.teaches(other, "kid1")
    assert [a.name for a in store.learners_of(teacher)] == ["kid1"] and store.learners_of(other) == []
    assert store.verify("kid1", "kid-password-1") == kid and kid.learner_id == learner_id_of("kid1") == "user:kid1"
    assert store.verify("kid1", "wrong-password") is None and store.verify("nobody", "kid-password-1") is None
    before = store.counts()
    for bad in (lambda: store.add("kid1", "learner", "kid-password-2"),  # taken
                lambda: store.add("x y", "learner", "kid-password-2"),  # a bad name
                lambda: store.add("kid2", "wizard", "kid-password-2"),  # a bad role
                lambda: store.add("kid2", "learner", "short"),  # a short password
                lambda: store.add("kid2", "learner", "kid-password-2", class_code="NOPE1234")):  # fmt: skip
        with pytest.raises(DataError):
            bad()
    assert store.counts() == before  # refused: nothing written
    store.open_session("learner", "browser-a-token", "kid1")
    store.open_session("teacher", "browser-b-token", "ms.rivera")
    assert store.session_user("learner", "browser-a-token") == "kid1"
    assert store.session_user("teacher", "browser-a-token") is None  # a learner-app login is not a teacher-app one
    store.open_session("learner", "expired-token", "kid1", seconds=-1)
    assert store.session_user("learner", "expired-token") is None
    store.set_password("kid1", "new-password-1")
    assert store.verify("kid1", "kid-password-1") is None and store.verify("kid1", "new-password-1")
    assert store.session_user("learner", "browser-a-token") is None  # a new password logs every browser out
    assert store.session_user("teacher", "browser-b-token") == "ms.rivera"
    store.open_session("learner", "browser-c-token", "kid1")
    store.remove("kid1")
    assert store.session_user("learner", "browser-c-token") is None
    assert store.get("kid1") is None and store.verify("kid1", "new-password-1") is None
    actions = [row[2] for row in store.audit_log()]
    assert {"account.add", "account.set-password", "account.remove"} <= set(actions)


def test_accounts_on_sqlite(tmp_path):
    store = AccountStore(tmp_path / "accounts.sqlite")
    check_store(store)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("accounts.sqlite*"))  # the database and its WAL
    assert b"a-good-password" not in raw and b"$argon2id$" in raw  # argon2 hashes, never the password
    assert b"browser-b-token" not in raw  # login tokens: only their hashes
    store.close()


def test_accounts_on_postgresql():
    if REASON is not None:
        pytest.skip(REASON)
    with fresh_schema(TEST_URL) as url:
        store = AccountStore(url=url)
        check_store(store)
        store.close()


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_a_roster_line_is_a_valid_name_or_one_clear_error(line):
    try:
        rows = parse_roster(line)
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    for name, display in rows:
        assert name and len(name) <= 64 and "," not in name and display and "\n" not in display


def test_users_command_adds_lists_sets_and_removes(home):
    exe = str(Path(sys.executable).with_name("pedagraph"))

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([exe, "users", *args], input=stdin, capture_output=True, text=True, timeout=60)

    made = run("add", "tina", "--role", "teacher")
    assert made.returncode == 0 and "password (shown once):" in made.stdout
    password = made.stdout.rsplit("password (shown once):", 1)[1].strip()
    piped = run("add", "leo", "--role", "learner", stdin="leos-own-password\n")
    assert piped.returncode == 0 and "shown once" not in piped.stdout
    listed = run("list")
    assert "tina" in listed.stdout and "leo" in listed.stdout and password not in listed.stdout
    bad = run("add", "leo", "--role", "learner", stdin="another-password\n")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "exists already" in bad.stderr
    assert run("add", "zed", "--role", "boss").returncode == 1
    assert run("set-password", "leo", stdin="a-newer-password\n").returncode == 0
    assert run("remove", "leo").returncode == 0 and "leo" not in run("list").stdout
    gone = run("remove", "leo")
    assert gone.returncode == 1 and "no account 'leo'" in gone.stderr
    store = AccountStore(home / "accounts.sqlite")
    assert store.verify("tina", password) is not None


def _old_records(home) -> dict:
    """Records an anonymous learner left before accounts existed: mastery, a misconception, threads, an episode."""
    import numpy as np
    from pedagraph.ui.history import History

    from pedagraph.learner import GradedEvidence, get_learner_store
    from pedagraph.memory import get_memory

    learners = get_learner_store()
    for turn, correct in enumerate((True, False)):
        evidence = GradedEvidence(grader="step_check", session_id="ui-00000001", turn=turn, item_id="p#0")
        learners.record_evidence("learner-0a1b2c", "subtraction", correct, evidence)
    learners.add_misconception("learner-0a1b2c", "subtraction", "careless", "subtracts the smaller digit")
    learners.save(learners.get("llm:student-x", kind="llm_student"))
    history = History(None)
    history.add("learner-0a1b2c", "ui-00000001", "gsm8k-sample-1")
    history.add("learner-0a1b2c", "ui-00000002", "gsm8k-sample-2")
    history.set_current("learner-0a1b2c", "ui-00000002")
    history.close()
    get_memory().add("episodes", ["mixed up the digits"], [{"learner_id": "learner-0a1b2c"}],
                     embeddings=np.eye(1, 384, dtype=np.float32))  # fmt: skip
    return learners.get("learner-0a1b2c").model_dump(mode="json", exclude={"learner_id", "updated_at", "revision"})


def check_claim(home) -> None:
    from pedagraph.ui.history import History

    from pedagraph.accounts import claim_learner, get_account_store, unclaimed_learners
    from pedagraph.learner import get_learner_store
    from pedagraph.memory import get_memory

    store = get_account_store()
    teacher = store.add("teach", "teacher", "teacher-password")
    store.add("kid", "learner", "kid-password-1", class_code=teacher.class_code)
    store.add("busy", "learner", "busy-password", class_code=teacher.class_code)
    before = _old_records(home)
    learners = get_learner_store()
    from pedagraph.learner import GradedEvidence

    used = GradedEvidence(grader="step_check", session_id="ui-00000009", turn=0, item_id="p#0")
    learners.record_evidence("user:busy", "addition", True, used)  # an account that has used the tutor already
    listed = unclaimed_learners()
    assert [(u.learner_id, u.problems, u.has_record) for u in listed] == [("learner-0a1b2c", 2, True)]

    for bad, message in (("learner-nobody", "no records"), ("user:kid", "not an anonymous"), ("", "not an anonymous")):
        with pytest.raises(DataError, match=message):
            claim_learner(bad, "kid")
    with pytest.raises(DataError, match="no account"):
        claim_learner("learner-0a1b2c", "ghost")
    with pytest.raises(DataError, match="holds work already"):
        claim_learner("learner-0a1b2c", "busy")
    assert learners.exists("learner-0a1b2c") and not learners.exists("user:kid")  # refused: nothing moved
    assert learners.get("user:busy").skills["addition"].n_obs == 1

    summary = claim_learner("learner-0a1b2c", "kid")
    assert "2 past problem(s)" in summary and "1 memory entry" in summary
    after = learners.get("user:kid").model_dump(mode="json", exclude={"learner_id", "updated_at", "revision"})
    assert after == before  # mastery, misconceptions and observations, all of it
    assert not learners.exists("learner-0a1b2c")
    history = History(None)
    assert [p.thread_id for p in history.list("user:kid")] == ["ui-00000002", "ui-00000001"]
    assert history.current("user:kid") == "ui-00000002" and history.list("learner-0a1b2c") == []
    history.close()
    assert [h.text for h in get_memory().get("episodes", learner_id="user:kid")] == ["mixed up the digits"]
    assert unclaimed_learners() == []
    assert ("cli", "account.claim") in [(r[1], r[2]) for r in store.audit_log(target="kid")]
    with pytest.raises(DataError, match="no records"):
        claim_learner("learner-0a1b2c", "kid")  # claimed once


def test_claiming_pre_account_records_on_sqlite(home):
    check_claim(home)


def test_a_claim_that_fails_half_way_moves_nothing(home):
    """The learner record and the thread history move in one transaction: a failing history write undoes both."""
    import sqlite3

    from pedagraph.accounts import claim_learner, get_account_store
    from pedagraph.learner import get_learner_store

    get_account_store().add("kid", "learner", "kid-password-1")
    _old_records(home)
    conn = sqlite3.connect(home / "ui_history.sqlite")
    conn.execute("CREATE TRIGGER full BEFORE UPDATE ON ui_started BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    conn.commit()
    conn.close()
    with pytest.raises(Exception, match="disk full"):
        claim_learner("learner-0a1b2c", "kid")
    learners = get_learner_store()
    assert learners.exists("learner-0a1b2c") and not learners.exists("user:kid")


def test_claiming_pre_account_records_on_postgresql(home, monkeypatch):
    if REASON is not None:
        pytest.skip(REASON)
    from pedagraph.accounts import _STORES

    with fresh_schema(TEST_URL) as url:
        monkeypatch.setenv("PEDAGRAPH_DATABASE_URL", url)
        try:
            check_claim(home)
        finally:
            _STORES.pop(url, None)


def test_users_command_lists_and_claims_unclaimed_records(home):
    exe = str(Path(sys.executable).with_name("pedagraph"))
    from pedagraph.accounts import get_account_store

    get_account_store().add("kid", "learner", "kid-password-1")
    _old_records(home)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([exe, "users", *args], capture_output=True, text=True, timeout=60)

    listed = run("list", "--unclaimed")
    assert listed.returncode == 0 and "learner-0a1b2c" in listed.stdout and "llm:" not in listed.stdout
    bad = run("claim", "learner-nobody", "kid")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "no records" in bad.stderr
    done = run("claim", "learner-0a1b2c", "kid")
    assert done.returncode == 0 and "kid now has the work of learner-0a1b2c" in done.stdout
    assert "learner-0a1b2c" not in run("list", "--unclaimed").stdout
