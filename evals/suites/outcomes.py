"""`outcomes`: learning gain of simulated learners, pre-test -> intervention -> post-test, per policy and unit of help.

One item per (policy, learner, seed), plus one per Bridge conversation for the realism check. Learner `i` has a
MathDial profile (`outcomes.items.load_profiles`: `profiles=PATH`, else `mathdial/test.jsonl` when fetched or in
the local copy, else six bundled ones) and a plan from the data file (GSM8K problems with steps; default
`gsm8k/test.jsonl`): `items` pre-test and `items` post-test problems of the practice problem's skills, problem
disjoint (`outcomes.items.plan_for`). Every policy meets the same learners with the same plans and the same test
draws, so differences are paired. See docs/outcomes.md.

Options (all `--option KEY=VALUE`; `--policy`, `--learners`, `--items`, `--seeds` are flags too):

* `policy`: comma-separated policies (`outcomes.policies`; default `none,tell,tutor`);
* `forms`: `split` (default: pre- and post-test are different problems, counterbalanced) or `parallel` (the
  post-test is the pre-test's items with other numbers, where the step structure allows);
* `learners` (20), `items` (3 per test), `practice` (1 problem), `seeds` (`0`; comma-separated), `max_turns` (8);
* `student`: `auto` (default: `llm` when the student role is a real model, else `offline`), `llm`, `offline`;
* `profiles`: a MathDial file for the profiles;
* any `LearnerParams` field (`learn_told=0.05`, `forget=0.2`, ...): the offline learner's rates;
* `bridge`: a Bridge JSON file for the realism check (default: `bridge/test.json` when fetched or in the local
  copy, else the bundled sample when there is one, else the check is skipped and the report says so);
  `realism`: how many Bridge conversations (20; 0 turns it off);
* `library`: the strategy library `tutor_library` reads (a library name in the memory, e.g. one made and approved
  in the app); without it the run builds one under `--out` (`library/`, `library.json`) with the
  `strategy_distill` graph (roles teacher, coach, evaluator) on `library_train` (12) MathDial scenarios of
  `library_data` (default `mathdial/test.jsonl`, else the bundled sample) whose problems are none of the data
  file's (`library_scenarios`: disjoint from every outcome item); `approved_only`: read only approved entries.

Metrics per policy (`<policy>.<metric>`; 95% percentile intervals from a bootstrap over learners, each with all
its seeds): pre, post, normalised_gain, gain, telling_rate, solved_practice, turns, tokens, explanations,
gain_per_turn, gain_per_100_tokens; `diff.<a>-<b>`: the paired difference of normalised gain; `realism.*`;
`<policy>.strategy_met` for the copilot policies (share of decided strategies the reply took). Beside the metrics:
`decided_by` (policy -> who made each Bridge decision: model, rules, replaced, expert, random, none),
`decisions_by_policy` and `fallbacks_by_policy` (the run's decision and structured-fallback counters per policy).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import threading
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from pedagraph.evals.metrics import Metric
from pedagraph.evals.runner import Item, ItemContext, Suite, format_metric, register_suite

from pedagraph.errors import DataError
from pedagraph.outcomes import realism
from pedagraph.outcomes.experiment import run_learner, sim_learner_id
from pedagraph.outcomes.items import LearnerPlan, load_profiles, plan_for
from pedagraph.outcomes.learner import LearnerParams, LearnerProfile, LLMLearner, seed_learner
from pedagraph.outcomes.policies import LIBRARY, PolicyEnv, get_policy, policy_names
from pedagraph.outcomes.stats import pairwise, policy_figures
from pedagraph.problems import load_problems

__all__ = ["OutcomesSuite", "decided_by", "metrics_by_policy", "question_key"]

STUDENTS = ("auto", "llm", "offline")
FIGURES = ("pre", "post", "normalised_gain", "gain", "telling_rate", "solved_practice", "turns", "tokens",
           "explanations", "gain_per_turn", "gain_per_100_tokens")  # fmt: skip
_OPTIONS = {"policy", "learners", "items", "practice", "seeds", "max_turns", "student", "profiles", "bridge",
            "realism", "explanation_budget", "forms", "library", "approved_only", "library_data",
            "library_train"}  # fmt: skip
_LIBRARY_LOCK = threading.Lock()
"""One library build at a time in a process (module-level: a suite is pickled to Ray workers, a lock is not)."""
LIBRARY_POLICIES = frozenset({"tutor_library"})
"""Policies whose teacher reads a strategy library (the run builds one unless `library` names one)."""
BUNDLED_BRIDGE = ("data", "samples", "bridge", "test.json")


def _int(options: dict[str, Any], key: str, default: int, low: int = 0) -> int:
    value = options.get(key)
    if value is None or value == "":
        return default
    try:
        out = int(str(value))
    except ValueError:
        raise DataError(f"outcomes: option {key} must be a whole number, got {value!r}") from None
    if out < low:
        raise DataError(f"outcomes: option {key} must be at least {low}, got {out}")
    return out


def _list(value: Any, default: str) -> list[str]:
    text = default if value is None or value == "" else str(value)
    return [p.strip() for p in text.split(",") if p.strip()]


def question_key(question: str) -> str:
    """A problem's identity across files: its question, whitespace and case folded (as `distill.problem_key`)."""
    return " ".join(str(question).lower().split())


