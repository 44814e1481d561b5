"""Two headless Chromium pages in one copilot session: a tutor and a student, each seeing only their own panel."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from pedagraph.problems import get_problem

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_ui import TEACHER  # noqa: E402
from test_ui_browser import TIMEOUT_MS, app, browser, login  # noqa: E402, F401 - `app` and `browser` are fixtures

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PID = "gsm8k-sample-1"
DRAFT = "my unsent scribble 4242"


def open_tab(page, url, account, button):
    login(page, url, account)
    page.get_by_role("tab", name="Copilot").click()
    page.locator(button).wait_for(timeout=TIMEOUT_MS)


def test_two_browsers_one_copilot_session(browser, app):  # noqa: F811 - the imported fixtures
    problem = get_problem(PID)
    learner = app.new_learner(display_name="Kim")
    tutor = browser.new_context().new_page()
    student = browser.new_context().new_page()
    open_tab(tutor, app.url + "teacher/", TEACHER, "#copilot-open")
    open_tab(student, app.url, learner, "#copilot-join")
    tabs = [t.inner_text() for t in student.get_by_role("tab").all()]
    assert tabs == ["Tutor", "My notes", "Copilot"]  # no teacher tabs

    tutor.locator("#copilot-learner input").click()
    tutor.get_by_role("option", name="Kim", exact=True).click()
    tutor.locator("#copilot-open").click()
    tutor.locator("#copilot-status").get_by_text("Session code").wait_for(timeout=TIMEOUT_MS)
    code = re.search(r"Session code ([A-Z2-9]{6})", tutor.locator("#copilot-status").inner_text()).group(1)
    suggestion = tutor.locator("#copilot-suggestion textarea")
    assert f"First step: {problem.steps[0].question}" in suggestion.input_value()

    student.locator("#copilot-join").click()  # no code to type: the server knows the session opened for Kim
    student.locator("#copilot-student-chat").wait_for(timeout=TIMEOUT_MS)
    student.locator("#copilot-status").get_by_text("The tutor is writing").wait_for(timeout=TIMEOUT_MS)
    assert "Janet" not in student.locator("#copilot-student-chat").inner_text()  # nothing sent yet

    tutor.locator("#copilot-send").click()  # the suggested opener, as is
    student.locator("#copilot-student-chat").get_by_text(problem.steps[0].question).wait_for(timeout=TIMEOUT_MS)
    student.locator("#copilot-status").get_by_text("Your turn").wait_for(timeout=TIMEOUT_MS)

    box = student.locator("#copilot-student-box textarea")
    box.fill(DRAFT)  # typed but not sent: the tutor never sees it
    tutor.wait_for_timeout(2500)  # a couple of polls
    assert DRAFT not in tutor.content()
    box.fill(problem.steps[0].answer)
    student.locator("#copilot-student-send").click()

    tutor.locator("#copilot-tutor-chat").get_by_text(problem.steps[0].answer, exact=True).wait_for(timeout=TIMEOUT_MS)
    tutor.locator("#copilot-labels").get_by_text("confirm the answer").wait_for(timeout=TIMEOUT_MS)
    hover = tutor.locator("#copilot-labels abbr", has_text="confirm the answer").get_attribute("title")
    assert hover == "Bridge strategy: affirm_correct_answer"  # the research label on hover
    private = suggestion.input_value()
    assert "What the learner model says:" in tutor.locator("#copilot-labels").inner_text()  # not for the student
    assert "their answer: correct" in tutor.locator("#copilot-labels").inner_text()
    assert problem.steps[1].question in private
    student.wait_for_timeout(2500)
    page = student.content()
    assert "Suggestion 1" not in page and "learner model says" not in page and "their answer: correct" not in page
    assert private not in page

    suggestion.fill("Yes! Now, how much does Janet make at the market each day?")  # an edit
    tutor.locator("#copilot-send").click()
    student.locator("#copilot-student-chat").get_by_text("how much does Janet make at the market").wait_for(
        timeout=TIMEOUT_MS
    )
    assert private not in student.content()  # the suggestion it replaced never reached the student
    assert code not in student.locator("body").inner_text()  # the room code is never shown to the learner
