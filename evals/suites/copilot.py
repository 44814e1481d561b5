"""`copilot`: replay MathDial conversations through the copilot; each suggestion against what the teacher did.

One item per MathDial dialogue (default `mathdial/test.jsonl`). The copilot graph (`graphs/copilot.py`) runs in
human mode on the dialogue's problem; the real conversation is replayed: each student turn is the student's
message, and at each teacher turn after the first (the first greets the student before anything was said) the
copilot's suggestion is recorded before the real teacher's message is sent in its place (`own`, overriding the
gate when the real teacher gave the answer away: the override is counted). So every suggestion is made on exactly
the conversation the teacher saw.

Per teacher turn: the suggestion's MathDial move (from its Bridge strategy) and the teacher's annotated move
(focus, probing, telling, generic); whether each states the final answer (`suites.tutoring.tutor_states_answer`) before
the student said it (after that, saying it is affirming, not telling, as in the `tutoring` suite's Telling@k).
Metrics (proportions over teacher turns pooled across dialogues, with standard errors): the move mix of both,
the telling rate of both (the `telling` move; stating the final answer), move agreement, gate overrides per
dialogue; with `judge=true` the evaluator (`agents/evaluator.py`) labels both texts on the MRBench dimensions
(`judge_dimensions`, default all eight), reported as desirable-label rates for the suggestion and the teacher.
Options: `max_turns` (teacher turns replayed per dialogue, default 8), `judge`, `judge_dimensions`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

from pedagraph.agents.evaluator import DESIRABLE, format_history, judge_response, parse_dimensions
from pedagraph.evals.metrics import Metric, mean, proportion
from pedagraph.evals.runner import Item, ItemContext, Suite, register_suite
from pedagraph.evals.suites.tutoring import _flag, _number, metrics_of, states_number, tutor_states_answer

from pedagraph.errors import DataError, ModelError
from pedagraph.methods.coach.coaching import parse_transcript
from pedagraph.problems import Problem, load_problems
from pedagraph.redact import redact
from pedagraph.taxonomy import Move

__all__ = ["CopilotSuite"]

WHO = ("suggestion", "teacher")


@register_suite
class CopilotSuite(Suite):
    """The copilot's suggestions against MathDial teachers' real moves, turn by turn."""

    name: ClassVar[str] = "copilot"
    description: ClassVar[str] = (
        "Tutor CoPilot replayed on MathDial: suggestion vs the real teacher per turn (move mix, telling, judge)"
    )
    roles: ClassVar[tuple[str, ...]] = ("teacher", "evaluator")
    default_data: ClassVar[str] = "mathdial/test.jsonl"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        unknown = set(options) - {"max_turns", "judge", "judge_dimensions"}
        if unknown:
            raise DataError(f"copilot: unknown option(s) {', '.join(sorted(unknown))}",
                            hint="max_turns, judge, judge_dimensions")  # fmt: skip
        self.max_turns = int(_number(options.get("max_turns"), 8, "max_turns"))
        if self.max_turns < 1:
            raise DataError(f"copilot: max_turns must be at least 1, got {self.max_turns}")
        self.judge = _flag(options.get("judge"))
        try:
            self.judge_dimensions = parse_dimensions(options.get("judge_dimensions"))
        except ValueError as exc:
            raise DataError(f"copilot: {exc}") from None

    def load_items(self, path: Path) -> list[Item]:
        """One item per MathDial dialogue that has a conversation."""
        problems = [p for p in load_problems(path) if isinstance(p.extras.get("conversation"), str)]
        if not problems:
            raise DataError(f"{path}: no MathDial dialogues (rows with a conversation)")
        return [Item(id=p.id, data=p.model_dump(mode="json")) for p in problems]

    def _replay(self, problem: Problem, ctx: ItemContext) -> dict[str, Any]:
        from langgraph.checkpoint.memory import InMemorySaver
        from langgraph.types import Command
        from pedagraph.graphs.copilot import Context, build_graph

        from pedagraph.learner import get_learner_store

        turns = parse_transcript(problem.extras["conversation"], "mathdial")
        learner_id = f"eval-copilot-{problem.id}-{ctx.item_seed % 10**8}"[:128]
        store = get_learner_store()
        store.delete(learner_id)
        context = Context(learner_id=learner_id, teacher_model=ctx.model("teacher"),
                          evaluator_model=ctx.model("evaluator"), max_turns=10**6)  # fmt: skip
        graph = build_graph(checkpointer=InMemorySaver())
        config = {"configurable": {"thread_id": f"copilot-{problem.id}"}, "recursion_limit": 10_000}
        rows: list[dict[str, Any]] = []
        history: list[tuple[str, str]] = []
        try:
            out = graph.invoke({"problem_data": problem.model_dump(mode="json")}, config, context=context)
            for i, turn in enumerate(turns):
                waiting = out.get("__interrupt__")
                if not waiting:
                    break  # the copilot judged the problem finished
                value = waiting[0].value
                if turn.speaker == "student":
                    if value["type"] == "await_learner":
                        out = graph.invoke(Command(resume=turn.text), config, context=context)
                        history.append(("student", turn.text))
                    continue
                if value["type"] != "await_tutor":
                    continue  # two teacher turns in a row: the second is not replayed
                if i > 0 and len(rows) < self.max_turns:
                    rows.append(self._row(problem, turn.n, value["suggestion"], turn.text, turn.label, history))
                out = graph.invoke(Command(resume={"action": "own", "text": turn.text, "override": True}), config,
                                   context=context)  # fmt: skip
                history.append(("tutor", turn.text))
                if len(rows) >= self.max_turns:
                    break
        finally:
            store.delete(learner_id)
        overrides = sum(1 for c in out.get("choices", []) if c.get("override"))
        return {"problem_id": problem.id, "rows": rows, "gate_overrides": overrides,
                "models": {r: ctx.model(r).model_spec for r in self.roles},
                "scripted": {r: ctx.model(r).is_scripted for r in self.roles}}  # fmt: skip

    def _row(self, problem: Problem, n: int, suggestion: dict[str, Any], teacher: str, label: str | None,
             history: list[tuple[str, str]]) -> dict[str, Any]:  # fmt: skip
        final = problem.final_value
        said = any(states_number(text, final) for who, text in history if who == "student")
        return {
            "turn": n,
            "history": list(history),
            "suggestion": suggestion["text"],
            "suggestion_move": suggestion["labels"]["move"],
            "suggestion_labels": suggestion["labels"],
            "teacher": teacher,
            "teacher_move": label if label in {m.value for m in Move} else None,
            "student_said_answer": said,
            "suggestion_tells_answer": not said and tutor_states_answer(suggestion["text"], final, problem.question),
            "teacher_tells_answer": not said and tutor_states_answer(teacher, final, problem.question),
        }

    def _judge(self, problem: Problem, rows: list[dict[str, Any]], evaluator: Any) -> None:
        for row in rows:
            history = format_history(row["history"])
            for who in WHO:
                try:
                    j = judge_response(evaluator, history, row[who], problem.solution or None, self.judge_dimensions)
                    row[f"judge_{who}"] = j.labels
                except ModelError as exc:
                    row[f"judge_{who}"] = {"error": redact(exc.one_line())[:300]}

    def _run(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        problem = Problem.model_validate(item.data)
        result = self._replay(problem, ctx)
        if self.judge:
            self._judge(problem, result["rows"], ctx.model("evaluator"))
        return result

    async def run_item(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        """Replay one MathDial dialogue through the copilot and record the suggestion at each teacher turn."""
        return await asyncio.to_thread(self._run, item, ctx)

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """Move mix and telling of suggestions and teachers, agreement, gate overrides, judge rates (± SE)."""
        rows = [r for res in results for r in res.get("rows", [])]
        summary: dict[str, Any] = {"turns": len(rows)}
        if not rows:
            return summary
        labelled = [r for r in rows if r["teacher_move"]]
        for who in WHO:
            pool = rows if who == "suggestion" else labelled
            for move in Move:
                shares = [r[f"{who}_move"] == move.value for r in pool]
                summary[f"{who}.move.{move.value}"] = proportion(shares).to_dict()
            summary[f"{who}.tells_answer"] = proportion([r[f"{who}_tells_answer"] for r in rows]).to_dict()
        summary["agreement"] = proportion([r["suggestion_move"] == r["teacher_move"] for r in labelled]).to_dict()
        summary["gate_overrides_per_dialogue"] = mean([float(r.get("gate_overrides", 0)) for r in results]).to_dict()
        if any("judge_suggestion" in r for r in rows):
            for who in WHO:
                judged = [r[f"judge_{who}"] for r in rows if "error" not in r.get(f"judge_{who}", {"error": 1})]
                for dim in self.judge_dimensions:
                    labels = [j.get(dim.value) for j in judged if j.get(dim.value)]
                    good = [lab == DESIRABLE[dim] for lab in labels]
                    summary[f"judge.{who}.{dim.value}"] = proportion(good).to_dict()
        return summary

    def report(self, summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
        """Suggestion against teacher: move mix, telling, agreement and judge rates, with standard errors."""
        m = metrics_of(summary)
        if not m.get("turns"):
            return "No teacher turns were replayed.\n"

        def cell(key: str) -> str:
            if key not in m:
                return "—"
            return Metric(**m[key]).format()

        lines = [f"{m['turns']} teacher turns replayed.", "", "| measure | suggestion | teacher |",
                 "| --- | --- | --- |"]  # fmt: skip
        lines += [f"| move: {mv.value} | {cell(f'suggestion.move.{mv.value}')} | {cell(f'teacher.move.{mv.value}')} |"
                  for mv in Move]  # fmt: skip
        tells = f"{cell('suggestion.tells_answer')} | {cell('teacher.tells_answer')}"
        lines.append(f"| states the final answer | {tells} |")
        for dim in self.judge_dimensions:
            if f"judge.suggestion.{dim.value}" in m:
                lines.append(f"| judge: {dim.value} desirable | {cell(f'judge.suggestion.{dim.value}')} | "
                             f"{cell(f'judge.teacher.{dim.value}')} |")  # fmt: skip
        overrides = cell("gate_overrides_per_dialogue")
        lines += ["", f"Move agreement with the teacher: {cell('agreement')}; reveal-gate warnings on the real "
                  f"teacher's messages (sent over them) per dialogue: {overrides}."]  # fmt: skip
        scripted = results[0].get("scripted", {}).get("teacher") if results else None
        if scripted:
            lines += ["", "The teacher role ran on the built-in scripted model: suggestions are the tutor's templates."]
        return "\n".join(lines) + "\n"

    def plots(self, summary: dict[str, Any], results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
        """move_mix.png: the move mix of suggestions and teachers, with standard-error bars."""
        m = metrics_of(summary)
        if not m.get("turns"):
            return []
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.6))
        width = 0.38
        for k, who in enumerate(WHO):
            ms = [Metric(**m[f"{who}.move.{mv.value}"]) for mv in Move]
            xs = [i + (k - 0.5) * width for i in range(len(ms))]
            ax.bar(xs, [x.value for x in ms], width, yerr=[x.se or 0 for x in ms], capsize=3, label=who)
        ax.set_xticks(range(len(Move)), [mv.value for mv in Move])
        ax.set_ylabel("share of teacher turns")
        ax.legend()
        fig.tight_layout()
        path = out_dir / "move_mix.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]
