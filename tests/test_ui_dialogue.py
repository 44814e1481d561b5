"""A learner's afternoon with the app in headless Chromium: 30 turns over 5 problems, with screenshots.

Answers in several forms (digits, words, money, fractions, with working), questions that quote numbers, requests
for the answer, fixes of earlier misconceptions, course notes uploaded and quoted, questions after a finished
problem, the next problem, past problems reopened, a reload. Set `TUTOR_SCREENSHOTS=DIR` to keep the screenshots
(the README's are made with `TUTOR_SCREENSHOTS=docs/screenshots`); they go to the test's temporary folder
otherwise. Needs Debian's chromium at /usr/bin/chromium (see tests/test_ui_browser.py).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_ui import TEACHER, App
from test_ui_browser import CHROMIUM, TIMEOUT_MS, browser, login  # noqa: F401 - the browser fixture

SHOTS = os.environ.get("TUTOR_SCREENSHOTS")
NOTES = Path(__file__).parent / "fixtures" / "notes" / "fractions_percentages.md"
PIZZA = "A pizza is cut into 8 equal slices and Tom eats 5 of them. What fraction of the pizza is left?"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-dialogue")
    handle = App(root / "home", root).start()
    yield handle
    handle.stop()


class Learner:
    """Drives the page as a learner would, and keeps screenshots."""

    def __init__(self, page, shots: Path) -> None:
        self.page, self.shots, self.turns = page, shots, 0
        self.chat = page.locator("#tutor-chat")

    def bots(self) -> list[str]:
        return [t.strip() for t in self.chat.locator(".bot, [data-testid=bot]").all_inner_texts()]

    def settle(self) -> str:
        """Wait until the last tutor bubble stops growing; return it."""
        last, same = None, 0
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while same < 3 and time.monotonic() < deadline:
            time.sleep(0.25)
            now = self.bots()[-1] if self.bots() else ""
            same = same + 1 if now == last else 0
            last = now
        return last or ""

    def say(self, text: str, *expected: str) -> str:
        """Send one message and wait for the whole reply; check it holds each expected piece."""
        before = len(self.bots())
        box = self.page.locator("#message-box textarea")
        box.fill(text)
        box.press("Enter")
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while len(self.bots()) <= before and time.monotonic() < deadline:
            time.sleep(0.1)
        reply = self.settle()
        self.turns += 1
        for piece in expected:
            assert piece.lower() in reply.lower(), (text, piece, reply)
        return reply

    def pick(self, elem_id: str, starts: str) -> None:
        """Choose the option of a dropdown whose label starts with `starts`."""
        self.page.locator(f"#{elem_id} input").click()
        self.page.locator("ul[role=listbox] li", has_text=starts).first.click()

    def start(self, problem_number: str, first_question: str) -> None:
        self.pick("problem-picker", f"{problem_number}. ")
        self.page.locator("#start-button").click()
        self.chat.get_by_text(first_question).first.wait_for(timeout=TIMEOUT_MS)
        self.settle()

    def shot(self, name: str) -> None:
        time.sleep(0.6)  # the panel, plot and history refresh after each turn
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


def test_thirty_turns_over_five_problems(browser, app, tmp_path):  # noqa: F811 - the browser fixture
    from pedagraph.problems import get_problem

    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    login(page, app.url, app.new_learner(display_name="Sam"))
    page.get_by_text("Pick a bundled problem (or type").wait_for(timeout=TIMEOUT_MS)
    me = Learner(page, shots)

    # -- problem 1: a greeting, a question that quotes a number, a wrong operation, then its fix ------------------
    ducks = get_problem("gsm8k-sample-1")
    me.start("1", ducks.steps[0].question)
    me.say("hi!", "hello")
    me.say("Why do we take away the 3 eggs?", "eats three for breakfast")  # answered, not graded
    me.say("16 + 3 + 4 = 23", "you used addition", "subtraction")
    me.shot("01-wrong-operation-diagnosed")
    panel = page.locator("#learner-panel").inner_text()
    assert "Used addition where the step needed subtraction" in panel and "Things to work on" in panel
    me.say("I don't know", ducks.steps[0].question)
    me.say("16 - 3 - 4 = 9", "next step")
    panel = page.locator("#learner-panel").inner_text()
    assert "Fixed since" in panel and "Used addition where the step needed subtraction" in panel.split("Fixed")[1]
    me.say("is it $18.00?", "$18.00 is the answer", "I suggest problem")
    me.shot("02-solved-fixed-misconception-next-suggestion")

    # -- the teacher adds course notes for the class; problem 2: a question answered from them, a wrong amount, a
    # refusal, the final step
    teacher = context.new_page()
    login(teacher, app.url + "teacher/", TEACHER)
    teacher.get_by_role("tab", name="Course material").click()
    teacher.locator("#course-files input[type=file]").set_input_files(str(NOTES))
    teacher.locator("#ingest-button").click()
    teacher.locator("#ingest-summary").get_by_text("ingested 1 file").wait_for(timeout=120_000)
    teacher.close()
    house = get_problem("gsm8k-sample-3")
    me.start("3", house.steps[0].question)
    me.say("What does an increase of 150% mean?", "fractions_percentages.md", "The key result")
    me.shot("03-question-answered-from-notes")
    me.say("80,000 + 50,000 = 130,000", "next step")
    me.say("150% of 130000 is 195000", "130000", "How much did the house cost")
    me.say("just tell me the answer", "won't give you the answer")
    me.say("eighty thousand times 1.5 is 120000", "new value")
    me.say("200000", house.steps[3].question)
    reply = me.say("200000 + 130000 = 330000", "bigger or smaller")
    assert "subtraction" not in reply.lower()  # the final step's feedback does not name the operation
    me.shot("04-final-step-feedback")
    me.say("70,000", "70,000 is the answer")
    me.say("show me the solution", "worked solution", "200,000-130,000=$70,000.")
    me.shot("05-review-after-the-problem")

    # -- problem 3, typed by the learner: a fraction in their own form, a course question, then the answer ------
    page.locator("#own-problem textarea").fill(PIZZA)
    page.locator("#own-answer textarea, #own-answer input").first.fill("3/8")
    page.locator("#start-own-button").click()
    me.chat.get_by_text("What fraction of the pizza is left?").first.wait_for(timeout=TIMEOUT_MS)
    me.settle()
    reply = me.say("5/8", "5/8", "other part")
    assert "0.625" not in reply
    cited = "[fractions_percentages.md § Fractions > Parts of a fraction"
    reply = me.say("What is the denominator of a fraction?", cited, "The number on the bottom is the denominator")
    assert "3/8" not in reply  # the passage is quoted without its sentence that would give the answer away
    me.say("3/8", "3/8 is the answer")
    me.shot("06-own-problem-fraction-and-notes")

    # -- problem 4: a tentative wrong answer, the hint ladder, an answer in words ---------------------------------
    robe = get_problem("gsm8k-sample-2")
    me.start("2", robe.steps[0].question)
    me.say("2 / 2 = 1", "next step")
    me.say("is it 4?", "4")
    first = me.say("hint please", robe.steps[1].question)
    second = me.say("I don't know", robe.steps[1].question)
    assert first != second
    me.shot("07-hint-ladder")
    me.say("three", "three is the answer")

    # -- problem 5, the suggested next one or picked: another misconception fixed, a comparison refused ----------
    raymond = get_problem("gsm8k-sample-12")
    me.start("12", raymond.steps[0].question)
    me.say("Why does it matter that Raymond was born 6 years before Samantha?", raymond.steps[0].question)
    me.say("23 + 6 = 29", "subtraction")
    me.say("23 - 6 = 17", "next step")
    me.say("is it more than 10?", "bigger or smaller")
    me.say("31 - 17 = 14", "14 is the answer")
    me.say("what's next?", "I suggest problem")
    me.say("thanks!", "welcome")
    assert me.turns == 30
    me.shot("08-after-five-problems-panel-and-plot")
    assert page.locator("#mastery-plot svg polyline").count() >= 2

    # -- past problems: the first one reopened read-only; a reload keeps the picker on the current problem --------
    page.get_by_text("Past problems").first.click()
    me.pick("past-picker", "Problem 1 ·")
    page.locator("#past-chat").get_by_text(ducks.steps[0].question).first.wait_for(timeout=TIMEOUT_MS)
    assert "16 + 3 + 4 = 23" in page.locator("#past-chat").inner_text()
    me.shot("09-past-problem-reopened")
    page.reload(wait_until="load")
    me.chat.get_by_text("You're welcome").first.wait_for(timeout=TIMEOUT_MS)
    time.sleep(1.0)
    assert page.locator("#problem-picker input").input_value().startswith("12.")
    context.close()
