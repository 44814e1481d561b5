"""The app's "ToM teacher" tab: pick the models, a dataset slice and a budget, run the sweep, see the curves.

The sweep runs the `tom_teacher` graph in measure mode over the slice for each seed (the student's calibration is
kept in its learner model), streams a progress bar as items are scored, then replays every budget and intervention
function from the measurements (`pedagraph.methods.tom.curves`) and draws the paper's curves. Endpoint (also for
`gradio_client`): `/tom_sweep(student, teacher, dataset, start, count, budget, explanation, functions, seeds,
calibration_items)` -> plot (PNG path), table (markdown), status (markdown).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from pedagraph.prompts import load_prompt
from pedagraph.ui.identity import Refused, teacher_only

from pedagraph.errors import PedagraphError
from pedagraph.methods.tom.calls import EXPLANATION_TYPES
from pedagraph.methods.tom.items import DATASET_FILES
from pedagraph.methods.tom.mental_model import DEPLOYABLE, INTERVENTION_FUNCTIONS, REFERENCES

__all__ = ["build_tom_tab", "run_sweep", "sweep_outputs"]

BUDGETS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
MAX_ITEMS = 200
Outputs = tuple[Any, ...]


FUNCTION_WORDS: dict[str, str] = {
    "random": "at random",
    "teacher_confidence": "where the teacher is surest of the answer",
    "mm_pre": "where the student is predicted to fail",
    "mm_post": "where an explanation is predicted to work",
    "expected_utility": "where explaining is predicted to help most (the paper's method)",
    "oracle": "reference: exactly where the student is wrong",
    "least_confident": "reference: where the student is least sure",
    "student_pre_gold": "reference: where the student is least likely right",
    "student_post_gold": "reference: where an explanation makes the student likeliest right",
    "true_utility": "reference: where explaining really helps most",
    "misaligned": "a deceiving teacher: where explaining helps least",
}
"""Each intervention function in a teacher's words (the research name shows on hover in the results)."""


def _worded(function: str) -> str:
    """A function in a teacher's words, its research name on hover."""
    return f'<span title="{function}">{FUNCTION_WORDS.get(function, function)}</span>'


def _default_model(role: str) -> str:
    from pedagraph.llm import describe_model

    try:
        return describe_model(role).model
    except PedagraphError:
        return "scripted"


def allowed_models() -> list[str]:
    """The models a teacher may pick in the app: each role's configured one, `scripted`, and `[ui] models`."""
    from pedagraph.settings import ROLES, load_settings

    out = [_default_model(role) for role in ROLES] + ["scripted"] + list(load_settings().ui.models)
    return list(dict.fromkeys(m.strip() for m in out if m and m.strip()))


def check_model(value: Any, what: str) -> str:
    """A model picked in the page, refused unless the operator allowed it (nothing typed reaches a provider)."""
    if value not in allowed_models():
        raise Refused(f"the {what} model is not one this server offers: pick one from the list")
    return str(value)


