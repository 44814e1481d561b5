"""The tutoring app in headless Chromium (Playwright): start a problem, watch the reply stream, reload, restart.

Needs Debian's chromium at /usr/bin/chromium (`apt-get install chromium`; `.ci/run` installs it). Never run
`playwright install`: it downloads a browser.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pedagraph.problems import get_problem

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


class App:
    """A `pedagraph ui` subprocess that restarts on the same port (localStorage is per origin)."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, _free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PEDAGRAPH_", "OPENAI_", "OLLAMA_"))}
        self.env.update(PEDAGRAPH_HOME=str(root / "home"), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
        exe = Path(sys.executable).with_name("pedagraph")
        self.cmd = [
            str(exe) if exe.exists() else shutil.which("pedagraph") or "pedagraph",
            "ui",
            "--port",
            str(self.port),
        ]
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> App:
        log = (self.root / "ui.log").open("a")
        self.proc = subprocess.Popen(self.cmd, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"pedagraph ui exited with {self.proc.returncode}: {(self.root / 'ui.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.proc.kill()
                    pytest.fail("pedagraph ui did not open its port within 90 s")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    handle = App(tmp_path_factory.mktemp("ui-browser")).start()
    yield handle
    handle.stop()


def test_browser_start_stream_reload_restart(browser, app):
    problem = get_problem(PID)
    context = browser.new_context()
    page = context.new_page()
    page.goto(app.url, wait_until="load")
    chat = page.locator("#tutor-chat")
    page.get_by_text("Pick a bundled problem (or type").wait_for(timeout=TIMEOUT_MS)

    page.locator("#start-button").click()
    chat.get_by_text(f"First step: {problem.steps[0].question}").wait_for(timeout=TIMEOUT_MS)
    assert "scripted" in page.locator("#models-header").inner_text().lower()

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

    # another browser profile (its own localStorage) starts fresh and never sees this conversation
    other = browser.new_context().new_page()
    other.goto(app.url, wait_until="load")
    other.get_by_text("Pick a bundled problem (or type").wait_for(timeout=TIMEOUT_MS)
    assert reply not in other.locator("#tutor-chat").inner_text()

    # the app restarts on the same origin: the browser's stored session still opens its conversation
    app.stop()
    app.start()
    page.reload(wait_until="load")
    chat.get_by_text(reply).wait_for(timeout=TIMEOUT_MS)
    assert "step 2 of 2" in page.locator("#session-status").inner_text()
    context.close()
