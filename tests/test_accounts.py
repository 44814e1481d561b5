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
