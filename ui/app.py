"""The learners' app: chat with the tutor, pick problems, watch your own learner model, reopen past problems.

Import this module only after `GRADIO_ANALYTICS_ENABLED=False` and `HF_HUB_OFFLINE=1` are set (the `pedagraph ui`
command does it) so that start-up makes no call to the internet. Served at `/` by `ui/server.py`, behind a login.

Every endpoint acts for the logged-in learner (the server keeps which conversation their app shows; the browser
sends no learner id or thread id), so the same endpoints serve the page and `gradio_client.Client(url, auth=...)`:

* `/restore()` -> chat, status, panel (runs on page load);
* `/start(problem_id)` and `/start_own(problem_text, answer)` -> a new conversation, streamed opener;
* `/send(message)` -> chat, message box, status, panel, mastery plot, next-problem button, streamed; a turn is
  this one event; before any problem is started, the message is answered from the class's course material;
* `/start_next()` -> like `/start`, with the problem suggested for the learner's weakest skill;
* `/clear()` (the chat's trash icon) -> a new, empty conversation; the old one stays in the past problems;
* `/past(key)` -> one of the learner's earlier problems, read-only (keys come from the past-problems list);
* `/copilot_join()`, `/copilot_student(text)`, `/copilot_poll()`: the Copilot session a teacher opened for them;
* `/notes_list()`, `/notes_add(text)`, `/notes_delete(key)` -> the learner's private notes (only their own tutor
  quotes them; `key` comes from the notes list).

After the others, the problem picker, the history list, the mastery plot and the suggestion button are
refreshed (`/extras()`).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import gradio as gr
from pedagraph.prompts import load_prompt
from pedagraph.ui.copilot_tab import build_student_tab
from pedagraph.ui.history import past_choices, past_transcript
from pedagraph.ui.identity import Refused, endpoint
from pedagraph.ui.panel import learner_header
from pedagraph.ui.plot import mastery_svg
from pedagraph.ui.service import Reply, SessionView, TutorService, new_session, problem_label

from pedagraph.accounts import Account
from pedagraph.learner import LearnerModel, get_learner_store
from pedagraph.memory import get_memory
from pedagraph.memory.tools import add_note, delete_note, list_notes
from pedagraph.methods.tutor.suggest import Suggestion, suggest_next
from pedagraph.settings import Settings
from pedagraph.visible import CHAT_DISPLAY

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
learner = endpoint("learner")


def next_label(suggestion: Suggestion | None, answered: bool = True) -> str:
    """The next-problem button's text for a suggestion (named only once the learner has answered something)."""
    label = "Next problem for me"
    if suggestion is not None and answered:
        label += f": problem {suggestion.label}" + (f" ({suggestion.skill})" if suggestion.skill else "")
    return label


