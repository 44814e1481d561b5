"""The teachers' app, served at `/teacher/` behind a login that only teachers and admins pass.

Tabs: Class (the teacher's learners: mastery, misconceptions, recent activity, CSV; adding learners by name or a
CSV roster; the class join code), Lesson planner, Copilot (a tutor's view of a room opened for a learner of the
class), Coach, Strategies, ToM teacher, Course material. Every endpoint checks the caller's role on the server
(`ui/identity.py`) and what it touches belongs to the caller's class (a teacher of another class is refused).

Endpoints of the Class tab: `/class_view(wanted, page, include_models)` -> heatmap, misconceptions (HTML),
sessions (HTML), learner choices, CSV, page status; `/add_learners(names, roster)` -> the new accounts with their
one-time passwords (HTML), a CSV of them; `/ingest(files, course)` -> one-line summary.
"""

from __future__ import annotations

import csv
import html
import io
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr
from pedagraph.prompts import load_prompt
from pedagraph.ui.app import tune_queue
from pedagraph.ui.coach_tab import build_coach_tab
from pedagraph.ui.copilot_tab import build_copilot_tab
from pedagraph.ui.identity import Refused, endpoint
from pedagraph.ui.lesson_tab import build_lesson_tab, heatmap_png
from pedagraph.ui.outcomes_tab import build_outcomes_tab
from pedagraph.ui.panel import models_header
from pedagraph.ui.service import TutorService
from pedagraph.ui.strategies_tab import build_strategies_tab
from pedagraph.ui.tom_tab import build_tom_tab

from pedagraph.accounts import Account, generate_password, get_account_store, parse_roster
from pedagraph.errors import DataError
from pedagraph.learner import get_learner_store
from pedagraph.memory.ingest import KINDS
from pedagraph.methods.eduplanner.class_view import ClassView, class_csv, class_view

__all__ = ["build_teacher_app", "class_learners"]

PAGE_SIZE = 25
MODEL_PREFIX = "llm:"
Outputs = tuple[Any, ...]


def class_learners(account: Account, include_models: bool = False) -> dict[str, str]:
    """Learner id -> display name of the learners a teacher may see (an admin: every stored learner)."""
    store = get_account_store()
    shown = {a.learner_id: a.display_name for a in store.learners_of(account)}
    if account.role == "admin":
        for learner_id in get_learner_store().list_learners():
            if include_models or not learner_id.startswith(MODEL_PREFIX):
                shown.setdefault(learner_id, learner_id)
    return shown


