"""The tutoring app in headless Chromium (Playwright): start a problem, watch the reply stream, reload, restart.

Needs Debian's chromium at /usr/bin/chromium (`apt-get install chromium`; `.ci/run` installs it). Never run
`playwright install`: it downloads a browser.
"""

from __future__ import annotations

import re
import socket
import sys
import time
from pathlib import Path

import pytest

from pedagraph.problems import get_problem

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_ui import TEACHER, App  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PID = "gsm8k-sample-1"
TIMEOUT_MS = 30_000

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Record every text the last tutor bubble shows, to see the reply grow token by token.
OBSERVE_JS = """() => {
  window.__snaps = [];
  const chat = document.querySelector('#tutor-chat');
  new MutationObserver(() => {
    const bots = chat.querySelectorAll('.bot, [data-testid=bot]');
    if (bots.length) window.__snaps.push(bots[bots.length - 1].innerText.trim());
  }).observe(chat, {subtree: true, childList: true, characterData: true});
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian chromium (apt-get install chromium) to run browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        try:
            instance = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - a broken browser install is a skip, not a failure
            pytest.skip(f"cannot start {CHROMIUM}: {str(exc).splitlines()[0]}")
        yield instance
        instance.close()


def login(page, url: str, account: tuple[str, str]) -> None:
    """Log in through Gradio's login page of an app."""
    page.goto(url, wait_until="load")
    page.locator("input[type=text]").fill(account[0])
    page.locator("input[type=password]").fill(account[1])
    page.get_by_role("button", name="Login").click()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-browser")
    handle = App(root / "home", root).start()
    yield handle
    handle.stop()


def test_browser_start_stream_reload_restart(browser, app):
    problem = get_problem(PID)
    context = browser.new_context()
    page = context.new_page()
    learner = app.new_learner()
    login(page, app.url, learner)
    chat = page.locator("#tutor-chat")
    page.get_by_text("Pick a bundled problem (or type").wait_for(timeout=TIMEOUT_MS)

    page.locator("#start-button").click()
    chat.get_by_text(f"First step: {problem.steps[0].question}").wait_for(timeout=TIMEOUT_MS)
    assert "fixed templates" in page.locator("#models-header").inner_text()

    page.evaluate(OBSERVE_JS)
    box = page.locator("#message-box textarea")
    box.fill(problem.steps[0].answer)
    box.press("Enter")
    reply = f"Next step: {problem.steps[1].question}"
    chat.get_by_text(reply).wait_for(timeout=TIMEOUT_MS)
    final = chat.locator(".bot, [data-testid=bot]").last.inner_text().strip()
    assert final.startswith("That's right") and problem.final_answer not in final
    # streamed: the page showed part of the reply before all of it (a scripted reply is known at once, so it is
    # sent as its first word, then whole; a model's reply grows at up to 25 updates a second: tests/test_ui.py)
    growing = [s for s in dict.fromkeys(page.evaluate("window.__snaps")) if s and final.startswith(s) and s != final]
    assert growing, "the reply did not stream"
    page.locator("#learner-panel").get_by_text("1/1 correct").first.wait_for(timeout=TIMEOUT_MS)

    page.reload(wait_until="load")
    chat.get_by_text(reply).wait_for(timeout=TIMEOUT_MS)
    text = chat.inner_text()
    assert problem.steps[0].question in text and text.index(problem.steps[0].question) < text.index(reply)
    assert "step 2 of 2" in page.locator("#session-status").inner_text()

    # another learner starts fresh and never sees this conversation
    other = browser.new_context().new_page()
    login(other, app.url, app.new_learner())
    other.get_by_text("Pick a bundled problem (or type").wait_for(timeout=TIMEOUT_MS)
    assert reply not in other.locator("#tutor-chat").inner_text()

    # the app restarts: the browser is still logged in (sessions are kept in the accounts database) and the
    # learner finds their conversation (kept on the server)
    app.stop()
    app.start()
    page.goto(app.url, wait_until="load")
    chat.get_by_text(reply).wait_for(timeout=TIMEOUT_MS)
    assert "step 2 of 2" in page.locator("#session-status").inner_text()
    context.close()


