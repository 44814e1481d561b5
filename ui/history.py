"""The learner's past problems in the app: which threads they started, so any earlier one can be reopened.

Two small tables (SQLite in `PEDAGRAPH_HOME/ui_history.sqlite`, or PostgreSQL with the learner data): which
threads each learner started problems on (learner id, thread id, problem id, when; listed newest first under a
key that is not the thread id) and which thread their app shows now. The conversations stay in the checkpointer.
"""

from __future__ import annotations

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
    """The threads each learner started problems on, and the one their app shows now (thread-safe).

    In `PEDAGRAPH_HOME/ui_history.sqlite`, or in PostgreSQL with the learner data when `PEDAGRAPH_DATABASE_URL` is
    set (so several app processes share which conversation a learner's app shows).
    """

    def __init__(self, home: Path | None = None) -> None:
        from pedagraph.accounts import Database

        self.db = Database.configured(HISTORY_FILE, home)
        self.db.setup((
            "CREATE TABLE IF NOT EXISTS ui_started (learner_id TEXT NOT NULL, thread_id TEXT PRIMARY KEY, "
            "problem_id TEXT NOT NULL, started DOUBLE PRECISION NOT NULL, seq BIGINT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS ui_current (learner_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL)",
        ))  # fmt: skip

    def current(self, learner_id: str) -> str | None:
        """The thread a learner's app shows now (kept on the server, never sent by the browser)."""
        rows = self.db.q("SELECT thread_id FROM ui_current WHERE learner_id = ?", (learner_id,))
        return rows[0][0] if rows else None

    def set_current(self, learner_id: str, thread_id: str) -> None:
        """Make a thread the one a learner's app shows."""
        with self.db.tx():
            self.db.q("DELETE FROM ui_current WHERE learner_id = ?", (learner_id,))
            self.db.q("INSERT INTO ui_current VALUES (?, ?)", (learner_id, thread_id))

    def thread_of(self, learner_id: str, key: Any) -> str | None:
        """The thread behind a past problem's key (`past_choices`), only if that learner started it."""
        text = str(key or "")
        if not text.startswith("p") or not text[1:].isdigit() or len(text) > 20:
            return None
        rows = self.db.q("SELECT thread_id FROM ui_started WHERE seq = ? AND learner_id = ?",
                         (int(text[1:]), learner_id))  # fmt: skip
        return rows[0][0] if rows else None

    def counts(self) -> dict[str, int]:
        """Rows per table (tests compare them before and after a refused call)."""
        return {t: int(self.db.q(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in ("ui_started", "ui_current")}

    def add(self, learner_id: str, thread_id: str, problem_id: str) -> None:
        """Record that a learner started a problem on a thread (a thread is recorded once)."""
        with self.db.tx():
            if self.db.q("SELECT 1 FROM ui_started WHERE thread_id = ?", (thread_id,)):
                return
            seq = int(self.db.q("SELECT COALESCE(MAX(seq), 0) + 1 FROM ui_started")[0][0])
            self.db.q("INSERT INTO ui_started VALUES (?, ?, ?, ?, ?)",
                      (learner_id, thread_id, problem_id, time.time(), seq))  # fmt: skip

    def list(self, learner_id: str) -> list[PastProblem]:
        """The learner's problems, newest first."""
        rows = self.db.q("SELECT thread_id, problem_id, started, seq FROM ui_started WHERE learner_id = ? "
                         "ORDER BY started DESC, seq DESC LIMIT ?", (learner_id, MAX_LISTED))  # fmt: skip
        return [PastProblem(r[0], r[1], float(r[2]), f"p{r[3]}") for r in rows]

    def owns(self, learner_id: str, thread_id: str) -> bool:
        """Whether the learner started this thread."""
        return bool(self.db.q("SELECT 1 FROM ui_started WHERE learner_id = ? AND thread_id = ?",
                              (learner_id, thread_id)))  # fmt: skip

    def close(self) -> None:
        """Close the database."""
        self.db.close()


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
