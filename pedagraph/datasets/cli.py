"""The `pedagraph data` commands (registered in `pedagraph.cli`): list, fetch, path, verify."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

data_app = typer.Typer(
    name="data",
    help="The datasets the suites use: pinned sources, checksums, licences; fetch them or use a local copy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

_FROM_HELP = "Use the local copy in DIR instead of the network (default: PEDAGRAPH_DATA_DIR)."


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def _consoles() -> tuple[Console, Console]:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True), Console(stderr=True, highlight=False, soft_wrap=True)


def _rows() -> list[dict[str, object]]:
    """One record per dataset: name, main file, files, licence, size, suites and where its files are here."""
    from pedagraph.datasets.store import DATASETS, data_home, local_copy, locate

    local, home = local_copy(), data_home()
    rows: list[dict[str, object]] = []
    for dataset in DATASETS:
        found = [locate(f.key, local=local, home=home, use_env=False, sample=False) for f in dataset.files]
        origins = {x.origin for x in found if x is not None}
        if len([x for x in found if x]) < len(found):
            here = "partly" if origins else "sample"
        else:
            here = " + ".join(sorted(origins))
        known = sum(f.size or 0 for f in dataset.files)
        rows.append({
            "dataset": dataset.name,
            "main": dataset.main.key,
            "main_pinned": bool(dataset.main.sha256),
            "files": [f.key for f in dataset.files],
            "pinned": sum(bool(f.sha256) for f in dataset.files),
            "licence": dataset.licence,
            "size": dataset.size if dataset.size is not None else None,
            "known_size": known,
            "suites": list(dataset.suites),
            "here": here,
        })  # fmt: skip
    return rows


@data_app.command(name="list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list, one object per dataset (for scripts).")] = False,
) -> None:
    """List the registry: one row per dataset (files, licence, size, suites, where it is here); `--json` for scripts."""
    import json
    import sys

    from rich import box
    from rich.table import Table

    from pedagraph.datasets.store import data_home, local_copy

    out, _ = _consoles()
    rows = _rows()
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    local, home = local_copy(), data_home()
    piped = not out.is_terminal
    table = Table(title=None if piped else "pedagraph datasets", box=None if piped else box.HEAVY_HEAD)
    for col in ("dataset", "main file (--data NAME)", "files", "licence", "size", "suites", "here"):
        table.add_column(col, no_wrap=piped, overflow="ignore" if piped else "fold")
    for r in rows:
        files = list(r["files"])  # type: ignore[call-overload]
        size = int(r["known_size"])  # type: ignore[call-overload]
        shown = _size(size) if r["size"] is not None else (f"{_size(size)} + ?" if size else "?")
        table.add_row(str(r["dataset"]), f"{r['main']}{'' if r['main_pinned'] else ' *'}",
                      f"{len(files)} ({r['pinned']} pinned)", str(r["licence"]), shown,
                      ", ".join(r["suites"]), str(r["here"]))  # type: ignore[arg-type]  # fmt: skip
    if piped:
        from rich.console import Console

        out = Console(highlight=False, soft_wrap=True, width=10_000)  # one line per row, whatever the width
    out.print(table)
    out.print("* no pinned upstream sha256 (the reference copy here is a subset): a fetch reports its checksum")
    out.print("here: sample = only the bundled sample (the first rows of each file); `pedagraph data fetch NAME`")
    out.print("files of a dataset: `pedagraph data path NAME`; sources and licences: docs/datasets.md")
    out.print(f"fetched files: {home}")
    out.print(f"local copy: {local} (PEDAGRAPH_DATA_DIR)" if local else "local copy: none (PEDAGRAPH_DATA_DIR)")


@data_app.command()
def fetch(
    names: Annotated[list[str] | None, typer.Argument(help="Dataset names or file keys (gsm8k/test.jsonl).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dataset of the registry.")] = False,
    from_: Annotated[Path | None, typer.Option("--from", help=_FROM_HELP, metavar="DIR")] = None,
    mirror: Annotated[
        str | None,
        typer.Option("--mirror", help="Download <URL>/<key> instead of upstream (or PEDAGRAPH_DATA_URL_BASE)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even when a whole copy is in place.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Download datasets into $PEDAGRAPH_HOME/data (checksum-verified, resumable), or copy them from a local copy."""
    from rich.markup import escape

    from pedagraph.datasets.store import CHECKSUM_TEXT, Fetcher, dataset_names, select
    from pedagraph.errors import PedagraphError

    out, err = _consoles()
    if all_ == bool(names):
        raise PedagraphError(
            "name the datasets to fetch, or pass --all (not both)", hint=f"datasets: {', '.join(dataset_names())}"
        )
    selection = select(dataset_names() if all_ else names or [])
    with Fetcher(source_dir=from_, mirror=mirror, force=force, console=None if quiet else err) as fetcher:
        where = f"the local copy {fetcher.source_dir}" if fetcher.offline else (fetcher.mirror or "upstream")
        out.print(f"fetching into {fetcher.home} from {escape(str(where))}")
        for dataset, files in selection:
            for file in files:
                r = fetcher.fetch_file(file)
                how = {"present": "already here", "copied": "copied", "downloaded": "downloaded"}[r.action]
                speed = f", {_size(int(r.throughput))}/s" if r.throughput else ""
                resumed = f", resumed at {_size(r.resumed_from)}" if r.resumed_from else ""
                timing = f" in {r.seconds:.2f} s{speed}{resumed}" if r.action != "present" else ""
                out.print(
                    f"{r.key}: {how} ({_size(r.size)}{timing}); sha256 {r.sha256[:16]}… {CHECKSUM_TEXT[r.checksum]}"
                )
            out.print(
                f"  {dataset.title}: licence {dataset.licence} ({dataset.licence_url}); cite {dataset.citation}"
            )


