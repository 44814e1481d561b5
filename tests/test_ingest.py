"""Ingestion: parsing and chunking, bad files, idempotence, edits, interrupted runs, and the `ingest` command."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pedagraph.cli import app
from pedagraph.errors import ConfigError, DataError
from pedagraph.memory import Memory, reset_memories
from pedagraph.memory.embeddings import get_embedder
from pedagraph.memory.ingest import (
    MANIFEST_NAME,
    Manifest,
    chunk_document,
    ingest_paths,
    parse_html,
    parse_markdown,
    parse_pdf,
    parse_text,
)

REPO = Path(__file__).resolve().parents[1]


def make_pdf(pages: list[str]) -> bytes:
    """Build a small valid PDF with one line of Helvetica text per page."""
    objects: list[bytes] = []
    n = len(pages)
    font_id = 3 + 2 * n
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    for i, text in enumerate(pages):
        esc = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({esc}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for num, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _sentences(topic: str, n: int) -> str:
    return " ".join(f"Fact {i} about {topic}: it matters for reason number {i} in class." for i in range(n))


NOTES_MD = f"""---
title: Course notes
---
Welcome to the course.

# Fractions

A fraction has a numerator and a denominator.

## Adding

To add fractions with the same denominator, add the numerators and keep the denominator.

```python
# a comment, not a heading
total = 1 / 2 + 1 / 4
```

## Long section

{_sentences("long division", 40)}

{_sentences("remainders", 25)}

Photosynthesis
==============

