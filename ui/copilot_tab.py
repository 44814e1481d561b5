"""The "Copilot" tabs: a teacher tutors a learner of their class, each in their own app, joined server-side.

The teacher (teachers' app) opens a session on a problem for a learner of their class, or with a simulated
student; the learner (learners' app) joins the session opened for them with one click: no code is typed or shown
to them. Both views poll the one checkpointed copilot thread (`gr.Timer`). The tutor sees the suggestion with its
Bridge labels and the send / edit / another / ignore controls; the learner sees the conversation and a message
box, never a suggestion. The learner's messages and evidence go to their own learner record (`user:NAME`).

`CopilotRooms` is the Gradio-free back end (one compiled copilot graph over a `SqliteSaver` in
`PEDAGRAPH_HOME/copilot.sqlite`; a table maps codes to their problem, student mode, teacher and learner; only the
room's teacher (or an admin) acts as its tutor). Teachers' endpoints: `/copilot_open(problem_id, simulated,
learner)`, `/copilot_send`, `/copilot_regenerate`, `/copilot_ignore` (each `(suggestion, own, override,
strategy)`, on the room of the caller's browser session), `/copilot_poll()`; learners': `/copilot_join()`,
`/copilot_student(text)`, `/copilot_poll()`.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import gradio as gr
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command
from pedagraph.prompts import load_prompt
from pedagraph.ui.identity import Refused, endpoint
from pedagraph.ui.service import MAX_MESSAGE_CHARS, clean_text, problem_label

from pedagraph.accounts import Account, get_account_store, learner_id_of
from pedagraph.errors import DataError, PedagraphError
from pedagraph.messages import message_text
from pedagraph.methods.copilot.suggestions import parse_choice
from pedagraph.problems import bundled_problems, get_problem
from pedagraph.settings import Settings, ensure_home, load_settings
from pedagraph.taxonomy import Strategy, teacher_label, teacher_words
from pedagraph.visible import CHAT_DISPLAY

__all__ = ["CopilotRooms", "RoomView", "build_copilot_tab"]

_CODE = re.compile(r"[A-Z2-9]{6}")
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
POLL_SECONDS = 1.0


@dataclass
class RoomView:
    """What one side of a session shows: the chat, a status line and (tutor only) the suggestion panel."""

    chat: list[dict[str, str]] = field(default_factory=list)
    status: str = ""
    suggestion: str = ""
    suggestion_key: str = ""
    labels: str = ""
    warning: str = ""


class CopilotRooms:
    """Copilot sessions for the app: one compiled graph, a sqlite checkpointer, a code per session."""

    def __init__(self, settings: Settings | None = None) -> None:
        from pedagraph.graphs.copilot import build_graph

        self.settings = settings or load_settings()
        home = ensure_home(self.settings)
        self.conn = sqlite3.connect(home / "copilot.sqlite", check_same_thread=False)
        self.saver = SqliteSaver(self.conn)
        self.saver.setup()
        self.graph = build_graph(checkpointer=self.saver)
        with self.saver.lock:
            self.conn.execute("CREATE TABLE IF NOT EXISTS copilot_rooms (code TEXT PRIMARY KEY, problem_id TEXT, "
                              "simulated INTEGER)")  # fmt: skip
            have = {row[1] for row in self.conn.execute("PRAGMA table_info(copilot_rooms)")}
            for column in ("teacher", "student"):  # rooms of earlier versions belong to nobody
                if column not in have:
                    self.conn.execute(f"ALTER TABLE copilot_rooms ADD COLUMN {column} TEXT")
            self.conn.commit()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def close(self) -> None:
        """Close the checkpoint database."""
        with self.saver.lock:
            self.conn.close()

    def _lock(self, code: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(code, threading.Lock())

    @staticmethod
    def _config(code: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": f"copilot-{code}"}}

    def _row(self, code: str) -> tuple[Any, ...] | None:
        with self.saver.lock:
            return self.conn.execute("SELECT simulated, teacher, student FROM copilot_rooms WHERE code = ?",
                                     (code,)).fetchone()  # fmt: skip

    def _room(self, code: Any, tutor: Account | None = None) -> tuple[str, bool]:
        """The checked code and whether its student is simulated; with `tutor`, only a room they opened.

        DataError for an unknown code, the same one line for a room of another teacher (nothing tells them apart).
        """
        text = str(code or "").strip().upper()
        if not _CODE.fullmatch(text):
            raise DataError("a session code is 6 letters and digits, as the tutor's screen shows it")
        row = self._row(text)
        if row is None or (tutor is not None and tutor.role != "admin" and row[1] != tutor.name):
            raise DataError(f"no copilot session {text} of yours", hint="start one as the tutor")
        return text, bool(row[0])

    def student_room(self, student: Account) -> str:
        """The code of the latest session a teacher opened for this learner (DataError when there is none)."""
        with self.saver.lock:
            row = self.conn.execute("SELECT code FROM copilot_rooms WHERE student = ? ORDER BY rowid DESC LIMIT 1",
                                    (student.name,)).fetchone()  # fmt: skip
        if row is None:
            raise DataError("no Copilot session is open for you", hint="your teacher starts one for you")
        return str(row[0])

    def learner_of(self, code: str) -> str:
        """The learner id a room's student is recorded under: the learner's own account, or the room's simulation."""
        row = self._row(code)
        student = row[2] if row else None
        return learner_id_of(student) if student else f"copilot-student-{code.lower()}"

    def _context(self, code: str, simulated: bool) -> Any:
        from pedagraph.graphs.copilot import Context

        return Context(learner_id=self.learner_of(code), student_mode="simulated" if simulated else "human",
                       student_simulator="probabilistic" if simulated else None, max_turns=20)  # fmt: skip

    def _run(self, code: str, simulated: bool, inp: Any) -> None:
        with self._lock(code):
            self.graph.invoke(inp, self._config(code), context=self._context(code, simulated))

    def open(self, problem_id: str, simulated: bool = False, teacher: str | None = None,
             student: str | None = None) -> str:  # fmt: skip
        """Start a session on a bundled problem; its code (the copilot waits with the first suggestion).

        `teacher` owns the room (only they act as its tutor); `student` is the learner account who joins it
        (none with a simulated student).
        """
        get_problem(problem_id)  # an unknown id is refused before a room exists
        code = "".join(secrets.choice(_ALPHABET) for _ in range(6))
        with self.saver.lock:
            self.conn.execute("INSERT INTO copilot_rooms (code, problem_id, simulated, teacher, student) VALUES "
                              "(?, ?, ?, ?, ?)", (code, problem_id, int(simulated), teacher,
                                                  None if simulated else student))  # fmt: skip
            self.conn.commit()
        self._run(code, simulated, {"problem_id": problem_id})
        return code

    def counts(self) -> dict[str, int]:
        """Rooms and checkpoints (tests compare them before and after a refused call)."""
        with self.saver.lock:
            return {"rooms": self.conn.execute("SELECT COUNT(*) FROM copilot_rooms").fetchone()[0],
                    "checkpoints": self.conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]}  # fmt: skip

    def _pending(self, code: str) -> dict[str, Any] | None:
        snap = self.graph.get_state(self._config(code))
        return snap.interrupts[0].value if snap.interrupts else None

    def tutor_act(self, code: Any, action: str, text: str = "", override: bool = False,
                  strategy: str | None = None, tutor: Account | None = None) -> None:  # fmt: skip
        """The tutor's choice on the current suggestion (DataError, one line, when it is not the tutor's turn)."""
        code, simulated = self._room(code, tutor)
        choice = parse_choice({"action": action, "text": clean_text(text), "override": bool(override),
                               "strategy": strategy or None})  # fmt: skip
        pending = self._pending(code)
        if not pending or pending.get("type") != "await_tutor":
            raise DataError("it is the student's turn: wait for their message")
        self._run(code, simulated, Command(resume=choice.model_dump()))

    def student_say(self, code: Any, text: Any) -> None:
        """The student's message (DataError, one line, when empty, too long, or not the student's turn)."""
        code, simulated = self._room(code)
        message = clean_text(text)
        if not message:
            raise DataError("write a message first")
        if len(message) > MAX_MESSAGE_CHARS:
            raise DataError(f"the message has {len(message)} characters; the limit is {MAX_MESSAGE_CHARS}")
        pending = self._pending(code)
        if simulated or not pending or pending.get("type") != "await_learner":
            raise DataError("wait for the tutor's message")
        self._run(code, simulated, Command(resume=message))

    def view(self, code: Any, role: str, tutor: Account | None = None) -> RoomView:
        """What the tutor's or the student's screen shows now (only the tutor's carries the suggestion)."""
        code, _ = self._room(code, tutor)
        values = self.graph.get_state(self._config(code)).values or {}
        mine = AIMessage if role == "tutor" else HumanMessage  # each side sees its own messages on the right
        chat = [{"role": "user" if isinstance(m, mine) else "assistant", "content": message_text(m)}
                for m in values.get("messages", []) if isinstance(m, HumanMessage | AIMessage)]  # fmt: skip
        pending = self._pending(code)
        kind = pending.get("type") if pending else None
        done = kind is None
        if role != "tutor":
            status = "Finished." if done else "Your turn." if kind == "await_learner" else "The tutor is writing…"
            return RoomView(chat=chat, status=status)
        status = f"Session code **{code}** · " + ("finished" if done else "your turn" if kind == "await_tutor"
                                                   else "waiting for the student")  # fmt: skip
        view = RoomView(chat=chat, status=status)
        if kind == "await_tutor" and pending and pending.get("suggestion"):
            s = pending["suggestion"]
            view.suggestion, view.suggestion_key = s["text"], f"{s['turn']}.{s['n']}"
            view.labels = _labels_markdown(s)
            warning = pending.get("warning") or {}
            if warning:
                view.warning = f"⚠️ {warning.get('message', '')}" + (
                    " — tick “send anyway” to send it as written (it is logged)." if warning.get("kind") == "reveal"
                    else "")  # fmt: skip
        return view


