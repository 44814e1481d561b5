"""The teachers' "Lesson planner" tab (EduPlanner): plan a lesson for a group of the teacher's class.

A topic or problems, the group (a skill-tree profile or learners ticked in the Class tab, who must be the
teacher's), the loop's settings (capped by `[ui] max_plan_work`); the plans' scores by round (a plot of CIDDP and
predicted success across rounds), the final plan as Markdown to read and download. With approval on, the run
pauses (a LangGraph interrupt, checkpointed in `PEDAGRAPH_HOME/planner.sqlite`) for the teacher to accept, edit or
ask for another round. The Class tab itself is in `ui/teacher_app.py`; `heatmap_png` draws its mastery heatmap.

Endpoints (also for `gradio_client`): `/plan_lesson(topic, problems, source, numerical, abstract, logical, analogy,
spatial, learners, rounds, candidates, test_problems, repeats, approval)` and `/approve_plan(action, plan,
comment)` -> run, status, plot, rounds table, plan (Markdown), plan to edit, download.
"""

from __future__ import annotations

import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
from pedagraph.prompts import load_prompt
from pedagraph.ui.identity import Refused, endpoint, teacher_only

from pedagraph.accounts import Account
from pedagraph.errors import PedagraphError
from pedagraph.methods.eduplanner.class_view import ClassView
from pedagraph.methods.eduplanner.plans import DIMENSIONS
from pedagraph.methods.eduplanner.skill_tree import ABILITIES

__all__ = ["ACTIONS", "PlannerRuns", "build_lesson_tab", "ciddp_plot", "heatmap_png", "rounds_table"]

CHECKPOINT_FILE = "planner.sqlite"
ACTIONS = {"Accept": "accept", "Submit my edit": "edit", "Another round": "another"}
SOURCES = ("Skill-tree profile", "Learners (Class tab)")
Outputs = tuple[Any, ...]


