"""The Class and Lesson planner tabs in headless Chromium: see the class, tick learners, plan a lesson for them.

Needs Debian's chromium at /usr/bin/chromium, like tests/test_ui_browser.py (whose app and browser fixtures it uses).
"""

from __future__ import annotations

import pytest
from test_ui import TEACHER, App
from test_ui_browser import TIMEOUT_MS, browser, login  # noqa: F401 - `browser` is a fixture used by name

from pedagraph.learner import (
    EvidenceUpdate,
    GradedEvidence,
    Grader,
    LearnerUpdate,
    MisconceptionUpdate,
    get_learner_store,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-lesson")
    handle = App(root / "home", root)
    store = get_learner_store(root / "home")
    accounts = handle.accounts()
    for name in ("ana", "ben"):
        accounts.add(f"7b-{name}", "learner", "a-long-password", display_name=name.title(),
                     class_code=accounts.classes_of(TEACHER[0])[0])  # fmt: skip
    accounts.close()
    for learner_id, right in (("user:7b-ana", True), ("user:7b-ben", False)):
        evidence = GradedEvidence(grader=Grader.ANSWER_CHECK, session_id=f"{learner_id}-s1", item_id="q1")
        store.apply(learner_id, LearnerUpdate(
            evidence=(EvidenceUpdate.checked("fractions", right, evidence, abilities=["numerical_calculation"]),),
            misconceptions=(MisconceptionUpdate.checked("fractions", "misinterpret", "adds the denominators"),)))
    handle.start()
    yield handle
    handle.stop()


def test_browser_class_view_then_a_lesson_for_the_ticked_learners(browser, app):  # noqa: F811
    page = browser.new_context().new_page()
    login(page, app.url + "teacher/", TEACHER)
    page.get_by_role("tab", name="Class").click()
    page.locator("#class-show").click()
    page.locator("#class-misconceptions").get_by_text("adds the denominators").wait_for(timeout=TIMEOUT_MS)
    assert "Ana, Ben (2)" in page.locator("#class-misconceptions").inner_text()  # display names
    page.locator("#class-heatmap img").wait_for(timeout=TIMEOUT_MS)
    for name in ("Ana", "Ben"):
        page.locator("#class-pick input").click()
        page.get_by_role("option", name=name, exact=True).click()
    page.locator("#class-use").click()

    page.get_by_role("tab", name="Lesson planner").click()
    page.locator("#lesson-learners").get_by_text("Ben").wait_for(timeout=TIMEOUT_MS)
    page.locator("#lesson-topic textarea").fill("fractions of amounts")
    page.locator("#lesson-run").click()
    page.locator("#lesson-status").get_by_text("Done after").wait_for(timeout=60_000)
    plan = page.locator("#lesson-plan").inner_text()
    assert "Lesson plan: fractions of amounts" in plan and "held by user:7b-ana, user:7b-ben" in plan
    page.locator("#lesson-plot img").wait_for(timeout=TIMEOUT_MS)
    assert "r0c" in page.locator("#lesson-rounds").inner_text()  # the rounds table names each round's best plan
