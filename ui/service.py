"""The tutoring app's back end, free of Gradio: sessions, streamed turns, history and the learner panel.

One `TutorService` per app compiles the tutor graph once over the configured checkpointer: a `SqliteSaver` on
`settings.checkpoint_path`, or a `PostgresSaver` when `PEDAGRAPH_DATABASE_URL` is set (`pedagraph.checkpointing`).
A browser session is `{"thread_id": ..., "learner_id": ...}` (kept in the browser's localStorage by the app);
the conversation lives in the checkpointer, the learner model in the learner store, so both survive a page
reload and an app restart. The session's `course` (from the course material box) is passed as `Context.course`.

A message sent before any problem is started puts the session's thread in question mode: the tutor answers it
from the ingested course material, with citations, and keeps answering follow-up messages; a message after a
finished problem is answered in review mode (questions, its worked solution, the next problem). Starting a
problem opens a new thread, recorded in the learner's history of past problems (`ui/history.py`).

Concurrency: Gradio calls handlers from worker threads. The shared sqlite connection is guarded by
`SqliteSaver`'s own lock (every read and write runs under it), and graph runs on the same thread id are
serialised by a per-thread lock here, so two submits of one session never resume the same interrupt twice.
Each run happens in its own worker thread that always finishes its turn, even when the browser goes away.
"""

from __future__ import annotations

import queue
import re
import shutil
import threading
import time
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.types import Command, StateSnapshot
from pedagraph.graphs.tutor import Context, build_graph
from pedagraph.prompts import render
from pedagraph.ui.history import History

from pedagraph.checkpointing import open_checkpointer
from pedagraph.errors import DataError, PedagraphError
from pedagraph.learner import LearnerModel, get_learner_store, validate_learner_id
from pedagraph.messages import message_text
from pedagraph.methods.distill.library import DEFAULT_LIBRARY
from pedagraph.problems import Problem, bundled_problems
from pedagraph.redact import redact
from pedagraph.settings import Settings, ensure_home, load_settings
from pedagraph.tracing import traced

MAX_MESSAGE_CHARS = 4000
"""Longest learner message accepted; longer ones are refused with a clear reply and kept in the box."""
UPDATE_INTERVAL = 0.04
"""Least time between two chat updates of a streamed reply, seconds (25 a second: still a smooth stream)."""
MAX_PROBLEM_CHARS = 4000
"""Longest free-form problem text accepted."""
RUN_WAIT_SECONDS = 120.0
"""How long a submit waits for an earlier run of the same session to finish."""
UPLOAD_DIR = "uploads"

_THREAD_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_CONTROL = frozenset({"Cc", "Cf", "Co", "Cs"})


@dataclass
class Reply:
    """One step of a streamed turn: the visible text so far, and notices/errors for the learner."""

    text: str = ""
    done: bool = False
    notice: str | None = None
    consumed: bool = True
    """Whether the learner's message entered the conversation (False: keep it in the message box)."""


@dataclass
class SessionView:
    """What the app shows for a session: chat messages, a status line and the learner panel."""

    session: dict[str, str]
    learner: LearnerModel
    """The learner's model the panel was made from (one read serves the side panel too)."""
    chat: list[dict[str, str]] = field(default_factory=list)
    status: str = ""
    panel: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    """The session's checkpointed state the view was made from."""


def new_session(course: str | None = None) -> dict[str, str]:
    """Return a fresh browser session: a new thread id and a new learner id."""
    session = {"thread_id": f"ui-{uuid.uuid4().hex}", "learner_id": f"learner-{uuid.uuid4().hex[:16]}"}
    if course:
        session["course"] = course
    return session


def checked_session(session: Any) -> tuple[dict[str, str], bool]:
    """Return a valid session made from a stored one (new ids for missing or invalid ones), and if it changed."""
    data = dict(session) if isinstance(session, dict) else {}
    fresh = new_session()
    out: dict[str, str] = {}
    thread = data.get("thread_id")
    out["thread_id"] = thread if isinstance(thread, str) and _THREAD_ID.fullmatch(thread) else fresh["thread_id"]
    learner = data.get("learner_id")
    try:
        out["learner_id"] = validate_learner_id(learner)
    except DataError:
        out["learner_id"] = fresh["learner_id"]
    course = data.get("course")
    if isinstance(course, str) and course.strip():
        out["course"] = course.strip()[:128]
    return out, out != data