class PlannerRuns:
    """The eduplanner graph over a SQLite checkpointer in PEDAGRAPH_HOME (one per home), so a paused run survives."""

    _instances: dict[Path, PlannerRuns] = {}
    _lock = threading.Lock()

    def __init__(self, home: Path) -> None:
        from langgraph.checkpoint.sqlite import SqliteSaver
        from pedagraph.graphs.eduplanner import build_graph

        home.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(home / CHECKPOINT_FILE, check_same_thread=False)
        self.graph = build_graph(checkpointer=SqliteSaver(self.conn))

    @classmethod
    def for_home(cls) -> PlannerRuns:
        """The runs of the configured PEDAGRAPH_HOME."""
        from pedagraph.settings import ensure_home, load_settings

        home = ensure_home(load_settings()).resolve()
        with cls._lock:
            if home not in cls._instances:
                cls._instances[home] = cls(home)
            return cls._instances[home]

    def stream(self, run: dict[str, Any], value: Any) -> Iterator[dict[str, Any]]:
        """Run (or resume) a plan; yields the graph's state after each step."""
        from pedagraph.graphs.eduplanner import Context

        config = {"configurable": {"thread_id": run["thread"]}}
        yield from self.graph.stream(value, config, context=Context(**run["settings"]), stream_mode="values")

    def state(self, run: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """The run's state and its pending interrupt (None when it is not waiting)."""
        snapshot = self.graph.get_state({"configurable": {"thread_id": run["thread"]}})
        pending = next((i for t in snapshot.tasks for i in t.interrupts), None)
        return dict(snapshot.values), pending


# -- plots and tables --------------------------------------------------------------------------------------------------


def ciddp_plot(rounds: list[dict[str, Any]], out_dir: Path) -> str | None:
    """CIDDP of each round's best plan (five lines) and its predicted success x 100 (dashed) against the round."""
    if not rounds:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = list(range(len(rounds)))
    labels = [f"{r['round']}{'t' if 'teacher' in r.get('origin', []) else ''}" for r in rounds]
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for d in DIMENSIONS:
        ax.plot(xs, [(r.get("best_ciddp") or {}).get(d) for r in rounds], marker="o", label=d)
    ax.plot(xs, [100 * (r.get("best_success") or 0) for r in rounds], "k--", marker="s", label="predicted success")
    ax.set_xticks(xs, labels)
    ax.set_xlabel("round (t: the teacher's edit)")
    ax.set_ylabel("score (0-100)")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = out_dir / "ciddp_rounds.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def rounds_table(rounds: list[dict[str, Any]]) -> str:
    """A Markdown table: per round, its best plan, predicted success, CIDDP mean and the five dimensions."""
    head = ["| round | best plan | success | CIDDP | " + " | ".join(DIMENSIONS) + " |",
            "|---" * (4 + len(DIMENSIONS)) + "|"]  # fmt: skip
    rows = []
    for r in rounds:
        dims = " | ".join(str((r.get("best_ciddp") or {}).get(d, "")) for d in DIMENSIONS)
        rows.append(f"| {r['round']} | {r.get('best_id')} | {100 * (r.get('best_success') or 0):.1f} | "
                    f"{r.get('best_ciddp_mean') or 0:.1f} | {dims} |")  # fmt: skip
    return "\n".join(head + rows)


# -- the Lesson planner tab's handlers ---------------------------------------------------------------------------------


def _outputs(run: dict[str, Any], status: str, values: dict[str, Any], waiting: Any = None) -> Outputs:
    out_dir = Path(tempfile.mkdtemp(prefix="pedagraph-lesson-"))
    rounds = values.get("rounds") or []
    plot = ciddp_plot(rounds, out_dir)
    result = values.get("result")
    if result:
        plan = result["markdown"]
    elif waiting is not None:
        plan = waiting.value["best"]["markdown"]
    else:
        plan = (values.get("queue") or [{}])[0].get("markdown", "")
    download = None
    if plan:
        path = out_dir / "lesson_plan.md"
        path.write_text(plan, encoding="utf-8")
        download = str(path)
    edit = gr.update(value=plan, visible=waiting is not None)
    return run, status, plot, rounds_table(rounds), plan, edit, download


def _status(values: dict[str, Any], waiting: Any) -> str:
    if waiting is not None:
        best = waiting.value["best"]
        error = waiting.value.get("error")
        head = f"**Waiting for your approval** (round {waiting.value['round']}): the best plan is `{best['id']}`, " \
               f"predicted success {100 * best['success']:.1f}, CIDDP {best['ciddp_mean']:.1f}. Accept it, edit it " \
               "below (your edit is scored like any candidate) or ask for another round."  # fmt: skip
        return f"{head}\n\n{error}" if error else head
    result = values.get("result") or {}
    if not result:
        return "Planning…"
    note = " Accepted by you." if result.get("approved") else ""
    return (f"Done after {result['rounds']} optimisation round(s) ({result['stop']}).{note} Predicted success "
            f"{100 * result['success_round0']:.1f} → {100 * result['success_final']:.1f} (gain "
            f"{100 * result['gain']:+.1f}); CIDDP {result['ciddp_round0']:.1f} → {result['ciddp_final']:.1f}; "
            f"{result['calls']} model calls.")  # fmt: skip


def _drive(run: dict[str, Any], value: Any) -> Iterator[Outputs]:
    runs = PlannerRuns.for_home()
    try:
        last_round = -1
        for values in runs.stream(run, value):
            if "__interrupt__" in values:
                continue
            rounds = values.get("rounds") or []
            if len(rounds) != last_round:
                last_round = len(rounds)
                best = rounds[-1]["queue_best_success"] if rounds else None
                text = f"Planning… round {len(rounds)} scored" + (f", best {100 * best:.1f}" if best else "")
                yield run, text, gr.skip(), rounds_table(rounds), gr.skip(), gr.skip(), gr.skip()
        values, waiting = runs.state(run)
    except (PedagraphError, ValueError) as exc:
        yield run, f"Error: {str(exc).splitlines()[0]}", None, "", "", gr.update(visible=False), None
        return
    yield _outputs(run, _status(values, waiting), values, waiting)


def plan_lesson(
    topic: str, problems: str, source: str, numerical: float, abstract: float, logical: float, analogy: float,
    spatial: float, learners: list[str] | str | None, rounds: float, candidates: float, test_problems: float,
    repeats: float, approval: bool, run: Any = None,
) -> Iterator[Outputs]:  # fmt: skip
    """Plan a lesson: the graph runs round by round; with approval it stops for the teacher at the end."""
    settings = {"rounds": int(rounds), "candidates": int(candidates), "test_problems": int(test_problems),
                "repeats": int(repeats), "approval": "end" if approval else "none"}  # fmt: skip
    state: dict[str, Any] = {"topic": topic or "", "problems": [ln.strip() for ln in (problems or "").splitlines()
                                                                if ln.strip()]}  # fmt: skip
    if source == SOURCES[1]:
        ids = learners if isinstance(learners, list) else [s.strip() for s in str(learners or "").split(",")]
        state["learners"] = [i for i in ids if i]
    else:
        state["levels"] = [int(v) for v in (numerical, abstract, logical, analogy, spatial)]
    new_run = {"thread": f"lesson-{uuid.uuid4().hex[:12]}", "settings": settings}
    yield from _drive(new_run, state)


def approve_plan(run: Any, action: str, plan: str, comment: str) -> Iterator[Outputs]:
    """The teacher's decision on a paused plan: accept, submit an edit, or another round (with a comment)."""
    from langgraph.types import Command

    if not isinstance(run, dict) or not run.get("thread"):
        yield run, "Error: no plan is waiting for approval; plan a lesson first", None, "", "", gr.skip(), None
        return
    decision = {"action": ACTIONS.get(action, action), "comment": comment or ""}
    if decision["action"] == "edit":
        decision["plan"] = plan or ""
    yield from _drive(run, Command(resume=decision))


# -- the Class tab's handlers ------------------------------------------------------------------------------------------


def heatmap_png(view: ClassView, out_dir: Path) -> str | None:
    """The class's mastery heatmap (learners x skills) as a PNG, labels drawn as plain text."""
    if not view.rows or not view.skills:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    def plain(text: str) -> str:
        return text.replace("$", r"\$")  # no mathtext from a name

    data = np.array([[np.nan if v is None else v for v in row] for row in view.matrix()], dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * len(view.skills), 1.0 + 0.35 * len(view.rows)))
    image = ax.imshow(np.ma.masked_invalid(data), vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(view.skills)), [plain(s) for s in view.skills], rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(view.rows)), [plain(r.learner_id) for r in view.rows], fontsize=8)
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="P(mastered)")
    ax.set_title("Mastery (blank: no graded evidence)", fontsize=9)
    fig.tight_layout()
    path = out_dir / "class_mastery.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


