"""The teachers' "Learning outcomes" tab: a finished `outcomes` run's comparison table, paired differences and plot.

Runs are read from `$PEDAGRAPH_HOME/runs/` only (a run written with `pedagraph eval outcomes --out
~/.pedagraph/runs/NAME`): the tab lists the directories there whose `summary.json` is an outcomes run, and a
teacher picks one; no path is typed, so nothing outside that folder is read. `outcomes_view(run_dir)` is the
data function (tested without a browser); `build_outcomes_tab()` adds the tab inside a `gr.Blocks`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pedagraph.errors import DataError

__all__ = ["OutcomesView", "build_outcomes_tab", "list_runs", "outcomes_view", "runs_root"]

COLUMNS = ["policy", "normalised gain", "95% CI", "telling rate", "turns", "tokens", "explanations",
           "gain / turn", "gain / 100 tokens", "learners"]  # fmt: skip


def runs_root() -> Path:
    """Where the tab looks for runs: `$PEDAGRAPH_HOME/runs`."""
    from pedagraph.settings import load_settings

    return load_settings().home / "runs"


def _summary(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("suite") == "outcomes" else None


def list_runs(root: Path | None = None) -> list[str]:
    """Names of the finished outcomes runs under the runs folder, newest first."""
    root = root or runs_root()
    if not root.is_dir():
        return []
    runs = [d for d in root.iterdir() if d.is_dir() and _summary(d) is not None]
    return [d.name for d in sorted(runs, key=lambda d: (d / "summary.json").stat().st_mtime, reverse=True)]


@dataclass
class OutcomesView:
    """What the tab shows of one run."""

    rows: list[list[Any]]
    differences: list[list[Any]]
    plot: str | None
    notes: str
    realism: list[list[Any]] = field(default_factory=list)


def _fmt(m: dict[str, Any] | None, digits: int = 3) -> str:
    if not m or m.get("value") is None:
        return "n/a"
    return f"{m['value']:.{digits}f}"


def _ci(m: dict[str, Any] | None) -> str:
    if not m or m.get("ci_low") is None or m.get("ci_high") is None:
        return ""
    return f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}]"


def outcomes_view(name: str, root: Path | None = None) -> OutcomesView:
    """The comparison table, paired differences, realism and plot of the run `name` under the runs folder."""
    from pedagraph.evals.suites.outcomes import gain_help_plot, metrics_by_policy

    root = (root or runs_root()).resolve()
    if not name or name != Path(name).name or name in (".", ".."):  # a run's name, never a path
        raise DataError("pick a run from the list")
    run_dir = (root / name).resolve()
    if run_dir.parent != root:
        raise DataError("pick a run from the list")
    summary = _summary(run_dir)
    if summary is None:
        raise DataError(f"{name} is not a finished outcomes run")
    metrics = summary.get("metrics") or {}
    rows = []
    for policy, figs in metrics_by_policy(metrics).items():
        g = figs.get("normalised_gain")
        rows.append([policy, _fmt(g), _ci(g), _fmt(figs.get("telling_rate"), 2), _fmt(figs.get("turns"), 1),
                     _fmt(figs.get("tokens"), 0), _fmt(figs.get("explanations"), 1), _fmt(figs.get("gain_per_turn")),
                     _fmt(figs.get("gain_per_100_tokens")), (g or {}).get("n", 0)])  # fmt: skip
    differences = [[k.split(".")[1].replace("-", " − "), _fmt(v), _ci(v)]
                   for k, v in metrics.items() if k.startswith("diff.")]  # fmt: skip
    realism = [[k.split(".", 1)[1].replace("_", " "), _fmt(v)] for k, v in metrics.items() if k.startswith("realism.")]
    plot = run_dir / "outcomes_gain_vs_help.png"
    if not plot.is_file() and rows:
        made = gain_help_plot(metrics, plot)
        plot = made if made is not None else plot
    counts = summary.get("counts") or {}
    models = (summary.get("config") or {}).get("models") or {}
    student = models.get("student", {}).get("model", "?")
    notes = (f"Run `{name}`: {counts.get('ok', 0)} scored, {counts.get('errors', 0)} errors; student `{student}`"
             + ("" if summary.get("complete") else " — incomplete run") + ". Normalised gain is the rise on new "
             "problems of the same skills, as a share of what was left to learn; the interval is 95% over "
             "learners. Simulated learners, not your class: compare policies, not absolute numbers.")  # fmt: skip
    return OutcomesView(rows=rows, differences=differences, plot=str(plot) if plot.is_file() else None,
                        notes=notes, realism=realism)  # fmt: skip


def build_outcomes_tab() -> None:
    """Add the "Learning outcomes" tab to the gr.Blocks being built (call inside `with gr.Blocks()`)."""
    import gradio as gr
    from pedagraph.prompts import load_prompt
    from pedagraph.ui.identity import teacher_only

    from pedagraph.errors import PedagraphError

    def show(name: str | None) -> tuple[Any, ...]:
        try:
            view = outcomes_view(name or "")
        except PedagraphError as exc:
            return [], [], [], None, f"**{exc.one_line()}**"
        return view.rows, view.differences, view.realism, view.plot, view.notes

    def refresh() -> Any:
        return gr.update(choices=list_runs())

    with gr.Tab("Learning outcomes"):
        gr.Markdown(load_prompt("ui/outcomes_intro"))
        with gr.Row():
            run = gr.Dropdown(choices=list_runs(), value=None, label="Finished run", elem_id="outcomes-run", scale=3)
            again = gr.Button("Refresh the list", elem_id="outcomes-refresh", scale=1)
        notes = gr.Markdown(elem_id="outcomes-notes")
        table = gr.Dataframe(headers=COLUMNS, label="Policies compared", elem_id="outcomes-table", interactive=False)
        diffs = gr.Dataframe(headers=["policies", "difference of normalised gain", "95% CI"],
                             label="Paired differences (same learners)", elem_id="outcomes-diffs",
                             interactive=False)  # fmt: skip
        plot = gr.Image(label="Gain versus help", type="filepath", elem_id="outcomes-plot")
        realism = gr.Dataframe(headers=["realism (Bridge)", "value"], label="Simulated vs real students",
                               elem_id="outcomes-realism", interactive=False)  # fmt: skip
        run.change(teacher_only(show), inputs=[run], outputs=[table, diffs, realism, plot, notes],
                   api_name="outcomes_view")
        again.click(teacher_only(refresh), outputs=[run], api_name=False)
