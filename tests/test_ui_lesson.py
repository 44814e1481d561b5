"""The app's "Lesson planner" and "Class" tabs through gradio_client: plan, pause for approval, edit, accept; the
class view of real learners (heatmap, misconceptions, sessions, CSV) and its learners as the lesson's group."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pedagraph.learner import EvidenceUpdate, GradedEvidence, Grader, LearnerUpdate, MisconceptionUpdate
from pedagraph.planning.class_view import class_csv, class_view, select_learners

pytestmark = [pytest.mark.slow]


def _learner(store, learner_id, answers, misconception=None):
    evidence = tuple(
        EvidenceUpdate.checked(skill, ok, GradedEvidence(grader=Grader.ANSWER_CHECK, session_id=f"{learner_id}-s{i}",
                                                         item_id=f"q{i}"), abilities=["numerical_calculation"])
        for i, (skill, ok) in enumerate(answers)
    )
    held = (MisconceptionUpdate.checked("fractions", "misinterpret", misconception),) if misconception else ()
    store.apply(learner_id, LearnerUpdate(evidence=evidence, misconceptions=held))


@pytest.fixture
def learners():
    from pedagraph.learner import get_learner_store

    store = get_learner_store()
    _learner(store, "7b-ana", [("fractions", True), ("fractions", True), ("division", False)], "adds denominators")
    _learner(store, "7b-ben", [("fractions", False), ("rates", False)], "adds denominators")
    _learner(store, "8a-cat", [("percentages", True)])
    return store


def test_the_class_view_lists_mastery_misconceptions_and_sessions(learners):
    ids = select_learners(learners, "7b-*")
    assert ids == ["7b-ana", "7b-ben"]
    view = class_view(learners, ids)
    assert view.skills == ["division", "fractions", "rates"]
    assert view.matrix()[0][2] is None and view.matrix()[1][1] < view.matrix()[0][1]
    assert view.misconceptions[0]["learners"] == ["7b-ana", "7b-ben"]
    assert [s["session"] for s in view.rows[0].sessions] and len(view.rows[0].sessions) == 3
    rows = list(csv.DictReader(class_csv(view).splitlines()))
    assert rows[1]["learner_id"] == "7b-ben" and rows[1]["mastery:rates"] and rows[0]["mastery:rates"] == ""
    assert select_learners(learners, "") == ["7b-ana", "7b-ben", "8a-cat"]
    with pytest.raises(Exception, match="no stored learner matches 'zz'"):
        select_learners(learners, "zz")


@pytest.fixture
def app_url():
    import gradio as gr
    from pedagraph.ui.lesson_tab import build_planning_tabs

    with gr.Blocks() as demo:
        build_planning_tabs()
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1")
    yield url
    demo.close()


def test_plan_pause_edit_and_accept_through_gradio_client(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    status, plot, table, plan, edit, download = client.predict(
        "fractions of amounts", "", "Skill-tree profile", 2, 3, 3, 2, 3, [], 2, 2, 2, 1, True,
        api_name="/plan_lesson")  # fmt: skip
    assert "Waiting for your approval" in status and Path(plot).is_file() and "| 0 |" in table
    assert plan.startswith("# Lesson plan") and edit["value"] == plan and edit["visible"]
    mine = plan + "\n\n### Exercise at difficulty 5\nThe teacher's own challenge."
    status, plot, table, plan, edit, download = client.predict("Submit my edit", mine, "", api_name="/approve_plan")
    assert "Waiting for your approval" in status and "| r2t1 |" in table  # the edit is scored like any candidate
    status, plot, table, plan, edit, download = client.predict("Accept", "", "", api_name="/approve_plan")
    assert status.startswith("Done") and "Accepted by you" in status
    assert Path(download).read_text(encoding="utf-8") == plan


def test_bad_input_is_one_line_in_the_status(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    out = client.predict("", "", "Skill-tree profile", 2, 3, 3, 2, 3, [], 1, 1, 1, 1, False,
                         api_name="/plan_lesson")  # fmt: skip
    assert out[0] == "Error: eduplanner: give a topic or at least one problem"
    out = client.predict("fractions", "", "Learners (Class tab)", 3, 3, 3, 3, 3, [], 1, 1, 1, 1, False,
                         api_name="/plan_lesson")  # fmt: skip
    assert out[0].startswith("Error: the group has no learners")
    fresh = Client(app_url, verbose=False)  # a new session: nothing is waiting
    out = fresh.predict("Accept", "", "", api_name="/approve_plan")
    assert out[0].startswith("Error: no plan is waiting")


def test_the_class_tab_picks_learners_for_a_lesson(learners, app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    heatmap, held, sessions, picked, csv_path = client.predict("7b-*", api_name="/class_view")
    assert Path(heatmap).is_file() and "adds denominators" in held and "7b-ana, 7b-ben (2)" in held
    assert "7b-ben" in sessions and "learner_id" in Path(csv_path).read_text()
    group = ["7b-ana", "7b-ben"]
    out = client.predict("fractions", "", "Learners (Class tab)", 3, 3, 3, 3, 3, group, 0, 1, 1, 1, False,
                         api_name="/plan_lesson")  # fmt: skip
    assert out[0].startswith("Done") and "adds denominators" in out[3] and "held by 7b-ana, 7b-ben" in out[3]