@data_app.command()
def path(name: Annotated[str, typer.Argument(help="A dataset name or a file key (gsm8k/test.jsonl).")]) -> None:
    """Print where a dataset's files are (the local copy first, else the fetched copy), one per line."""
    from pedagraph.datasets.store import find_file, get_dataset, require

    out, _ = _consoles()
    keys = [name] if find_file(name) is not None else [f.key for f in get_dataset(name).files]
    for key in keys:
        out.print(str(require(key).path), markup=False)


@data_app.command()
def verify(
    names: Annotated[list[str] | None, typer.Argument(help="Dataset names or file keys (default: all).")] = None,
    from_: Annotated[
        Path | None,
        typer.Option("--from", help="Check the local copy in DIR (default: PEDAGRAPH_DATA_DIR).", metavar="DIR"),
    ] = None,
) -> None:
    """Check the sha256 of the fetched files and the local copy against the pinned upstream ones."""
    from rich.markup import escape
    from rich.table import Table

    from pedagraph.datasets.store import data_home, local_copy, verify

    out, err = _consoles()
    local = from_ or local_copy()
    if local is not None and not local.is_dir():
        from pedagraph.errors import DataError

        raise DataError(f"local copy {local} is not a directory", hint="check --from / PEDAGRAPH_DATA_DIR")
    checks = verify(names, local=local, use_env=False)
    short = {
        "verified": "matches upstream",
        "differs": "differs from upstream: reported, not enforced",
        "unpinned": "no pinned upstream sha256",
    }
    table = Table(title="pedagraph data verify")
    for col in ("file", "where", "sha256", "status"):
        table.add_column(col, overflow="fold")
    for c in checks:
        colour = {"verified": "green", "corrupt": "red", "differs": "yellow"}.get(c.status, "")
        word = f"[{colour}]{c.status}[/{colour}]" if colour else c.status
        table.add_row(c.key, c.where, c.sha256[:16] + "…", f"{word}: {escape(short.get(c.status, c.detail))}")
    out.print(table)
    counts = {s: sum(c.status == s for c in checks) for s in ("verified", "differs", "unpinned", "corrupt")}
    out.print(
        f"{len(checks)} file(s) checked: " + ", ".join(f"{n} {s}" for s, n in counts.items())
        + f" (fetched files in {data_home()}" + (f"; local copy {local})" if local else "; no local copy)")
    )
    if not checks:
        out.print("nothing to verify: fetch a dataset (`pedagraph data fetch NAME`) or set PEDAGRAPH_DATA_DIR")
    bad = [c for c in checks if not c.ok]
    if bad:
        for c in bad:
            err.print(f"[red]error:[/red] {c.key} ({c.where}): {escape(c.detail)}", highlight=False)
        err.print("fetch them again with `pedagraph data fetch --force NAME`")
        raise typer.Exit(code=1)