def _brief_markdown(brief: dict[str, Any]) -> str:
    """The learner-model view for the tutor: mastery per skill, then misconceptions in a teacher's words."""
    from html import escape

    mastery = brief.get("mastery") or {}
    parts = [f"{escape(str(k))} {'unknown' if p is None else f'{round(p * 100)}%'}" for k, p in mastery.items()]
    for m in brief.get("misconceptions") or []:
        parts.append(f"in {escape(str(m.get('skill', '')))}, {teacher_label('error', m.get('error_type'))}: "
                     f"{escape(str(m.get('description', '')))}")  # fmt: skip
    return " · ".join(parts) or "nothing recorded yet"


def _labels_markdown(s: dict[str, Any]) -> str:
    """The tutor's labels of a suggestion in a teacher's words, each research label on hover."""
    lab = s["labels"]
    gate = s.get("gate") or {}

    def said(kind: str, value: str) -> str:
        return teacher_label(kind, value) if teacher_words(kind, value) else ""

    answer = f'their answer: <abbr title="CLASS student response">{lab["class_category"]}</abbr>'
    action = said("action", lab["class_action"])
    plan = (said("strategy", lab["strategy"]), said("intention", lab["intention"]))
    parts = [f"**Suggestion {s['n']}**", f"what went wrong: {said('error', lab['error_type'])}",
             " ".join(x for x in ("next:", *plan) if x),
             f"the move {said('move', lab['move'])}", f"{answer}, so {action}" if action else answer]  # fmt: skip
    lines = [" · ".join(parts),
             f"What the learner model says: {_brief_markdown(s.get('learner') or {})}"]  # fmt: skip
    if gate.get("action"):
        reason = str(gate.get("reason") or "").replace("_", " ")
        lines.append(f"The answer check {gate['action']} the draft ({reason}).")
    if s.get("asked_strategy") and not s.get("strategy_met", True):
        lines.append(f"No suggestion takes “{teacher_words('strategy', s['asked_strategy'])}” for this turn: "
                     "here is another one.")  # fmt: skip
    if s.get("repeated"):
        lines.append("No other suggestion for this turn: write your own, or send this one.")
    return "\n\n".join(lines)


