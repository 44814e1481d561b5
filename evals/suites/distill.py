"""`distill`: does a distilled strategy library make the small tutor better on scenarios it never saw?

The run first builds a strategy library with the `strategy_distill` graph on the training part of the MathDial
file (a stable split by hash: `held_out` share, `split_seed`), in a memory of its own under `--out` (`library/`;
a resumed run reuses it). Each item is then a held-out scenario, on which the small tutor (the `teacher` role)
answers with and without the library, and, with `transfer_model`, a different small model with the same
library (transfer):

* conditions: `without` strategies, `generic` (the same generic guidance for every scenario, the baseline of
  non-customised guidance), `with` the library;
* single turn: the tutor answers the scenario's student turn; the MRBench judge (`evaluator` role; the scripted
  one labels what the text shows) scores it (share of desirable labels) and labels every dimension;
* dialogue (`max_turns` > 0): the tutor graph talks with a simulated student of the record (probabilistic
  offline, or the MathDial LLM student with `student=llm`) for up to `max_turns` turns; Success@k and Telling@k
  as in the `tutoring` suite.

Metrics per condition (`<tutor>/<with|without>`): `judge.score` (mean ± SE), `judge.<dimension>`
(desirable-label rate), `strategies_used` (per reply), `success@k`, `telling@k`; and the paired difference
`gain.<tutor>` = score with - score without, per item (mean ± SE).

Options: `train` (training scenarios the library is built on, 12), `rounds` (2), `per_round` (6),
`max_strategies` (4), `min_gain` (0.05), `verify_siblings` (1), `k` (3), `held_out` (0.5), `split_seed` (0),
`max_turns` (2), `student` (probabilistic|llm), `transfer_model` (`provider:model`), `dimensions` (judged
MRBench dimensions), `approved_only` (use only approved strategies at evaluation, false).
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.messages import AIMessage, HumanMessage
from pedagraph.agents.student import ProbabilisticStudent, mathdial_persona, mathdial_student
from pedagraph.evals.metrics import Metric, mean, proportion
from pedagraph.evals.runner import Item, ItemContext, Suite, register_suite
from pedagraph.evals.suites.judge import option_bool
from pedagraph.evals.suites.tutoring import first_success, first_telling, metrics_of, states_number

from pedagraph.errors import DataError
from pedagraph.methods.distill.library import StrategyLibrary
from pedagraph.methods.distill.scenarios import Scenario, balanced, load_scenarios, split
from pedagraph.methods.distill.scoring import desirable, judge_reply
from pedagraph.methods.distill.tutor import run_tutor
from pedagraph.taxonomy import MRBenchDimension

LIBRARY = "distill"
CONDITIONS = ("without", "generic", "with")
"""No strategies; the same generic guidance for every scenario (`prompts/coach/generic_guidance.md`, the baseline
of non-customised guidance); the library's strategies retrieved for the scenario."""


def generic_guidance() -> list[dict[str, str]]:
    """The generic-guidance baseline: the same strategies, given as they are, whatever the situation."""
    from pedagraph.prompts import load_prompt

    lines = [line.strip() for line in load_prompt("coach/generic_guidance").splitlines() if line.strip()]
    return [{"strategy": line, "kind": "generic", "skill": "generic", "approved": True} for line in lines]


def _int(options: dict[str, Any], name: str, default: int, low: int = 0) -> int:
    value = options.get(name)
    try:
        out = default if value in (None, "") else int(value)
    except (TypeError, ValueError):
        raise DataError(f"distill: option {name} must be an integer, got {value!r}") from None
    if out < low:
        raise DataError(f"distill: option {name} must be at least {low}, got {out}")
    return out


def _float(options: dict[str, Any], name: str, default: float) -> float:
    value = options.get(name)
    try:
        return default if value in (None, "") else float(value)
    except (TypeError, ValueError):
        raise DataError(f"distill: option {name} must be a number, got {value!r}") from None


