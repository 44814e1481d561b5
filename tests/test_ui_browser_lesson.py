"""The Class and Lesson planner tabs in headless Chromium: see the class, tick learners, plan a lesson for them.

Needs Debian's chromium at /usr/bin/chromium, like tests/test_ui_browser.py (whose app and browser fixtures it uses).
"""

from __future__ import annotations

import pytest
from test_ui_browser import TIMEOUT_MS, App, browser  # noqa: F401 - `browser` is a fixture used by name

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
    handle = App(tmp_path_factory.mktemp("ui-lesson"))
    store = get_learner_store(handle.root / "home")
    for learner_id, right in (("7b-ana", True), ("7b-ben", False)):
        evidence = GradedEvidence(grader=Grader.ANSWER_CHECK, session_id=f"{learner_id}-s1", item_id="q1")
        store.apply(learner_id, LearnerUpdate(
            evidence=(EvidenceUpdate.checked("fractions", right, evidence, abilities=["numerical_calculation"]),),
            misconceptions=(MisconceptionUpdate.checked("fractions", "misinterpret", "adds the denominators"),)))
    handle.start()
    yield handle
    handle.stop()


def test_browser_class_view_then_a_lesson_for_the_ticked_learners(browser, app):  # noqa: F811
    page = browser.new_context().new_page()
    page.goto(app.url, wait_until="load")
    page.get_by_role("tab", name="Class").click()
    page.locator("#class-show").click()
    page.locator("#class-misconceptions").get_by_text("adds the denominators").wait_for(timeout=TIMEOUT_MS)
    assert "7b-ana, 7b-ben (2)" in page.locator("#class-misconceptions").inner_text()
    page.locator("#class-heatmap img").wait_for(timeout=TIMEOUT_MS)
    page.locator("#class-pick").get_by_text("7b-ana").click()
    page.locator("#class-pick").get_by_text("7b-ben").click()
    page.locator("#class-use").click()

    page.get_by_role("tab", name="Lesson planner").click()
    page.locator("#lesson-learners").get_by_text("7b-ben").wait_for(timeout=TIMEOUT_MS)
    page.locator("#lesson-topic textarea").fill("fractions of amounts")
    page.locator("#lesson-run").click()
    page.locator("#lesson-status").get_by_text("Done after").wait_for(timeout=60_000)
    plan = page.locator("#lesson-plan").inner_text()
    assert "Lesson plan: fractions of amounts" in plan and "held by 7b-ana, 7b-ben" in plan
    page.locator("#lesson-plot img").wait_for(timeout=TIMEOUT_MS)
    assert "r0c" in page.locator("#lesson-rounds").inner_text()  # the rounds table names each round's best plan