Plants turn light, water and carbon dioxide into sugar.
"""

CELLS_HTML = """<!doctype html><html><head><title>Cells</title><style>p {color: red}</style>
<script>var secret = "do not index";</script></head><body>
<nav>Home | About</nav>
<h1>Cells</h1><p>The cell is the basic unit of life.</p>
<h2>Mitochondria</h2><p>Mitochondria make ATP.<br>They have two membranes.</p>
<ul><li>inner membrane</li><li>outer membrane</li></ul>
</body></html>"""


@pytest.fixture(scope="session")
def embedder():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    return get_embedder()


@pytest.fixture
def mem(home, embedder) -> Memory:
    reset_memories()
    return Memory(home)


@pytest.fixture
def course(tmp_path) -> Path:
    """A folder of good course material: Markdown, text, HTML, PDF (in a subfolder)."""
    root = tmp_path / "course"
    (root / "week2").mkdir(parents=True)
    (root / "notes.md").write_text(NOTES_MD, encoding="utf-8")
    (root / "glossary.txt").write_text(
        "Numerator: the top number of a fraction.\n\nDenominator: the bottom number.\n", encoding="utf-8"
    )
    (root / "week2" / "cells.html").write_text(CELLS_HTML, encoding="utf-8")
    (root / "week2" / "water.pdf").write_bytes(
        make_pdf(["The water cycle moves water (evaporation).", "Condensation forms clouds."])
    )
    (root / ".hidden.md").write_text("# secret\n\nnot to be ingested\n", encoding="utf-8")
    return root


def _chunk_total(root: Path) -> int:
    total = 0
    for path, parse in (
        (root / "notes.md", parse_markdown),
        (root / "glossary.txt", parse_text),
        (root / "week2" / "cells.html", parse_html),
        (root / "week2" / "water.pdf", parse_pdf),
    ):
        total += len(chunk_document(parse(path.read_bytes())))
    return total


# -- parsing and chunking (no model needed) ---------------------------------------------------------


def test_markdown_chunks_follow_headings_paragraphs_and_offsets():
    doc = parse_markdown(NOTES_MD.encode())
    chunks = chunk_document(doc, chunk_size=400, overlap=60)
    headings = [c.heading for c in chunks]
    assert headings[0] is None and chunks[0].text == "Welcome to the course."
    assert "Fractions" in headings and "Fractions > Adding" in headings and "Photosynthesis" in headings
    assert not any(h and "a comment" in h for h in headings)  # '#' inside a code fence is not a heading
    assert "title: Course notes" not in " ".join(c.text for c in chunks)  # front matter skipped
    adding = [c for c in chunks if c.heading == "Fractions > Adding"]
    assert len(adding) == 1 and "total = 1 / 2" in adding[0].text
    for c in chunks:
        assert doc.text[c.char_start : c.char_end] == c.text
        assert 0 < len(c.text) <= 400
        assert "# " not in c.text.split("```")[0]  # no heading line inside a chunk (outside code)
    long = [c for c in chunks if c.heading == "Fractions > Long section"]
    assert len(long) >= 5
    for a, b in zip(long, long[1:], strict=False):
        if b.char_start < a.char_end:
            assert a.char_end - b.char_start <= 60
    overlapping = sum(1 for a, b in zip(long, long[1:], strict=False) if b.char_start < a.char_end)
    assert overlapping >= len(long) // 2
    # without overlap, chunks tile the section
    plain = [c for c in chunk_document(doc, 400, 0) if c.heading == "Fractions > Long section"]
    assert all(b.char_start >= a.char_end for a, b in zip(plain, plain[1:], strict=False))
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_offsets_match_the_file_as_python_reads_it(tmp_path):
    path = tmp_path / "crlf.md"
    path.write_bytes("# Título\r\n\r\nÜber café.\r\n\r\nSecond paragraph.\r\n".encode())
    doc = parse_markdown(path.read_bytes())
    text = path.read_text(encoding="utf-8")
    for c in chunk_document(doc):
        assert text[c.char_start : c.char_end] == c.text
        assert c.heading == "Título"


def test_html_visible_text_and_headings():
    doc = parse_html(CELLS_HTML.encode())
    chunks = chunk_document(doc)
    assert [c.heading for c in chunks] == ["Cells", "Cells > Mitochondria"]
    joined = " ".join(c.text for c in chunks)
    assert "do not index" not in joined and "color: red" not in joined and "Home | About" not in joined
    assert "Mitochondria make ATP.\nThey have two membranes." in joined
    assert "inner membrane" in joined
    for c in chunks:
        assert doc.text[c.char_start : c.char_end] == c.text


def test_pdf_pages_become_positions():
    doc = parse_pdf(make_pdf(["Page one text (about rivers).", "Page two text."]))
    chunks = chunk_document(doc)
    assert [(c.page, c.text) for c in chunks] == [(1, "Page one text (about rivers)."), (2, "Page two text.")]
    with pytest.raises(DataError, match="corrupt or unreadable PDF"):
        parse_pdf(b"%PDF-1.4\n garbage")


def test_chunking_settings_are_validated():
    doc = parse_text(b"hello")
    with pytest.raises(ConfigError, match="chunk size"):
        chunk_document(doc, chunk_size=10)
    with pytest.raises(ConfigError, match="overlap"):
        chunk_document(doc, chunk_size=400, overlap=300)


# -- ingesting ---------------------------------------------------------------------------------------


def test_ingest_folder_then_search_with_citations(mem, course):
    report = ingest_paths([course], memory=mem, course="math-5")
    assert report.problems == []
    assert report.files_ingested == 4 and report.files_unchanged == 0
    assert report.chunks_added == _chunk_total(course) == mem.count("materials")
    assert mem.count("materials", course="math-5") == report.chunks_added
    assert mem.count("materials", where={"filename": ".hidden.md"}) == 0

    hit = mem.search("materials", "what do mitochondria make?", k=1)[0]
    assert hit.source == str((course / "week2" / "cells.html").resolve())
    assert hit.citation == "cells.html § Cells > Mitochondria, part 2"

    hits = mem.search("materials", "add the numerators and keep the denominator", k=3)
    hit = next(h for h in hits if h.metadata.get("heading") == "Fractions > Adding")
    assert hit.citation == f"notes.md § Fractions > Adding, part {hit.position['chunk_index'] + 1}"
    assert hit.position["chunk_index"] == 2
    text = (course / "notes.md").read_text(encoding="utf-8")
    assert text[hit.position["char_start"] : hit.position["char_end"]] == hit.text

    hit = mem.search("materials", "clouds and condensation", k=1)[0]
    assert hit.citation == "water.pdf, p. 2, part 2"


def test_bad_files_are_reported_one_line_each_and_the_rest_go_in(mem, course, tmp_path, monkeypatch):
    outside = tmp_path / "outside.md"
    outside.write_text("# Outside\n\nnot named\n", encoding="utf-8")
    (course / "link.md").symlink_to(outside)
    (course / "inside-link.md").symlink_to(course / "notes.md")  # duplicate of a named file: silently once
    (course / "slides.docx").write_bytes(b"PK\x03\x04 not supported")
    (course / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    (course / "empty.md").write_bytes(b"")
    (course / "blank.txt").write_text("   \n\n  \n", encoding="utf-8")
    (course / "binary.txt").write_bytes(b"\x00\x01\x02 binary")
    with open(course / "huge.txt", "wb") as f:  # sparse: over the 20 MB default without writing 20 MB
        f.truncate(21 * 1024 * 1024)
    (course / "locked.md").write_text("# Locked\n\ncannot be read\n", encoding="utf-8")

    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "locked.md":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    report = ingest_paths([course], memory=mem)
    reasons = {Path(p.path).name: p.reason for p in report.problems}
    assert set(reasons) == {
        "link.md",
        "slides.docx",
        "broken.pdf",
        "empty.md",
        "blank.txt",
        "binary.txt",
        "huge.txt",
        "locked.md",
    }
    assert "symlink resolves outside" in reasons["link.md"]
    assert "unsupported file type '.docx'" in reasons["slides.docx"]
    assert "corrupt or unreadable PDF" in reasons["broken.pdf"]
    assert reasons["empty.md"] == "empty file"
    assert reasons["blank.txt"] == "no text found"
    assert "binary" in reasons["binary.txt"]
    assert "larger than the size limit" in reasons["huge.txt"]
    assert "Permission denied" in reasons["locked.md"]
    assert all("\n" not in str(p) for p in report.problems)
    assert report.files_ingested == 4 and report.ok
    assert mem.count("materials") == _chunk_total(course)
    assert mem.count("materials", where={"filename": "outside.md"}) == 0


def test_missing_path_and_bad_options_fail_before_anything_is_written(mem, course):
    with pytest.raises(DataError, match="path does not exist"):
        ingest_paths([course, course / "nope.md"], memory=mem)
    with pytest.raises(ConfigError, match="episodes"):
        ingest_paths([course], collection="episodes", memory=mem)
    with pytest.raises(ConfigError, match="unknown memory collection"):
        ingest_paths([course], collection="material", memory=mem)
    assert mem.count("materials") == 0


def test_reingesting_the_same_files_adds_nothing(mem, course):
    first = ingest_paths([course], memory=mem)
    ids = {h.id for h in mem.get("materials")}
    second = ingest_paths([course, course / "notes.md"], memory=mem)
    assert second.files_ingested == 0 and second.files_unchanged == 4 and second.chunks_added == 0
    assert second.ok
    assert mem.count("materials") == first.chunks_added
    assert {h.id for h in mem.get("materials")} == ids


def test_chunks_missing_from_the_store_are_restored(mem, course):
    first = ingest_paths([course], memory=mem)
    assert mem.delete("materials", where={"filename": "notes.md"}) > 0
    report = ingest_paths([course], memory=mem)
    assert report.files_unchanged == 3 and report.files_ingested == 1
    assert mem.count("materials") == first.chunks_added


def test_an_edited_file_replaces_its_old_chunks(mem, course):
    ingest_paths([course], memory=mem)
    notes = course / "notes.md"
    source = str(notes.resolve())
    old_ids = {h.id for h in mem.get("materials", source=source)}
    notes.write_text(NOTES_MD.replace("Plants turn light", "Green plants turn sunlight"), encoding="utf-8")
    report = ingest_paths([course], memory=mem)
    assert report.files_ingested == 1 and report.files_unchanged == 3
    new = mem.get("materials", source=source)
    assert len(new) == len(chunk_document(parse_markdown(notes.read_bytes())))
    assert not old_ids & {h.id for h in new}
    assert report.chunks_removed == len(old_ids)
    texts = " ".join(h.text for h in new)
    assert "Green plants turn sunlight" in texts and "Plants turn light" not in texts
    assert mem.count("materials") == _chunk_total(course)


def test_changing_the_course_or_chunk_size_reingests(mem, course):
    ingest_paths([course / "notes.md"], memory=mem)
    report = ingest_paths([course / "notes.md"], memory=mem, course="algebra")
    assert report.files_ingested == 1
    assert mem.count("materials") == mem.count("materials", course="algebra") > 0
    report = ingest_paths([course / "notes.md"], memory=mem, course="algebra", chunk_size=300, overlap=30)
    assert mem.count("materials") == len(chunk_document(parse_markdown((course / "notes.md").read_bytes()), 300, 30))


class _Killed(BaseException):
    """Stands in for the process dying: not an Exception, so nothing catches it."""


def _clean_count(tmp_path: Path, course: Path) -> tuple[int, set[str]]:
    clean = Memory(tmp_path / "clean-home")
    ingest_paths([course], memory=clean)
    return clean.count("materials"), {h.id for h in clean.get("materials")}


def test_interrupted_ingest_is_finished_by_the_next_run(mem, course, tmp_path, monkeypatch):
    calls = {"n": 0}
    real_add = Memory.add

    def dying_add(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise _Killed
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(Memory, "add", dying_add)
    with pytest.raises(_Killed):
        ingest_paths([course], memory=mem)
    monkeypatch.setattr(Memory, "add", real_add)
    manifest = Manifest(mem.home / MANIFEST_NAME)
    states = [r.state for r in manifest.rows("materials")]
    manifest.close()
    assert states.count("pending") == 1 and states.count("complete") == 2
    partial = mem.count("materials")

    report = ingest_paths([course], memory=mem)
    assert report.resumed == 1 and report.files_ingested == 2 and report.files_unchanged == 2
    count, ids = _clean_count(tmp_path, course)
    assert partial < count
    assert mem.count("materials") == count
    assert {h.id for h in mem.get("materials")} == ids


def test_interrupted_between_new_chunks_and_old_deletion(mem, course, tmp_path, monkeypatch):
    ingest_paths([course], memory=mem)
    notes = course / "notes.md"
    notes.write_text(NOTES_MD + "\n## Appendix\n\nMore about fractions.\n", encoding="utf-8")

    def dying_delete(self, *args, **kwargs):
        raise _Killed

    real_delete = Memory.delete
    monkeypatch.setattr(Memory, "delete", dying_delete)
    with pytest.raises(_Killed):
        ingest_paths([course], memory=mem)
    monkeypatch.setattr(Memory, "delete", real_delete)
    count, ids = _clean_count(tmp_path, course)
    assert mem.count("materials") > count  # old and new chunks of notes.md both present
    report = ingest_paths([course], memory=mem)
    assert report.resumed == 1 and report.chunks_added == 0 and report.chunks_removed > 0
    assert mem.count("materials") == count
    assert {h.id for h in mem.get("materials")} == ids


def test_sigkill_mid_ingest_then_rerun_matches_a_clean_run(home, embedder, course, tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(
        textwrap.dedent(
            """
            import os, signal, sys
            from pedagraph.memory import Memory
            from pedagraph.memory.ingest import ingest_paths

            calls = 0
            real_add = Memory.add

            def add(self, *args, **kwargs):
                global calls
                calls += 1
                if calls == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real_add(self, *args, **kwargs)

            Memory.add = add
            ingest_paths([sys.argv[1]])
            """
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "PEDAGRAPH_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, str(driver), str(course)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    with sqlite3.connect(home / MANIFEST_NAME) as db:
        assert db.execute("SELECT count(*) FROM files WHERE state = 'pending'").fetchone()[0] == 1
    reset_memories()
    mem = Memory(home)
    report = ingest_paths([course], memory=mem)
    assert report.resumed == 1 and not report.problems
    count, ids = _clean_count(tmp_path, course)
    assert mem.count("materials") == count
    assert {h.id for h in mem.get("materials")} == ids


# -- the command -------------------------------------------------------------------------------------


def test_cli_ingest_reports_and_exits_zero_when_good_files_went_in(home, embedder, course):
    (course / "slides.docx").write_bytes(b"PK")
    (course / "broken.pdf").write_bytes(b"not a pdf")
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", str(course), "--course", "math-5", "--collection", "materials"])
    assert result.exit_code == 0, result.output
    assert "ingested 4 files" in result.stdout and "2 skipped" in result.stdout and " s" in result.stdout
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 2
    assert any("slides.docx: unsupported file type" in line for line in skipped)
    assert any("broken.pdf: corrupt or unreadable PDF" in line for line in skipped)
    assert "Traceback" not in result.output
    reset_memories()
    assert Memory(home).count("materials", course="math-5") == _chunk_total(course.parent / "course") > 0

    again = runner.invoke(app, ["ingest", str(course), "--course", "math-5", "-q"])
    assert again.exit_code == 0
    assert "ingested 0 files, 0 chunks added, 4 unchanged" in again.stdout


def test_cli_ingest_errors_are_one_line_and_non_zero(home, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: path does not exist:")
    assert len(result.stderr.strip().splitlines()) == 1

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.docx").write_bytes(b"x")
    (bad / "b.md").write_bytes(b"")
    result = runner.invoke(app, ["ingest", str(bad)])
    assert result.exit_code == 1
    assert "error: nothing could be ingested: all 2 file(s) were skipped" in result.stderr

    empty = tmp_path / "empty-folder"
    empty.mkdir()
    result = runner.invoke(app, ["ingest", str(empty)])
    assert result.exit_code == 1 and "no files found" in result.stderr

    result = runner.invoke(app, ["ingest", str(bad), "--collection", "note"])
    assert result.exit_code == 1 and "unknown memory collection 'note'" in result.stderr
    result = runner.invoke(app, ["ingest", str(bad), "--collection", "notes"])
    assert result.exit_code == 1 and "cannot be ingested into 'notes'" in result.stderr

    small = tmp_path / "small"
    small.mkdir()
    (small / "a.txt").write_text("x" * 5000, encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(small), "--max-size-mb", "0.001"])
    assert result.exit_code == 1 and "larger than the size limit" in result.stderr


def test_cli_help_lists_ingest():
    result = CliRunner().invoke(app, ["ingest", "--help"])
    assert result.exit_code == 0
    assert "Add course material" in result.stdout and "--collection" in result.stdout
    assert "--max-size-mb" in result.stdout