# -- the tab -----------------------------------------------------------------------------------------------------

_ROOMS: dict[Any, CopilotRooms] = {}
_ROOMS_LOCK = threading.Lock()


def _rooms() -> CopilotRooms:
    """The rooms of the configured PEDAGRAPH_HOME (one instance per home)."""
    settings = load_settings()
    key = settings.home.resolve()
    with _ROOMS_LOCK:
        if key not in _ROOMS:
            _ROOMS[key] = CopilotRooms(settings)
        return _ROOMS[key]


def _error(exc: PedagraphError) -> str:
    return f"⚠️ {exc.one_line()}"


def _screen(code: str, role: str, shown: str, tutor: Account | None = None) -> tuple[Any, ...]:
    """Tutor chat, labels, suggestion, warning, status, shown suggestion key (the tutor's screen)."""
    v = _rooms().view(code, role, tutor)
    fresh = v.suggestion_key != shown
    return v.chat, v.labels, v.suggestion if fresh else gr.skip(), v.warning, v.status, v.suggestion_key


def _student_of(teacher: Account, name: str | None) -> str | None:
    """The learner a teacher opens a room for: one of their class (Refused otherwise), none for a simulated one."""
    if not name:
        return None
    if not get_account_store().teaches(teacher, name):
        raise Refused(f"{name!r} is not a learner of your class")
    return name