def _page(view: ClassView, names: dict[str, str], number: int) -> tuple[ClassView, list[str]]:
    """One page of the view, most recently active first, learners shown by their display names; and their ids."""
    rows = sorted(view.rows, key=lambda r: (r.sessions[0]["last"] if r.sessions else ""), reverse=True)
    rows = rows[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    shown = [replace(r, learner_id=names.get(r.learner_id, r.learner_id)) for r in rows]
    held = [{**m, "learners": [names[i] for i in m["learners"] if i in names]} for m in view.misconceptions]
    return replace(view, rows=shown, misconceptions=held), [r.learner_id for r in rows]


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    """An HTML table whose every cell is escaped text (a name like `[x](http://…)` stays text)."""
    top = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="class-table"><thead><tr>{top}</tr></thead><tbody>{body}</tbody></table>'


def _safe_csv(text: str) -> str:
    """The CSV with cells a spreadsheet would run as formulas made plain text (a leading quote)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in csv.reader(io.StringIO(text)):
        writer.writerow([f"'{c}" if c[:1] in ("=", "+", "-", "@") and not _number(c) else c for c in row])
    return out.getvalue()


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _when(at: object) -> str:
    """A moment as a teacher reads it: day and minute in UTC ("3 Dec 2026, 14:05 UTC")."""
    from datetime import UTC, datetime

    try:
        moment = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    except ValueError:
        return str(at)
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


@endpoint("teacher")
def show_class(account: Account, wanted: str, page: float = 1, include_models: bool = False) -> Outputs:
    """The class view of the teacher's learners: one page, most recently active first, display names."""
    names = class_learners(account, bool(include_models))
    wanted_text = (wanted or "").strip().lower()
    ids = [i for i, n in names.items() if not wanted_text or wanted_text in n.lower() or wanted_text in i.lower()]
    if not ids:
        return None, "No learners yet: add them below, or give them the class code.", "", \
            gr.update(choices=[], value=[]), None, ""  # fmt: skip
    full = class_view(get_learner_store(), ids)
    pages = max(1, -(-len(full.rows) // PAGE_SIZE))
    number = min(max(1, int(page or 1)), pages)
    view, ids_shown = _page(full, names, number)
    out_dir = Path(tempfile.mkdtemp(prefix="pedagraph-class-"))
    held = _table(["misconception", "skill", "learners"],
                  [[m["description"], m["skill"], f"{', '.join(m['learners'])} ({len(m['learners'])})"]
                   for m in view.misconceptions[:15] if m["learners"]]) if view.misconceptions else \
        "<p>No active misconceptions.</p>"  # fmt: skip
    sessions = _table(["learner", "last active", "recent answers (right/answers)"],
                      [[r.learner_id, _when(r.sessions[0]["last"]) if r.sessions else "—",
                        r.error or "; ".join(f"{s['right']}/{s['answers']}" for s in r.sessions) or "—"]
                       for r in view.rows])  # fmt: skip
    csv_path = out_dir / "class.csv"
    csv_path.write_text(_safe_csv(class_csv(view)), encoding="utf-8")
    choices = [(r.learner_id, i) for r, i in zip(view.rows, ids_shown, strict=True) if r.error is None]
    status = f"Page {number} of {pages} · {len(ids)} learner(s)."
    return heatmap_png(view, out_dir), held, sessions, gr.update(choices=choices, value=[]), str(csv_path), status


@endpoint("teacher")
def add_learners(account: Account, names: str, roster: str | None) -> Outputs:
    """Add learners to the teacher's class: names (one per line, `name[,display name]`) and/or a CSV roster file.

    Each new account gets a generated password, shown once here and in the CSV to hand out.
    """
    classes = get_account_store().classes_of(account.name)
    if not classes:
        raise Refused("you have no class to add learners to (an admin adds learners with `pedagraph users add`)")
    rows = parse_roster(names or "")  # every name checked before any account is made
    if roster:
        path = Path(roster)
        if path.stat().st_size > 200_000:
            raise DataError("the roster file is larger than 200 kB")
        rows += parse_roster(path.read_text(encoding="utf-8", errors="replace"))  # its own header line
    if not rows:
        raise DataError("no names: one per line, or a CSV file with name[,display name]")
    store = get_account_store()
    taken = [n for n, _ in rows if store.get(n) is not None]
    if taken:
        raise DataError(f"these names are taken already: {', '.join(taken[:10])}")
    made = []
    for name, display in rows:
        password = generate_password()
        store.add(name, "learner", password, display_name=display, class_code=classes[0], actor=account.name)
        made.append([name, display, password])
    out = Path(tempfile.mkdtemp(prefix="pedagraph-roster-")) / "new_learners.csv"
    buf = io.StringIO()
    csv.writer(buf).writerows([["name", "display_name", "password"], *made])
    out.write_text(buf.getvalue(), encoding="utf-8")
    note = f"<p>{len(made)} learner(s) added to class {_esc(classes[0])}. The passwords are shown only now.</p>"
    return note + _table(["name", "display name", "password"], made), str(out)


@endpoint("teacher")
def class_code(account: Account) -> str:
    """The class join code(s) of the teacher (what learners of the class are filed under)."""
    codes = get_account_store().classes_of(account.name)
    return "Your class code: " + (", ".join(f"`{c}`" for c in codes) if codes else "none (admin account)")


def _ingest_for(service: TutorService) -> Any:
    @endpoint("teacher")
    def ingest(account: Account, files: list[str] | None, course: str | None) -> str:
        """Ingest course material for one of the teacher's classes (the tutor quotes it to that class only)."""
        codes = get_account_store().classes_of(account.name)
        wanted = (course or (codes[0] if codes else "")).strip().upper()
        if account.role != "admin" and wanted not in codes:
            raise Refused("you can add material only to your own class")
        if account.role == "admin" and not get_account_store().class_exists(wanted):
            raise DataError(f"no class {wanted!r}")
        summary = service.ingest([str(f) for f in files or []], wanted)
        if not summary.startswith(("Error", "No files")):
            get_account_store().audit(account.name, "material.ingest", wanted, f"{len(files or [])} file(s)")
        return summary

    return ingest


def build_teacher_app(service: TutorService | None = None) -> gr.Blocks:
    """Return the teachers' app (not launched)."""
    service = service or TutorService()
    header, _ = models_header()
    with gr.Blocks(title="pedagraph teacher", analytics_enabled=False) as demo:
        gr.Markdown(header.replace("**pedagraph tutor**", "**pedagraph teacher**"), elem_id="models-header")
        with gr.Tab("Class"):
            gr.Markdown(load_prompt("ui/class_intro"))
            code = gr.Markdown(elem_id="class-code")
            with gr.Row():
                wanted = gr.Textbox(label="Find learners (part of a name; empty: all)", scale=4)
                page = gr.Number(value=1, precision=0, minimum=1, label="Page", scale=1, elem_id="class-page")
                models = gr.Checkbox(value=False, label="Include model learners", scale=1)
                show = gr.Button("Show the class", variant="primary", elem_id="class-show", scale=1)
            status = gr.Markdown(elem_id="class-status")
            heatmap = gr.Image(type="filepath", label="Mastery: learners x skills", elem_id="class-heatmap")
            with gr.Row():
                held = gr.HTML(elem_id="class-misconceptions")
                sessions = gr.HTML(elem_id="class-sessions")
            picked = gr.Dropdown([], multiselect=True, allow_custom_value=True, elem_id="class-pick",
                                 label="Learners for the lesson's group")  # fmt: skip
            use = gr.Button("Plan a lesson for these learners", elem_id="class-use")
            csv_file = gr.File(label="CSV export", elem_id="class-csv")
            with gr.Accordion("Add learners", open=False):
                names = gr.Textbox(label="Names (one per line: name[,display name])", lines=4, elem_id="add-names")
                roster = gr.File(label="Or a CSV roster", type="filepath", file_types=[".csv", ".txt"])
                add = gr.Button("Add to my class", elem_id="add-learners")
                added = gr.HTML(elem_id="added-learners")
                added_csv = gr.File(label="New accounts (CSV, with passwords)")
        planner = build_lesson_tab()
        copilot = build_copilot_tab()
        build_coach_tab()
        build_strategies_tab()
        build_tom_tab()
        build_outcomes_tab()
        with gr.Tab("Course material"):
            files = gr.File(label="Upload notes (Markdown, text, PDF, HTML)", file_count="multiple", type="filepath",
                            file_types=sorted(KINDS), elem_id="course-files")  # fmt: skip
            course = gr.Textbox(label="Class code (empty: your class)", elem_id="course-name")
            ingest = gr.Button("Add to memory", elem_id="ingest-button")
            ingest_out = gr.Markdown(elem_id="ingest-summary")
        show.click(show_class, inputs=[wanted, page, models],
                   outputs=[heatmap, held, sessions, picked, csv_file, status], api_name="class_view")  # fmt: skip
        use.click(_use_learners, inputs=[picked],
                  outputs=[planner.learners, planner.source], api_name="use_learners")  # fmt: skip
        add.click(add_learners, inputs=[names, roster], outputs=[added, added_csv], api_name="add_learners")
        ingest.click(_ingest_for(service), inputs=[files, course], outputs=[ingest_out], api_name="ingest",
                     concurrency_limit=1, concurrency_id="ingest")  # fmt: skip
        demo.load(class_code, inputs=[], outputs=[code], api_name="class_code")
        demo.load(_learner_choices, inputs=[], outputs=[copilot.student], api_name="copilot_learners")
    tune_queue(demo, service.settings.ui.concurrency)
    return demo


@endpoint("teacher")
def _use_learners(account: Account, ids: list[str] | None) -> Outputs:
    """Put the ticked learners (of the teacher's class) into the lesson planner's group."""
    from pedagraph.ui.lesson_tab import SOURCES

    names = class_learners(account)
    if any(i not in names for i in ids or []):
        raise Refused("the group may hold only learners of your class")
    choices = [(names[i], i) for i in ids or []]
    return gr.update(choices=choices, value=list(ids or [])), SOURCES[1]


@endpoint("teacher")
def _learner_choices(account: Account) -> Any:
    store = get_account_store()
    return gr.update(choices=[(a.display_name, a.name) for a in store.learners_of(account)], value=None)
