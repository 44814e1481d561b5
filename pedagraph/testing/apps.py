"""A tab of the apps served alone for a test, behind the same login as the real server (`ui/server.py`)."""

from __future__ import annotations

from typing import Any

from pedagraph.accounts import get_account_store

TEACHER_LOGIN = ("tess", "tess-password")
"""A teacher of the configured PEDAGRAPH_HOME (made by `teacher_login`)."""


def teacher_login() -> tuple[str, str]:
    """The test teacher's name and password (the account is made on first use)."""
    store = get_account_store()
    if store.get(TEACHER_LOGIN[0]) is None:
        store.add(TEACHER_LOGIN[0], "teacher", TEACHER_LOGIN[1])
    return TEACHER_LOGIN


def launch_with_login(demo: Any) -> str:
    """Serve a Blocks on a free loopback port with Gradio's login over the account store; its URL."""

    def check(name: str, password: str) -> bool:
        return get_account_store().verify(name, password) is not None

    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", auth=check)
    return url


def learner_login(home: Any, name: str) -> tuple[str, str]:
    """A learner account of a PEDAGRAPH_HOME (or of PEDAGRAPH_DATABASE_URL when set), made if missing: its login."""
    import os
    from pathlib import Path

    from pedagraph.accounts import AccountStore

    url = os.environ.get("PEDAGRAPH_DATABASE_URL")
    store = AccountStore(url=url) if url else AccountStore(Path(home) / "accounts.sqlite")
    password = f"{name}-password"
    if store.get(name) is None:
        store.add(name, "learner", password)
    store.close()
    return name, password