def clean_text(text: Any) -> str:
    """Return learner text without control characters (newlines and tabs kept), stripped."""
    raw = "" if text is None else str(text)
    return "".join(ch for ch in raw if ch in "\n\t" or unicodedata.category(ch) not in _CONTROL).strip()


def problem_label(problem: Problem, width: int = 80) -> str:
    """Return a one-line label for the problem picker."""
    number = problem.id.rsplit("-", 1)[-1]
    text = " ".join(problem.question.split())
    if len(text) > width:
        text = text[: width - 1].rsplit(" ", 1)[0] + "…"
    return f"{number}. {text}"


class TutorService:
    """Runs tutoring sessions for the app: one compiled graph, the configured checkpointer, per-session locks."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        ensure_home(self.settings)
        self.checkpointer = open_checkpointer(self.settings)
        self.saver = self.checkpointer.saver
        self.graph = build_graph(checkpointer=self.saver)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.problems = bundled_problems()
        self.past = History(None if self.settings.database_url else self.settings.home)

    def close(self) -> None:
        """Close the checkpoint database and the history of past problems."""
        self.checkpointer.close()
        self.past.close()

    # -- state ---------------------------------------------------------------------------------------------

    def _lock(self, thread_id: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get(thread_id)
            if lock is None:
                lock = self._locks[thread_id] = threading.Lock()
            return lock

    @staticmethod
    def config(thread_id: str) -> dict[str, Any]:
        """Return the LangGraph config of a session."""
        return {"configurable": {"thread_id": thread_id}}

    def snapshot(self, thread_id: str) -> StateSnapshot:
        """Return the checkpointed snapshot of a session (read once, then used for all that a turn shows)."""
        return self.graph.get_state(self.config(thread_id))

    def values(self, thread_id: str) -> dict[str, Any]:
        """Return the checkpointed state of a session (empty if it never ran)."""
        return dict(self.snapshot(thread_id).values or {})

    def phase(self, thread_id: str, snap: StateSnapshot | None = None) -> str:
        """Return `none` (no problem yet), `waiting` (for the learner), `done`, or `pending` (a failed run).

        In question mode (no problem, answering from course material) the session is `waiting` between messages.
        """
        snap = snap or self.snapshot(thread_id)
        values = snap.values or {}
        question_mode = values.get("mode") == "question"
        if not values.get("problem") and not question_mode:
            return "none"
        if snap.interrupts:
            return "waiting"
        if snap.next:
            return "pending"
        return "none" if question_mode else "done"

    def problem_name(self, problem: dict[str, Any] | None) -> str:
        """How the learner sees a problem's name: "Problem 3" for a bundled one, "Your problem" otherwise."""
        pid = str((problem or {}).get("id") or "")
        number = pid.rsplit("-", 1)[-1]
        return f"Problem {number}" if pid.startswith("gsm8k-sample-") else "Your problem"

    def history(self, thread_id: str, snap: StateSnapshot | None = None) -> list[dict[str, str]]:
        """Return the visible conversation of a session as chat messages (role, content)."""
        chat = []
        for m in (snap or self.snapshot(thread_id)).values.get("messages", []):
            if isinstance(m, HumanMessage):
                chat.append({"role": "user", "content": message_text(m)})
            elif isinstance(m, AIMessage):
                chat.append({"role": "assistant", "content": message_text(m)})
        return chat

    def status(self, thread_id: str, snap: StateSnapshot | None = None) -> str:
        """Return a one-line status of the session: problem, step, phase."""
        snap = snap or self.snapshot(thread_id)
        values = snap.values or {}
        problem = values.get("problem")
        if values.get("mode") == "question":
            return render("ui/question_status").strip()
        if not problem:
            return "No problem started yet."
        steps = max(1, len(problem.get("steps") or []))
        step = min(values.get("step_index", 0) + 1, steps)
        where = f"{self.problem_name(problem)} · step {step} of {steps}"
        phase = self.phase(thread_id, snap)
        if phase == "done" or values.get("mode") == "review":
            solved, shown = values.get("learner_solved"), values.get("revealed")
            reason = "solved" if solved else "solution shown" if shown else "done"
            return f"{self.problem_name(problem)} · finished ({reason}): ask about it, or start the next problem."
        if phase == "pending":
            return f"{where} · the last turn did not finish: send a message to retry."
        return f"{where} · your turn."

    def view(self, session: Any) -> SessionView:
        """Return everything the app shows for a (checked) session."""
        from pedagraph.ui.panel import learner_panel

        checked, _ = checked_session(session)
        thread_id, learner_id = checked["thread_id"], checked["learner_id"]
        snap = self.snapshot(thread_id)  # one read of the session for everything shown
        values, learner = dict(snap.values or {}), get_learner_store().get(learner_id)
        return SessionView(
            session=checked,
            chat=self.history(thread_id, snap),
            status=self.status(thread_id, snap),
            panel=learner_panel(learner, values),
            values=values,
            learner=learner,
        )

    # -- runs ----------------------------------------------------------------------------------------------

    def _context(self, session: dict[str, str]) -> Context:
        # a real teacher reads the approved strategies of the distilled library (the Strategies tab), if any
        return Context(learner_id=session["learner_id"], student_mode="human", course=session.get("course") or None,
                       strategies=DEFAULT_LIBRARY, strategy_approved_only=True)  # fmt: skip

    def _stream(self, thread_id: str, inp: Any, ctx: Context) -> Iterator[Reply]:
        """Run the graph in a worker thread (it always finishes the turn) and yield the visible reply as it grows."""
        events: queue.Queue[Any] = queue.Queue()
        done = object()

        def work() -> None:
            try:
                with traced(learner_id=ctx.learner_id, session=thread_id, course=ctx.course):
                    for event in self.graph.stream(inp, self.config(thread_id), context=ctx, stream_mode="custom"):
                        events.put(event)
            except BaseException as exc:  # noqa: BLE001 - handed to the reader, who reports it
                events.put(exc)
            finally:
                events.put(done)

        worker = threading.Thread(target=work, name=f"tutor-{thread_id[-8:]}", daemon=True)
        worker.start()
        text, sent_at = "", None
        try:
            finished = False
            while not finished:
                changed, final = False, False
                for event in self._batch(events, done, None if sent_at is None else sent_at + UPDATE_INTERVAL):
                    if event is done:
                        finished = True
                        break
                    if isinstance(event, BaseException):
                        raise event
                    kind = event.get("type") if isinstance(event, dict) else None
                    if kind == "token":
                        text += str(event.get("text", ""))
                    elif kind in ("replace", "final"):
                        text = str(event.get("text", ""))
                    else:
                        continue
                    changed, final = True, final or kind == "final"
                if changed:
                    yield Reply(text=text, done=final)
                    sent_at = time.monotonic()
        finally:
            worker.join()  # also when the reader went away: the session lock is held until the turn is saved

    @staticmethod
    def _batch(events: queue.Queue[Any], done: object, due: float | None) -> list[Any]:
        """The events of one chat update: the next one, then all that arrive before the update is due.

        The first update of a reply is its first event alone (it shows at once); after that, a model that streams
        faster than the browser needs is sent as a few larger updates (each one is a whole Gradio update of the
        chat), a slow one still token by token.
        """
        batch = [events.get()]
        while due is not None and batch[-1] is not done and not isinstance(batch[-1], BaseException):
            wait = due - time.monotonic()
            try:
                batch.append(events.get(timeout=wait) if wait > 0 else events.get_nowait())
            except queue.Empty:
                break
        return batch

    def start(
        self,
        session: dict[str, str],
        problem_id: str | None = None,
        problem_text: str | None = None,
        answer: str | None = None,
    ) -> Iterator[Reply]:
        """Start a problem on the session's thread (the caller gives a new thread id) and stream the opener."""
        text = clean_text(problem_text)
        if text:
            if len(text) > MAX_PROBLEM_CHARS:
                yield Reply(
                    notice=f"The problem text is {len(text):,} characters long; the limit is {MAX_PROBLEM_CHARS:,}.",
                    consumed=False,
                )
                return
            inp: dict[str, Any] = {"problem_text": text, "answer": clean_text(answer) or None}
        elif problem_id:
            inp = {"problem_id": str(problem_id)}
        else:
            yield Reply(notice="Pick a problem or type one first.", consumed=False)
            return
        yield from self._guarded(session["thread_id"], inp, self._context(session))
        problem = self.values(session["thread_id"]).get("problem")
        if problem:
            self.past.add(session["learner_id"], session["thread_id"], str(problem.get("id")))

    def send(self, session: dict[str, str], message: Any) -> Iterator[Reply]:
        """Send the learner's message to the session and stream the tutor's reply (or a clear notice)."""
        text = clean_text(message)
        if not text:
            yield Reply(notice="Your message is empty: type an answer or a question first.", consumed=False)
            return
        if len(text) > MAX_MESSAGE_CHARS:
            yield Reply(
                notice=render("ui/too_long", length=f"{len(text):,}", limit=f"{MAX_MESSAGE_CHARS:,}").strip(),
                consumed=False,
            )
            return
        yield from self._guarded(session["thread_id"], None, self._context(session), sent=text)

    def _turn_input(self, thread_id: str, sent: str) -> tuple[Any, Reply | None]:
        """Decide (under the session lock) what a learner message does: resume, finish a failed run, or a notice."""
        phase = self.phase(thread_id)
        if phase == "waiting":
            return Command(resume=sent), None
        if phase == "pending":
            return None, None
        # no problem yet: question mode (the course material); a finished problem: review mode (questions about it,
        # its worked solution, the next problem)
        return {"question": sent}, None

    def _guarded(self, thread_id: str, inp: Any, ctx: Context, sent: str | None = None) -> Iterator[Reply]:
        """Run under the session lock, turning errors into a one-line notice (the conversation stays intact)."""
        lock = self._lock(thread_id)
        if not lock.acquire(timeout=RUN_WAIT_SECONDS):
            yield Reply(
                notice="The tutor is still answering your previous message; try again in a moment.", consumed=False
            )
            return
        try:
            if sent is not None:
                inp, refusal = self._turn_input(thread_id, sent)
                if refusal is not None:
                    yield refusal
                    return
            last = Reply()
            for reply in self._stream(thread_id, inp, ctx):
                last = reply
                yield reply
            if isinstance(inp, dict) and "question" in inp and self._first_question(thread_id):
                yield Reply(text=last.text, done=True, notice=render("ui/question_mode").strip())
            if inp is None and sent is not None:
                yield Reply(
                    text=last.text,
                    done=True,
                    consumed=False,
                    notice="Your previous turn had not finished; it has now. Send your message again.",
                )
        except PedagraphError as exc:
            yield Reply(notice=f"Error: {redact(exc.one_line())}", consumed=self._consumed(thread_id, sent))
        except Exception as exc:  # noqa: BLE001 - shown as one line, the session stays usable
            msg = redact(" ".join(str(exc).split()))[:300]
            yield Reply(notice=f"Error: {type(exc).__name__}: {msg}", consumed=self._consumed(thread_id, sent))
        finally:
            lock.release()

    def _first_question(self, thread_id: str) -> bool:
        """Whether the thread is in question mode after its first question (its notice is shown once)."""
        values = self.values(thread_id)
        asked = [m for m in values.get("messages", []) if isinstance(m, HumanMessage)]
        return values.get("mode") == "question" and len(asked) == 1

    def _consumed(self, thread_id: str, sent: str | None) -> bool:
        if sent is None:
            return True
        for m in reversed(self.values(thread_id).get("messages", [])):
            if isinstance(m, HumanMessage):
                return message_text(m) == sent
        return False

    # -- course material -----------------------------------------------------------------------------------

    def ingest(self, paths: list[str], course: str | None) -> str:
        """Copy uploaded files under PEDAGRAPH_HOME/uploads and ingest them into `materials`; one-line summary."""
        from pedagraph.memory.ingest import ingest_paths

        if not paths:
            return "No files: choose Markdown, text, PDF or HTML files first."
        course = clean_text(course) or None
        folder = self.settings.home / UPLOAD_DIR / _safe_name(course or "general")
        folder.mkdir(parents=True, exist_ok=True)
        kept = []
        for raw in paths:
            src = Path(raw)
            dest = folder / _safe_name(src.name)
            if src.resolve() != dest.resolve():
                shutil.copyfile(src, dest)
            kept.append(dest)
        try:
            report = ingest_paths(kept, collection="materials", course=course)
        except PedagraphError as exc:
            return f"Error: {redact(exc.one_line())}"
        lines = [report.summary() + (f" (course {course!r})" if course else "")]
        lines += [f"- skipped {p}" for p in report.problems]
        return "\n".join(lines)


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "file"
    return cleaned[:120]