@endpoint("teacher")
def open_room(teacher: Account, problem_id: str, simulated: bool, student: str | None) -> tuple[Any, ...]:
    """Open a room as its tutor: on a bundled problem, for a learner of the class or a simulated student."""
    name = None if simulated else _student_of(teacher, student)
    if not simulated and name is None:
        raise Refused("pick a learner of your class, or tick Simulated student")
    code = _rooms().open(problem_id, bool(simulated), teacher=teacher.name, student=name)
    return (code, gr.Column(visible=True), gr.Timer(active=True), *_screen(code, "tutor", "", teacher))


@endpoint("teacher")
def poll_tutor(teacher: Account, code: str, shown: str) -> tuple[Any, ...]:
    """The tutor's screen now (nothing before a room is open)."""
    if not code:
        return tuple(gr.skip() for _ in range(6))
    return _screen(code, "tutor", shown, teacher)


def _tutor(action: str) -> Any:
    def act(teacher: Account, code: str, shown: str, suggestion: str, own: str, override: bool, strategy: str
            ) -> tuple[Any, ...]:  # fmt: skip
        kind, text = action, ""
        if action == "send":
            current = _rooms().view(code, "tutor", teacher).suggestion if code else ""
            kind, text = ("send", "") if suggestion.strip() == current.strip() else ("edit", suggestion)
        elif action == "ignore":
            text = own
        _rooms()._room(code, teacher)  # a room of another teacher is refused before anything runs
        try:
            _rooms().tutor_act(code, kind, text, override, strategy if action == "regenerate" else None, teacher)
        except PedagraphError as exc:
            return (*([gr.skip()] * 4), _error(exc), shown, gr.skip(), gr.skip())
        return (*_screen(code, "tutor", shown, teacher), "" if action == "ignore" else gr.skip(), False)

    act.__name__ = f"copilot_{action}"
    return endpoint("teacher")(act)


def _student_view(student: Account) -> tuple[Any, ...]:
    v = _rooms().view(_rooms().student_room(student), "student")
    return v.chat, v.status


@endpoint("learner")
def join_room(student: Account) -> tuple[Any, ...]:
    """The learner's side of the session their teacher opened for them (no code: the server knows it)."""
    return (gr.Column(visible=True), gr.Timer(active=True), *_student_view(student))


@endpoint("learner")
def poll_student(student: Account) -> tuple[Any, ...]:
    """The learner's screen now."""
    return _student_view(student)


@endpoint("learner")
def student_say(student: Account, text: str) -> tuple[Any, ...]:
    """The learner's message into their session."""
    code = _rooms().student_room(student)
    try:
        _rooms().student_say(code, text)
    except PedagraphError as exc:
        return gr.skip(), _error(exc), gr.skip()
    v = _rooms().view(code, "student")
    return v.chat, v.status, ""