def _notice(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": f"ℹ️ {text}"}


class Handlers:
    """The learners' app's event handlers over one TutorService; each takes the caller's account first.

    The session (which thread the learner's app shows) is kept on the server per account: the browser sends no id.
    """

    def __init__(self, service: TutorService) -> None:
        self.service = service
        self._shown: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._shown_lock = threading.Lock()

    def session(self, account: Account) -> dict[str, str]:
        """The account's current session: its learner id, the thread its app shows, its class's course."""
        learner_id = account.learner_id
        thread = self.service.past.current(learner_id)
        if thread is None:
            thread = new_session()["thread_id"]
            self.service.past.set_current(learner_id, thread)
        session = {"thread_id": thread, "learner_id": learner_id}
        if account.class_code:
            session["course"] = account.class_code
        return session

    def _new_thread(self, session: dict[str, str]) -> dict[str, str]:
        return {**session, "thread_id": new_session()["thread_id"]}

    def _remember(self, session: dict[str, str], **shown: Any) -> None:
        """Keep what a session's side panels now show (re-sent unchanged while a reply streams)."""
        key = f"{session['learner_id']}/{session['thread_id']}"
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

    def restore(self, account: Account) -> Outputs:
        """Page load: bring back the account's conversation (a welcome for a new one)."""
        return self._restore(self.session(account))

    def _restore(self, session: dict[str, str]) -> Outputs:
        view = self.service.view(session)
        welcome = f"{load_prompt('ui/welcome').strip()}\n\n{load_prompt('ui/welcome_questions').strip()}"
        chat = view.chat or [{"role": "assistant", "content": welcome}]
        self._remember(view.session, panel=view.panel)
        return chat, view.status, view.panel

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
        self, account: Account, problem_id: str | None, problem_text: str = "", answer: str = ""
    ) -> Iterator[Outputs]:
        """Start a problem on a new thread (same learner) and stream the tutor's opener."""
        old = self.session(account)
        new = self._new_thread(old)
        replies = self.service.start(new, problem_id=problem_id, problem_text=problem_text, answer=answer)
        shown: list[dict[str, str]] = []
        last: Reply | None = None
        for chat, reply in self._run(new, [], replies):
            if reply.notice is not None and self.service.phase(new["thread_id"]) == "none":
                # refused or failed before the problem loaded: stay on the current session
                view = self.service.view(old)
                yield [*view.chat, _notice(reply.notice)], view.status, view.panel
                return
            if self.service.past.current(old["learner_id"]) != new["thread_id"]:
                self.service.past.set_current(old["learner_id"], new["thread_id"])
            shown, last = chat, reply
            yield chat, "Starting…", gr.skip()
        view = self._finished(new, shown, last)
        self._remember(new, panel=view.panel)
        yield view.chat, view.status, view.panel

    def start_own(self, account: Account, problem_text: str, answer: str) -> Iterator[Outputs]:
        """Start a problem typed by the learner (text and optional answer)."""
        yield from self.start(account, None, problem_text or "", answer or "")

    def send(self, account: Account, message: str) -> Iterator[Outputs]:
        """Send the learner's message and stream the tutor's visible reply; at the end, the panels beside it.

        Outputs: chat, message box, status, learner panel, mastery plot, next-problem button (the last two from
        the same read of the learner model as the panel: no second event per turn).
        """
        session = self.session(account)
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
            yield chat, box, status, *self._as_shown(session)
        view = self._finished(session, shown, last)
        plot, label = self._learner_side(view.learner, view.values)
        self._remember(session, panel=view.panel, plot=plot, next=label)
        yield view.chat, box, view.status, view.panel, plot, label

    def suggestion(self, session: dict[str, str]) -> Suggestion | None:
        """The problem suggested next for this learner (their weakest skill), never the one now on screen."""
        values = self.service.values(session["thread_id"])
        return self._suggest(get_learner_store().get(session["learner_id"]), values)

    def _suggest(self, learner: LearnerModel, values: dict[str, Any]) -> Suggestion | None:
        current = str((values.get("problem") or {}).get("id") or "")
        return suggest_next(learner, self.service.problems, exclude=[current] if current else [])

    def _learner_side(self, learner: LearnerModel, values: dict[str, Any]) -> tuple[str, str]:
        """The mastery plot and the next-problem button's text for a learner model and a session's state."""
        return mastery_svg(learner), next_label(self._suggest(learner, values), answered=bool(learner.skills))

    def start_next(self, account: Account) -> Iterator[Outputs]:
        """Start the problem suggested for the learner's weakest skill."""
        suggestion = self.suggestion(self.session(account))
        yield from self.start(account, suggestion.problem.id if suggestion else None)

    def extras(self, account: Account) -> Outputs:
        """The picker on the session's problem, the history list, the mastery plot and the suggestion button."""
        session = self.session(account)
        values = self.service.values(session["thread_id"])  # one read of the session for all four
        problem = values.get("problem") or {}
        bundled = {p.id for p in self.service.problems}
        picker = gr.update(value=problem["id"]) if problem.get("id") in bundled else gr.skip()
        past = gr.update(choices=past_choices(self.service, session["learner_id"]), value=None)
        plot, label = self._learner_side(get_learner_store().get(session["learner_id"]), values)
        self._remember(session, plot=plot, next=label)
        return picker, past, plot, label

    def clear(self, account: Account) -> Outputs:
        """The chat's trash icon: a new, empty conversation for the same learner (the old one stays in the history)."""
        new = self._new_thread(self.session(account))
        self.service.past.set_current(new["learner_id"], new["thread_id"])
        return self._restore(new)

    def past(self, account: Account, key: str | None) -> list[dict[str, str]]:
        """One of the learner's earlier problems, read-only (nothing for a key that is not theirs)."""
        return past_transcript(self.service, account.learner_id, key)

    # -- private notes (collection `notes`, owned by the learner; only their own tutor searches them)

    def notes_list(self, account: Account) -> Outputs:
        """The learner's notes as a list and as the delete picker's choices (nobody else's)."""
        notes = list_notes(get_memory(), account.learner_id)
        shown = "\n".join(f"{i}. {n.text}" for i, n in enumerate(notes, 1))  # plain text: nothing renders
        choices = [(f"{i}. {n.text[:60]}", n.id) for i, n in enumerate(notes, 1)]
        return shown or "No notes yet.", gr.update(choices=choices, value=None)

    def notes_add(self, account: Account, text: str) -> Outputs:
        """Keep a new private note; the list again and an empty box."""
        add_note(get_memory(), account.learner_id, text)
        return *self.notes_list(account), ""

    def notes_delete(self, account: Account, key: str | None) -> Outputs:
        """Delete one of the learner's own notes (a key that is not theirs deletes nothing)."""
        if key and not delete_note(get_memory(), account.learner_id, str(key)):
            raise Refused("that note is not one of yours")
        return self.notes_list(account)


def _side(choices: list[tuple[str, str]]) -> SimpleNamespace:
    """The right-hand column: the problem box, the learner panel and plot, past problems."""
    c = SimpleNamespace()
    with gr.Accordion("Problem", open=True):
        c.picker = gr.Dropdown(choices=choices, value=choices[0][1] if choices else None,
                               label="Pick a problem", elem_id="problem-picker")  # fmt: skip
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
    return c


