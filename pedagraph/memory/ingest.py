"""Ingest course material (Markdown, plain text, PDF, HTML) into the retrieval memory.

Files are cut into chunks that follow headings and paragraphs, with a little overlap. A SQLite manifest under
PEDAGRAPH_HOME (`ingest_manifest.sqlite`) maps (collection, absolute path) to the file's content hash and chunk
ids, so an unchanged file adds nothing and an edited one replaces its old chunks. Chunk ids are derived from
path, hash, chunking settings and position, a file's row is marked complete only after its chunks are stored,
and old chunks are deleted only after the new ones are in: a run that is killed leaves nothing half-written
that the next run does not finish.

Character offsets (`char_start`, `char_end`) index the extracted text: for Markdown and plain text that is the
file decoded with universal newlines (what `Path.read_text()` returns), for PDF the pages' text joined by blank
lines, for HTML the visible text with headings on their own lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pedagraph.errors import ConfigError, DataError
from pedagraph.memory.store import COLLECTIONS, PRIVATE, check_collection

if TYPE_CHECKING:
    from rich.console import Console

    from pedagraph.memory.store import Memory

CHUNKER_VERSION = "1"
DEFAULT_CHUNK_SIZE = 800
DEFAULT_OVERLAP = 100
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
MANIFEST_NAME = "ingest_manifest.sqlite"
EMBED_BATCH = 64

KINDS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
}
SUPPORTED = ", ".join(KINDS)


# -- text model --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    """A heading line found in extracted text (offsets of the whole line)."""

    start: int
    end: int
    level: int
    title: str


@dataclass(frozen=True)
class Section:
    """A stretch of text under one heading path (or one PDF page)."""

    start: int
    end: int
    path: tuple[str, ...] = ()
    page: int | None = None


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: `text == doc.text[char_start:char_end]`."""

    index: int
    text: str
    char_start: int
    char_end: int
    heading: str | None = None
    page: int | None = None

    def embedding_text(self) -> str:
        """The text that is embedded: the heading path, then the chunk."""
        return f"{self.heading}\n\n{self.text}" if self.heading else self.text


@dataclass
class Document:
    """Extracted text of one file and its sections."""

    kind: str
    text: str
    sections: list[Section]


# -- parsers -----------------------------------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*#*[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _lines(text: str) -> Iterable[tuple[int, int, str]]:
    pos = 0
    for line in text.splitlines(keepends=True):
        end = pos + len(line)
        yield pos, end, line.rstrip("\n")
        pos = end


def markdown_headings(text: str) -> tuple[list[Heading], int]:
    """Find ATX and setext headings outside code fences; also return where the body starts (after front matter)."""
    body_start = 0
    if text.startswith("---\n"):
        close = text.find("\n---\n", 4)
        if close != -1:
            body_start = close + 5
    headings: list[Heading] = []
    fence: str | None = None
    prev: tuple[int, int, str] | None = None
    prev_is_para_start = False
    before_prev_blank = True
    for start, end, line in _lines(text):
        if start < body_start:
            continue
        fm = _FENCE.match(line)
        if fence is not None:
            if fm and fm.group(1)[0] == fence[0] and len(fm.group(1)) >= len(fence):
                fence = None
            prev, before_prev_blank = None, True
            continue
        if fm:
            fence = fm.group(1)
            prev, before_prev_blank = None, True
            continue
        atx = _ATX.match(line)
        if atx and (atx.group(2) or "").strip():
            headings.append(Heading(start, end, len(atx.group(1)), atx.group(2).strip()))
            prev, before_prev_blank = None, True
            continue
        setext = _SETEXT.match(line)
        if setext and prev is not None and prev_is_para_start and prev[2].strip():
            level = 1 if setext.group(1)[0] == "=" else 2
            headings.append(Heading(prev[0], end, level, prev[2].strip()))
            prev, before_prev_blank = None, True
            continue
        is_blank = not line.strip()
        prev_is_para_start = before_prev_blank and not is_blank
        before_prev_blank = is_blank
        prev = (start, end, line)
    return headings, body_start


