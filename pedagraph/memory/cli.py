"""The `pedagraph ingest` command (registered in `pedagraph.cli`); imports nothing heavy until it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or folders (searched recursively): .md, .markdown, .txt, .pdf, .html, .htm."),
    ],
    collection: Annotated[
        str, typer.Option("--collection", help="Memory collection: materials, strategies or examples.")
    ] = "materials",
    course: Annotated[
        str | None, typer.Option("--course", help="Course name stored with every chunk (a search filter).")
    ] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", help="Target chunk length in characters.")] = 800,
    overlap: Annotated[int, typer.Option("--overlap", help="Characters repeated from the previous chunk.")] = 100,
    max_size_mb: Annotated[float, typer.Option("--max-size-mb", help="Skip files larger than this.")] = 20.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Add course material (Markdown, text, PDF, HTML files or folders) to the retrieval memory.

    Unchanged files are skipped, edited files replace their old chunks, bad files are reported and skipped.
    """
    from rich.console import Console
    from rich.markup import escape

    from pedagraph.errors import PedagraphError
    from pedagraph.memory.ingest import ingest_paths
    from pedagraph.redact import redact

    err = Console(stderr=True)
    out = Console(highlight=False)
    try:
        report = ingest_paths(
            paths,
            collection=collection,
            course=course,
            chunk_size=chunk_size,
            overlap=overlap,
            max_bytes=int(max_size_mb * 1024 * 1024),
            console=None if quiet else err,
        )
    except PedagraphError as exc:
        err.print(f"[red]error:[/red] {escape(redact(exc.one_line()))}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    if quiet:
        for problem in report.problems:
            err.print(escape(str(problem)), highlight=False, soft_wrap=True)
    out.print(report.summary(), soft_wrap=True)
    if not report.ok:
        what = f"all {report.skipped} file(s) were skipped" if report.skipped else "no files found"
        err.print(f"[red]error:[/red] nothing could be ingested: {what}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1)
