"""In headless Chromium: the chat shows exactly the text the reveal gate read, and never a reply that contradicts
the verdict (not even while it streams).

A teacher behind the OpenAI-compatible stub writes Markdown, raw HTML, an image, a link, entities and bidi
controls; the rendered bubble's text must equal `visible_text` of the stored reply (what the gate judged), with
no image and no link loaded. To a wrong attempt it answers "That's correct!": that must never be on screen.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from pedagraph.problems import get_problem
from pedagraph.testing.openai_stub import OpenAIStub
from pedagraph.visible import chat_text, visible_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_ui_browser import OBSERVE_JS, TIMEOUT_MS, App, browser, login  # noqa: E402, F401 - `browser` is a fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PID = "gsm8k-sample-1"
MARKUP = (
    "**Look** at the ducks: <b>she</b> lays 16 eggs &amp; eats 3 \u202eof them\u202c each day.\n\n"
    "See [the notes](http://evil.example/notes) ![a picture](http://evil.example/p.png) "
    "<img src=http://evil.example/i.png alt=pic> and `this` <span title=x>bit</span>.\n\n"
    "- the eggs she has\n- the eggs she uses\n\nWhich of them do you subtract first?"
)
AGREEING_WRONGLY = "That's correct! Well done, you are right. Great job on this step."


def _reply(body: dict) -> str | None:
    if body.get("response_format") or body.get("tools"):
        return None
    users = [str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user"]
    return AGREEING_WRONGLY if users and "= 13" in users[-1] else MARKUP


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    stub = OpenAIStub(reply_fn=_reply, stream_chunk_chars=3, delay=0.01)
    stub.start()
    root = tmp_path_factory.mktemp("ui-browser-render")
    app = App(root / "home", root)
    app.extra_env = {"PEDAGRAPH_MODEL": "openai:stub-model", "PEDAGRAPH_BASE_URL": stub.base_url}
    app.start()
    yield app
    app.stop()
    stub.stop()


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_the_chat_shows_what_the_gate_read_and_never_a_contradiction(browser, app):  # noqa: F811 - the fixture
    problem = get_problem(PID)
    page = browser.new_context().new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    login(page, app.url, app.new_learner())
    chat = page.locator("#tutor-chat")
    page.get_by_text("Pick a bundled problem (or type").wait_for(timeout=TIMEOUT_MS)
    page.locator("#start-button").click()
    chat.get_by_text(problem.steps[0].question).first.wait_for(timeout=TIMEOUT_MS)
    page.evaluate(OBSERVE_JS)
    box = page.locator("#message-box textarea")
    bots = chat.locator(".bot, [data-testid=bot]")

    box.fill("can I have a hint?")
    box.press("Enter")
    page.wait_for_function("n => document.querySelectorAll('#tutor-chat .bot, #tutor-chat [data-testid=bot]')"
                           ".length >= n", arg=2, timeout=TIMEOUT_MS)  # fmt: skip
    chat.get_by_text("Which of them do you subtract first?").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)
    rendered = bots.last.inner_text()
    gate_read = visible_text(chat_text(MARKUP).strip())
    assert _flat(rendered) == _flat(gate_read), (rendered, gate_read)
    assert "\u202e" not in rendered and "evil" not in chat.inner_html()
    assert bots.last.locator("img, a[href], b, span[title]").count() == 0
    assert not any("evil.example" in url for url in requested)

    box.fill("16 - 3 = 13")
    box.press("Enter")
    page.wait_for_function("n => document.querySelectorAll('#tutor-chat .bot, #tutor-chat [data-testid=bot]')"
                           ".length >= n", arg=3, timeout=TIMEOUT_MS)  # fmt: skip
    page.wait_for_timeout(1500)
    final = bots.last.inner_text()
    assert final.strip() and "correct!" not in final.lower()
    for shown in [s for s in page.evaluate("window.__snaps") if s]:
        assert "That's correct" not in shown and "Well done, you are right" not in shown, shown