def build_copilot_tab(learner_choices: Any = None) -> SimpleNamespace:
    """Add the teachers' "Copilot" tab (a tutor's view of a room) to the gr.Blocks being built."""
    choices = [(problem_label(p), p.id) for p in bundled_problems()]
    t = SimpleNamespace()
    with gr.Tab("Copilot"):
        gr.Markdown(load_prompt("ui/copilot_intro"))
        code, shown = gr.State(""), gr.State("")
        with gr.Row():
            problem = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Problem", scale=3)
            t.student = gr.Dropdown([], label="Learner (from your class)", scale=2, elem_id="copilot-learner",
                                    allow_custom_value=True)
            simulated = gr.Checkbox(label="Simulated student", value=False, scale=1, elem_id="copilot-simulated")
            start = gr.Button("Start as tutor", variant="primary", scale=1, elem_id="copilot-open")
        status = gr.Markdown(elem_id="copilot-status")
        with gr.Column(visible=False) as tutor_col:
            tutor_chat = gr.Chatbot(label="Conversation", height=360, elem_id="copilot-tutor-chat", **CHAT_DISPLAY)
            with gr.Group(elem_id="copilot-panel"):
                labels = gr.Markdown(elem_id="copilot-labels")
                suggestion = gr.Textbox(label="Suggestion (edit it before sending if you like)", lines=3,
                                        elem_id="copilot-suggestion")  # fmt: skip
                warning = gr.Markdown(elem_id="copilot-warning")
                with gr.Row():
                    send = gr.Button("Send", variant="primary", elem_id="copilot-send")
                    another = gr.Button("Another suggestion", elem_id="copilot-regenerate")
                    strategy = gr.Dropdown([("any strategy", ""), *[(teacher_words("strategy", x.value), x.value)
                                            for x in Strategy if x != Strategy.OTHER]], value="",
                                           label="with strategy", elem_id="copilot-strategy")  # fmt: skip
                    override = gr.Checkbox(label="Send anyway", value=False, elem_id="copilot-override")
                with gr.Row():
                    own = gr.Textbox(label="Or ignore it and write your own", scale=4, elem_id="copilot-own")
                    ignore = gr.Button("Send mine", scale=1, elem_id="copilot-ignore")
        timer = gr.Timer(POLL_SECONDS, active=False)
        screen = [tutor_chat, labels, suggestion, warning, status, shown]
        start.click(open_room, inputs=[problem, simulated, t.student], outputs=[code, tutor_col, timer, *screen],
                    api_name="copilot_open", concurrency_id="copilot")  # fmt: skip
        timer.tick(poll_tutor, inputs=[code, shown], outputs=screen, api_name="copilot_poll",
                   show_progress="hidden", concurrency_id="copilot_poll", concurrency_limit=None)  # fmt: skip
        act_in = [code, shown, suggestion, own, override, strategy]
        for button, action in ((send, "send"), (another, "regenerate"), (ignore, "ignore")):
            button.click(_tutor(action), inputs=act_in, outputs=[*screen, own, override],
                         api_name=f"copilot_{action}", concurrency_id="copilot")  # fmt: skip
    return t


def build_student_tab() -> None:
    """Add the learners' "Copilot" tab: join the session a teacher opened for them, and chat in it."""
    with gr.Tab("Copilot"):
        gr.Markdown(load_prompt("ui/copilot_student_intro"))
        join = gr.Button("Join my tutor's session", variant="primary", elem_id="copilot-join")
        status = gr.Markdown(elem_id="copilot-status")
        with gr.Column(visible=False) as student_col:
            student_chat = gr.Chatbot(label="Your tutor", height=360, elem_id="copilot-student-chat", **CHAT_DISPLAY)
            with gr.Row():
                student_box = gr.Textbox(show_label=False, placeholder="Your answer or question…", scale=5,
                                         elem_id="copilot-student-box")  # fmt: skip
                student_send = gr.Button("Send", variant="primary", scale=1, elem_id="copilot-student-send")
        timer = gr.Timer(POLL_SECONDS, active=False)
        join.click(join_room, inputs=[], outputs=[student_col, timer, student_chat, status], api_name="copilot_join",
                   concurrency_id="copilot")  # fmt: skip
        timer.tick(poll_student, inputs=[], outputs=[student_chat, status], api_name="copilot_poll",
                   show_progress="hidden", concurrency_id="copilot_poll", concurrency_limit=None)  # fmt: skip
        for trigger, name in ((student_send.click, "copilot_student"), (student_box.submit, False)):
            trigger(student_say, inputs=[student_box], outputs=[student_chat, status, student_box],
                    api_name=name, concurrency_id="copilot")  # fmt: skip
