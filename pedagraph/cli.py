"""The `pedagraph` command line."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pedagraph import __version__
from pedagraph.errors import PedagraphError
from pedagraph.redact import redact
from pedagraph.settings import CONFIG_ENV, ROLES

app = typer.Typer(
    name="pedagraph",
    help="Build, run and evaluate LLM teachers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        console.print(f"pedagraph {__version__}")
        raise typer.Exit()


def load_dotenv_file() -> None:
    """Read `.env` from the working directory into the environment (existing variables win)."""
    from dotenv import load_dotenv

    path = Path.cwd() / ".env"
    if path.is_file():
        load_dotenv(path, override=False)


@app.callback()
def _root(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Path to pedagraph.toml (or set PEDAGRAPH_CONFIG).")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Build, run and evaluate LLM teachers."""
    load_dotenv_file()
    if config is not None:
        if not config.is_file():
            raise PedagraphError(f"config file not found: {config}", hint="check the --config path")
        os.environ[CONFIG_ENV] = str(config.resolve())


@app.command()
def models(
    role: Annotated[list[str] | None, typer.Option("--role", "-r", help="Only these roles.")] = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Send one request to each model.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each live check.")] = 30.0,
) -> None:
    """Show each role's resolved provider, model and base URL, and check it with a live round trip."""
    from langchain_core.messages import HumanMessage

    from pedagraph.llm import describe_model, get_model
    from pedagraph.prompts import load_prompt

    roles = role or list(ROLES)
    for r in roles:
        if r not in ROLES:
            raise PedagraphError(f"unknown role {r!r}", hint=f"use one of: {', '.join(ROLES)}")
    table = Table(title="pedagraph models", show_lines=False)
    for col in ("role", "provider", "model", "base URL", "API key", "check"):
        table.add_column(col, overflow="fold")
    failures: list[str] = []
    scripted = False
    for r in roles:
        info = describe_model(r)
        scripted |= info.is_scripted
        status = "skipped"
        if check:
            start = time.perf_counter()
            try:
                model = get_model(r, cache=False, max_retries=0, timeout=timeout)
                model.invoke([HumanMessage(content=load_prompt("llm/ping"))])
                ms = (time.perf_counter() - start) * 1000
                status = f"[green]ok[/green] {ms:.0f} ms"
            except PedagraphError as exc:
                failures.append(f"{r}: {redact(exc.one_line())}")
                status = "[red]failed[/red]"
            except Exception as exc:  # noqa: BLE001 - anything else is still one line
                failures.append(f"{r}: {type(exc).__name__}: {redact(' '.join(str(exc).split()))[:300]}")
                status = "[red]failed[/red]"
        table.add_row(r, info.provider, info.model_name, info.base_url or "-", info.api_key, status)
    console.print(table)
    if scripted:
        console.print(
            "[yellow]Roles on `scripted` get templated offline replies, not a language model.[/yellow] "
            "Set PEDAGRAPH_MODEL (e.g. openai:gpt-4o-mini, or ollama:qwen2.5:7b) to connect one."
        )
    for line in failures:
        console.print(f"[red]failed[/red] {escape(line)}", soft_wrap=True, highlight=False)
    if failures:
        raise typer.Exit(code=1)


def _not_yet(issue: int, what: str) -> None:
    err_console.print(f"[red]error:[/red] {what} is not built yet (tracked in issue #{issue}).")
    raise typer.Exit(code=2)


from pedagraph.memory.cli import ingest as _ingest  # noqa: E402

app.command(name="ingest")(_ingest)


@app.command()
def ui(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 7860,
) -> None:
    """Start the Gradio tutoring app."""
    _not_yet(4, "the Gradio app")


def main() -> None:
    """Entry point: run the CLI, turning known errors into one line and a non-zero exit code."""
    try:
        app()
    except PedagraphError as exc:
        err_console.print(f"[red]error:[/red] {escape(redact(exc.one_line()))}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
