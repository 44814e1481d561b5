"""`tutoring`: simulated MathDial students talk with the tutor graph; Success@k and Telling@k (methods.md §6).

One item per MathDial dialogue (default `mathdial/test.jsonl`). The student is built from the record: its
profile, its incorrect solution and the confusion the teacher described (`mathdial_persona`). The tutor graph
(`graphs/tutor.py`, one thread per item, a fresh learner record per item) runs in simulated mode for up to
`max_turns` student turns. The student is chosen by the `student` option:

* `llm` — the MathDial student (`agents/student.py: mathdial_student`) on the run's student model;
* `probabilistic` — the seeded, offline `ProbabilisticStudent` (no model);
* `auto` (default) — `llm` when the student role is a real model, `probabilistic` on the scripted model.

Metrics (MathDial definitions, numeric match with `pedagraph.answers`):

* Success@k: the student states the correct final number within its first k turns;
* Telling@k: a tutor reply seen before the student's turn t <= k states the final number, and t is at or
  before the student's first correct turn (so an affirmation after the student said it is not telling).
  A tutor reply counts as stating the number when a number in it (digits, words, money, fractions) equals
  the final answer, or it contains a spelled-out form from `pedagraph.reveal.answer_forms`; the problem
  statement quoted in a reply and step labels ("Step 2: ...") are ignored, and when the problem itself
  prints its answer, numeric telling is not detected (`final_in_question`; the graph's own reveal record is
  still reported);
* turns to success (over successes), the tutor's move mix (focus / probing / telling / generic, over the
  replies to the student, pooled across dialogues), reveal-gate events per dialogue, end reasons.

Options: `max_turns` (8), `student` (auto|llm|probabilistic), `reveal_policy` (never|after_attempts|
on_request, default never), and for the probabilistic student `base` (0.35), `learn` (0.15), `hint_rate` (0.1).
With `judge=true` the evaluator agent (`agents/evaluator.py`, calibrated by the `judge` suite) also labels every
tutor reply to the student on the MRBench dimensions (`judge_dimensions`, default all eight), reported as
desirable-label rates over the judged replies (`judge.<dimension>`).
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.messages import AIMessage, HumanMessage
from pedagraph.agents.evaluator import DESIRABLE, format_history, judge_response, parse_dimensions
from pedagraph.agents.student import STUDENT_FAILED, ProbabilisticStudent, mathdial_persona, mathdial_student
from pedagraph.evals.metrics import Metric, mean, proportion
from pedagraph.evals.runner import Item, ItemContext, Suite, register_suite

from pedagraph.answers import compare, extract_numbers, normalize_text
from pedagraph.errors import DataError, ModelError
from pedagraph.problems import Problem, load_problems, steps_of
from pedagraph.redact import redact
from pedagraph.reveal import answer_forms
from pedagraph.taxonomy import Move

STUDENTS = ("auto", "llm", "probabilistic")
REVEAL_POLICIES = ("never", "after_attempts", "on_request")
END_REASONS = ("solved", "revealed", "turn_limit")
_STEP_LABEL = re.compile(r"\b(?:step|part|question)\s+\d+(?:\s+of\s+\d+)?\b", re.IGNORECASE)


def metrics_of(summary: dict[str, Any]) -> dict[str, Any]:
    """The suite's metrics from the runner's summary (nested under `metrics`) or from `summarize`."""
    metrics = summary.get("metrics")
    return metrics if isinstance(metrics, dict) else summary


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on", "y")


def _number(value: Any, default: float, name: str) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"tutoring: option {name} must be a number, got {value!r}") from None


def states_number(text: str, value: float | None) -> bool:
    """Whether any number in `text` equals `value` (MathDial's numeric match)."""
    if value is None:
        return False
    return any(compare(v, value) for v in extract_numbers(text))


def tutor_states_answer(text: str, value: float | None, question: str = "") -> bool:
    """Whether a tutor reply states the final answer: a number equal to it, or a spelled-out answer form.

    The problem statement, when the reply quotes it, and step labels ("Step 2", "step 2 of 3") are removed first.
    """
    if value is None:
        return False
    if question.strip():
        text = text.replace(question.strip(), " ")
    text = _STEP_LABEL.sub(" ", text)
    if states_number(text, value):
        return True
    low = normalize_text(text).lower()
    for form in answer_forms(value):
        if re.search(r"[a-z]", form) and re.search(rf"(?<![\w.]){re.escape(form.lower())}(?![\w])", low):
            return True
    return False


def first_success(student_turns: list[str], value: float | None) -> int | None:
    """1-based index of the first student turn that states the final number (None if none does)."""
    for i, text in enumerate(student_turns, 1):
        if states_number(text, value):
            return i
    return None


def first_mention(tutor_turns: list[str], value: float | None, question: str, final_in_question: bool) -> int | None:
    """The student turn (1-based) before which the tutor first stated the final number: reply j precedes turn j+1."""
    if final_in_question:
        return None
    for j, text in enumerate(tutor_turns):
        if tutor_states_answer(text, value, question):
            return j + 1
    return None


def first_telling(
    tutor_turns: list[str], value: float | None, question: str, final_in_question: bool, success_turn: int | None
) -> int | None:
    """The student turn before which the tutor told the final number, if at or before the first correct turn."""
    mention = first_mention(tutor_turns, value, question, final_in_question)
    if mention is None or (success_turn is not None and mention > success_turn):
        return None
    return mention


def success_at(result: dict[str, Any], k: int) -> bool:
    """Success@k of one dialogue."""
    s = result.get("success_turn")
    return s is not None and s <= k


def telling_at(result: dict[str, Any], k: int) -> bool:
    """Telling@k of one dialogue: told before turn t <= k, and t at or before the first correct turn."""
    t, s = result.get("telling_turn"), result.get("success_turn")
    return t is not None and t <= k and (s is None or t <= s)


def _turn_label(trace: dict[str, Any]) -> dict[str, Any]:
    plan = trace.get("plan") or {}
    diagnosis = trace.get("diagnosis") or {}
    gate = trace.get("gate") or {}
    return {
        "turn": trace.get("turn"),
        "learner": trace.get("learner"),
        "category": diagnosis.get("category"),
        "verdict": diagnosis.get("verdict"),
        "error_type": diagnosis.get("error_type"),
        "kind": plan.get("kind"),
        "move": plan.get("move"),
        "strategy": plan.get("strategy"),
        "action": plan.get("action"),
        "intention": plan.get("intention"),
        "step_index": plan.get("step_index"),
        "hint_level": plan.get("hint_level"),
        "reply_source": plan.get("reply_source"),
        "gate": gate.get("action"),
        "gate_reason": gate.get("reason") if gate.get("blocked") else None,
        "reply": trace.get("reply"),
    }


@register_suite
class TutoringSuite(Suite):
    """MathDial-style interactive evaluation of the tutor graph with simulated students."""

    name: ClassVar[str] = "tutoring"
    description: ClassVar[str] = (
        "MathDial: simulated students (LLM or probabilistic) talk with the tutor graph for up to k turns; "
        "Success@k, Telling@k, turns to success, move mix, reveal-gate events"
    )
    roles: ClassVar[tuple[str, ...]] = ("teacher", "evaluator", "student")
    default_data: ClassVar[str] = "mathdial/test.jsonl"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        o = self.options
        self.max_turns = int(_number(o.get("max_turns"), 8, "max_turns"))
        if self.max_turns < 1:
            raise DataError(f"tutoring: max_turns must be at least 1, got {self.max_turns}")
        self.student = str(o.get("student") or "auto").strip().lower()
        if self.student not in STUDENTS:
            raise DataError(f"tutoring: option student must be one of {', '.join(STUDENTS)}, got {self.student!r}")
        self.reveal_policy = str(o.get("reveal_policy") or "never").strip().lower()
        if self.reveal_policy not in REVEAL_POLICIES:
            raise DataError(f"tutoring: reveal_policy must be one of {', '.join(REVEAL_POLICIES)}")
        self.base = _number(o.get("base"), 0.35, "base")
        self.learn = _number(o.get("learn"), 0.15, "learn")
        self.hint_rate = _number(o.get("hint_rate"), 0.1, "hint_rate")
        self.judge = _flag(o.get("judge"))
        try:
            self.judge_dimensions = parse_dimensions(o.get("judge_dimensions"))
        except ValueError as exc:
            raise DataError(f"tutoring: {exc}") from None

    def load_items(self, path: Path) -> list[Item]:
        """One item per dialogue of a MathDial .jsonl/.csv file (GSM8K files work too, with a default persona)."""
        problems = load_problems(path)
        if not problems:
            raise DataError(f"{path}: no problems")
        return [Item(id=p.id, data=p.model_dump(mode="json")) for p in problems]

    def student_kind(self, student_scripted: bool) -> str:
        """`llm` or `probabilistic`, resolving `auto` from whether the student role is the scripted model."""
        if self.student == "auto":
            return "probabilistic" if student_scripted else "llm"
        return self.student

    def _run(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        from langgraph.checkpoint.memory import InMemorySaver
        from pedagraph.graphs.tutor import Context, build_graph

        from pedagraph.learner import get_learner_store

        problem = Problem.model_validate(item.data)
        teacher, evaluator, student_model = ctx.model("teacher"), ctx.model("evaluator"), ctx.model("student")
        kind = self.student_kind(student_model.is_scripted)
        if kind == "probabilistic":
            simulator: Any = ProbabilisticStudent(
                seed=ctx.item_seed, base=self.base, learn=self.learn, hint_rate=self.hint_rate
            )
        else:
            simulator = mathdial_student
        persona = mathdial_persona(problem.extras)
        learner_id = f"eval-tutoring-{item.id}-{ctx.item_seed % 10**8}"[:128]
        store = get_learner_store()
        store.delete(learner_id)  # a fresh learner: the tutor's decisions do not depend on earlier runs
        context = Context(
            learner_id=learner_id,
            student_mode="simulated",
            reveal_policy=self.reveal_policy,  # type: ignore[arg-type]
            max_turns=self.max_turns,
            student_persona=persona,
            teacher_model=teacher,
            evaluator_model=evaluator,
            student_model=student_model,
            student_simulator=simulator,
        )
        graph = build_graph(checkpointer=InMemorySaver())
        config = {"configurable": {"thread_id": f"tutoring-{item.id}"}, "recursion_limit": 30 + 8 * self.max_turns}
        try:
            out = graph.invoke({"problem_data": problem.model_dump(mode="json")}, config, context=context)
        finally:
            store.delete(learner_id)
        result = self._result(problem, out, kind, teacher, evaluator, student_model)
        if self.judge:
            result["judged"] = self._judge_turns(result["transcript"], problem, evaluator)
        return result

    def _judge_turns(self, transcript: list[dict[str, Any]], problem: Problem, evaluator: Any) -> list[dict[str, Any]]:
        """MRBench labels of every tutor reply that answers a student turn (the opener is not judged)."""
        judged = []
        for i, turn in enumerate(transcript):
            if turn["role"] != "tutor" or i == 0:
                continue
            history = format_history([(t["role"], t["text"]) for t in transcript[:i]])
            try:
                j = judge_response(evaluator, history, turn["text"], problem.solution or None, self.judge_dimensions)
            except ModelError as exc:  # a judge that fails on one reply leaves it unjudged, not the dialogue lost
                judged.append({"index": i, "labels": {}, "rationale": "", "error": redact(exc.one_line())[:300]})
                continue
            judged.append({"index": i, "labels": j.labels, "rationale": j.rationale})
        return judged

    def _result(self, problem: Problem, out: dict[str, Any], kind: str, *models: Any) -> dict[str, Any]:
        messages = out.get("messages", [])[out.get("problem_start", 0) :]
        transcript = []
        for m in messages:
            if isinstance(m, AIMessage | HumanMessage):
                text = m.content if isinstance(m.content, str) else str(m.content)
                transcript.append({"role": "tutor" if isinstance(m, AIMessage) else "student", "text": text})
        tutor = [t["text"] for t in transcript if t["role"] == "tutor"]
        student = [t["text"] for t in transcript if t["role"] == "student"]
        final = problem.final_value
        final_in_question = final is not None and states_number(problem.question, final)
        success = first_success(student, final)
        mention = first_mention(tutor, final, problem.question, final_in_question)
        telling = first_telling(tutor, final, problem.question, final_in_question, success)
        labels = [_turn_label(t) for t in out.get("turns", [])]
        events = list(out.get("reveal_events", []))
        teacher, evaluator, student_model = models
        return {
            "problem_id": problem.id,
            "qid": problem.extras.get("qid"),
            "final_answer": problem.final_answer,
            "steps": len(steps_of(problem)),
            "max_turns": self.max_turns,
            "student_simulator": kind,
            "reveal_policy": self.reveal_policy,
            "student_turns": len(student),
            "success_turn": success,
            "telling_turn": telling,
            "answer_mention_turn": mention,
            "final_in_question": final_in_question,
            "graph_solved": bool(out.get("learner_solved")),
            "graph_revealed": bool(out.get("revealed")),
            "end_reason": out.get("end_reason") or ("done" if out.get("done") else None),
            "student_error": out.get("student_error"),
            "retryable": out.get("end_reason") == STUDENT_FAILED,
            "retry_reason": f"the simulated student failed: {out.get('student_error')}"
            if out.get("end_reason") == STUDENT_FAILED else None,
            "reveal_events": events,
            "moves": [lab["move"] for lab in labels if lab["kind"] != "open"],
            "turn_labels": labels,
            "transcript": transcript,
            "mathdial_self_correctness": problem.extras.get("self-correctness"),
            "models": {
                "teacher": teacher.model_spec,
                "evaluator": evaluator.model_spec,
                "student": "probabilistic (no model)" if kind == "probabilistic" else student_model.model_spec,
            },
            "scripted": {
                "teacher": teacher.is_scripted,
                "evaluator": evaluator.is_scripted,
                "student": kind == "llm" and student_model.is_scripted,
            },
        }

    async def run_item(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        """Run one simulated tutoring dialogue through the tutor graph and score it."""
        return await asyncio.to_thread(self._run, item, ctx)

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """success@k / telling@k for k = 1..max_turns, turns to success, move mix, gate events, end reasons."""
        summary: dict[str, Any] = {}
        if not results:
            return summary
        k_max = max(int(r.get("max_turns") or 1) for r in results)
        for k in range(1, k_max + 1):
            summary[f"success@{k}"] = proportion([success_at(r, k) for r in results]).to_dict()
        for k in range(1, k_max + 1):
            summary[f"telling@{k}"] = proportion([telling_at(r, k) for r in results]).to_dict()
        successes = [float(r["success_turn"]) for r in results if r.get("success_turn") is not None]
        summary["turns_to_success"] = mean(successes).to_dict()
        summary["student_turns"] = mean([float(r.get("student_turns") or 0) for r in results]).to_dict()
        summary["graph_solved"] = proportion([bool(r.get("graph_solved")) for r in results]).to_dict()
        summary["graph_revealed"] = proportion([bool(r.get("graph_revealed")) for r in results]).to_dict()
        moves = [m for r in results for m in r.get("moves", [])]
        for move in Move:
            summary[f"move.{move.value}"] = proportion([m == move.value for m in moves]).to_dict()
        summary["reveal_gate.events_per_dialogue"] = mean(
            [float(len(r.get("reveal_events") or [])) for r in results]
        ).to_dict()
        actions = Counter(e.get("action") for r in results for e in r.get("reveal_events") or [])
        for action in sorted({"replaced", "regenerated", "allowed", *(a for a in actions if a)}):
            summary[f"reveal_gate.{action}_per_dialogue"] = mean(
                [float(sum(e.get("action") == action for e in r.get("reveal_events") or [])) for r in results]
            ).to_dict()
        reasons = sorted({*END_REASONS, *(str(r.get("end_reason")) for r in results)})
        for reason in reasons:
            summary[f"end_reason.{reason}"] = proportion(
                [str(r.get("end_reason")) == reason for r in results]
            ).to_dict()
        judged = [j for r in results for j in r.get("judged") or []]
        if judged:
            summary["judge.failed"] = proportion([bool(j.get("error")) for j in judged]).to_dict()
        for dim, good in DESIRABLE.items():
            labels = [j["labels"][dim.value] for j in judged if dim.value in j["labels"]]
            if labels:
                summary[f"judge.{dim.value}"] = proportion([label == good for label in labels]).to_dict()
        return summary

    def report(self, summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
        """Success@k / Telling@k table, move mix, end reasons and one example transcript."""
        metrics = metrics_of(summary)
        kinds = Counter(r.get("student_simulator") for r in results)
        models = results[0].get("models", {}) if results else {}
        scripted = results[0].get("scripted", {}) if results else {}
        lines = ["## Simulated tutoring dialogues (MathDial)", ""]
        lines.append(
            f"{len(results)} dialogues, up to {max((r.get('max_turns') or 0) for r in results)} student turns each; "
            f"student: {', '.join(f'{k} ({v})' for k, v in kinds.items())}; reveal policy "
            f"`{results[0].get('reveal_policy') if results else '-'}`."
        )
        lines.append("")
        lines.append(
            "Models: "
            + ", ".join(
                f"{role} `{spec}`" + (" (scripted)" if scripted.get(role) else "") for role, spec in models.items()
            )
            + "."
        )
        if scripted.get("teacher"):
            lines += [
                "",
                "> The tutor ran on the **scripted** model: its replies are the deterministic templates of the tutor "
                "graph (CLASS policy), so these figures measure the policy and the simulated student, not a language "
                "model.",
            ]
        if kinds.get("probabilistic"):
            lines += [
                "",
                "> The probabilistic student is a seeded simulation with ground truth (per-sub-question success "
                "probability rising with the tutor's help), not a model of real learners.",
            ]
        k_max = max((int(r.get("max_turns") or 0) for r in results), default=0)
        lines += ["", "| k | Success@k | Telling@k |", "| --- | --- | --- |"]
        for k in range(1, k_max + 1):
            s, t = Metric(**metrics[f"success@{k}"]), Metric(**metrics[f"telling@{k}"])
            lines.append(f"| {k} | {s.format(percent=True)} | {t.format(percent=True)} |")
        tts = Metric(**metrics["turns_to_success"])
        lines += ["", f"Turns to success (over successes): {tts.format()}."]
        moves = [(m.value, Metric(**metrics[f"move.{m.value}"])) for m in Move]
        lines += ["", "Tutor move mix (replies to the student, pooled): "
                  + ", ".join(f"{name} {m.format(percent=True)}" for name, m in moves) + "."]  # fmt: skip
        ends = [(k.split(".", 1)[1], Metric(**v)) for k, v in metrics.items() if k.startswith("end_reason.")]
        lines += ["", "End reasons: " + ", ".join(f"{name} {m.format(percent=True)}" for name, m in ends) + "."]
        gate = Metric(**metrics["reveal_gate.events_per_dialogue"])
        lines += ["", f"Reveal-gate events per dialogue: {gate.format()}."]
        judged = [
            (k.split(".", 1)[1], Metric(**v))
            for k, v in metrics.items()
            if k.startswith("judge.") and k != "judge.failed"
        ]
        if judged:
            note = " (scripted judge: default labels, not judgements)" if scripted.get("evaluator") else ""
            lines += ["", f"MRBench desirable-label rates of the tutor's replies, by the evaluator agent{note}: "
                      + ", ".join(f"{name} {m.format(percent=True)}" for name, m in judged) + "."]  # fmt: skip
        if "judge.failed" in metrics:
            failed = Metric(**metrics["judge.failed"])
            lines += ["", f"Replies the judge could not label (no valid output): {failed.format(percent=True)}."]
        example = next((r for r in results if r.get("success_turn")), results[0] if results else None)
        if example is not None:
            lines += ["", f"### Example dialogue: `{example['problem_id']}`", ""]
            for turn in example.get("transcript", [])[:12]:
                text = " ".join(str(turn["text"]).split())
                lines.append(f"- **{turn['role']}**: {text[:300]}")
        return "\n".join(lines)

    def plots(self, summary: dict[str, Any], results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
        """Success@k and Telling@k curves with ±1.96 SE bands."""
        import matplotlib.pyplot as plt

        metrics = metrics_of(summary)
        ks = sorted(int(k.split("@")[1]) for k in metrics if k.startswith("success@"))
        if not ks:
            return []
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for name, color in (("success", "tab:green"), ("telling", "tab:red")):
            ms = [Metric(**metrics[f"{name}@{k}"]) for k in ks]
            vals = [m.value or 0.0 for m in ms]
            lo = [max(0.0, v - 1.96 * (m.se or 0.0)) for v, m in zip(vals, ms, strict=True)]
            hi = [min(1.0, v + 1.96 * (m.se or 0.0)) for v, m in zip(vals, ms, strict=True)]
            ax.plot(ks, vals, marker="o", color=color, label=f"{name.capitalize()}@k")
            ax.fill_between(ks, lo, hi, color=color, alpha=0.15)
        n = len(results)
        kinds = ", ".join(sorted({str(r.get("student_simulator")) for r in results}))
        ax.set_xlabel("k (student turns)")
        ax.set_ylabel("share of dialogues")
        ax.set_ylim(0, 1.02)
        ax.set_xticks(ks)
        ax.set_title(f"Success@k and Telling@k (n={n}, {kinds} student, ±1.96 SE)")
        ax.legend(loc="upper left")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = out_dir / "tutoring_success_telling.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return [path]
