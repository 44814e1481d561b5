"""The app's "Lesson planner" and "Class" tabs through gradio_client: plan, pause for approval, edit, accept; the
class view of real learners (heatmap, misconceptions, sessions, CSV) and its learners as the lesson's group."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pedagraph.errors import DataError
from pedagraph.learner import EvidenceUpdate, GradedEvidence, Grader, LearnerUpdate, MisconceptionUpdate
from pedagraph.methods.eduplanner.class_view import class_csv, class_view, select_learners

pytestmark = [pytest.mark.slow]


def _learner(store, learner_id, answers, misconception=None):
    evidence = tuple(
        EvidenceUpdate.checked(skill, ok, GradedEvidence(grader=Grader.ANSWER_CHECK, session_id=f"{learner_id}-s{i}",
                                                         item_id=f"q{i}"), abilities=["numerical_calculation"])
        for i, (skill, ok) in enumerate(answers)
    )
    held = (MisconceptionUpdate.checked("fractions", "misinterpret", misconception),) if misconception else ()
    store.apply(learner_id, LearnerUpdate(evidence=evidence, misconceptions=held))


def _learners(store, ids=("7b-ana", "7b-ben", "8a-cat")):
    _learner(store, ids[0], [("fractions", True), ("fractions", True), ("division", False)], "adds denominators")
    _learner(store, ids[1], [("fractions", False), ("rates", False)], "adds denominators")
    if len(ids) > 2:
        _learner(store, ids[2], [("percentages", True)])
    return store


@pytest.fixture
def learners():
    from pedagraph.learner import get_learner_store

    return _learners(get_learner_store())


def test_a_class_is_the_learners_of_a_course(learners):
    learners.apply("7b-ana", LearnerUpdate(courses=("algebra-1",)))
    learners.apply("8a-cat", LearnerUpdate(courses=("algebra-1", "geometry")))
    assert select_learners(learners, course="algebra-1") == ["7b-ana", "8a-cat"]
    assert select_learners(learners, "7b-*", course="algebra-1") == ["7b-ana"]
    with pytest.raises(DataError, match="course"):
        select_learners(learners, course="history")


def test_a_tutoring_session_in_a_course_puts_the_learner_in_it():
    from pedagraph.graphs.tutor import Context, build_graph

    from pedagraph.learner import get_learner_store

    build_graph().invoke({"problem_id": "gsm8k-sample-1"},
                         context=Context(learner_id="dana", course="algebra-1", max_turns=0))  # fmt: skip
    assert get_learner_store().get("dana").courses == ["algebra-1"]


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
    from pedagraph.ui.teacher_app import build_teacher_app

    from pedagraph.testing.apps import launch_with_login

    demo = build_teacher_app()
    yield launch_with_login(demo)
    demo.close()


def _client(url):
    from gradio_client import Client

    from pedagraph.testing.apps import teacher_login

    return Client(url, auth=teacher_login(), verbose=False)


def test_plan_pause_edit_and_accept_through_gradio_client(app_url):
    client = _client(app_url)
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
    client = _client(app_url)
    out = client.predict("", "", "Skill-tree profile", 2, 3, 3, 2, 3, [], 1, 1, 1, 1, False,
                         api_name="/plan_lesson")  # fmt: skip
    assert out[0] == "Error: eduplanner: give a topic or at least one problem"
    out = client.predict("fractions", "", "Learners (Class tab)", 3, 3, 3, 3, 3, [], 1, 1, 1, 1, False,
                         api_name="/plan_lesson")  # fmt: skip
    assert out[0].startswith("Error: the group has no learners")
    fresh = _client(app_url)  # a new session: nothing is waiting
    out = fresh.predict("Accept", "", "", api_name="/approve_plan")
    assert out[0].startswith("Error: no plan is waiting")


def test_the_class_tab_picks_learners_for_a_lesson(app_url):
    from pedagraph.accounts import get_account_store
    from pedagraph.learner import get_learner_store
    from pedagraph.testing.apps import teacher_login

    client = _client(app_url)
    accounts = get_account_store()
    code = accounts.classes_of(teacher_login()[0])[0]
    for name in ("ana", "ben"):
        accounts.add(f"7b-{name}", "learner", "a-long-password", display_name=name.title(), class_code=code)
    _learners(get_learner_store(), ids=("user:7b-ana", "user:7b-ben"))
    heatmap, held, sessions, picked, csv_path, status = client.predict("", 1, False, api_name="/class_view")
    assert Path(heatmap).is_file() and "adds denominators" in held and "Ana, Ben (2)" in held
    assert "Ben" in sessions and "learner_id" in Path(csv_path).read_text() and "Page 1 of 1" in status
    group = ["user:7b-ana", "user:7b-ben"]
    out = client.predict("fractions", "", "Learners (Class tab)", 3, 3, 3, 3, 3, group, 0, 1, 1, 1, False,
                         api_name="/plan_lesson")  # fmt: skip
    assert out[0].startswith("Done") and "adds denominators" in out[3]
    assert "held by user:7b-ana, user:7b-ben" in out[3]