def sections_from_headings(text: str, headings: Sequence[Heading], start: int = 0) -> list[Section]:
    """Cut text into sections, each carrying the path of headings above it."""
    sections: list[Section] = []
    stack: list[Heading] = []
    cursor, path = start, ()
    for h in sorted(headings, key=lambda h: h.start):
        if h.start > cursor and text[cursor : h.start].strip():
            sections.append(Section(cursor, h.start, path))
        while stack and stack[-1].level >= h.level:
            stack.pop()
        stack.append(h)
        path = tuple(x.title for x in stack)
        cursor = h.end
    if len(text) > cursor and text[cursor:].strip():
        sections.append(Section(cursor, len(text), path))
    return sections


def decode_text(data: bytes) -> str:
    """Decode file bytes as UTF-8 (BOM allowed) or Windows-1252, with universal newlines."""
    if b"\x00" in data[:8192]:
        raise DataError("binary content, not text")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise DataError("cannot decode as UTF-8 or Windows-1252 text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_markdown(data: bytes) -> Document:
    """Parse Markdown: sections follow the heading hierarchy."""
    text = decode_text(data)
    headings, body_start = markdown_headings(text)
    return Document("markdown", text, sections_from_headings(text, headings, body_start))


def parse_text(data: bytes) -> Document:
    """Parse plain text: one section, chunked by paragraphs."""
    text = decode_text(data)
    return Document("text", text, [Section(0, len(text))] if text.strip() else [])


def parse_pdf(data: bytes) -> Document:
    """Extract a PDF's text page by page (one section per page)."""
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise DataError("encrypted PDF (needs a password)")
            except DataError:
                raise
            except Exception:  # noqa: BLE001 - unsupported encryption is still "encrypted"
                raise DataError("encrypted PDF (cannot decrypt)") from None
        pages = [(page.extract_text() or "") for page in reader.pages]
    except DataError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError) as exc:
        msg = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise DataError(f"corrupt or unreadable PDF: {msg}") from None
    parts: list[str] = []
    sections: list[Section] = []
    pos = 0
    for number, page_text in enumerate(pages, start=1):
        page_text = page_text.replace("\r\n", "\n").replace("\r", "\n").strip()
        if not page_text:
            continue
        if parts:
            parts.append("\n\n")
            pos += 2
        sections.append(Section(pos, pos + len(page_text), (), number))
        parts.append(page_text)
        pos += len(page_text)
    return Document("pdf", "".join(parts), sections)


_HTML_DROP = ("script", "style", "noscript", "template", "head", "svg", "iframe", "nav", "object", "canvas")
_HTML_BLOCKS = (
    "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "table", "tr", "pre", "blockquote", "section", "article",
    "main", "header", "footer", "aside", "figure", "figcaption", "form", "fieldset", "address", "hr", "details",
    "summary", "caption",
)  # fmt: skip
_H_MARK = "\x02"


def parse_html(data: bytes) -> Document:
    """Extract an HTML page's visible text; h1-h6 become the section headings."""
    from bs4 import BeautifulSoup, NavigableString

    try:
        soup = BeautifulSoup(data, "html.parser")
    except Exception as exc:  # noqa: BLE001 - the parser's failures become one line
        raise DataError(f"cannot parse HTML: {type(exc).__name__}") from None
    for tag in soup(list(_HTML_DROP)):
        tag.decompose()
    for tag in soup.find_all(re.compile(r"^h[1-6]$")):
        title = " ".join(tag.get_text(" ").split())
        marker = f"\n\n{_H_MARK}{tag.name[1]}{title}\n\n" if title else "\n\n"
        tag.replace_with(NavigableString(marker))
    for tag in soup.find_all("br"):
        tag.replace_with(NavigableString("\n"))
    for tag in soup.find_all(list(_HTML_BLOCKS)):
        tag.insert_before(NavigableString("\n\n"))
        tag.insert_after(NavigableString("\n\n"))
    raw = soup.get_text()
    out: list[str] = []
    headings: list[Heading] = []
    pos = 0
    blank_pending = False
    for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = " ".join(line.split())
        if not line:
            blank_pending = bool(out)
            continue
        if out:
            sep = "\n\n" if blank_pending else "\n"
            out.append(sep)
            pos += len(sep)
        blank_pending = False
        if line.startswith(_H_MARK) and len(line) > 2 and line[1] in "123456":
            title = line[2:].strip()
            headings.append(Heading(pos, pos + len(title), int(line[1]), title))
            line = title
        else:
            line = line.replace(_H_MARK, "")
        out.append(line)
        pos += len(line)
    text = "".join(out)
    return Document("html", text, sections_from_headings(text, headings))


