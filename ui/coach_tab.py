"""The app's "Coach" tab: a transcript in, the coach's A, B and C beside it, cited turns highlighted, an export.

The transcript is pasted, uploaded as text/CSV/JSON, or a MathDial conversation; (A) scores, (B) highlights and
missed opportunities and (C) suggestions appear beside it. Endpoint: `/coach(transcript, upload, fmt,
mathdial_index)` -> transcript (HTML), A, B, C (Markdown), the export (a file path) and a status line; a bad
transcript gets one line and the text box keeps it.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
from pedagraph.prompts import load_prompt
from pedagraph.ui.identity import teacher_only

from pedagraph.errors import DataError, PedagraphError
from pedagraph.methods.coach.coaching import coach_markdown

__all__ = ["build_coach_tab", "coach_view", "run_coach", "transcript_html"]

FORMATS = ["auto", "text", "csv", "json", "mathdial"]
MAX_UPLOAD_BYTES = 400_000


def _mathdial_record(index: int) -> dict[str, Any]:
    from pedagraph.datasets import require

    lines = require("mathdial/test.jsonl").path.read_text(encoding="utf-8").splitlines()
    if not 0 <= index < len(lines):
        raise DataError(f"MathDial has conversations 0 to {len(lines) - 1}, not {index}")
    return json.loads(lines[index])


def run_coach(transcript: str, upload: str | None = None, fmt: str = "auto", mathdial_index: float | None = None
              ) -> dict[str, Any]:  # fmt: skip
    """Coach a transcript from the box, an uploaded file, or MathDial conversation number `mathdial_index`."""
    from pedagraph.graphs.coach import build_graph

    graph = build_graph()  # the full state (the served `graph` shows a learner-facing view)

    if upload:
        path = Path(upload)
        if path.stat().st_size > MAX_UPLOAD_BYTES:
            raise DataError(f"the file has {path.stat().st_size:,} bytes; the limit is {MAX_UPLOAD_BYTES:,}")
        try:
            transcript = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DataError("the uploaded file is not UTF-8 text") from None
        if fmt == "auto":
            fmt = {".csv": "csv", ".json": "json", ".jsonl": "json"}.get(path.suffix.lower(), "auto")
    if mathdial_index is not None and mathdial_index >= 0 and not (transcript or "").strip() and not upload:
        return graph.invoke({"mathdial": _mathdial_record(int(mathdial_index))})
    return graph.invoke({"transcript": transcript, "format": fmt if fmt in FORMATS else "auto"})


def transcript_html(result: dict[str, Any]) -> str:
    """The numbered transcript, each turn a cited finding, score or suggestion points at highlighted."""
    cited: dict[int, list[str]] = {}
    for s in result.get("scores", []):
        for n in s.get("evidence", []):
            cited.setdefault(n, []).append(s["code"])
    for f in result.get("findings", []):
        cited.setdefault(f["turn"], []).append("highlight" if f["kind"] == "highlight" else "missed")
    for s in result.get("suggestions", []):
        cited.setdefault(s["turn"], []).append("suggestion")
    rows = []
    for t in result.get("turns", []):
        tags = cited.get(t["n"])
        body = html.escape(t["text"])
        who = "Teacher" if t["speaker"] == "teacher" else "Student"
        if tags:
            kind = "missed" if "missed" in tags else "highlight" if "highlight" in tags else "cited"
            body = f'<mark class="coach-{kind}" title="{html.escape(", ".join(dict.fromkeys(tags)))}">{body}</mark>'
        rows.append(f'<div class="coach-turn" id="coach-turn-{t["n"]}"><b>{t["n"]}. {who}:</b> {body}</div>')
    return "\n".join(rows)


def _sections(markdown: str) -> tuple[str, str, str]:
    """A, B and C parts of the coach's Markdown report."""
    parts = re.split(r"(?m)^(?=## )", markdown)
    a = "".join(p for p in parts if p.startswith("## A."))
    b = "".join(p for p in parts if p.startswith("## B."))
    c = "".join(p for p in parts if p.startswith("## C."))
    return a, b, c


def coach_view(result: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """Transcript HTML, A, B, C and the path of the Markdown export."""
    markdown = coach_markdown(result)
    a, b, c = _sections(markdown)
    out = Path(tempfile.mkdtemp(prefix="pedagraph-coach-")) / "coaching_report.md"
    out.write_text(markdown, encoding="utf-8")
    return transcript_html(result), a, b, c, str(out)


def _coach(transcript: str, upload: str | None, fmt: str, mathdial_index: float | None) -> tuple[Any, ...]:
    try:
        result = run_coach(transcript, upload, fmt, mathdial_index)
    except PedagraphError as exc:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), f"⚠️ {exc.one_line()}"
    dropped = len(result.get("dropped", []))
    by: dict[str, list[str]] = {}
    for part, source in sorted(result["sources"].items()):
        by.setdefault(str(source), []).append(str(part))
    made = "; ".join(f"{', '.join(parts)} by the {source}" for source, parts in sorted(by.items()))
    status = (f"{len(result['turns'])} turns read; suggestions: {len(result['suggestions'])} kept, {dropped} dropped "
              f"as already done ({made})")  # fmt: skip
    if result.get("mathdial"):
        from pedagraph.datasets import sample_notice

        notice = sample_notice("mathdial/test.jsonl")
        status = f"{status}. {notice}" if notice else status
    return (*coach_view(result), status)


def build_coach_tab() -> None:
    """Add the "Coach" tab to the gr.Blocks being built (call inside `with gr.Blocks()`)."""
    with gr.Tab("Coach"):
        gr.Markdown(load_prompt("ui/coach_intro"))
        with gr.Row():
            transcript = gr.Textbox(label="Transcript (Teacher: … / Student: … lines, CSV or JSON)", lines=8, scale=3,
                                    elem_id="coach-transcript")  # fmt: skip
            with gr.Column(scale=1):
                upload = gr.File(label="Or upload a text, CSV or JSON file", type="filepath", elem_id="coach-upload",
                                 file_types=[".txt", ".csv", ".json", ".jsonl"])  # fmt: skip
                fmt = gr.Dropdown(FORMATS, value="auto", label="Format")
                mathdial = gr.Number(value=0, precision=0, minimum=0, label="Or MathDial conversation #",
                                     elem_id="coach-mathdial")  # fmt: skip
        run = gr.Button("Coach this transcript", variant="primary", elem_id="coach-run")
        status = gr.Markdown(elem_id="coach-status")
        with gr.Row():
            shown = gr.HTML(elem_id="coach-turns")
            with gr.Column():
                scores = gr.Markdown(elem_id="coach-scores")
                moments = gr.Markdown(elem_id="coach-moments")
                suggestions = gr.Markdown(elem_id="coach-suggestions")
        export = gr.File(label="Markdown export", elem_id="coach-export")
        run.click(teacher_only(_coach), inputs=[transcript, upload, fmt, mathdial],
                  outputs=[shown, scores, moments, suggestions, export, status], api_name="coach",
                  concurrency_id="coach")  # fmt: skip
