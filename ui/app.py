"""The Gradio tutoring app: chat with the tutor graph, pick problems, watch the learner model, add course material.

Import this module only after `GRADIO_ANALYTICS_ENABLED=False` and `HF_HUB_OFFLINE=1` are set (the `pedagraph ui`
command does it) so that start-up makes no call to the internet.

Every handler takes the browser session (`gr.BrowserState`: thread id, learner id, course) as its first input
and returns it, so the same endpoints serve the page and `gradio_client`:

* `/restore(session)` -> session, chat, status, panel (runs on page load);
* `/start(session, problem_id)` and `/start_own(session, problem_text, answer)` -> a new thread, streamed opener;
* `/send(session, message)` -> session, chat, message box, status, panel, mastery plot (and, in the page, the
  next-problem button), streamed; a turn is this one event; before any problem is started, the message is
  answered from the ingested course material, with citations;
* `/ingest(files, course, session)` -> one-line summary, session (the course then filters the material the tutor
  answers from); editing the course box alone also sets the session's course;
* `/start_next(session)` -> like `/start`, with the problem suggested for the learner's weakest skill;
* `/clear(session)` (the chat's trash icon) -> a new, empty conversation for the same learner; the old one stays
  in the history of past problems;
* `/past(session, thread_id)` -> one of the learner's earlier problems, read-only.

After the others, the problem picker, the history list, the mastery plot and the suggestion button are
refreshed (`/extras(session)`).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
from pedagraph.prompts import load_prompt
from pedagraph.ui.coach_tab import build_coach_tab
from pedagraph.ui.copilot_tab import build_copilot_tab
from pedagraph.ui.history import past_choices, past_transcript
from pedagraph.ui.lesson_tab import build_planning_tabs
from pedagraph.ui.panel import models_header
from pedagraph.ui.plot import mastery_svg
from pedagraph.ui.service import Reply, SessionView, TutorService, checked_session, clean_text, problem_label
from pedagraph.ui.strategies_tab import build_strategies_tab
from pedagraph.ui.tom_tab import build_tom_tab

from pedagraph.learner import LearnerModel, get_learner_store
from pedagraph.memory.ingest import KINDS
from pedagraph.settings import Settings
from pedagraph.tutoring.suggest import Suggestion, suggest_next
from pedagraph.visible import CHAT_DISPLAY

STORAGE_KEY = "pedagraph-session"
SECRET_FILE = "ui_browser_secret"
MAX_UPLOAD = "20mb"
"""Largest file the upload accepts (the ingest default skips larger ones too)."""
SHOWN_SESSIONS = 4096
"""Sessions whose side panels (learner panel, plot, next-problem button) the app remembers, most recent first."""
THREADS_BESIDE_CHAT = 16
"""Gradio worker threads kept for other events (page loads, side panels, uploads) beside the chat turns."""
QUEUE_POLLS = {"sleep_when_free": 0.005, "progress_update_sleep_when_free": 0.05}
"""How often Gradio's queue looks for a new event when it has none, and for progress to send (Gradio's own: every
1 and 10 ms, 4% of a core on an idle server): a new turn starts at most 5 ms later, a progress bar moves 20 times a
second. Streamed updates are not delayed."""
SERVER_ENV = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "1000"}
"""Gradio settings the app sets unless the environment has them: Gradio's queue rebuilds a summary table of up to
10,000 past events after every event for its monitoring page (off here), about 8 ms per event on a busy server;
once per 1,000 events costs nothing."""

Outputs = tuple[Any, ...]


def browser_secret(home: Path) -> str:
    """Return the key that encrypts the session in localStorage, kept in PEDAGRAPH_HOME so restarts can read it."""
    path = home / SECRET_FILE
    try:
        value = path.read_text(encoding="utf-8").strip()
        if len(value) >= 16:
            return value
    except OSError:
        pass
    value = secrets.token_urlsafe(24)
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value)
    return value


def next_label(suggestion: Suggestion | None) -> str:
    """The next-problem button's text for a suggestion."""
    label = "Next problem for me"
    if suggestion is not None:
        label += f": problem {suggestion.label}" + (f" ({suggestion.skill})" if suggestion.skill else "")
    return label