# -- the tabs ----------------------------------------------------------------------------------------------------------


@endpoint("teacher")
def plan_for_class(
    account: Account, topic: str, problems: str, source: str, numerical: float, abstract: float, logical: float,
    analogy: float, spatial: float, learners: list[str] | str | None, rounds: float, candidates: float,
    test_problems: float, repeats: float, approval: bool, run: Any = None,
) -> Iterator[Outputs]:  # fmt: skip
    """`plan_lesson` for a teacher: the group's learners must be theirs; the work is capped by the config."""
    from pedagraph.ui.teacher_app import class_learners

    from pedagraph.settings import load_settings

    if source == SOURCES[1]:
        ids = learners if isinstance(learners, list) else [s.strip() for s in str(learners or "").split(",")]
        mine = class_learners(account)
        strangers = [i for i in ids if i and i not in mine]
        if strangers:
            raise Refused("the group may hold only learners of your class")
    cap = load_settings().ui.max_plan_work
    work = max(1, int(rounds)) * int(candidates) * int(test_problems) * int(repeats)
    if work > cap:
        raise Refused(f"rounds x candidates x test problems x repeats is {work}; this server allows {cap}")
    yield from plan_lesson(topic, problems, source, numerical, abstract, logical, analogy, spatial, learners, rounds,
                           candidates, test_problems, repeats, approval, run)  # fmt: skip


def build_lesson_tab() -> SimpleNamespace:
    """Add the teachers' "Lesson planner" tab to the gr.Blocks being built; its group inputs (for the Class tab)."""
    t = SimpleNamespace()
    with gr.Tab("Lesson planner"):
        gr.Markdown(load_prompt("ui/lesson_intro"))
        with gr.Row():
            topic = gr.Textbox(label="Topic", value="fractions of amounts", elem_id="lesson-topic")
            problems = gr.Textbox(label="Problems to teach (one per line, optional)", lines=3)
        with gr.Row():
            t.source = source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Group")
            t.learners = learners = gr.Dropdown([], multiselect=True, allow_custom_value=True,
                                                elem_id="lesson-learners", label="Learners (tick them in Class)")
        with gr.Row():
            levels = [gr.Slider(1, 5, value=3, step=1, label=a.label) for a in ABILITIES]
        with gr.Row():
            rounds = gr.Slider(0, 20, value=5, step=1, label="Rounds (N)")
            candidates = gr.Slider(1, 5, value=3, step=1, label="Candidates per round (K)")
            test_problems = gr.Slider(1, 8, value=4, step=1, label="Test problems (T)")
            repeats = gr.Slider(1, 5, value=2, step=1, label="Repeats (M)")
            approval = gr.Checkbox(value=False, label="Pause for my approval at the end")
        go = gr.Button("Plan the lesson", variant="primary", elem_id="lesson-run")
        run = gr.State(None)
        status = gr.Markdown(elem_id="lesson-status")
        with gr.Row():
            plot = gr.Image(type="filepath", label="CIDDP and predicted success by round", elem_id="lesson-plot")
            table = gr.Markdown(elem_id="lesson-rounds")
        edit = gr.Textbox(label="The plan (edit it, then submit your edit)", lines=14, visible=False,
                          elem_id="lesson-edit")  # fmt: skip
        with gr.Row():
            comment = gr.Textbox(label="Comment for the next round (optional)", scale=3)
            action = gr.Radio(list(ACTIONS), value="Accept", label="Your decision", scale=2)
            decide = gr.Button("Send decision", elem_id="lesson-decide", scale=1)
        plan = gr.Markdown(elem_id="lesson-plan")
        download = gr.File(label="The plan as Markdown", elem_id="lesson-download")
        outputs = [run, status, plot, table, plan, edit, download]
        go.click(plan_for_class, inputs=[topic, problems, source, *levels, learners, rounds, candidates, test_problems,
                                      repeats, approval, run], outputs=outputs, api_name="plan_lesson",
                 concurrency_limit=2, concurrency_id="lesson")  # fmt: skip
        decide.click(teacher_only(approve_plan), inputs=[run, action, edit, comment], outputs=outputs,
                     api_name="approve_plan", concurrency_limit=2, concurrency_id="lesson")  # fmt: skip
    return t