def decided_by(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Policy -> who made its Bridge decisions (per step, summed): model, rules, replaced, expert, random, none."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        counts = out.setdefault(r["policy"], {}) if any(e.get("decisions") for e in r.get("episodes", [])) else None
        for e in r.get("episodes", []):
            for d in e.get("decisions") or []:
                for who in (d.get("by") or {}).values():
                    counts[who] = counts.get(who, 0) + 1  # type: ignore[index]
    return out


def bridge_path(option: Any) -> tuple[Path | None, str]:
    """The Bridge file of the realism check and where it came from, or (None, why it is skipped)."""
    from pedagraph.datasets import locate

    if option:
        path = Path(str(option)).expanduser()
        if not path.is_file():
            raise DataError(f"outcomes: Bridge file not found: {path}", hint="option bridge=PATH to a Bridge test.json")
        return path, str(path)
    located = locate("bridge/test.json")
    if located is not None:
        return located.path, f"bridge/test.json ({located.origin})"
    bundled = resources.files("pedagraph").joinpath(*BUNDLED_BRIDGE)
    if bundled.is_file():
        return Path(str(bundled)), "the bundled Bridge sample"
    return None, ("no Bridge data: neither `bridge/test.json` (fetched or in the local copy) nor a bundled sample; "
                  "pass --option bridge=PATH to compare the simulated students with real ones")  # fmt: skip


def metrics_by_policy(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`<policy>.<figure>` metrics regrouped as policy -> figure -> Metric dict."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in metrics.items():
        policy, _, figure = key.partition(".")
        if figure in FIGURES and policy not in ("diff", "realism"):
            out.setdefault(policy, {})[figure] = value
    return out


@register_suite
class OutcomesSuite(Suite):
    """Learning gain of simulated learners per policy, per unit of help; realism on Bridge."""

    name: ClassVar[str] = "outcomes"
    description: ClassVar[str] = (
        "simulated learners: pre-test -> intervention (tutor, tell-at-once, none, ...) -> post-test; normalised "
        "gain with CIs, telling, help spent, gain per unit of help, paired differences; realism on Bridge"
    )
    roles: ClassVar[tuple[str, ...]] = ("teacher", "evaluator", "student", "coach")
    default_data: ClassVar[str] = "gsm8k/test.jsonl"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        o = self.options
        params = set(LearnerParams.model_fields)
        unknown = set(o) - _OPTIONS - params
        if unknown:
            raise DataError(f"outcomes: unknown option(s) {', '.join(sorted(unknown))}",
                            hint=f"options: {', '.join(sorted(_OPTIONS))}; learner rates: {', '.join(sorted(params))}")
        self.policies = _list(o.get("policy"), "none,tell,tutor")
        known = policy_names()
        for p in self.policies:
            if p not in known:
                raise DataError(f"outcomes: unknown policy {p!r}", hint=f"one of: {', '.join(known)}")
        if len(set(self.policies)) != len(self.policies):
            raise DataError("outcomes: a policy is named twice")
        self.learners = _int(o, "learners", 20, 1)
        self.k = _int(o, "items", 3, 1)
        self.practice = _int(o, "practice", 1, 1)
        self.max_turns = _int(o, "max_turns", 8, 1)
        self.realism_n = _int(o, "realism", 20, 0)
        try:
            self.seeds = [int(s) for s in _list(o.get("seeds"), "0")]
        except ValueError:
            raise DataError(f"outcomes: seeds must be whole numbers, got {o.get('seeds')!r}") from None
        self.forms = str(o.get("forms") or "split").strip().lower()
        if self.forms not in ("split", "parallel"):
            raise DataError(f"outcomes: option forms must be split or parallel, got {self.forms!r}")
        self.student = str(o.get("student") or "auto").strip().lower()
        if self.student not in STUDENTS:
            raise DataError(f"outcomes: option student must be one of {', '.join(STUDENTS)}, got {self.student!r}")
        try:
            self.params = LearnerParams(**{k: float(v) for k, v in o.items() if k in params})
        except (ValueError, TypeError) as exc:
            raise DataError(f"outcomes: bad learner rate: {str(exc).splitlines()[0]}") from None
        self.profiles, self.profile_source = load_profiles(o.get("profiles"))
        self.bridge, self.bridge_source = bridge_path(o.get("bridge")) if self.realism_n else (None, "off")
        self.library = str(o.get("library") or "").strip() or None
        self.library_train = _int(o, "library_train", 12, 1)
        self._questions: set[str] = set()
        self._built: dict[str, Any] | None = None

    # ------------------------------------------------------------------------------------------ items

    def load_items(self, path: Path) -> list[Item]:
        """One item per (policy, learner, seed), then one per Bridge conversation of the realism check."""
        problems = load_problems(path)
        if not problems:
            raise DataError(f"{path}: no problems")
        self._questions = {question_key(p.question) for p in problems}
        items = []
        plans = [plan_for(problems, i, self.k, random.Random(f"plan:{i}"), self.practice,
                          parallel=self.forms == "parallel") for i in range(self.learners)]  # fmt: skip
        for seed in self.seeds:
            for i, plan in enumerate(plans):
                profile = self.profiles[i % len(self.profiles)]
                for policy in self.policies:
                    items.append(Item(id=f"{policy}/L{i:03d}/s{seed}", data={
                        "kind": "learner", "policy": policy, "learner": i, "seed": seed,
                        "profile": profile.model_dump(), "plan": plan.model_dump(mode="json"),
                    }))  # fmt: skip
        if self.bridge is not None:
            for turn in realism.bridge_turns(self.bridge, self.realism_n):
                items.append(Item(id=f"realism/{turn['c_id']}", data={"kind": "realism", **turn}))
        return items

    def student_kind(self, scripted: bool) -> str:
        """`llm` or `offline`, resolving `auto` from whether the student role is the scripted model."""
        if self.student == "auto":
            return "offline" if scripted else "llm"
        return self.student

    def _learner(self, data: dict[str, Any], ctx: ItemContext, kind: str, learner_id: str) -> Any:
        profile = LearnerProfile(**data["profile"])
        if kind == "llm":
            return LLMLearner(learner_id=learner_id, profile=profile, model=ctx.model("student"))
        rng = random.Random(f"learner:{data['learner']}:{data['seed']}")
        return seed_learner(profile, self.params, rng, learner_id)

    def _run(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        from pedagraph.learner import get_learner_store

        data = item.data
        student = ctx.model("student")
        kind = self.student_kind(student.is_scripted)
        if data["kind"] == "realism":
            return self._realism(data, ctx, kind)
        tag = hashlib.sha1(str(Path(ctx.out_dir or ".").resolve()).encode()).hexdigest()[:8]  # one run's learners
        learner_id = sim_learner_id(data["learner"], data["policy"], data["seed"], tag=f"outcomes-{tag}")
        learner = self._learner(data, ctx, kind, learner_id)
        from pedagraph.llm.usage import track_usage

        models = {"teacher": ctx.model("teacher"), "evaluator": ctx.model("evaluator"), "student": student}
        env = PolicyEnv(learner_id=learner_id, rng=None, models=models, max_turns=self.max_turns,
                        options=self.options)  # fmt: skip
        built = None
        if data["policy"] in LIBRARY_POLICIES and self.library is None:
            built = self.build_library(ctx)
            env.memory = self._memory(ctx)
        policy = get_policy(data["policy"], self.options)
        plan = LearnerPlan.model_validate(data["plan"])
        with track_usage() as tracker:
            result = run_learner(plan, learner, policy, env, get_learner_store(),
                                 seed_key=f"{data['seed']}:{data['learner']}")  # fmt: skip
        fallbacks: dict[str, int] = {}
        for row in tracker.structured_rows():
            if row["fallback"]:
                fallbacks[row["node"]] = fallbacks.get(row["node"], 0) + row["fallback"]
        result["decisions"], result["fallbacks"] = tracker.decision_rows(), fallbacks
        if built is not None:
            result["library"] = {"name": LIBRARY, "size": len(built.get("strategies") or []), "built": True}
        elif data["policy"] in LIBRARY_POLICIES:
            result["library"] = {"name": self.library, "built": False}
        return {
            "kind": "learner", "policy": data["policy"], "learner": data["learner"], "seed": data["seed"],
            "student": kind, "profile": data["profile"]["name"],
            "profile_kind": getattr(learner, "kind", None), "skills": plan.skills,
            "plan": {"pre": [p.id for p in plan.pre], "practice": [p.id for p in plan.practice],
                     "post": [p.id for p in plan.post], "variants": plan.variants},
            "models": {r: m.model_spec for r, m in models.items()},
            "scripted": {r: m.is_scripted for r, m in models.items()},
            **result,
        }  # fmt: skip

    def _memory(self, ctx: ItemContext) -> Any:
        from pedagraph.memory import Memory

        return Memory((ctx.out_dir or Path.cwd()) / "library")

    def library_scenarios(self) -> list[Any]:
        """The MathDial scenarios the run's library is built on: none about a problem of the outcome data file."""
        from pedagraph.datasets import locate
        from pedagraph.methods.distill.scenarios import balanced, load_scenarios, problem_key

        option = self.options.get("library_data")
        located = None if option else locate("mathdial/test.jsonl")
        path = Path(str(option)).expanduser() if option else located.path if located else None
        if path is None or not path.is_file():
            raise DataError(f"outcomes: no MathDial file to build the strategy library from ({option or 'registry'})",
                            hint="--option library_data=PATH, or --option library=NAME for an existing library")
        pool = [s for s in load_scenarios(path) if problem_key(s) not in self._questions]
        if not pool:
            raise DataError(f"outcomes: every scenario of {path} is about a problem of the outcome items")
        return balanced(pool, self.library_train)

    def build_library(self, ctx: ItemContext) -> dict[str, Any]:
        """Build the run's strategy library once (`strategy_distill`; reused from `library.json` on resume)."""
        with _LIBRARY_LOCK:
            if self._built is not None:
                return self._built
            record_path = (ctx.out_dir or Path.cwd()) / "library.json"
            if record_path.exists():
                self._built = json.loads(record_path.read_text(encoding="utf-8"))
                return self._built
            from pedagraph.graphs.strategy_distill import Context, build_graph

            from pedagraph.methods.distill.library import StrategyLibrary

            train = self.library_scenarios()
            memory = self._memory(ctx)
            context = Context(teacher_model=ctx.model("teacher"), coach_model=ctx.model("coach"),
                              evaluator_model=ctx.model("evaluator"), library=LIBRARY)  # fmt: skip
            out = build_graph(memory=memory).invoke({"pool": [s.model_dump(mode="json") for s in train]},
                                                    context=context, config={"recursion_limit": 200})  # fmt: skip
            record = {"library": LIBRARY, "train": [s.id for s in train],
                      "train_questions": [s.problem.get("question", "") for s in train],
                      "stop_reason": out.get("stop_reason"), "kept": len(out.get("kept") or []),
                      "candidates": len(out.get("candidates") or []),
                      "strategies": [e.model_dump(mode="json") for e in StrategyLibrary(memory, LIBRARY).all()],
                      }  # fmt: skip
            record_path.parent.mkdir(parents=True, exist_ok=True)
            record_path.write_text(json.dumps(record, indent=1), encoding="utf-8")
            self._built = record
            return record

    def _realism(self, data: dict[str, Any], ctx: ItemContext, kind: str) -> dict[str, Any]:
        rng = random.Random(f"realism:{data['c_id']}")
        history = data["history"]
        if kind == "llm":
            persona = self.profiles[int(rng.random() * len(self.profiles))].profile
            simulated = realism.llm_reply(ctx.model("student"), history, data["topic"], persona)
        else:
            simulated = realism.offline_reply(history[-1]["text"], self.params.p_init, rng)
        evaluator = ctx.model("evaluator")
        real_type = realism.judge_error_type(evaluator, history, data["real"])
        sim_type = realism.judge_error_type(evaluator, history, simulated)
        return {
            "kind": "realism", "c_id": data["c_id"], "student": kind, "expert_error": data["expert_error"],
            "judge": "rule" if evaluator.is_scripted else evaluator.model_spec,
            "real": realism.traits_of(data["real"], real_type).dump(),
            "simulated": realism.traits_of(simulated, sim_type).dump(),
            "real_text": data["real"][:500], "simulated_text": simulated[:500],
        }  # fmt: skip

    async def run_item(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        """Run one learner through pre-test, policy and post-test (or one realism comparison)."""
        return await asyncio.to_thread(self._run, item, ctx)

    # ------------------------------------------------------------------------------------------ figures

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """Per-policy figures, paired differences, realism distances (module docstring)."""
        rows = [r for r in results if r.get("kind") == "learner"]
        summary: dict[str, Any] = {}
        policies = [p for p in self.policies if any(r["policy"] == p for r in rows)]
        policies += sorted({r["policy"] for r in rows} - set(policies))
        for p in policies:
            for name, metric in policy_figures([r for r in rows if r["policy"] == p]).items():
                summary[f"{p}.{name}"] = metric.to_dict()
        for i, a in enumerate(policies):
            for b in policies[i + 1:]:
                diff = pairwise(rows, a, b)
                if diff is not None:
                    summary[f"diff.{a}-{b}.normalised_gain"] = diff.to_dict()
        from pedagraph.evals.metrics import proportion

        for p in policies:
            met = [bool(d.get("met")) for r in rows if r["policy"] == p for e in r.get("episodes", [])
                   for d in e.get("decisions") or [] if d.get("strategy")]  # fmt: skip
            if met:
                summary[f"{p}.strategy_met"] = proportion(met).to_dict()
        summary["decided_by"] = decided_by(rows)
        summary["decisions_by_policy"], summary["fallbacks_by_policy"] = {}, {}
        for r in rows:
            kinds = summary["decisions_by_policy"].setdefault(r["policy"], {})
            for kind, counts in (r.get("decisions") or {}).items():
                agg = kinds.setdefault(kind, {})
                for by, n in counts.items():
                    agg[by] = agg.get(by, 0) + int(n)
            nodes = summary["fallbacks_by_policy"].setdefault(r["policy"], {})
            for node, n in (r.get("fallbacks") or {}).items():
                nodes[node] = nodes.get(node, 0) + int(n)
        summary.update(realism_summary([r for r in results if r.get("kind") == "realism"]))
        return summary

    def report(self, summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
        """The comparison table, the paired differences, what is measured, and the realism check."""
        from pedagraph.evals.suites.tutoring import metrics_of

        metrics = metrics_of(summary)
        rows = [r for r in results if r.get("kind") == "learner"]
        lines = ["## Learning outcomes of simulated learners", ""]
        kinds = Counter(r.get("student") for r in rows)
        learners = len({r["learner"] for r in rows})
        seeds = sorted({r["seed"] for r in rows})
        lines.append(f"{learners} learners x {len(seeds)} seed(s) ({', '.join(map(str, seeds))}) per policy; "
                     f"student: {', '.join(f'{k} ({v} runs)' for k, v in kinds.items())}; profiles: "
                     f"{self.profile_source}; {self.k} pre-test and {self.k} post-test item(s), "
                     f"{self.practice} practice problem(s), up to {self.max_turns} learner turns.")  # fmt: skip
        lines += ["", comparison_table(metrics), ""]
        diffs = [(k.split(".")[1], Metric(**v)) for k, v in metrics.items() if k.startswith("diff.")]
        if diffs:
            lines += ["Paired difference of normalised gain (same learners and seeds; 95% CI over learners):", "",
                      "| policies | difference | 95% CI | learners |", "| --- | --- | --- | --- |"]  # fmt: skip
            for name, m in diffs:
                value, unc, n = format_metric(m.to_dict())
                lines.append(f"| {name.replace('-', ' − ')} | {value} | {unc} | {n} |")
            lines.append("")
        lines += decision_report(summary, metrics)
        lines += [
            "What this measures: how much a simulated learner's test score on new problems of the same skills "
            "rises after an intervention (normalised gain, Hake 1998), how much help it took (replies, word-piece "
            "tokens, worked explanations) and whether the answer was told. What it does not measure: real "
            "learners. The offline learner learns by rules whose rates are assumptions "
            f"({', '.join(f'{k}={v}' for k, v in self.params.model_dump().items())}); an LLM student learns "
            "only what fits in its notebook. Read the figures as a comparison of policies under that model.",
        ]
        if kinds.get("offline"):
            lines += ["", "> The offline learner is a simulation with ground truth (learning rates per reply feature), "
                      "not a model of real learners: its ordering of policies follows from its rates."]  # fmt: skip
        lines += ["", realism_report(metrics, self.bridge_source if self.bridge is None else None,
                                     [r for r in results if r.get("kind") == "realism"])]  # fmt: skip
        return "\n".join(lines)

    def plots(self, summary: dict[str, Any], results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
        """Gain versus help per policy (PNG)."""
        from pedagraph.evals.suites.tutoring import metrics_of

        path = gain_help_plot(metrics_of(summary), out_dir / "outcomes_gain_vs_help.png")
        return [path] if path is not None else []


# ---------------------------------------------------------------------------------------------- shared views


def comparison_table(metrics: dict[str, Any]) -> str:
    """Markdown: one row per policy with gain, telling, help and gain per unit of help (95% CIs)."""
    by = metrics_by_policy(metrics)
    head = ["policy", "pre", "post", "normalised gain", "telling rate", "turns", "tokens", "explanations",
            "gain / turn", "gain / 100 tokens"]  # fmt: skip
    keys = ["pre", "post", "normalised_gain", "telling_rate", "turns", "tokens", "explanations", "gain_per_turn",
            "gain_per_100_tokens"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for policy, figs in by.items():
        cells = []
        for k in keys:
            m = figs.get(k)
            if not m or m.get("value") is None:
                cells.append("n/a")
                continue
            value, unc, _ = format_metric(m, digits=1 if k in ("tokens",) else 3)
            cells.append(f"{value} {unc}".strip())
        lines.append(f"| `{policy}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def decision_report(summary: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    """Who made each policy's Bridge decisions, how often the reply took the decided strategy, and the fallbacks."""
    source = summary if "decided_by" in summary else metrics
    by, falls = source.get("decided_by") or {}, source.get("fallbacks_by_policy") or {}
    if not by and not any(falls.values()):
        return []
    lines = ["Who made the Bridge decisions (error, strategy, intention; one count per step and learner turn):", "",
             "| policy | decided by | strategy taken by the reply | structured fallbacks |",
             "| --- | --- | --- | --- |"]  # fmt: skip
    for policy in sorted(set(by) | {p for p, f in falls.items() if f}):
        who = ", ".join(f"{k} {v}" for k, v in sorted((by.get(policy) or {}).items())) or "-"
        met = metrics.get(f"{policy}.strategy_met") or {}
        taken = "n/a" if met.get("value") is None else f"{100 * met['value']:.0f}% of {met.get('n')}"
        fell = ", ".join(f"{k} {v}" for k, v in (falls.get(policy) or {}).items()) or "0"
        lines.append(f"| `{policy}` | {who} | {taken} | {fell} |")
    return [*lines, ""]


def gain_help_plot(metrics: dict[str, Any], path: Path) -> Path | None:
    """Normalised gain against help (tokens; turns) per policy, with 95% CIs on both axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by = metrics_by_policy(metrics)
    if not by:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, help_key, label in ((axes[0], "tokens", "help: word-piece tokens read"),
                                (axes[1], "turns", "help: replies read")):  # fmt: skip
        for policy, figs in by.items():
            g, h = figs.get("normalised_gain") or {}, figs.get(help_key) or {}
            if g.get("value") is None or h.get("value") is None:
                continue
            x, y = h["value"], g["value"]
            xerr = [[x - (h.get("ci_low") if h.get("ci_low") is not None else x)],
                    [(h.get("ci_high") if h.get("ci_high") is not None else x) - x]]  # fmt: skip
            yerr = [[y - (g.get("ci_low") if g.get("ci_low") is not None else y)],
                    [(g.get("ci_high") if g.get("ci_high") is not None else y) - y]]  # fmt: skip
            ax.errorbar([x], [y], xerr=xerr, yerr=yerr, fmt="o", capsize=4, label=policy)
            ax.annotate(policy, (x, y), textcoords="offset points", xytext=(6, 6))
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel(label)
        ax.set_ylabel("normalised learning gain")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle("Learning gain versus help, per policy (95% CI over learners)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def realism_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Distances between real and simulated student messages on Bridge turns."""
    from pedagraph.evals.metrics import mean, proportion
    from scipy.stats import wasserstein_distance

    if not rows:
        return {}
    real = [r["real"] for r in rows]
    sim = [r["simulated"] for r in rows]
    n = len(rows)
    types = sorted({t["error_type"] for t in real + sim})
    tvd = 0.5 * sum(abs(sum(t["error_type"] == e for t in real) / n - sum(t["error_type"] == e for t in sim) / n)
                    for e in types)  # fmt: skip
    out = {
        "realism.words_real": mean([float(t["words"]) for t in real]).to_dict(),
        "realism.words_simulated": mean([float(t["words"]) for t in sim]).to_dict(),
        "realism.words_wasserstein": Metric(float(wasserstein_distance([t["words"] for t in real],
                                                                       [t["words"] for t in sim])), n).to_dict(),
        "realism.states_number_real": proportion([t["states_number"] for t in real]).to_dict(),
        "realism.states_number_simulated": proportion([t["states_number"] for t in sim]).to_dict(),
        "realism.asks_real": proportion([t["asks"] for t in real]).to_dict(),
        "realism.asks_simulated": proportion([t["asks"] for t in sim]).to_dict(),
        "realism.error_type_tvd": Metric(tvd, n).to_dict(),
        "realism.same_error_type": proportion(
            [a["error_type"] == b["error_type"] for a, b in zip(real, sim, strict=True)]
        ).to_dict(),
        "realism.judge_vs_expert": proportion([r["real"]["error_type"] == r["expert_error"] for r in rows]).to_dict(),
    }  # fmt: skip
    return out


def realism_report(metrics: dict[str, Any], skipped: str | None, rows: list[dict[str, Any]]) -> str:
    """The realism section of the report (or why it was skipped)."""
    lines = ["### Realism: simulated vs real student messages (Bridge)", ""]
    if skipped is not None:
        return "\n".join([*lines, f"Skipped: {skipped}."])
    if "realism.words_real" not in metrics:
        return "\n".join([*lines, "Skipped: the realism check was turned off (`realism=0`) or had no usable turns."])
    judge = rows[0].get("judge") if rows else "?"
    lines += [f"{len(rows)} real Bridge turns (the student's message at the mistake); the simulated student wrote "
              f"its own next message after the same conversation; error types by the judge `{judge}`.", "",
              "| trait | real | simulated | distance |", "| --- | --- | --- | --- |"]  # fmt: skip

    def v(key: str, pct: bool = False) -> str:
        m = metrics.get(key) or {}
        if m.get("value") is None:
            return "n/a"
        return f"{100 * m['value']:.0f}%" if pct else f"{m['value']:.2f}"

    def d(a: str, b: str) -> str:
        x, y = (metrics.get(a) or {}).get("value"), (metrics.get(b) or {}).get("value")
        return "n/a" if x is None or y is None else f"{100 * abs(x - y):.0f} points"

    lines.append(f"| words | {v('realism.words_real')} | {v('realism.words_simulated')} | "
                 f"W1 {v('realism.words_wasserstein')} words |")  # fmt: skip
    lines.append(f"| states a number | {v('realism.states_number_real', True)} | "
                 f"{v('realism.states_number_simulated', True)} | "
                 f"{d('realism.states_number_real', 'realism.states_number_simulated')} |")  # fmt: skip
    lines.append(f"| asks a question | {v('realism.asks_real', True)} | {v('realism.asks_simulated', True)} | "
                 f"{d('realism.asks_real', 'realism.asks_simulated')} |")  # fmt: skip
    lines.append(f"| error type (judge) | | | TVD {v('realism.error_type_tvd')}; same type "
                 f"{v('realism.same_error_type', True)} |")  # fmt: skip
    lines += ["", f"The judge agrees with Bridge's expert label on {v('realism.judge_vs_expert', True)} of the real "
              "messages (how far to trust its error types)."]  # fmt: skip
    if rows:
        r = rows[0]
        lines += ["", f"Example `{r['c_id']}`: real “{r['real_text'][:160]}” — simulated “{r['simulated_text'][:160]}”"]
    return "\n".join(lines)
