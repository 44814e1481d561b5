"""The `tom` suite: the Theory-of-Mind teacher experiment of Saha, Hase & Bansal 2023 (methods.md §1).

A teacher model explains to a student model under a budget. For each test item and seed, the `tom_teacher` graph
runs in measure mode: the student's answer without and with each explanation type, the mental model's P(correct)
without and with the explanation, the teacher's confidence and (optionally) the student's answers after n explained
pool items in context. Every budget x intervention function is then replayed from those records
(`pedagraph.methods.tom.curves`) without another model call, so a resumed or extended sweep redoes nothing.

Options (`--option KEY=VALUE`, or `--KEY VALUE` after the suite name):

* `dataset`: strategyqa (default; test = dev.json, pool = train.json), ecqa or gsm8k — the default `--data`;
* `budgets`: fractions of the items explained, default 0,0.2,0.4,0.6,0.8,1;
* `functions`: intervention functions, default random,teacher_confidence,mm_pre,mm_post,expected_utility
  (also the references that read the real student — oracle, least_confident, student_pre_gold,
  student_post_gold, true_utility — and misaligned);
* `explanations`: human (default), unpersonalised, rationalize (the teacher answers, then explains its answer),
  personalised, harmful;
* `seeds`: default 41,42,43 (each seed: its own student demos, calibration sample and random order);
* `student_mode`: cot (default, the paper's: unaided, the student reasons and its answer is read from its last
  line) or direct;
* `bank_explanation`: the teacher explanation type of the mental model's post bank (default: the first teacher
  type in `explanations`, else unpersonalised);
* `multiturn`: numbers of explained pool items the student learns from, default 2,4,6,8,10 (empty: off), each
  answered with teacher-explained demos, the same demos unexplained (control) and human-explained demos;
  `multiturn_explanation`: the teacher type of those demos (default: the first teacher type, else personalised);
* `student_demos` (4), `calibration_items` (16), `mm_demos` (4), `teacher_demos` (4), `samples` (5): as in
  `TomContext`; `pool`: a data file for the calibration pool instead of the dataset's.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pedagraph.evals.metrics import Metric
from pedagraph.evals.runner import Item, ItemContext, Suite, register_suite

from pedagraph.errors import DataError, PedagraphError
from pedagraph.methods.tom.calibration import SeedSetup, TeachingConfig, setup_seed, student_learner_id
from pedagraph.methods.tom.calls import EXPLANATION_TYPES, STUDENT_MODES
from pedagraph.methods.tom.context import teacher_type
from pedagraph.methods.tom.curves import (
    budget_curves,
    function_costs,
    gold_probability,
    multiturn_curves,
)
from pedagraph.methods.tom.items import (
    DATASET_FILES,
    HarmfulDemo,
    TeachItem,
    harmful_demos,
    load_teach_items,
    registry_items,
)
from pedagraph.methods.tom.mental_model import DEPLOYABLE, INTERVENTION_FUNCTIONS

__all__ = ["TomSuite", "parse_list"]

DEFAULT_BUDGETS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
DEFAULT_SEEDS = (41, 42, 43)
DEFAULT_MULTITURN = (2, 4, 6, 8, 10)
_KNOWN = {"dataset", "budgets", "functions", "explanations", "seeds", "multiturn", "pool", "student_demos",
          "calibration_items", "mm_demos", "teacher_demos", "samples", "student_mode", "bank_explanation",
          "multiturn_explanation"}  # fmt: skip


def parse_list(value: Any, cast: Any, name: str) -> tuple[Any, ...]:
    """A list option given as `a,b,c`, a JSON list or a single value, each item cast (DataError if one fails)."""
    if value is None:
        return ()
    raw = value if isinstance(value, list | tuple) else str(value).replace(";", ",").split(",")
    out = []
    for part in raw:
        text = str(part).strip()
        if not text:
            continue
        try:
            out.append(cast(text))
        except (TypeError, ValueError):
            raise DataError(f"tom: option {name} has a bad value {text!r}") from None
    return tuple(out)


def _int(value: Any, default: int, name: str) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataError(f"tom: option {name} must be an integer, got {value!r}") from None


@register_suite
class TomSuite(Suite):
    """A teacher model explains to a student model under a budget; accuracy against budget per function."""

    name = "tom"
    description = ("Theory-of-Mind teacher (Saha et al. 2023): student accuracy against the explanation budget "
                   "per intervention function, explanation types, multi-turn, mental-model cost")  # fmt: skip
    roles = ("teacher", "student")
    default_data = "strategyqa/dev.json"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        unknown = set(options) - _KNOWN
        if unknown:
            raise PedagraphError(f"tom: unknown option(s) {', '.join(sorted(unknown))}", hint=", ".join(sorted(_KNOWN)))
        self.dataset = str(options.get("dataset") or "strategyqa")
        if self.dataset not in DATASET_FILES:
            raise PedagraphError(f"tom: unknown dataset {self.dataset!r}", hint=f"use {', '.join(DATASET_FILES)}")
        self.default_data = str(DATASET_FILES[self.dataset]["test"])
        self.budgets = parse_list(options.get("budgets"), float, "budgets") or DEFAULT_BUDGETS
        self.functions = parse_list(options.get("functions"), str, "functions") or DEPLOYABLE
        self.kinds = parse_list(options.get("explanations"), str, "explanations") or ("human",)
        self.seeds = parse_list(options.get("seeds"), int, "seeds") or DEFAULT_SEEDS
        turns = options.get("multiturn", ",".join(map(str, DEFAULT_MULTITURN)))
        self.multiturn = parse_list(turns, int, "multiturn")
        self.student_mode = str(options.get("student_mode") or "cot")
        bank = str(options.get("bank_explanation") or teacher_type(list(self.kinds), "unpersonalised"))
        turn_kind = str(options.get("multiturn_explanation") or teacher_type(list(self.kinds), "personalised"))
        self._validate()
        for name, kind in (("bank_explanation", bank), ("multiturn_explanation", turn_kind)):
            if kind not in EXPLANATION_TYPES or kind == "harmful":
                raise PedagraphError(f"tom: {name} must be a teacher's explanation type, got {kind!r}",
                                     hint=", ".join(k for k in EXPLANATION_TYPES if k != "harmful"))  # fmt: skip
        self.config = TeachingConfig(
            student_demos=_int(options.get("student_demos"), 4, "student_demos"),
            calibration_items=_int(options.get("calibration_items"), 16, "calibration_items"),
            mm_demos=_int(options.get("mm_demos"), 4, "mm_demos"),
            teacher_demos=_int(options.get("teacher_demos"), 4, "teacher_demos"),
            samples=_int(options.get("samples"), 5, "samples"),
            multiturn=self.multiturn,
            multiturn_explanation=turn_kind,
            student_mode=self.student_mode,  # type: ignore[arg-type]
            bank_explanation=bank,
        )
        self._pool_path: Path | None = None
        self._harmful_path: Path | None = None
        self._setups: dict[int, asyncio.Future[SeedSetup]] = {}
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="tom")

    def _validate(self) -> None:
        bad = [b for b in self.budgets if not 0.0 <= b <= 1.0]
        if bad:
            raise PedagraphError(f"tom: budgets are fractions in [0, 1], got {bad}")
        for f in self.functions:
            if f not in INTERVENTION_FUNCTIONS:
                raise PedagraphError(f"tom: unknown function {f!r}", hint=", ".join(INTERVENTION_FUNCTIONS))
        for k in self.kinds:
            if k not in EXPLANATION_TYPES:
                raise PedagraphError(f"tom: unknown explanation type {k!r}", hint=", ".join(EXPLANATION_TYPES))
        if not self.seeds or any(n < 0 for n in self.multiturn):
            raise PedagraphError("tom: give at least one seed, and non-negative multiturn counts")
        if self.student_mode not in STUDENT_MODES:
            raise PedagraphError(f"tom: unknown student_mode {self.student_mode!r}", hint=", ".join(STUDENT_MODES))

    def load_items(self, path: Path) -> list[Item]:
        """Test items (StrategyQA .json, ECQA .csv, GSM8K .jsonl), each run for every seed.

        The training pool is found here, before any item runs: `--option pool=PATH`, else the dataset's pool file
        beside the data file (`DIR/strategyqa/train.json` for `DIR/strategyqa/dev.json`), else a full copy. So are
        the misleading demos when the `harmful` type is measured (`DIR/strategyqa/harmful_explanations.json`).
        """
        from pedagraph.datasets import companion

        items = load_teach_items(path)
        if "dataset" not in self.options and items[0].dataset in DATASET_FILES:
            self.dataset = items[0].dataset  # a file of another dataset given with --data
        files = DATASET_FILES[self.dataset]
        if not self.options.get("pool"):
            assert files["test"] is not None and files["pool"] is not None
            self._pool_path = companion(path, files["test"], files["pool"], what="the training pool", suite="tom")
        if "harmful" in self.kinds and files.get("harmful"):
            self._harmful_path = companion(path, str(files["test"]), str(files["harmful"]),
                                           what="the misleading demos", suite="tom")  # fmt: skip
        return [Item(i.id, i.model_dump(mode="json")) for i in items]

    # -- running ---------------------------------------------------------------------------------------------

    def _run(self, fn: Any, /, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        """Run blocking work in the suite's threads, in the caller's context (response cache, usage trackers)."""
        ctx = contextvars.copy_context()
        call = functools.partial(ctx.run, fn, *args, **kwargs)
        return asyncio.get_running_loop().run_in_executor(self._pool, call)

    def _harmful(self) -> list[HarmfulDemo]:
        """The misleading demos found beside the data file (none: the graph takes the registry's)."""
        return harmful_demos(self._harmful_path) if self._harmful_path else []

    def _pool_items(self) -> list[TeachItem]:
        path = self.options.get("pool") or self._pool_path
        return load_teach_items(path) if path else registry_items(self.dataset, "pool")

    async def _setup(self, seed: int, ctx: ItemContext) -> SeedSetup:
        """The seed's calibration, made once per run (reused from the learner store of the run's directory)."""
        if seed not in self._setups:
            from pedagraph.learner import LearnerStore, get_learner_store

            store = LearnerStore(ctx.out_dir / "learners.sqlite") if ctx.out_dir else get_learner_store()
            student, teacher = ctx.model("student"), ctx.model("teacher")
            self._setups[seed] = self._run(
                setup_seed, student, None if teacher.is_scripted else teacher, self._pool_items(), seed=seed,
                config=self.config, store=store, learner_id=student_learner_id(student.model_spec),
                student_spec=student.model_spec, harmful=self._harmful(),
            )  # fmt: skip
        return await self._setups[seed]

    async def run_item(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        """Measure one test item for every seed through the tom_teacher graph (measure mode)."""
        from pedagraph.graphs.tom_teacher import Context, build_graph

        graph = build_graph()  # the full state (the served `graph` shows a learner-facing view)

        records, calibration = [], {}
        setups = await asyncio.gather(*(self._setup(seed, ctx) for seed in self.seeds))  # calibrated side by side
        for seed, setup in zip(self.seeds, setups, strict=True):
            context = Context(
                student_model=ctx.model("student"), teacher_model=ctx.model("teacher"), measure=True, seed=seed,
                measure_explanations=list(self.kinds), explanation=self.kinds[0], multiturn=list(self.multiturn),
                measure_functions=list(self.functions), student_mode=self.student_mode,
                bank_explanation=self.config.bank_explanation, multiturn_explanation=self.config.multiturn_explanation,
                samples=self.config.samples, function="random", budget=0.0,
            )  # fmt: skip
            state = {"items": [item.data], "setup": setup.model_dump(mode="json")}
            out = await self._run(graph.invoke, state, context=context)
            records.append(out["scores"][0])
            calibration[str(seed)] = {k: setup.summary.get(k) for k in (
                "pre_accuracy", "post_accuracy", "teacher_post_accuracy", "useful_explanations", "reused",
                "student_mode", "bank_explanation")}  # fmt: skip
        student, teacher = ctx.model("student"), ctx.model("teacher")
        return {
            "id": item.id,
            "records": records,
            "calibration": calibration,
            "student": student.model_spec,
            "teacher": teacher.model_spec,
            "scripted_teacher": teacher.is_scripted,
        }

    # -- results ---------------------------------------------------------------------------------------------

    def _records(self, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for res in results for r in res.get("records", [])]

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """One metric per explanation type x function x budget (mean over seeds ± SE), multi-turn, costs."""
        records = self._records(results)
        curves = budget_curves(records, kinds=self.kinds, functions=self.functions, budgets=self.budgets)
        metrics: dict[str, Any] = {}
        n_items = len(results)
        for kind, by_function in curves.items():
            for function, points in by_function.items():
                for p in points:
                    metrics[f"acc[{kind}|{function}|{p['budget']:g}]"] = Metric(p["mean"], n_items, p["se"]).to_dict()
        turns = multiturn_curves(records, self.multiturn) if self.multiturn else {}
        for condition, points in turns.items():
            for p in points:
                key = f"multiturn[{condition}|{p['explained_demos']}]"
                metrics[key] = Metric(p["mean"], n_items, p["se"]).to_dict()
        metrics["curves"] = curves
        metrics["multiturn"] = turns
        metrics["oracle_explained"] = _oracle_share(records) if "oracle" in self.functions else None
        metrics["costs"] = {k: function_costs(records, kind=k, functions=self.functions) for k in self.kinds}
        metrics["methods"] = _methods(records)
        metrics["p_gold"] = {k: gold_probability(records, k) for k in self.kinds}
        metrics["calibration"] = results[0].get("calibration", {}) if results else {}
        return metrics

    def report(self, summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
        """The paper's table (accuracy per function and budget), multi-turn, costs, calibration, how p was read."""
        from pedagraph.evals.suites.tom_report import render_tom_report

        return render_tom_report(self, summary["metrics"], results)

    def plots(self, summary: dict[str, Any], results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
        """budget_<type>.png (a line per function, SE band), explanation_types.png, multiturn.png."""
        from pedagraph.evals.suites.tom_report import tom_plots

        return tom_plots(self, summary["metrics"], results, out_dir)


def _answer_method(answer: dict[str, Any]) -> str:
    """How a student answer was made and read: mode, probability method, and whether it was asked again."""
    again = " regenerated" if answer.get("regenerated") else ""
    return f"{answer.get('mode', 'direct')}/{answer.get('method')}{again}"


def _oracle_share(records: list[dict[str, Any]]) -> float | None:
    """The share of item-seeds the oracle explains (those the unaided student gets wrong), whatever the budget."""
    marks = [not (r.get("pre") or {}).get("correct") for r in records if r.get("pre")]
    return round(sum(marks) / len(marks), 4) if marks else None


def _methods(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """How each probability was read: log-probabilities, samples or not at all (a scripted teacher)."""
    out: dict[str, Counter[str]] = {"mm_pre": Counter(), "mm_post": Counter(), "teacher": Counter(),
                                    "student_pre": Counter(), "student_post": Counter()}  # fmt: skip
    for r in records:
        if "mm_pre_method" in r:
            out["mm_pre"][r["mm_pre_method"]] += 1
        if "teacher_method" in r:
            out["teacher"][r["teacher_method"]] += 1
        if r.get("pre"):
            out["student_pre"][_answer_method(r["pre"])] += 1
        for entry in r.get("types", {}).values():
            if "mm_post_method" in entry:
                out["mm_post"][entry["mm_post_method"]] += 1
            if entry.get("post"):
                out["student_post"][_answer_method(entry["post"])] += 1
    return {k: dict(v) for k, v in out.items()}
