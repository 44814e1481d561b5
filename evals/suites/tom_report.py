"""The `tom` suite's report body and plots: the paper's curves and table, multi-turn, costs, calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["render_tom_report", "tom_plots"]

_FUNCTION_LABELS = {
    "expected_utility": "expected utility (ToM)", "teacher_confidence": "teacher confidence",
    "mm_pre": "mental model pre", "mm_post": "mental model post",
    "oracle": "oracle: where the student is wrong, any budget (ref., reads the student)",
    "least_confident": "least-confident student (ref., reads the student)",
    "student_pre_gold": "lowest student P(gold) unaided (ref., reads the student)",
    "student_post_gold": "highest student P(gold) explained (ref., reads the student)",
    "true_utility": "highest true utility, P(gold) with - without (ref., reads the student)",
}  # fmt: skip
_CONDITION_LABELS = {"teacher": "teacher-explained", "none": "unexplained (control)", "human": "human-explained"}


_MODES = {"cot": "by reasoning first (chain of thought; the answer is read from its last line)",
          "direct": "directly (no reasoning)"}


def _cell(point: dict[str, Any]) -> str:
    return f"{point['mean']:.3f} ± {point['se']:.3f}"


def _curve_table(by_function: dict[str, list[dict[str, Any]]], budgets: list[float],
                 labels: dict[str, str] = _FUNCTION_LABELS) -> list[str]:  # fmt: skip
    lines = ["| function | " + " | ".join(f"{b:g}" for b in budgets) + " |", "|---" * (len(budgets) + 1) + "|"]
    for function, points in by_function.items():
        lines.append(f"| {labels.get(function, function)} | " + " | ".join(_cell(p) for p in points) + " |")
    return lines


def _setup_lines(suite: Any, metrics: dict[str, Any], results: list[dict[str, Any]]) -> list[str]:
    first = results[0]
    methods = metrics.get("methods", {})
    read = "; ".join(f"{name}: " + ", ".join(f"{m} {n}" for m, n in sorted(counts.items()))
                     for name, counts in methods.items() if counts) or "none measured"  # fmt: skip
    lines = [
        "## Theory-of-Mind teacher (Saha et al. 2023)",
        "",
        f"Teacher `{first.get('teacher')}` explains to student `{first.get('student')}` on {len(results)} "
        f"{suite.dataset} test items x seeds {', '.join(map(str, suite.seeds))}; accuracy is the mean over seeds "
        "± its standard error over seeds. Every budget and function is replayed from one measurement per item "
        "and seed (the student's answer without and with the explanation, the mental model's probabilities).",
        "",
        f"How probabilities and answers were read: {read}.",
        "",
        f"The student answers unaided {_MODES.get(suite.student_mode, suite.student_mode)}; given an explanation "
        f"it answers directly. The mental model's post bank holds the student's answers after the teacher's "
        f"`{suite.config.bank_explanation}` explanations of the calibration items.",
    ]
    for kind, g in (metrics.get("p_gold") or {}).items():
        if g.get("n"):
            lines += ["", f"The student's mean probability of the gold answer ({kind} explanations, {g['n']} "
                      f"item-seeds): {g['pre']:.3f} unaided, {g['post']:.3f} with the explanation."]
    if first.get("scripted_teacher"):
        lines += ["", "> The teacher is the built-in **scripted** model: it has no mental model and no confidence, "
                  "so every function but the references ranks items by its seeded tie-break (a random order)."]
    if first.get("scripted_teacher") or str(first.get("student", "")).startswith("scripted"):
        lines += ["", "> Offline run: the tables below check the pipeline (every row, curve and control is produced "
                  "and replayed), not the behaviour of a language model."]
    if metrics.get("oracle_explained") is not None:
        lines += ["", f"The oracle ignores the budget: it explains every item the unaided student gets wrong, "
                  f"{metrics['oracle_explained']:.0%} of the item-seeds, at every budget. The functions marked "
                  "*reads the student* are references: they need the real student's answers or probabilities, "
                  "which a deployed teacher does not have."]
    return lines


def render_tom_report(suite: Any, metrics: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """Markdown body of report.md for the tom suite."""
    curves = metrics.get("curves", {})
    budgets = list(suite.budgets)
    lines = _setup_lines(suite, metrics, results)
    for kind, by_function in curves.items():
        lines += ["", f"### Student accuracy against budget ({kind} explanations)", ""]
        lines += _curve_table(by_function, budgets)
        lines += _checks(by_function)
    if len(curves) > 1:
        function = "expected_utility" if "expected_utility" in suite.functions else suite.functions[0]
        lines += ["", f"### Explanation types ({_FUNCTION_LABELS.get(function, function)})", ""]
        lines += _curve_table({k: curves[k][function] for k in curves}, budgets)
    lines += _multiturn_lines(metrics.get("multiturn"), suite)
    lines += _cost_lines(metrics.get("costs", {}))
    lines += _calibration_lines(metrics.get("calibration", {}))
    return "\n".join(lines)


def _multiturn_lines(turns: Any, suite: Any) -> list[str]:
    """Multi-turn (RQ4): accuracy per number of demos, one column per demo set."""
    if not turns:
        return []
    if isinstance(turns, list):  # a summary written before the demo sets
        turns = {"teacher": turns}
    conditions = [c for c in _CONDITION_LABELS if c in turns]
    counts = [p["explained_demos"] for p in turns[conditions[0]]]
    lines = ["", "### Multi-turn: pool items as the student's only demos, then every test item unexplained", "",
             f"The teacher (`{suite.config.multiturn_explanation}`) answers and explains n training items; they "
             "replace the student's demos. The control uses the same items with the teacher's answers and no "
             "explanations; the human column the same items with the human explanations and gold answers.", "",
             "| demos | " + " | ".join(_CONDITION_LABELS[c] for c in conditions) + " |",
             "|---" * (len(conditions) + 1) + "|"]  # fmt: skip
    for i, n in enumerate(counts):
        lines.append(f"| {n} | " + " | ".join(_cell(turns[c][i]) for c in conditions) + " |")
    return lines


def _checks(by_function: dict[str, list[dict[str, Any]]]) -> list[str]:
    from pedagraph.methods.tom.mental_model import IGNORES_BUDGET

    zero = {f: pts[0]["mean"] for f, pts in by_function.items()
            if pts and pts[0]["budget"] == 0 and f not in IGNORES_BUDGET}  # fmt: skip
    one = {f: pts[-1]["mean"] for f, pts in by_function.items()
           if pts and pts[-1]["budget"] == 1 and f not in IGNORES_BUDGET}  # fmt: skip
    out = []
    if zero:
        same = len(set(zero.values())) == 1
        out.append(f"Budget 0 (no intervention): {next(iter(zero.values())):.3f}" + ("" if same else " (differs!)"))
    if one:
        same = len(set(one.values())) == 1
        out.append(f"budget 1 (always explain): {next(iter(one.values())):.3f}" + ("" if same else " (differs!)"))
    return ["", "; ".join(out) + "."] if out else []


def _cost_lines(costs: dict[str, Any]) -> list[str]:
    lines = []
    for kind, by_function in costs.items():
        lines += ["", f"### Cost per item of each function ({kind} explanations)", "",
                  "Calls and tokens (in / out) per item spent to rank the items (the mental model's cost), per "
                  "explanation given, and the unaided answer every item gets.", "",
                  "| function | calls to rank | tokens to rank | calls per explanation | tokens per explanation "
                  "| unaided answer (calls / tokens) |", "|---|---|---|---|---|---|"]  # fmt: skip
        for function, c in by_function.items():
            d, e, b = c["decide"], c["explain"], c["base"]
            lines.append(
                f"| {_FUNCTION_LABELS.get(function, function)} | {d['calls']:g} | {d['input_tokens']:g} / "
                f"{d['output_tokens']:g} | {e['calls']:g} | {e['input_tokens']:g} / {e['output_tokens']:g} | "
                f"{b['calls']:g} / {b['input_tokens'] + b['output_tokens']:g} |"
            )
    return lines


def _calibration_lines(calibration: dict[str, Any]) -> list[str]:
    if not calibration:
        return []
    lines = ["", "### Calibration (the student on the training pool)", "",
             "| seed | accuracy unaided | with the human explanation | with the teacher's explanation (post bank) "
             "| useful explanations | reused |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for seed, c in calibration.items():
        cells = [_num(c.get(k)) for k in ("pre_accuracy", "post_accuracy", "teacher_post_accuracy")]
        lines.append(f"| {seed} | " + " | ".join(cells) + f" | {c.get('useful_explanations')} | {c.get('reused')} |")
    return lines


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.2f}"


def _plot_curves(ax: Any, by_function: dict[str, list[dict[str, Any]]]) -> None:
    from pedagraph.methods.tom.mental_model import REFERENCES

    for function, points in by_function.items():
        xs = [p["budget"] for p in points]
        ys = [p["mean"] for p in points]
        se = [p["se"] for p in points]
        style = "--" if function in (*REFERENCES, "misaligned") else "-"
        (line,) = ax.plot(xs, ys, style, marker="o", ms=3, label=_FUNCTION_LABELS.get(function, function))
        ax.fill_between(xs, [y - s for y, s in zip(ys, se, strict=True)], [y + s for y, s in zip(ys, se, strict=True)],
                        color=line.get_color(), alpha=0.15)  # fmt: skip
    ax.set_xlabel("budget (fraction of items explained)")
    ax.set_ylabel("student accuracy (mean ± SE over seeds)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def tom_plots(suite: Any, metrics: dict[str, Any], results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write the budget curves (one PNG per explanation type), the explanation types and the multi-turn curve."""
    import matplotlib.pyplot as plt

    paths = []
    title = f"{suite.dataset}: {results[0].get('teacher')} teaches {results[0].get('student')}"
    for kind, by_function in metrics.get("curves", {}).items():
        fig, ax = plt.subplots(figsize=(6, 4))
        _plot_curves(ax, by_function)
        ax.set_title(f"{title}\n{kind} explanations, {len(results)} items x {len(suite.seeds)} seeds", fontsize=8)
        paths.append(_save(fig, out_dir / f"budget_{kind}.png"))
    curves = metrics.get("curves", {})
    if len(curves) > 1:
        function = "expected_utility" if "expected_utility" in suite.functions else suite.functions[0]
        fig, ax = plt.subplots(figsize=(6, 4))
        _plot_curves(ax, {k: curves[k][function] for k in curves})
        ax.set_title(f"{title}\nexplanation types ({function})", fontsize=8)
        paths.append(_save(fig, out_dir / "explanation_types.png"))
    turns = metrics.get("multiturn") or {}
    if isinstance(turns, list):
        turns = {"teacher": turns}
    if turns:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for condition, points in turns.items():
            xs, ys, se = ([p[k] for p in points] for k in ("explained_demos", "mean", "se"))
            ax.errorbar(xs, ys, yerr=se, marker="o", capsize=4, label=_CONDITION_LABELS.get(condition, condition))
        ax.set_xlabel("pool items as the student's demos")
        ax.set_ylabel("accuracy, no intervention")
        ax.set_title(f"{title}\nmulti-turn", fontsize=8)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        paths.append(_save(fig, out_dir / "multiturn.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
