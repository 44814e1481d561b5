"""Screenshots of every tab of the two apps, each after its default action, from a fresh state.

Starts `pedagraph ui` on a new, empty PEDAGRAPH_HOME with nothing configured (no model, no data folder: every role
is `scripted` and the bundled dataset samples are used), logs in with the one-time link the first start prints,
adds a learner from the Class tab, then drives each tab in headless Chromium (Debian's /usr/bin/chromium through
Playwright; never `playwright install`) and saves PNGs under docs/screenshots/.

    .venv/bin/python scripts/screenshots.py                 # all of them, into docs/screenshots/
    .venv/bin/python scripts/screenshots.py --port 22300 --keep /tmp/shots-home

The learning-outcomes tab reads finished runs only: the script first runs `pedagraph eval outcomes` (offline, on
the bundled sample, 8 simulated learners, three policies: about 20 s) into the new home's runs folder.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
WAIT_MS = 120_000
VIEWPORT = {"width": 1400, "height": 1000}
NOTES = """# Fractions of amounts

To find a fraction of an amount, divide the amount by the denominator, then multiply by the numerator.
For example, 3/4 of 20 is 20 / 4 * 3 = 15.

# Percentages

A percentage is a fraction out of 100: 150% of a price is 1.5 times the price, and an increase of 150%
adds 1.5 times the price to it.
"""


def cli() -> str:
    """The `pedagraph` command beside this Python (the project's .venv)."""
    found = Path(sys.executable).with_name("pedagraph")
    return str(found) if found.exists() else shutil.which("pedagraph") or "pedagraph"


def fresh_env(home: Path) -> dict[str, str]:
    """The environment of a fresh machine: a new home, no model, no data folder, no tracing, no network."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEDAGRAPH_", "OPENAI_", "LANGSMITH_",
                                                                    "LANGFUSE_", "ANTHROPIC_"))}  # fmt: skip
    env |= {"PEDAGRAPH_HOME": str(home), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    return env


def wait_port(port: int, proc: subprocess.Popen, seconds: float = 180) -> None:
    """Wait until the server listens (or stop if it died)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise SystemExit(f"port {port} did not open in {seconds:.0f} s")


class Shots:
    """Save numbered screenshots of a page's elements under a folder."""

    def __init__(self, out: Path, only: str = "") -> None:
        self.out, self.only, self.saved = out, only, []  # type: ignore[var-annotated]
        out.mkdir(parents=True, exist_ok=True)

    def take(self, page, name: str, full: bool = True) -> None:
        """Screenshot the whole page (scrolled to the top) as NAME.png."""
        page.wait_for_timeout(600)  # let Gradio finish its transitions
        path = self.out / f"{name}.png"
        page.screenshot(path=str(path), full_page=full)
        self.saved.append(path)
        print("saved", path.relative_to(REPO) if path.is_relative_to(REPO) else path, flush=True)  # noqa: T201 - a script's progress


def tab(page, name: str) -> None:
    """Open a tab by its label."""
    page.get_by_role("tab", name=name, exact=True).click()
    page.wait_for_timeout(400)


def wait_text(locator, pattern: str) -> None:
    """Wait until an element's text matches a regular expression."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        if locator.count() and re.search(pattern, locator.first.inner_text() or ""):
            return
        time.sleep(0.3)
    raise SystemExit(f"timed out waiting for /{pattern}/ in {locator}")


def teacher_tabs(page, shots: Shots, base: str, learner: str) -> None:
    """Every tab of the teachers' app, after its default action."""
    page.goto(base + "teacher/", wait_until="load")
    page.locator("#class-show").click()
    wait_text(page.locator("#class-status"), r"\w")
    shots.take(page, "t01-class")

    tab(page, "Lesson planner")
    page.locator("#lesson-run").click()
    wait_text(page.locator("#lesson-status"), r"^(Done|Error)")
    shots.take(page, "t02-lesson-planner")

    tab(page, "Copilot")
    page.locator("#copilot-learner input").click()
    page.get_by_role("option", name=learner).click()
    page.locator("#copilot-open").click()
    wait_text(page.locator("#copilot-status"), r"\w")
    return


def copilot_tutor(page, shots: Shots) -> None:
    """The teacher's Copilot view after the learner's first message: the suggestion and its labels."""
    wait_text(page.locator("#copilot-labels"), r"\w")
    shots.take(page, "t03-copilot-tutor")


def rest_of_teacher(page, shots: Shots) -> None:
    """Coach, Strategies, ToM teacher and Learning outcomes."""
    tab(page, "Coach")
    page.locator("#coach-run").click()
    wait_text(page.locator("#coach-status"), r"\w")
    shots.take(page, "t04-coach")

    tab(page, "Strategies")
    page.locator("#strategies-refresh").click()
    wait_text(page.locator("#strategies-status"), r"\w")
    shots.take(page, "t05-strategies")

    tab(page, "ToM teacher")
    page.locator("#tom-run").click()
    wait_text(page.locator("#tom-status"), r"\w")
    page.locator("#tom-table").wait_for(timeout=WAIT_MS)
    shots.take(page, "t06-tom-teacher")

    tab(page, "Learning outcomes")
    page.locator("#outcomes-refresh").click()
    page.wait_for_timeout(800)
    page.locator("#outcomes-run input").click()
    page.get_by_role("option").first.click()
    wait_text(page.locator("#outcomes-notes"), r"\w")
    shots.take(page, "t07-learning-outcomes")


def learner_tabs(page, shots: Shots, base: str, step: Callable[[str], None]) -> None:
    """The learners' app: course question, tutor, past problems, my notes, then the Copilot tab (driven by `step`)."""
    chat = page.locator("#tutor-chat")
    wait_text(chat, r"Pick a")
    box = page.locator("#message-box textarea")
    box.fill("What does an increase of 150% mean?")
    box.press("Enter")
    wait_text(chat.locator(".bot, [data-testid=bot]").last, r"\w{3}")
    page.wait_for_timeout(1500)
    shots.take(page, "l01-course-question")

    page.locator("#start-button").click()
    wait_text(chat, r"First step")
    shots.take(page, "l02-tutor-start")
    box.fill("I think she has 16 - 3 = 13 eggs left")
    box.press("Enter")
    wait_text(page.locator("#session-status"), r"\w")
    page.wait_for_timeout(2500)
    shots.take(page, "l03-tutor-answer")
    for said in ("hint please", "16 - 3 - 4 = 9", "9 * 2 = 18"):  # a hint, then the two steps right
        box.fill(said)
        box.press("Enter")
        page.wait_for_timeout(2500)
    wait_text(page.locator("#session-status"), r"finished")
    page.wait_for_timeout(1500)
    shots.take(page, "l04-tutor-solved")

    page.locator("#past-problems").get_by_text("Past problems").click()
    page.wait_for_timeout(800)
    page.locator("#past-picker input").click()
    page.get_by_role("option").first.click()
    wait_text(page.locator("#past-chat"), r"\w{3}")
    shots.take(page, "l05-past-problems")

    tab(page, "My notes")
    page.locator("#note-box textarea").fill("150% more means the old amount plus one and a half times it again.")
    page.locator("#note-add").click()
    notes = page.locator("#notes-list textarea")
    deadline = time.monotonic() + WAIT_MS / 1000
    while "one and a half" not in notes.input_value() and time.monotonic() < deadline:
        time.sleep(0.3)
    shots.take(page, "l07-my-notes")

    tab(page, "Copilot")
    step("learner-copilot")


def run_outcomes(env: dict[str, str], home: Path) -> None:
    """A small outcomes run into the home's runs folder, for the Learning outcomes tab to show."""
    out = home / "runs" / "outcomes-sample"
    cmd = [cli(), "eval", "outcomes", "--policy", "none,tell,tutor", "--learners", "8", "--out", str(out)]
    print("$", " ".join(cmd[1:]), flush=True)  # noqa: T201 - a script's progress
    subprocess.run(cmd, env=env, check=True, cwd=home, stdout=subprocess.DEVNULL)


def main() -> None:
    """Start a fresh server, take every screenshot, stop the server."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    p.add_argument("--port", type=int, default=22300)
    p.add_argument("--keep", type=Path, help="use (and keep) this PEDAGRAPH_HOME; it must not exist yet")
    a = p.parse_args()
    from playwright.sync_api import sync_playwright

    home = a.keep or Path(tempfile.mkdtemp(prefix="pedagraph-shots-")) / "home"
    if home.exists() and any(home.iterdir()):
        raise SystemExit(f"{home} is not empty: screenshots are taken from a fresh state")
    home.mkdir(parents=True, exist_ok=True)
    env = fresh_env(home)
    run_outcomes(env, home)
    notes = home.parent / "fractions.md"
    notes.write_text(NOTES, encoding="utf-8")
    log = home.parent / "ui.log"
    with log.open("w") as out:
        proc = subprocess.Popen([cli(), "ui", "--port", str(a.port)], env=env, cwd=home, stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_port(a.port, proc)
        deadline = time.monotonic() + 60
        while not (m := re.search(r"http://\S+/login-link\?token=\S+", log.read_text())):
            if time.monotonic() > deadline:
                raise SystemExit(f"no one-time login link in {log}")
            time.sleep(0.3)
        link, base = m.group(0), f"http://127.0.0.1:{a.port}/"
        shots = Shots(a.out)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            teacher = browser.new_context(viewport=VIEWPORT).new_page()
            teacher.set_default_timeout(WAIT_MS)
            teacher.goto(link, wait_until="load")
            teacher.locator("#class-show").wait_for()
            # add a learner from the Class tab: the password is shown once, in the table
            teacher.get_by_text("Add learners").click()
            teacher.locator("#add-names textarea").fill("ana,Ana")
            teacher.locator("#add-learners").click()
            wait_text(teacher.locator("#added-learners"), r"password")
            cells = teacher.locator("#added-learners td").all_inner_texts()
            account = (cells[0].strip(), cells[2].strip())
            shots.take(teacher, "t00-class-add-learners")
            # course material first, so that the learner's course question has notes to answer from
            tab(teacher, "Course material")
            teacher.locator("#course-files input[type=file]").set_input_files(str(notes))
            teacher.locator("#ingest-button").click()
            wait_text(teacher.locator("#ingest-summary"), r"course '|Error|No files")
            shots.take(teacher, "t08-course-material")

            learner = browser.new_context(viewport=VIEWPORT).new_page()
            learner.set_default_timeout(WAIT_MS)
            learner.goto(base, wait_until="load")
            learner.locator("input[type=text]").fill(account[0])
            learner.locator("input[type=password]").fill(account[1])
            learner.get_by_role("button", name="Login").click()
            learner.locator("#tutor-chat").wait_for()

            def copilot(_: str) -> None:
                teacher_tabs(teacher, shots, base, "Ana")  # Class, Lesson planner, then opens a Copilot room
                wait_text(teacher.locator("#copilot-labels"), r"Suggestion 1")
                teacher.locator("#copilot-send").click()  # the suggested opener, as is
                learner.locator("#copilot-join").click()
                wait_text(learner.locator("#copilot-student-chat"), r"First step")
                box = learner.locator("#copilot-student-box textarea, #copilot-student-box input").first
                box.fill("I added 16 and 3 and got 19")
                learner.locator("#copilot-student-send").click()
                wait_text(teacher.locator("#copilot-labels"), r"their answer: (?!n/a)")
                copilot_tutor(teacher, shots)
                teacher.locator("#copilot-send").click()
                wait_text(learner.locator("#copilot-status"), r"(?i)your turn")
                learner.wait_for_timeout(1500)
                shots.take(learner, "l06-copilot-student")

            try:
                learner_tabs(learner, shots, base, copilot)
                rest_of_teacher(teacher, shots)
            except BaseException:
                for name, page in (("teacher", teacher), ("learner", learner)):  # what each page showed
                    page.screenshot(path=str(home.parent / f"failed-{name}.png"), full_page=True)
                print(f"failed: see {home.parent}/failed-*.png", flush=True)  # noqa: T201
                raise
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"{len(shots.saved)} screenshots in {a.out}; server log: {log}")  # noqa: T201


if __name__ == "__main__":
    main()