def run_sweep(
    student: str, teacher: str, dataset: str, start: int, count: int, explanation: str, seeds: list[int],
    calibration_items: int, progress: Callable[[int, int, str], None] | None = None,
    functions: list[str] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Measure `count` test items from `start` for each seed through the graph; the per-item records."""
    from pedagraph.graphs.tom_teacher import Context, build_graph

    from pedagraph.methods.tom.items import registry_items

    graph = build_graph()  # the full state (the served `graph` shows a learner-facing view)

    items = registry_items(dataset, "test")[start : start + count]
    if not items:
        raise PedagraphError(f"no {dataset} test items from {start}", hint="lower the start")
    total, done, records = len(items) * len(seeds), 0, []
    for seed in seeds:
        context = Context(student_model=student or None, teacher_model=teacher or None, dataset=dataset,
                          measure=True, seed=seed, explanation=explanation, measure_explanations=[explanation],
                          calibration_items=calibration_items, function="random", budget=0.0,
                          measure_functions=list(functions or []))  # fmt: skip
        state = {"items": [i.model_dump(mode="json") for i in items]}
        for update in graph.stream(state, context=context, stream_mode="updates"):
            if "calibrate" in update and progress:
                progress(done, total, f"seed {seed}: calibrated, scoring {len(items)} items")
            for record in (update.get("score_item") or {}).get("scores", []):
                records.append(record)
                done += 1
                if progress:
                    progress(done, total, f"seed {seed}: {done} of {total} scored")
    return records


def sweep_outputs(
    records: list[dict[str, Any]], explanation: str, functions: list[str], budget: float, title: str, out_dir: Path
) -> tuple[str, str]:
    """The curves PNG (the chosen budget marked) and a markdown table of accuracy per function and budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pedagraph.evals.suites.tom_report import _curve_table, _plot_curves

    from pedagraph.methods.tom.curves import budget_curves

    budgets = sorted({*BUDGETS, round(budget, 4)})
    curves = budget_curves(records, kinds=[explanation], functions=functions, budgets=budgets)[explanation]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    _plot_curves(ax, curves)
    ax.axvline(budget, color="grey", lw=1, ls=":")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    path = out_dir / "tom_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    table = "\n".join(_curve_table(curves, budgets, {f: _worded(f) for f in curves}))
    at = {f: next(p for p in pts if abs(p["budget"] - budget) < 1e-9) for f, pts in curves.items()}
    usable = [f for f in at if f in DEPLOYABLE] or list(at)  # references read the student: never "the best"
    best = max(usable, key=lambda f: at[f]["mean"])
    tied = [f for f in usable if abs(at[f]["mean"] - at[best]["mean"]) < 1e-9]
    if all(abs(at[f]["mean"] - at[best]["mean"]) < 1e-9 for f in at) and len(at) > 1:
        why = ": the scripted student never changes its answer" if title.endswith(" teaches scripted") else ""
        head = f"At budget **{budget:g}**, all functions tie at {at[best]['mean']:.3f}{why}."
    elif len(tied) > 1:
        head = (f"At budget **{budget:g}**, {', '.join(f'**{_worded(f)}**' for f in tied)} tie for best "
                f"({at[best]['mean']:.3f}).")  # fmt: skip
    else:
        head = f"At budget **{budget:g}**, the best choice is **{_worded(best)}** ({at[best]['mean']:.3f})."
    refs = [f for f in at if f in REFERENCES]
    if refs and best not in REFERENCES:
        top = max(refs, key=lambda f: at[f]["mean"])
        head += (f" The references, which read the student's real answers, reach {at[top]['mean']:.3f} "
                 f"({_worded(top)}).")  # fmt: skip
    return str(path), f"{head}\n\n{table}"


def _sweep(
    student: str, teacher: str, dataset: str, start: float, count: float, budget: float, explanation: str,
    functions: list[str], seeds: str, calibration_items: float, progress: gr.Progress = gr.Progress(),
) -> Iterator[Outputs]:  # fmt: skip
    """The tab's handler: run the sweep with a progress bar, then show the curves and the table."""
    from pedagraph.settings import load_settings

    student, teacher = check_model(student, "student"), check_model(teacher, "teacher")
    if dataset not in DATASET_FILES or explanation not in EXPLANATION_TYPES:
        raise Refused("pick the dataset and the explanations from the lists")
    try:
        seed_list = [int(s) for s in str(seeds).replace(" ", "").split(",") if s] or [41]
        count_i = max(1, min(MAX_ITEMS, int(count)))
        cap = load_settings().ui.max_sweep_items
        if count_i * len(seed_list) > cap or not 0 <= int(calibration_items) <= 64:
            raise Refused(f"items x seeds is {count_i * len(seed_list)}; this server allows {cap} "
                          "(and at most 64 calibration items)")  # fmt: skip
        functions = [f for f in functions or DEPLOYABLE if f in INTERVENTION_FUNCTIONS]
        yield gr.skip(), gr.skip(), f"Running {count_i} items x {len(seed_list)} seed(s)…"

        def tick(done: int, total: int, text: str) -> None:
            progress((done, total), desc=text)

        records = run_sweep(student, teacher, dataset, int(start), count_i, explanation, seed_list,
                            int(calibration_items), tick, functions)  # fmt: skip
    except Refused:
        raise
    except (PedagraphError, ValueError) as exc:
        yield None, "", f"Error: {exc}"
        return
    out_dir = Path(tempfile.mkdtemp(prefix="pedagraph-tom-"))
    title = f"{dataset}[{int(start)}:{int(start) + count_i}]: {teacher or 'teacher'} teaches {student or 'student'}"
    plot, table = sweep_outputs(records, explanation, functions, float(budget), title, out_dir)
    from pedagraph.datasets import sample_notice

    note = f"{_scripted_note(student, teacher)} {sample_notice(str(DATASET_FILES[dataset]['test']))}".strip()
    yield plot, table, f"Done: {len(records)} item scores. {note}".strip()


def _scripted_note(student: str, teacher: str) -> str:
    roles = [r for r, m in (("student", student), ("teacher", teacher)) if (m or "scripted").startswith("scripted")]
    if not roles:
        return ""
    return (f"The {' and '.join(roles)} ran on the built-in scripted model (templates, not a language model): "
            "the curves show the pipeline, not a model's behaviour.")  # fmt: skip


def build_tom_tab() -> None:
    """Add the "ToM teacher" tab to the gr.Blocks being built (call inside `with gr.Blocks()`)."""
    with gr.Tab("ToM teacher"):
        gr.Markdown(load_prompt("ui/tom_intro"))
        with gr.Row():
            models = allowed_models()
            student = gr.Dropdown(models, value=_default_model("student"), label="Student model")
            teacher = gr.Dropdown(models, value=_default_model("teacher"), label="Teacher model")
            dataset = gr.Dropdown(list(DATASET_FILES), value="strategyqa", label="Dataset")
        with gr.Row():
            start = gr.Number(value=0, precision=0, minimum=0, label="First test item")
            count = gr.Number(value=20, precision=0, minimum=1, maximum=MAX_ITEMS, label="Items")
            budget = gr.Slider(0.0, 1.0, value=0.4, step=0.05, label="Budget (fraction explained)")
            explanation = gr.Dropdown(list(EXPLANATION_TYPES), value="human", label="Explanations")
        with gr.Row():
            functions = gr.CheckboxGroup(
                [(FUNCTION_WORDS.get(f, f), f) for f in INTERVENTION_FUNCTIONS], value=list(DEPLOYABLE),
                label="Which items to explain",
                info="References read the student's real answers: they show what is possible, not a choice a "
                     "teacher has.")  # fmt: skip
            seeds = gr.Textbox(value="41", label="Seeds (comma-separated)")
            calibration = gr.Number(value=8, precision=0, minimum=0, maximum=64, label="Calibration items")
        run = gr.Button("Run the sweep", variant="primary", elem_id="tom-run")
        status = gr.Markdown(elem_id="tom-status")
        plot = gr.Image(type="filepath", label="Accuracy against budget", elem_id="tom-plot")
        table = gr.Markdown(elem_id="tom-table")
        run.click(
            teacher_only(_sweep),
            inputs=[student, teacher, dataset, start, count, budget, explanation, functions, seeds, calibration],
            outputs=[plot, table, status],
            api_name="tom_sweep",
            concurrency_limit=1,
            concurrency_id="tom",
        )
