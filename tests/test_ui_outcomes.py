"""The teachers' "Learning outcomes" tab: its data function on a finished run, and what it refuses to read."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pedagraph.evals.runner import RunConfig, get_suite, run_suite

from pedagraph.errors import DataError

SAMPLE = Path(__file__).resolve().parents[1] / "pedagraph" / "data" / "problems" / "gsm8k_sample.jsonl"


@pytest.fixture
def finished_run(home):
    out = home / "runs" / "tell-vs-tutor"
    suite = get_suite("outcomes")({"policy": "tell,tutor", "learners": 4, "items": 1, "realism": 0})
    asyncio.run(run_suite(suite, RunConfig(out_dir=out, data_path=SAMPLE, cache=False), progress=False))
    return out


def test_the_tab_shows_the_comparison_table_differences_and_plot(finished_run, home):
    from pedagraph.ui.outcomes_tab import COLUMNS, list_runs, outcomes_view

    assert list_runs() == ["tell-vs-tutor"]
    view = outcomes_view("tell-vs-tutor")
    assert [r[0] for r in view.rows] == ["tell", "tutor"] and all(len(r) == len(COLUMNS) for r in view.rows)
    summary = json.loads((finished_run / "summary.json").read_text())
    tell_gain = summary["metrics"]["tell.normalised_gain"]["value"]
    assert view.rows[0][1] == f"{tell_gain:.3f}" and view.rows[0][3] == "1.00" and view.rows[0][-1] == 4
    assert view.differences and view.differences[0][0] == "tell − tutor"
    assert view.plot is not None and Path(view.plot).is_file() and "8 scored, 0 errors" in view.notes
    (finished_run / "outcomes_gain_vs_help.png").unlink()  # a run without its plot: the tab draws it again
    assert Path(outcomes_view("tell-vs-tutor").plot).is_file()


def test_the_tab_reads_nothing_outside_the_runs_folder(finished_run, home, tmp_path):
    from pedagraph.ui.outcomes_tab import list_runs, outcomes_view

    other = home / "runs" / "not-outcomes"
    other.mkdir()
    (other / "summary.json").write_text(json.dumps({"suite": "tutoring"}))
    assert list_runs() == ["tell-vs-tutor"]
    for name in ("", "..", "../..", str(finished_run), "not-outcomes", "missing"):
        with pytest.raises(DataError):
            outcomes_view(name)


def test_the_tab_builds():
    import gradio as gr
    from pedagraph.ui.outcomes_tab import build_outcomes_tab

    with gr.Blocks() as demo:
        build_outcomes_tab()
    assert any(getattr(b, "elem_id", None) == "outcomes-table" for b in demo.blocks.values())