PARSERS: dict[str, Callable[[bytes], Document]] = {
    "markdown": parse_markdown,
    "text": parse_text,
    "pdf": parse_pdf,
    "html": parse_html,
}


# -- chunking ----------------------------------------------------------------------------------------

_PARA_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _hard_split(text: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    spans = []
    while end - start > size:
        cut = text.rfind(" ", start + size // 2, start + size)
        cut = cut if cut > start else start + size
        s, e = _trim(text, start, cut)
        if e > s:
            spans.append((s, e))
        start = cut
    s, e = _trim(text, start, end)
    if e > s:
        spans.append((s, e))
    return spans


def _split_long(text: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    sentences: list[tuple[int, int]] = []
    cursor = start
    for m in _SENTENCE_END.finditer(text, start, end):
        sentences.append((cursor, m.end()))
        cursor = m.end()
    sentences.append((cursor, end))
    spans: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    for s, e in sentences:
        s, e = _trim(text, s, e)
        if e <= s:
            continue
        if e - s > size:
            if cur:
                spans.append(cur)
                cur = None
            spans.extend(_hard_split(text, s, e, size))
        elif cur is None:
            cur = (s, e)
        elif e - cur[0] <= size:
            cur = (cur[0], e)
        else:
            spans.append(cur)
            cur = (s, e)
    if cur:
        spans.append(cur)
    return spans


def _pieces(text: str, start: int, end: int, size: int, split_size: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = start
    bounds = [(m.start(), m.end()) for m in _PARA_BREAK.finditer(text, start, end)] + [(end, end)]
    for b_start, b_end in bounds:
        s, e = _trim(text, cursor, b_start)
        cursor = b_end
        if e <= s:
            continue
        spans.extend([(s, e)] if e - s <= size else _split_long(text, s, e, split_size))
    return spans


def _overlap_start(text: str, start: int, end: int, overlap: int) -> int | None:
    if overlap <= 0:
        return None
    window = max(start + 1, end - overlap)
    m = _SENTENCE_END.search(text, window, end)
    if m and m.end() < end:
        pos = m.end()
    else:
        space = re.compile(r"\s+").search(text, window, end)
        if not space or space.end() >= end:
            return None
        pos = space.end()
    return pos if pos < end else None


def chunk_document(doc: Document, chunk_size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    """Cut a document into chunks of at most `chunk_size` characters that never cross a heading (or a page).

    Paragraphs are kept whole when they fit; longer ones are cut at sentence ends, then at spaces. Each chunk
    after the first in a section starts with up to `overlap` characters from the end of the previous one.
    """
    check_chunking(chunk_size, overlap)
    text = doc.text
    chunks: list[Chunk] = []
    for section in doc.sections:
        heading = " > ".join(section.path) or None
        cur: tuple[int, int] | None = None
        spans: list[tuple[int, int]] = []
        for s, e in _pieces(text, section.start, section.end, chunk_size, chunk_size - overlap):
            if cur is None:
                cur = (s, e)
            elif e - cur[0] <= chunk_size:
                cur = (cur[0], e)
            else:
                spans.append(cur)
                ov = _overlap_start(text, cur[0], cur[1], overlap)
                cur = (ov, e) if ov is not None and e - ov <= chunk_size else (s, e)
        if cur:
            spans.append(cur)
        for s, e in spans:
            chunks.append(Chunk(len(chunks), text[s:e], s, e, heading, section.page))
    return chunks


def check_chunking(chunk_size: int, overlap: int) -> None:
    """Validate chunking settings."""
    if not 100 <= chunk_size <= 20_000:
        raise ConfigError(f"chunk size must be 100-20000 characters, got {chunk_size}")
    if not 0 <= overlap <= chunk_size // 2:
        raise ConfigError(f"overlap must be 0-{chunk_size // 2} characters (half the chunk size), got {overlap}")


# -- discovery ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A file that was skipped, and why (one line)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path}: {self.reason}"


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def discover(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[tuple[Path, str, str]], list[Problem]]:
    """Expand files and folders (recursively, hidden entries ignored) into (resolved file, kind, shown name).

    A named path that does not exist raises DataError. Unsupported types, non-regular files and symlinks that
    resolve outside the folder that was named become problems.
    """
    if not paths:
        raise DataError("no paths given", hint="name files or folders to ingest")
    named = [Path(p).expanduser() for p in paths]
    for p in named:
        if not p.exists():
            kind = "broken symlink" if p.is_symlink() else "path does not exist"
            raise DataError(f"{kind}: {p}")
    files: list[tuple[Path, str, str]] = []
    problems: list[Problem] = []
    seen: set[Path] = set()

    def consider(path: Path, shown: str) -> None:
        resolved = path.resolve()
        if resolved in seen:
            return
        if not resolved.is_file():
            problems.append(Problem(shown, "not a regular file"))
            return
        kind = KINDS.get(path.suffix.lower()) or KINDS.get(resolved.suffix.lower())
        if kind is None:
            suffix = path.suffix or "(none)"
            problems.append(Problem(shown, f"unsupported file type {suffix!r} (supported: {SUPPORTED})"))
            return
        seen.add(resolved)
        files.append((resolved, kind, shown))

    for p in named:
        if not p.is_dir():
            consider(p, str(p))
            continue
        root = p.resolve()
        for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
            here = Path(dirpath)
            keep = []
            for d in sorted(dirnames):
                if d.startswith("."):
                    continue
                sub = here / d
                if sub.is_symlink():
                    if not _inside(sub.resolve(), root):
                        problems.append(Problem(str(sub), f"symlink resolves outside {p}"))
                    continue  # inside the root: its files are reached directly
                keep.append(d)
            dirnames[:] = keep
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                f = here / name
                if f.is_symlink():
                    target = f.resolve()
                    if not _inside(target, root):
                        problems.append(Problem(str(f), f"symlink resolves outside {p}"))
                        continue
                    if not target.exists():
                        problems.append(Problem(str(f), "broken symlink"))
                        continue
                consider(f, str(f))
    return files, problems


# -- manifest ----------------------------------------------------------------------------------------


@dataclass
class ManifestRow:
    """What the manifest knows of one file in one collection."""

    collection: str
    path: str
    content_hash: str
    config: str
    chunk_ids: list[str]
    stale_ids: list[str]
    state: str
    updated_at: float


class Manifest:
    """SQLite record of ingested files: (collection, path) -> hash, settings, chunk ids, state."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS files ("
                " collection TEXT NOT NULL, path TEXT NOT NULL, content_hash TEXT NOT NULL,"
                " config TEXT NOT NULL, chunk_ids TEXT NOT NULL, stale_ids TEXT NOT NULL,"
                " state TEXT NOT NULL CHECK (state IN ('pending', 'complete')), updated_at REAL NOT NULL,"
                " PRIMARY KEY (collection, path))"
            )
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the ingest manifest {path}: {exc}", hint="check PEDAGRAPH_HOME") from None

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def get(self, collection: str, path: str) -> ManifestRow | None:
        """Return the row of one file, if any."""
        cur = self._db.execute(
            "SELECT collection, path, content_hash, config, chunk_ids, stale_ids, state, updated_at"
            " FROM files WHERE collection = ? AND path = ?",
            (collection, path),
        )
        row = cur.fetchone()
        return self._row(row) if row else None

    def rows(self, collection: str | None = None, state: str | None = None) -> list[ManifestRow]:
        """Return rows, optionally of one collection and/or state."""
        sql = "SELECT collection, path, content_hash, config, chunk_ids, stale_ids, state, updated_at FROM files"
        cond, args = [], []
        if collection:
            cond.append("collection = ?")
            args.append(collection)
        if state:
            cond.append("state = ?")
            args.append(state)
        if cond:
            sql += " WHERE " + " AND ".join(cond)
        return [self._row(r) for r in self._db.execute(sql + " ORDER BY path", args)]

    def put(self, row: ManifestRow) -> None:
        """Insert or replace a row (committed at once)."""
        self._db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.collection,
                row.path,
                row.content_hash,
                row.config,
                json.dumps(row.chunk_ids),
                json.dumps(row.stale_ids),
                row.state,
                row.updated_at,
            ),
        )

    @staticmethod
    def _row(r: tuple[Any, ...]) -> ManifestRow:
        return ManifestRow(r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5]), r[6], r[7])


# -- ingestion ---------------------------------------------------------------------------------------


@dataclass
class IngestReport:
    """What one ingest run did."""

    collection: str
    files_found: int = 0
    files_ingested: int = 0
    files_unchanged: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    resumed: int = 0
    problems: list[Problem] = field(default_factory=list)
    pending_elsewhere: int = 0
    seconds: float = 0.0

    @property
    def skipped(self) -> int:
        """Number of bad files skipped."""
        return len(self.problems)

    @property
    def ok(self) -> bool:
        """True when at least one good file is in memory (added now or already up to date)."""
        return self.files_ingested + self.files_unchanged > 0

    def summary(self) -> str:
        """One line: files, chunks, skipped, seconds."""
        parts = [f"ingested {self.files_ingested} file{'s' * (self.files_ingested != 1)}"]
        parts.append(f"{self.chunks_added} chunk{'s' * (self.chunks_added != 1)} added")
        if self.chunks_removed:
            parts.append(f"{self.chunks_removed} old removed")
        parts.append(f"{self.files_unchanged} unchanged")
        if self.resumed:
            parts.append(f"{self.resumed} resumed")
        parts.append(f"{self.skipped} skipped")
        return f"{', '.join(parts)} into {self.collection!r} in {self.seconds:.1f} s"


def chunk_id(path: str, content_hash: str, config: str, index: int) -> str:
    """Deterministic id of one chunk: the same file, content and settings always give the same ids."""
    return hashlib.sha256(f"{path}\0{content_hash}\0{config}\0{index}".encode()).hexdigest()[:32]


def ingest_paths(
    paths: Sequence[str | os.PathLike[str]],
    *,
    collection: str = "materials",
    course: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    max_bytes: int = DEFAULT_MAX_BYTES,
    memory: Memory | None = None,
    console: Console | None = None,
) -> IngestReport:
    """Ingest files and folders into a memory collection; bad files are reported in the result and skipped.

    Raises DataError when a named path does not exist; never half-writes a file (see the module docstring).
    With a `console`, problems are printed one line each and a progress bar is shown on it.
    """
    started = time.perf_counter()
    check_collection(collection)
    if collection in PRIVATE:
        raise ConfigError(
            f"files cannot be ingested into {collection!r} (one learner's own texts)",
            hint=f"use one of: {', '.join(c for c in COLLECTIONS if c not in PRIVATE)}",
        )
    check_chunking(chunk_size, overlap)
    if max_bytes <= 0:
        raise ConfigError(f"the size limit must be positive, got {max_bytes} bytes")
    course = course.strip() if course and course.strip() else None
    files, problems = discover(paths)
    report = IngestReport(collection=collection, files_found=len(files) + len(problems))
    if memory is None:
        from pedagraph.memory.store import get_memory

        memory = get_memory()
    manifest = Manifest(memory.home / MANIFEST_NAME)
    config = f"v{CHUNKER_VERSION}:size={chunk_size}:overlap={overlap}:course={course or ''}"

    def note(problem: Problem) -> None:
        report.problems.append(problem)
        if console is not None:
            from rich.markup import escape

            console.print(f"[yellow]{escape(str(problem))}[/yellow]", highlight=False, soft_wrap=True)

    for problem in problems:
        note(problem)
    processed: set[str] = set()
    try:
        with _progress(console, len(files)) as advance:
            for path, kind, shown in files:
                key = str(path)
                processed.add(key)
                advance(path.name)
                try:
                    _ingest_one(path, kind, key, memory, manifest, report, collection, course, config,
                                chunk_size, overlap, max_bytes)  # fmt: skip
                except DataError as exc:
                    note(Problem(shown, exc.one_line()))
                except OSError as exc:
                    note(Problem(shown, f"cannot read: {exc.strerror or exc}"))
        others = [r for r in manifest.rows(collection, "pending") if r.path not in processed]
        report.pending_elsewhere = len(others)
        if others and console is not None:
            console.print(
                f"[yellow]{len(others)} file(s) from an interrupted run were not named this time and are "
                f"incomplete, e.g. {others[0].path}: ingest them again[/yellow]",
                highlight=False,
                soft_wrap=True,
            )
    finally:
        manifest.close()
    report.seconds = time.perf_counter() - started
    return report


def _ingest_one(
    path: Path,
    kind: str,
    key: str,
    memory: Memory,
    manifest: Manifest,
    report: IngestReport,
    collection: str,
    course: str | None,
    config: str,
    chunk_size: int,
    overlap: int,
    max_bytes: int,
) -> None:
    size = path.stat().st_size
    if size > max_bytes:
        raise DataError(f"larger than the size limit ({size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB)")
    if size == 0:
        raise DataError("empty file")
    data = path.read_bytes()
    content_hash = hashlib.sha256(data).hexdigest()
    row = manifest.get(collection, key)
    if row and row.state == "complete" and row.content_hash == content_hash and row.config == config:
        # Trust the manifest only as far as the store agrees (the store may have been wiped or edited).
        if len(memory.existing_ids(collection, row.chunk_ids)) == len(row.chunk_ids):
            report.files_unchanged += 1
            return
    doc = PARSERS[kind](data)
    chunks = chunk_document(doc, chunk_size, overlap)
    if not chunks:
        raise DataError("no text found")
    new_ids = [chunk_id(key, content_hash, config, c.index) for c in chunks]
    old = set(row.chunk_ids) | set(row.stale_ids) if row else set()
    stale = sorted(old - set(new_ids))
    if row and row.state == "pending":
        report.resumed += 1
    manifest.put(ManifestRow(collection, key, content_hash, config, new_ids, stale, "pending", time.time()))
    present = memory.existing_ids(collection, new_ids)
    todo = [(cid, c) for cid, c in zip(new_ids, chunks, strict=True) if cid not in present]
    for start in range(0, len(todo), EMBED_BATCH):
        batch = todo[start : start + EMBED_BATCH]
        vectors = memory.embed([c.embedding_text() for _, c in batch])
        metas = [_chunk_metadata(path, kind, content_hash, c, len(chunks), course) for _, c in batch]
        memory.add(collection, [c.text for _, c in batch], metas, [cid for cid, _ in batch], embeddings=vectors)
    if stale:
        memory.delete(collection, ids=stale)
    manifest.put(ManifestRow(collection, key, content_hash, config, new_ids, [], "complete", time.time()))
    report.files_ingested += 1
    report.chunks_added += len(todo)
    report.chunks_removed += len(stale)


def _chunk_metadata(
    path: Path, kind: str, content_hash: str, chunk: Chunk, n_chunks: int, course: str | None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "source": str(path),
        "filename": path.name,
        "kind": kind,
        "content_hash": content_hash[:16],
        "chunk_index": chunk.index,
        "n_chunks": n_chunks,
        "char_start": chunk.char_start,
        "char_end": chunk.char_end,
    }
    if chunk.heading:
        meta["heading"] = chunk.heading
    if chunk.page is not None:
        meta["page"] = chunk.page
    if course:
        meta["course"] = course
    return meta


class _progress:
    """A rich progress bar on the given console, or nothing."""

    def __init__(self, console: Console | None, total: int) -> None:
        self.console = console
        self.total = total
        self._progress: Any = None
        self._task: Any = None
        self._current: str | None = None

    def __enter__(self) -> Callable[[str], None]:
        if self.console is not None and self.total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("ingesting"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("", total=self.total)
        return self._advance

    def _advance(self, name: str) -> None:
        if self._progress is None:
            return
        if self._current is not None:
            self._progress.advance(self._task)
        self._current = name
        self._progress.update(self._task, description=name)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            if self._current is not None:
                self._progress.advance(self._task)
            self._progress.stop()
