"""The learner's past problems in the app: which threads they started, so any earlier one can be reopened.

One small SQLite table in `PEDAGRAPH_HOME/ui_history.sqlite`: learner id, thread id, problem id, when it was
started. The conversations themselves stay in the checkpointer; this only lists them, newest first.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pedagraph.ui.service import TutorService

HISTORY_FILE = "ui_history.sqlite"
MAX_LISTED = 50
"""Past problems listed per learner (the newest)."""


@dataclass(frozen=True)
class PastProblem:
    """One problem a learner started: its thread, problem id and start time (seconds since the epoch)."""

    thread_id: str
    problem_id: str
    started: float
    key: str = ""
    """What the app shows for it (`p<row>`): never the thread id."""


class History:
    """The threads each learner started problems on (thread-safe, one connection)."""

    def __init__(self, home: Path) -> None:
        self.path = home / HISTORY_FILE
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False)
        with self._lock, self._conn:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS started (learner_id TEXT NOT NULL, thread_id TEXT PRIMARY KEY, "
                "problem_id TEXT NOT NULL, started REAL NOT NULL)"
            )
            self._conn.execute("CREATE TABLE IF NOT EXISTS current (learner_id TEXT PRIMARY KEY, thread_id TEXT)")

    def current(self, learner_id: str) -> str | None:
        """The thread a learner's app shows now (kept on the server, never sent by the browser)."""
        with self._lock:
            row = self._conn.execute("SELECT thread_id FROM current WHERE learner_id = ?", (learner_id,)).fetchone()
        return row[0] if row else None

    def set_current(self, learner_id: str, thread_id: str) -> None:
        """Make a thread the one a learner's app shows."""
        with self._lock, self._conn:
            self._conn.execute("INSERT OR REPLACE INTO current VALUES (?, ?)", (learner_id, thread_id))

    def thread_of(self, learner_id: str, key: Any) -> str | None:
        """The thread behind a past problem's key (`past_choices`), only if that learner started it."""
        text = str(key or "")
        if not text.startswith("p") or not text[1:].isdigit():
            return None
        with self._lock:
            row = self._conn.execute("SELECT thread_id FROM started WHERE rowid = ? AND learner_id = ?",
                                     (int(text[1:]), learner_id)).fetchone()  # fmt: skip
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        """Rows per table (tests compare them before and after a refused call)."""
        with self._lock:
            return {t: self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("started", "current")}

    def add(self, learner_id: str, thread_id: str, problem_id: str) -> None:
        """Record that a learner started a problem on a thread (a thread is recorded once)."""
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR IGNORE INTO started VALUES (?, ?, ?, ?)", (learner_id, thread_id, problem_id, time.time())
            )

    def list(self, learner_id: str) -> list[PastProblem]:
        """The learner's problems, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT thread_id, problem_id, started, 'p' || rowid FROM started WHERE learner_id = ? "
                "ORDER BY started DESC, rowid DESC LIMIT ?",
                (learner_id, MAX_LISTED),
            ).fetchall()
        return [PastProblem(*row) for row in rows]

    def owns(self, learner_id: str, thread_id: str) -> bool:
        """Whether the learner started this thread."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM started WHERE learner_id = ? AND thread_id = ?", (learner_id, thread_id)
            ).fetchone()
        return row is not None

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()


def past_label(name: str, values: dict[str, Any], started: float) -> str:
    """A past problem as the history list shows it: "Problem 3 · solved · 30 Nov 14:02"."""
    if values.get("learner_solved"):
        where = "solved"
    elif values.get("revealed"):
        where = "solution shown"
    else:
        steps = max(1, len((values.get("problem") or {}).get("steps") or []))
        where = f"stopped at step {min(values.get('step_index', 0) + 1, steps)} of {steps}"
    return f"{name} · {where} · {time.strftime('%d %b %H:%M', time.localtime(started))}"


def past_choices(service: TutorService, learner_id: str) -> list[tuple[str, str]]:
    """(label, key) of the learner's past problems, newest first (the key is not the thread id)."""
    out = []
    for past in service.past.list(learner_id):
        values = service.values(past.thread_id)
        if values.get("problem"):
            out.append((past_label(service.problem_name(values["problem"]), values, past.started), past.key))
    return out


def past_transcript(service: TutorService, learner_id: str, key: str | None) -> list[dict[str, str]]:
    """The conversation of one of the learner's past problems (empty for a key that is not theirs)."""
    thread_id = service.past.thread_of(learner_id, key)
    return service.history(thread_id) if thread_id else []