@register_suite
class DistillSuite(Suite):
    """A strategy library built on training scenarios, tested on held-out ones with and without it."""

    name: ClassVar[str] = "distill"
    description: ClassVar[str] = (
        "strategy-teaching distillation: build a library on training MathDial scenarios, then the small tutor with "
        "and without it on held-out ones (judge score, Success@k, Telling@k), and transfer to another small model"
    )
    roles: ClassVar[tuple[str, ...]] = ("teacher", "coach", "evaluator", "student")
    default_data: ClassVar[str] = "mathdial/test.jsonl"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        o = self.options
        self.train = _int(o, "train", 12, 1)
        self.rounds = _int(o, "rounds", 2, 1)
        self.per_round = _int(o, "per_round", 6, 1)
        self.max_strategies = _int(o, "max_strategies", 4, 1)
        self.verify_siblings = _int(o, "verify_siblings", 1)
        self.k = _int(o, "k", 3, 1)
        self.max_turns = _int(o, "max_turns", 2)
        self.split_seed = _int(o, "split_seed", 0)
        self.min_gain = _float(o, "min_gain", 0.05)
        self.held_out = _float(o, "held_out", 0.5)
        if not 0 < self.held_out < 1:
            raise DataError(f"distill: held_out must be between 0 and 1, got {self.held_out}")
        self.student = str(o.get("student") or "probabilistic").strip().lower()
        if self.student not in ("probabilistic", "llm"):
            raise DataError(f"distill: option student must be probabilistic or llm, got {self.student!r}")
        self.transfer = str(o.get("transfer_model") or "").strip() or None
        self.dimensions = str(o.get("dimensions") or "")
        self.approved_only = option_bool(o.get("approved_only"), False)
        self._train: list[Scenario] = []
        self._lock = threading.Lock()
        self._built: dict[str, Any] | None = None

    def load_items(self, path: Path) -> list[Item]:
        """The held-out scenarios are the items; the training ones are kept for building the library."""
        train, test = split(load_scenarios(path), self.held_out, self.split_seed)
        if not train or not test:
            raise DataError(f"{path}: too few scenarios to split into training and held-out parts")
        self._train = balanced(train, self.train)
        return [Item(id=s.id, data=s.model_dump(mode="json")) for s in test]

    # -- the library --------------------------------------------------------------------------------------------

    def _memory(self, ctx: ItemContext) -> Any:
        from pedagraph.memory import Memory

        home = (ctx.out_dir or Path.cwd()) / "library"
        return Memory(home)

    def build_library(self, ctx: ItemContext) -> dict[str, Any]:
        """Build the run's library once (reused when `library/` already holds it); return the build record."""
        with self._lock:
            if self._built is not None:
                return self._built
            memory = self._memory(ctx)
            record_path = (ctx.out_dir or Path.cwd()) / "library.json"
            if record_path.exists():
                self._built = json.loads(record_path.read_text(encoding="utf-8"))
                return self._built
            from pedagraph.graphs.strategy_distill import Context, build_graph

            context = Context(teacher_model=ctx.model("teacher"), coach_model=ctx.model("coach"),
                              evaluator_model=ctx.model("evaluator"), library=LIBRARY, rounds=self.rounds,
                              per_round=self.per_round, max_strategies=self.max_strategies, min_gain=self.min_gain,
                              verify_siblings=self.verify_siblings, k=self.k, dimensions=self.dimensions)  # fmt: skip
            out = build_graph(memory=memory).invoke({"pool": [s.model_dump(mode="json") for s in self._train]},
                                                    context=context, config={"recursion_limit": 200})  # fmt: skip
            record = {"train": [s.id for s in self._train], "rounds": out.get("rounds", []),
                      "stop_reason": out.get("stop_reason"), "kept": len(out.get("kept") or []),
                      "candidates": len(out.get("candidates") or []),
                      "strategies": [s.model_dump(mode="json") for s in StrategyLibrary(memory, LIBRARY).all()],
                      }  # fmt: skip
            record_path.parent.mkdir(parents=True, exist_ok=True)
            record_path.write_text(json.dumps(record, indent=1), encoding="utf-8")
            self._built = record
            return record

    # -- one held-out scenario ----------------------------------------------------------------------------------

    def _tutors(self, ctx: ItemContext) -> dict[str, Any]:
        tutors: dict[str, Any] = {"tutor": ctx.model("teacher")}
        if self.transfer:
            from pedagraph.llm import get_model

            tutors["transfer"] = get_model("teacher", model=self.transfer)
        return tutors

    def _dialogue(self, scenario: Scenario, tutor: Any, strategies: Any, ctx: ItemContext, memory: Any
                  ) -> dict[str, Any]:  # fmt: skip
        from langgraph.checkpoint.memory import InMemorySaver
        from pedagraph.graphs.tutor import Context, build_graph

        from pedagraph.learner import get_learner_store

        problem = scenario.problem_obj()
        simulator: Any = (ProbabilisticStudent(seed=ctx.item_seed) if self.student == "probabilistic"
                          else mathdial_student)  # fmt: skip
        store = get_learner_store()
        learner_id = f"eval-distill-{scenario.id}-{ctx.item_seed % 10**8}-{id(strategies) % 10**6}"[:128]
        context = Context(learner_id=learner_id, student_mode="simulated", max_turns=self.max_turns,
                          student_persona=mathdial_persona(problem.extras), teacher_model=tutor,
                          evaluator_model="scripted", student_model=ctx.model("student"),
                          student_simulator=simulator, strategies=strategies, strategy_k=self.k,
                          strategy_approved_only=self.approved_only)  # fmt: skip
        graph = build_graph(checkpointer=InMemorySaver(), memory=memory)
        config = {"configurable": {"thread_id": learner_id}, "recursion_limit": 30 + 8 * self.max_turns}
        store.delete(learner_id)
        try:
            out = graph.invoke({"problem_data": scenario.problem}, config, context=context)
        finally:
            store.delete(learner_id)
        messages = out.get("messages", [])[out.get("problem_start", 0) :]
        tutor_turns = [str(m.content) for m in messages if isinstance(m, AIMessage)]
        student_turns = [str(m.content) for m in messages if isinstance(m, HumanMessage)]
        final = problem.final_value
        in_question = final is not None and states_number(problem.question, final)
        success = first_success(student_turns, final)
        telling = first_telling(tutor_turns, final, problem.question, in_question, success)
        used = sum(len(t.get("strategies") or []) for t in out.get("turns", []))
        return {"success_turn": success, "telling_turn": telling, "student_turns": len(student_turns),
                "strategies_used": used, "transcript": [*tutor_turns[:1], *student_turns[:1]]}  # fmt: skip

    def _run(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        built = self.build_library(ctx)
        memory = self._memory(ctx)
        scenario = Scenario.model_validate(item.data)
        problem = scenario.problem_obj()
        evaluator = ctx.model("evaluator")
        judge = None if evaluator.is_scripted else evaluator
        dims = None
        if self.dimensions:
            from pedagraph.agents.evaluator import parse_dimensions

            dims = list(parse_dimensions(self.dimensions))
        conditions: dict[str, Any] = {}
        for name, tutor in self._tutors(ctx).items():
            for condition in CONDITIONS:
                strategies = {"with": LIBRARY, "generic": generic_guidance()}.get(condition)
                turn = run_tutor(scenario, tutor, strategies=strategies, memory=memory, k=self.k,
                                 approved_only=self.approved_only)  # fmt: skip
                history = [("tutor", turn.opener), ("student", scenario.student_message)]
                judged = judge_reply(judge, problem, history, turn.reply, dims)
                row: dict[str, Any] = {
                    "model": getattr(tutor, "model_spec", str(tutor)), "reply": turn.reply,
                    "reply_source": turn.reply_source, "strategies": turn.strategies, "score": judged.score,
                    "labels": judged.labels, "judge": judged.judge,
                }  # fmt: skip
                if self.max_turns > 0:
                    row["dialogue"] = self._dialogue(scenario, tutor, strategies, ctx, memory)
                conditions[f"{name}/{condition}"] = row
        return {"scenario_id": scenario.id, "kind": scenario.kind, "max_turns": self.max_turns,
                "library_size": len(built.get("strategies") or []), "conditions": conditions}  # fmt: skip

    async def run_item(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        """Answer one held-out scenario with and without the library (building it first, once per run)."""
        return await asyncio.to_thread(self._run, item, ctx)

    # -- metrics, report, plots ---------------------------------------------------------------------------------

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """Per condition: judge score, desirable rates, strategies used, Success@k, Telling@k; paired gains."""
        summary: dict[str, Any] = {}
        if not results:
            return summary
        names = sorted({c for r in results for c in r.get("conditions", {})})
        k_max = max(int(r.get("max_turns") or 0) for r in results)
        for name in names:
            rows = [r["conditions"][name] for r in results if name in r.get("conditions", {})]
            summary[f"{name}.judge.score"] = mean([float(x["score"]) for x in rows]).to_dict()
            summary[f"{name}.strategies_used"] = mean([float(len(x.get("strategies") or [])) for x in rows]).to_dict()
            summary[f"{name}.model_replies"] = proportion([x.get("reply_source") == "model" for x in rows]).to_dict()
            for dim in MRBenchDimension:
                labels = [x["labels"][dim.value] for x in rows if dim.value in (x.get("labels") or {})]
                if labels:
                    summary[f"{name}.judge.{dim.value}"] = proportion([v == desirable(dim) for v in labels]).to_dict()
            dialogues = [x["dialogue"] for x in rows if x.get("dialogue")]
            for k in range(1, k_max + 1) if dialogues else ():
                success = [d["success_turn"] is not None and d["success_turn"] <= k for d in dialogues]
                telling = [d["telling_turn"] is not None and d["telling_turn"] <= k for d in dialogues]
                summary[f"{name}.success@{k}"] = proportion(success).to_dict()
                summary[f"{name}.telling@{k}"] = proportion(telling).to_dict()
        for tutor in sorted({n.split("/")[0] for n in names}):
            pairs = [(r["conditions"].get(f"{tutor}/with"), r["conditions"].get(f"{tutor}/without")) for r in results]
            diffs = [float(w["score"]) - float(wo["score"]) for w, wo in pairs if w and wo]
            summary[f"gain.{tutor}"] = mean(diffs).to_dict()
            over = [(r["conditions"].get(f"{tutor}/with"), r["conditions"].get(f"{tutor}/generic")) for r in results]
            diffs = [float(w["score"]) - float(g["score"]) for w, g in over if w and g]
            if diffs:
                summary[f"gain_over_generic.{tutor}"] = mean(diffs).to_dict()
        return summary

    def report(self, summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
        """The with/without table per tutor, the paired gains and the library that was built."""
        metrics = metrics_of(summary)
        names = sorted({c for r in results for c in r.get("conditions", {})})
        k_max = max((int(r.get("max_turns") or 0) for r in results), default=0)
        first = results[0]["conditions"] if results else {}
        judge = next((x.get("judge") for x in first.values()), "-")
        lines = ["## Strategy-teaching distillation: held-out scenarios with and without the library", ""]
        lines.append(f"{len(results)} held-out MathDial scenarios; library of "
                     f"{results[0].get('library_size', 0) if results else 0} strategies; judge `{judge}`.")  # fmt: skip
        if judge == "rules":
            lines += ["", "> The judge was the scripted evaluator: labels are deterministic checks of the text "
                      "(gives the answer away, names a mistake, asks a question, encouraging words), not a model's "
                      "judgement; with scripted tutors too, the gaps between conditions are those rules' reading of "
                      "template text: this table checks the pipeline, it does not measure the method."]  # fmt: skip
        head = ["condition", "model", "judge score", "strategies/reply", "model replies"]
        if k_max:
            head += [f"Success@{k_max}", f"Telling@{k_max}"]
        lines += ["", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for name in names:
            model = next((r["conditions"][name]["model"] for r in results if name in r["conditions"]), "-")
            cells = [name, f"`{model}`", Metric(**metrics[f"{name}.judge.score"]).format(),
                     Metric(**metrics[f"{name}.strategies_used"]).format(),
                     Metric(**metrics[f"{name}.model_replies"]).format(percent=True)]  # fmt: skip
            if k_max and f"{name}.success@{k_max}" in metrics:
                cells += [Metric(**metrics[f"{name}.success@{k_max}"]).format(percent=True),
                          Metric(**metrics[f"{name}.telling@{k_max}"]).format(percent=True)]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        gains = [(k.split(".", 1)[1], Metric(**v)) for k, v in metrics.items() if k.startswith("gain.")]
        lines += ["", "Paired gain in judge score (with - without, per scenario): "
                  + ", ".join(f"{t} {m.format()}" for t, m in gains) + "."]  # fmt: skip
        over = [(k.split(".", 1)[1], Metric(**v)) for k, v in metrics.items() if k.startswith("gain_over_generic.")]
        if over:
            lines += ["", "Over the generic-guidance baseline (with - generic, per scenario): "
                      + ", ".join(f"{t} {m.format()}" for t, m in over) + "."]  # fmt: skip
        dims = sorted({k.split(".judge.", 1)[1] for k in metrics if ".judge." in k and not k.endswith(".score")})
        if dims:
            lines += ["", "| condition | " + " | ".join(dims) + " |", "| --- |" + " --- |" * len(dims)]
            for name in names:
                cells = [Metric(**metrics[f"{name}.judge.{d}"]).format(percent=True)
                         if f"{name}.judge.{d}" in metrics else "-" for d in dims]  # fmt: skip
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def plots(self, summary: dict[str, Any], results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
        """Judge score (± 1.96 SE) per condition, and Success/Telling@k when dialogues ran."""
        import matplotlib.pyplot as plt

        metrics = metrics_of(summary)
        names = sorted({c for r in results for c in r.get("conditions", {})})
        if not names:
            return []
        k_max = max((int(r.get("max_turns") or 0) for r in results), default=0)
        series = [("judge score", "judge.score")]
        if k_max and f"{names[0]}.success@{k_max}" in metrics:
            series += [(f"Success@{k_max}", f"success@{k_max}"), (f"Telling@{k_max}", f"telling@{k_max}")]
        fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(names) + 2), 4.2))
        width = 0.8 / len(series)
        for i, (label, key) in enumerate(series):
            ms = [Metric(**metrics[f"{n}.{key}"]) for n in names]
            xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(names))]
            ax.bar(xs, [m.value or 0.0 for m in ms], width, yerr=[1.96 * (m.se or 0.0) for m in ms], capsize=3,
                   label=label)  # fmt: skip
        ax.set_xticks(range(len(names)), names)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"Small tutor with / without the distilled library (n={len(results)}, ±1.96 SE)")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = out_dir / "distill_with_without.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return [path]