def _notice(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": f"ℹ️ {text}"}


class Handlers:
    """The app's event handlers over one TutorService (plain functions, easy to call from tests)."""

    def __init__(self, service: TutorService) -> None:
        self.service = service
        self._shown: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._shown_lock = threading.Lock()

    def _remember(self, session: dict[str, str], **shown: Any) -> None:
        """Keep what a session's side panels now show (re-sent unchanged while a reply streams)."""
        key = f"{session['learner_id']}/{session['thread_id']}"  # a thread id alone never shows another's panels
        with self._shown_lock:
            entry = self._shown.pop(key, {})
            self._shown[key] = {**entry, **shown}
            while len(self._shown) > SHOWN_SESSIONS:
                self._shown.popitem(last=False)

    def _as_shown(self, session: dict[str, str]) -> Outputs:
        """The side panels as last shown: the same values again cost Gradio less than skipped outputs."""
        with self._shown_lock:
            entry = self._shown.get(f"{session['learner_id']}/{session['thread_id']}", {})
        return tuple(entry.get(name, gr.skip()) for name in ("panel", "plot", "next"))

    def restore(self, session: Any) -> Outputs:
        """Page load: check the stored session (new ids for a new browser) and bring back its conversation."""
        view = self.service.view(session)
        welcome = f"{load_prompt('ui/welcome').strip()}\n\n{load_prompt('ui/welcome_questions').strip()}"
        chat = view.chat or [{"role": "assistant", "content": welcome}]
        self._remember(view.session, panel=view.panel)
        return view.session, chat, view.status, view.panel

    def _run(
        self,
        session: dict[str, str],
        base: list[dict[str, str]],
        replies: Iterator[Reply],
        pending: dict[str, str] | None = None,
    ) -> Iterator[tuple[list[dict[str, str]], Reply]]:
        """Turn a stream of replies into chat states: the learner's message at once, then the growing reply.

        The stored conversation is read once, after the turn, by the caller (`_finished`).
        """
        shown = [*base, pending] if pending else list(base)
        if pending:
            yield shown, Reply(consumed=True)
        for reply in replies:
            if reply.notice is not None:
                chat = self.service.history(session["thread_id"]) if reply.consumed else list(base)
                yield [*chat, _notice(reply.notice)], reply
                continue
            yield [*shown, {"role": "assistant", "content": reply.text}], reply

    def _finished(self, session: dict[str, str], shown: list[dict[str, str]], last: Reply | None) -> SessionView:
        """What the app shows once a turn ended, from one read of the session (a notice stays on screen)."""
        view = self.service.view(session)
        return view if last is None or last.notice is None else replace(view, chat=shown)

    def start(
        self, session: Any, problem_id: str | None, problem_text: str = "", answer: str = ""
    ) -> Iterator[Outputs]:
        """Start a problem on a new thread (same learner) and stream the tutor's opener."""
        old, _ = checked_session(session)
        new = {**old, "thread_id": checked_session({})[0]["thread_id"]}
        replies = self.service.start(new, problem_id=problem_id, problem_text=problem_text, answer=answer)
        shown: list[dict[str, str]] = []
        last: Reply | None = None
        for chat, reply in self._run(new, [], replies):
            if reply.notice is not None and self.service.phase(new["thread_id"]) == "none":
                # refused or failed before the problem loaded: stay on the current session
                view = self.service.view(old)
                yield old, [*view.chat, _notice(reply.notice)], view.status, view.panel
                return
            shown, last = chat, reply
            yield new, chat, "Starting…", gr.skip()
        view = self._finished(new, shown, last)
        self._remember(new, panel=view.panel)
        yield new, view.chat, view.status, view.panel

    def start_own(self, session: Any, problem_text: str, answer: str) -> Iterator[Outputs]:
        """Start a problem typed by the learner (text and optional answer)."""
        yield from self.start(session, None, problem_text or "", answer or "")

    def send(self, session: Any, message: str) -> Iterator[Outputs]:
        """Send the learner's message and stream the tutor's visible reply; at the end, the panels beside it.

        Outputs: session, chat, message box, status, learner panel, mastery plot, next-problem button (the last
        two from the same read of the learner model as the panel: no second event per turn).
        """
        session, _ = checked_session(session)
        thread_id = session["thread_id"]
        snap = self.service.snapshot(thread_id)  # the conversation and status shown while the reply streams
        base, status = self.service.history(thread_id, snap), self.service.status(thread_id, snap)
        text = message if isinstance(message, str) else ""
        pending = {"role": "user", "content": text.strip()} if text.strip() else None
        box, shown, last = "", base, None
        for chat, reply in self._run(session, base, self.service.send(session, text), pending):
            box, shown, last = ("" if reply.consumed else text), chat, reply
            if reply.done and reply.notice is None:
                continue  # the finished reply: shown below with the stored conversation, in one update
            # the status and the side panels as they were; the panels change at the end of the turn
            yield session, chat, box, status, *self._as_shown(session)
        view = self._finished(session, shown, last)
        plot, label = self._learner_side(view.learner, view.values)
        self._remember(session, panel=view.panel, plot=plot, next=label)
        yield session, view.chat, box, view.status, view.panel, plot, label

    def suggestion(self, session: dict[str, str]) -> Suggestion | None:
        """The problem suggested next for this learner (their weakest skill), never the one now on screen."""
        values = self.service.values(session["thread_id"])
        return self._suggest(get_learner_store().get(session["learner_id"]), values)

    def _suggest(self, learner: LearnerModel, values: dict[str, Any]) -> Suggestion | None:
        current = str((values.get("problem") or {}).get("id") or "")
        return suggest_next(learner, self.service.problems, exclude=[current] if current else [])

    def _learner_side(self, learner: LearnerModel, values: dict[str, Any]) -> tuple[str, str]:
        """The mastery plot and the next-problem button's text for a learner model and a session's state."""
        return mastery_svg(learner), next_label(self._suggest(learner, values))

    def start_next(self, session: Any) -> Iterator[Outputs]:
        """Start the problem suggested for the learner's weakest skill."""
        checked, _ = checked_session(session)
        suggestion = self.suggestion(checked)
        yield from self.start(checked, suggestion.problem.id if suggestion else None)

    def extras(self, session: Any) -> Outputs:
        """The picker on the session's problem, the history list, the mastery plot and the suggestion button."""
        session, _ = checked_session(session)
        values = self.service.values(session["thread_id"])  # one read of the session for all four
        problem = values.get("problem") or {}
        bundled = {p.id for p in self.service.problems}
        picker = gr.update(value=problem["id"]) if problem.get("id") in bundled else gr.skip()
        past = gr.update(choices=past_choices(self.service, session["learner_id"]), value=None)
        plot, label = self._learner_side(get_learner_store().get(session["learner_id"]), values)
        self._remember(session, plot=plot, next=label)
        return picker, past, plot, label

    def clear(self, session: Any) -> Outputs:
        """The chat's trash icon: a new, empty conversation for the same learner (the old one stays in the history)."""
        old, _ = checked_session(session)
        return self.restore({**old, "thread_id": checked_session({})[0]["thread_id"]})

    def past(self, session: Any, thread_id: str | None) -> list[dict[str, str]]:
        """One of the learner's earlier problems, read-only (nothing for a thread that is not theirs)."""
        session, _ = checked_session(session)
        return past_transcript(self.service, session["learner_id"], thread_id)

    def set_course(self, course: str | None, session: Any) -> dict[str, str]:
        """Keep the course typed in the course material box in the session (empty: all ingested material)."""
        session, _ = checked_session(session)
        name = clean_text(course)[:128]
        if name:
            return {**session, "course": name}
        return {k: v for k, v in session.items() if k != "course"}

    def ingest(self, files: list[str] | None, course: str, session: Any) -> Iterator[Outputs]:
        """Ingest uploaded course material into the `materials` memory (its own queue: the chat keeps going)."""
        session, _ = checked_session(session)
        paths = [str(f) for f in files or []]
        if paths:
            yield f"Ingesting {len(paths)} file(s)… (the first run loads the embedding model)", session
        summary = self.service.ingest(paths, course)
        if course and course.strip() and not summary.startswith(("Error", "No files")):
            session = {**session, "course": course.strip()[:128]}
        yield summary, session


def _side(choices: list[tuple[str, str]]) -> SimpleNamespace:
    """The right-hand column: the problem box, the learner panel and plot, past problems, course material."""
    c = SimpleNamespace()
    with gr.Accordion("Problem", open=True):
        c.picker = gr.Dropdown(choices=choices, value=choices[0][1] if choices else None,
                               label="Pick a problem (GSM8K sample)", elem_id="problem-picker")  # fmt: skip
        c.start = gr.Button("Start this problem", variant="primary", elem_id="start-button")
        c.start_next = gr.Button("Next problem for me", elem_id="next-button")
        c.own_text = gr.Textbox(label="Or type your own problem", lines=3, elem_id="own-problem")
        c.own_answer = gr.Textbox(label="Its answer (optional, lets the tutor check you)", elem_id="own-answer")
        c.start_own = gr.Button("Start my problem", elem_id="start-own-button")
    c.panel = gr.Markdown(elem_id="learner-panel")
    c.plot = gr.HTML(elem_id="mastery-plot")
    with gr.Accordion("Past problems", open=False, elem_id="past-problems"):
        c.past_picker = gr.Dropdown(choices=[], label="Reopen an earlier problem (read-only)", elem_id="past-picker")
        c.past_chat = gr.Chatbot(label="Earlier problem (read-only)", height=360, elem_id="past-chat", **CHAT_DISPLAY)
    with gr.Accordion("Course material", open=False):
        c.files = gr.File(label="Upload notes (Markdown, text, PDF, HTML)", file_count="multiple", type="filepath",
                          file_types=sorted(KINDS), elem_id="course-files")  # fmt: skip
        c.course = gr.Textbox(label="Course name", placeholder="e.g. math-5", elem_id="course-name")
        c.ingest = gr.Button("Add to memory", elem_id="ingest-button")
        c.ingest_out = gr.Markdown(elem_id="ingest-summary")
    return c


def _wire_problems(handlers: Handlers, c: SimpleNamespace, view: list[Any], extra: dict[str, Any]) -> None:
    """Starting problems, the trash icon, past problems; each refreshes the picker, history, plot and suggestion."""
    then = {**extra, "api_name": False}
    c.start.click(handlers.start, inputs=[c.session, c.picker], outputs=view, api_name="start",
                  concurrency_id="chat").then(**then)  # fmt: skip
    c.start_own.click(handlers.start_own, inputs=[c.session, c.own_text, c.own_answer], outputs=view,
                      api_name="start_own", concurrency_id="chat").then(**then)  # fmt: skip
    c.start_next.click(handlers.start_next, inputs=[c.session], outputs=view, api_name="start_next",
                       concurrency_id="chat").then(**then)  # fmt: skip
    c.chatbot.clear(handlers.clear, inputs=[c.session], outputs=view, api_name="clear").then(**then)
    c.past_picker.change(handlers.past, inputs=[c.session, c.past_picker], outputs=[c.past_chat], api_name="past",
                         show_progress="hidden")  # fmt: skip
    c.past_chat.clear(lambda: None, outputs=[c.past_picker], api_visibility="private")  # closes the view


def build_app(service: TutorService | None = None, settings: Settings | None = None) -> gr.Blocks:
    """Return the tutoring app (not launched); the tutor graph is compiled once, over the configured checkpointer.

    Chat turns of different sessions run in parallel, up to `settings.ui.concurrency` at once (one session's
    turns queue); a turn mostly waits for the model, so launch the app with at least that many worker threads
    plus `THREADS_BESIDE_CHAT` (`launch` does).
    """
    for name, value in SERVER_ENV.items():
        os.environ.setdefault(name, value)  # read when the queue is made (demo.queue below)
    service = service or TutorService(settings)
    handlers = Handlers(service)
    header, _ = models_header()
    choices = [(problem_label(p), p.id) for p in service.problems]
    with gr.Blocks(title="pedagraph tutor", analytics_enabled=False) as demo:
        session = gr.BrowserState({}, storage_key=STORAGE_KEY, secret=browser_secret(service.settings.home))
        gr.Markdown(header, elem_id="models-header")
        with gr.Tab("Tutor"):
            with gr.Row():
                with gr.Column(scale=3):
                    status = gr.Markdown(elem_id="session-status")
                    chatbot = gr.Chatbot(label="Tutor", height=520, elem_id="tutor-chat", buttons=["copy"],
                                         **CHAT_DISPLAY)
                    with gr.Row():
                        message = gr.Textbox(placeholder="Your answer or question…", show_label=False, scale=5,
                                             lines=1, max_lines=6, elem_id="message-box")  # fmt: skip
                        send = gr.Button("Send", variant="primary", scale=1, elem_id="send-button")
                with gr.Column(scale=2):
                    c = _side(choices)
        build_tom_tab()  # the Theory-of-Mind teacher's sweep (ui/tom_tab.py)
        build_planning_tabs()  # EduPlanner's Lesson planner and the Class view (ui/lesson_tab.py)
        build_copilot_tab()  # a human tutor and a student, two browsers (ui/copilot_tab.py)
        build_coach_tab()  # transcripts -> scores, moments, suggestions (ui/coach_tab.py)
        build_strategies_tab()  # audit the distilled strategy library (ui/strategies_tab.py)
        c.session, c.chatbot = session, chatbot
        view = [session, chatbot, status, c.panel]
        extra = {"fn": handlers.extras, "inputs": [session], "outputs": [c.picker, c.past_picker, c.plot,
                 c.start_next], "api_name": "extras", "show_progress": "hidden"}  # fmt: skip
        demo.load(handlers.restore, inputs=[session], outputs=view, api_name="restore").then(**extra)
        _wire_problems(handlers, c, view, extra)
        # a turn is one event: its last update also refreshes the mastery plot and the next-problem button
        chat_out = [session, chatbot, message, status, c.panel, c.plot, c.start_next]
        for trigger, name in ((message.submit, "send"), (send.click, "send_click")):
            trigger(handlers.send, inputs=[session, message], outputs=chat_out, api_name=name,
                    api_visibility="public" if name == "send" else "private", show_progress="minimal",
                    concurrency_id="chat")  # fmt: skip
        c.course.change(handlers.set_course, inputs=[c.course, session], outputs=[session], api_name="set_course",
                        api_visibility="private", show_progress="hidden", trigger_mode="always_last",
                        concurrency_id="course")  # fmt: skip
        c.ingest.click(handlers.ingest, inputs=[c.files, c.course, session], outputs=[c.ingest_out, session],
                       api_name="ingest", concurrency_limit=1, concurrency_id="ingest")  # fmt: skip
    demo.queue(default_concurrency_limit=service.settings.ui.concurrency)
    queue = getattr(demo, "_queue", None)  # no public setting for these (Gradio 6): left alone if Gradio renames them
    for name, seconds in QUEUE_POLLS.items():
        if isinstance(getattr(queue, name, None), float):
            setattr(queue, name, max(getattr(queue, name), seconds))
    return demo


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    share: bool = False,
    announce: Callable[[str, str | None], None] | None = None,
) -> None:
    """Build the app and serve it until interrupted; `announce(local_url, share_url)` is called once it listens."""
    service = TutorService()
    demo = build_app(service)
    _, local_url, share_url = demo.launch(
        max_threads=service.settings.ui.concurrency + THREADS_BESIDE_CHAT,  # a streaming turn holds a thread
        server_name=host,
        server_port=port,
        auth=auth,
        share=share,
        prevent_thread_lock=True,
        quiet=True,
        footer_links=["api"],
        max_file_size=MAX_UPLOAD,
    )
    if announce is not None:
        announce(local_url, share_url)
    try:
        demo.block_thread()
    finally:
        demo.close()