def _wire_problems(handlers: Handlers, c: SimpleNamespace, view: list[Any], extra: dict[str, Any]) -> None:
    """Starting problems, the trash icon, past problems; each refreshes the picker, history, plot and suggestion."""
    then = {**extra, "api_name": False}
    c.start.click(learner(handlers.start), inputs=[c.picker], outputs=view, api_name="start",
                  concurrency_id="chat").then(**then)  # fmt: skip
    c.start_own.click(learner(handlers.start_own), inputs=[c.own_text, c.own_answer], outputs=view,
                      api_name="start_own", concurrency_id="chat").then(**then)  # fmt: skip
    c.start_next.click(learner(handlers.start_next), inputs=[], outputs=view, api_name="start_next",
                       concurrency_id="chat").then(**then)  # fmt: skip
    c.chatbot.clear(learner(handlers.clear), inputs=[], outputs=view, api_name="clear").then(**then)
    c.past_picker.change(learner(handlers.past), inputs=[c.past_picker], outputs=[c.past_chat], api_name="past",
                         show_progress="hidden")  # fmt: skip
    c.past_chat.clear(lambda: None, outputs=[c.past_picker], api_visibility="private")  # closes the view


def _notes_tab(handlers: Handlers) -> None:
    """My notes: the learner's private notes, which only their own tutor quotes when they ask a question."""
    with gr.Tab("My notes") as tab:
        gr.Markdown("Keep your own notes here. Only you and your tutor can read them: when you ask a question, "
                    "the tutor may quote them back to you.")  # fmt: skip
        shown = gr.Textbox(label="Your notes", lines=6, interactive=False, elem_id="notes-list")
        text = gr.Textbox(label="A new note", lines=3, max_lines=12, elem_id="note-box")
        add = gr.Button("Keep this note", variant="primary", elem_id="note-add")
        picker = gr.Dropdown(choices=[], label="Delete a note", elem_id="note-picker")
        delete = gr.Button("Delete it", elem_id="note-delete")
    add.click(learner(handlers.notes_add), inputs=[text], outputs=[shown, picker, text], api_name="notes_add")
    delete.click(learner(handlers.notes_delete), inputs=[picker], outputs=[shown, picker], api_name="notes_delete")
    tab.select(learner(handlers.notes_list), inputs=[], outputs=[shown, picker], api_name="notes_list",
               show_progress="hidden")  # fmt: skip


def tune_queue(demo: gr.Blocks, concurrency: int) -> None:
    """Gradio's queue for a busy server: `concurrency` events at once, slower polling when idle."""
    for name, value in SERVER_ENV.items():
        os.environ.setdefault(name, value)  # read when the queue is made (demo.queue below)
    demo.queue(default_concurrency_limit=concurrency)
    queue = getattr(demo, "_queue", None)  # no public setting for these (Gradio 6): left alone if Gradio renames them
    for name, seconds in QUEUE_POLLS.items():
        if isinstance(getattr(queue, name, None), float):
            setattr(queue, name, max(getattr(queue, name), seconds))


def build_app(service: TutorService | None = None, settings: Settings | None = None) -> gr.Blocks:
    """Return the learners' app (not launched): Tutor (problems, course questions, past problems) and Copilot.

    Every endpoint acts for the logged-in learner (`ui/identity.py`). Chat turns of different learners run in
    parallel, up to `settings.ui.concurrency` at once (one learner's turns queue); a turn mostly waits for the
    model, so serve the app with at least that many worker threads plus `THREADS_BESIDE_CHAT` (`ui/server.py`
    does).
    """
    service = service or TutorService(settings)
    handlers = Handlers(service)
    choices = [(problem_label(p), p.id) for p in service.problems]
    with gr.Blocks(title="pedagraph tutor", analytics_enabled=False) as demo:
        gr.Markdown(learner_header(), elem_id="models-header")
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
        _notes_tab(handlers)
        build_student_tab()  # join a Copilot session a teacher opened for this learner (ui/copilot_tab.py)
        c.chatbot = chatbot
        view = [chatbot, status, c.panel]
        extra = {"fn": learner(handlers.extras), "inputs": [], "outputs": [c.picker, c.past_picker, c.plot,
                 c.start_next], "api_name": "extras", "show_progress": "hidden"}  # fmt: skip
        demo.load(learner(handlers.restore), inputs=[], outputs=view, api_name="restore").then(**extra)
        _wire_problems(handlers, c, view, extra)
        # a turn is one event: its last update also refreshes the mastery plot and the next-problem button
        chat_out = [chatbot, message, status, c.panel, c.plot, c.start_next]
        for trigger, name in ((message.submit, "send"), (send.click, "send_click")):
            trigger(learner(handlers.send), inputs=[message], outputs=chat_out, api_name=name,
                    api_visibility="public" if name == "send" else "private", show_progress="minimal",
                    concurrency_id="chat")  # fmt: skip
    tune_queue(demo, service.settings.ui.concurrency)
    return demo