def test_first_start_prints_a_one_time_link_that_logs_in_and_works_a_problem(browser, tmp_path):
    problem = get_problem(PID)
    fresh = App(tmp_path / "home", tmp_path, seed=False).start()  # a fresh machine: no account yet
    try:
        deadline = time.monotonic() + 30
        while "login-link?token=" not in fresh.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        link = re.search(r"http://\S+/login-link\?token=\S+", fresh.log.read_text()).group(0)
        page = browser.new_context().new_page()
        page.goto(link, wait_until="load")
        page.locator("#class-show").wait_for(timeout=TIMEOUT_MS)  # the teachers' app, logged in
        page.goto(fresh.url, wait_until="load")  # and the tutor, to try it
        page.locator("#start-button").click(timeout=3 * TIMEOUT_MS)  # a first page on a loaded machine is slow
        chat = page.locator("#tutor-chat")
        chat.get_by_text(f"First step: {problem.steps[0].question}").wait_for(timeout=TIMEOUT_MS)
        box = page.locator("#message-box textarea")
        box.fill(problem.steps[0].answer)
        box.press("Enter")
        chat.get_by_text(f"Next step: {problem.steps[1].question}").wait_for(timeout=TIMEOUT_MS)
        again = browser.new_context().new_page()  # the link works once
        again.goto(link, wait_until="load")
        assert "used already" in again.locator("body").inner_text()
    finally:
        fresh.stop()


def test_outsiders_in_a_browser_see_only_the_login(browser, app):
    anonymous = browser.new_context().new_page()
    for path in ("", "teacher/"):
        anonymous.goto(app.url + path, wait_until="load")
        anonymous.get_by_role("button", name="Login").wait_for(timeout=TIMEOUT_MS)
        assert not anonymous.locator("#tutor-chat").count() and not anonymous.locator("#class-show").count()
    # a learner with a name that is a Markdown link: the teacher's class view shows it as text
    learner = app.new_learner(display_name="[Session expired - click to log in again](http://evil.example/)")
    page = browser.new_context().new_page()
    login(page, app.url, learner)
    page.locator("#start-button").click()
    page.locator("#tutor-chat").get_by_text("First step:").wait_for(timeout=TIMEOUT_MS)
    shown = page.locator("body").inner_text()
    assert not re.search(r"\b(?:ui|learner)-[0-9a-f]{8,}|user:|[A-Z2-9]{8}", shown)  # no ids or codes shown
    # the learner's own password does not open the teachers' app
    login(page, app.url + "teacher/", learner)
    page.get_by_text("Incorrect").wait_for(timeout=TIMEOUT_MS)
    assert not page.locator("#class-show").count()
    teacher = browser.new_context().new_page()
    login(teacher, app.url + "teacher/", TEACHER)
    teacher.locator("#class-show").click()
    sessions = teacher.locator("#class-sessions")
    sessions.get_by_text("[Session expired - click to log in again](http://evil.example/)").wait_for(timeout=TIMEOUT_MS)
    assert not teacher.locator("#class-sessions a[href*='evil']").count()


def test_a_learner_keeps_private_notes_that_another_learner_never_sees(browser, app):
    from playwright.sync_api import expect

    note = "d for down: the denominator is the bottom number"
    page = browser.new_context().new_page()
    login(page, app.url, app.new_learner())
    page.get_by_role("tab", name="My notes").click()
    page.locator("#note-box textarea").fill(note)
    page.locator("#note-add").click()
    expect(page.locator("#notes-list textarea")).to_have_value(re.compile(re.escape(note)), timeout=TIMEOUT_MS)
    other = browser.new_context().new_page()
    login(other, app.url, app.new_learner())
    other.get_by_role("tab", name="My notes").click()
    expect(other.locator("#notes-list textarea")).to_have_value("No notes yet.", timeout=TIMEOUT_MS)
    page.reload(wait_until="load")  # kept on the server
    page.get_by_role("tab", name="My notes").click()
    expect(page.locator("#notes-list textarea")).to_have_value(re.compile(re.escape(note)), timeout=TIMEOUT_MS)
