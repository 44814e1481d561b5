"""The `lesson` suite: EduPlanner's lesson plans per round, the gain from round 0 and the paper's ablations.

Each item is a lesson to plan for a group: by default one GSM8K test problem (`gsm8k/test.jsonl`) as the target
problem, for a group profile cycled over `weak` [2,2,2,2,2], `mixed` [4,4,3,4,3] (the paper's example) and `strong`
[4,5,4,4,5]; a JSONL file of `{"id", "topic", "problems", "levels"}` lessons works too. Every item runs the
`eduplanner` graph once per variant:

* `full` — question analyst and skill tree;
* `no_analyst` — without the question analyst (methods.md §2.5 ablation);
* `no_skill_tree` — the planner does not see the group's skill tree (the simulated learners still do);
* `single_call` — the baseline planner: one plan from one planner call (no analyst, no optimisation rounds),
  scored by the same simulated learners and judge.

Test problems are disjoint from the lesson's targets and its worked examples (`pick_test_problems`).

Reported per variant: predicted success (mean probability, 0-1) and CIDDP (mean of the five, 0-100) of the best
plan at round 0 and at the end, the gain between them, each CIDDP dimension at the end, rounds run and model calls;
per round, the mean over items of the queue's best predicted success and CIDDP (an item that stopped early keeps
its last value). Plots: `rounds.png` (success and CIDDP against the round, one line per variant), `ciddp.png`.

Options: `variants` (default full,no_analyst,no_skill_tree,single_call), `rounds` (N, default 5), `candidates` (K, 3),
`survivors` (P, 3), `test_problems` (T, 4), `repeats` (M, 2), `min_gain` (0.005), `patience` (1), `levels`
(one profile for every item, e.g. 4,4,3,4,3), `original` (1: N=20, K=3, P=3, T=8, M=5 as in the paper).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from pedagraph.evals.metrics import mean
from pedagraph.evals.runner import Item, ItemContext, Suite, register_suite
from pedagraph.evals.suites.tom import parse_list
from pedagraph.evals.suites.tom_report import _save

from pedagraph.errors import DataError, PedagraphError
from pedagraph.methods.eduplanner.context import ORIGINAL
from pedagraph.methods.eduplanner.plans import DIMENSIONS
from pedagraph.methods.eduplanner.skill_tree import parse_levels
from pedagraph.problems import load_problems

__all__ = ["PROFILES", "VARIANTS", "LessonSuite"]

VARIANTS: dict[str, dict[str, Any]] = {
    "full": {"analyst": True, "skill_tree": True},
    "no_analyst": {"analyst": False, "skill_tree": True},
    "no_skill_tree": {"analyst": True, "skill_tree": False},
    "single_call": {"analyst": False, "skill_tree": True, "rounds": 0, "candidates": 1},
}
PROFILES: dict[str, list[int]] = {"weak": [2, 2, 2, 2, 2], "mixed": [4, 4, 3, 4, 3], "strong": [4, 5, 4, 4, 5]}
_DEFAULTS = {"rounds": 5, "candidates": 3, "survivors": 3, "test_problems": 4, "repeats": 2, "patience": 1}
_KNOWN = {"variants", "levels", "min_gain", "original", *_DEFAULTS}


def _int(options: dict[str, Any], name: str, default: int) -> int:
    value = options.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataError(f"lesson: option {name} must be a whole number, got {value!r}") from None


@register_suite
class LessonSuite(Suite):
    """EduPlanner lesson plans: predicted success and CIDDP per round, the gain, and the ablations."""

    name = "lesson"
    description = ("EduPlanner (Zhang et al. 2025): lesson plans for a group's skill tree, predicted success and "
                   "CIDDP per round, the gain from round 0, ablations without the analyst / skill tree")  # fmt: skip
    roles = ("planner", "student", "evaluator")
    default_data = "gsm8k/test.jsonl"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        unknown = set(options) - _KNOWN
        if unknown:
            raise PedagraphError(f"lesson: unknown option(s) {', '.join(sorted(unknown))}",
                                 hint=", ".join(sorted(_KNOWN)))  # fmt: skip
        self.variants = parse_list(options.get("variants"), str, "variants") or tuple(VARIANTS)
        bad = [v for v in self.variants if v not in VARIANTS]
        if bad:
            raise PedagraphError(f"lesson: unknown variant(s) {', '.join(bad)}", hint=", ".join(VARIANTS))
        original = str(options.get("original", "")).lower() in ("1", "true", "yes")
        base = ORIGINAL if original else _DEFAULTS
        self.settings = {k: _int(options, k, base.get(k, _DEFAULTS[k])) for k in _DEFAULTS}
        try:
            self.settings_gain = float(options.get("min_gain", 0.005))
        except (TypeError, ValueError):
            raise DataError(f"lesson: option min_gain must be a number, got {options.get('min_gain')!r}") from None
        levels = options.get("levels")
        self.levels = list(parse_levels(parse_list(levels, int, "levels")).values()) if levels else None
        from pedagraph.methods.eduplanner.context import PlannerContext

        PlannerContext(**self.settings, min_gain=self.settings_gain).check()  # refuse bad settings before any item

    def load_items(self, path: Path) -> list[Item]:
        """GSM8K problems (one lesson each) or a JSONL of lessons (`topic` and/or `problems`, optional `levels`)."""
        first = next((ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()), "")
        try:
            head = json.loads(first) if first else {}
        except json.JSONDecodeError:
            head = {}
        if isinstance(head, dict) and ("topic" in head or "problems" in head):
            return self._lessons(path)
        problems = load_problems(path)
        names = list(PROFILES)
        return [Item(p.id, {"problems": [p.model_dump(mode="json")], "profile": names[i % len(names)]})
                for i, p in enumerate(problems)]  # fmt: skip

    def _lessons(self, path: Path) -> list[Item]:
        items = []
        lines = [(n, line) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
        for n, line in lines:
            record = _json_line(path, n, line)
            if not isinstance(record, dict) or not (record.get("topic") or record.get("problems")):
                raise DataError(f"{path}:{n}: a lesson needs a topic or problems")
            if record.get("levels") is not None:
                parse_levels(record["levels"])
            items.append(Item(str(record.get("id") or f"lesson-{n}"), record))
        return items

    def _state(self, data: dict[str, Any]) -> dict[str, Any]:
        levels = self.levels or data.get("levels") or PROFILES[data.get("profile", "mixed")]
        return {"topic": data.get("topic") or "", "problems": data.get("problems") or [], "levels": levels}

    async def run_item(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        """Plan the lesson once per variant through the eduplanner graph."""
        from pedagraph.graphs.eduplanner import Context, build_graph

        graph = build_graph()  # the full state (the served `graph` shows a learner-facing view)

        runs = {}
        models = {f"{role}_model": ctx.model(role) for role in self.roles}
        for variant in self.variants:
            context = Context(**{**self.settings, **VARIANTS[variant]}, min_gain=self.settings_gain,
                              seed=ctx.item_seed % 10_000, material_k=0, **models)  # fmt: skip
            out = await asyncio.to_thread(graph.invoke, self._state(item.data), context=context)
            result = out["result"]
            runs[variant] = {
                "rounds": [{k: r.get(k) for k in ("round", "queue_best_success", "queue_best_ciddp_mean",
                                                  "best_success", "best_ciddp_mean", "best_ciddp")}
                           for r in out["rounds"]],
                "final_ciddp": {d: result["plan"]["ciddp"].get(d, {}).get("score") for d in DIMENSIONS},
                **{k: result[k] for k in ("success_round0", "success_final", "gain", "ciddp_round0",
                                          "ciddp_final", "calls", "fallbacks", "stop")},
                "rounds_run": result["rounds"],
            }  # fmt: skip
        return {"id": item.id, "group": self._state(item.data)["levels"], "runs": runs,
                "models": {role: ctx.model(role).model_spec for role in self.roles}}  # fmt: skip

    # -- results ---------------------------------------------------------------------------------------------

    def _curve(self, results: list[dict[str, Any]], variant: str, key: str) -> list[dict[str, Any]]:
        series = [[r[key] for r in res["runs"][variant]["rounds"]] for res in results if variant in res["runs"]]
        longest = max((len(s) for s in series), default=0)
        out = []
        for i in range(longest):
            values = [s[min(i, len(s) - 1)] for s in series if s]
            m = mean(values)
            out.append({"round": i, "mean": m.value, "se": m.se, "n": m.n})
        return out

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """Per variant: success and CIDDP at round 0 and at the end, gain, dimensions, rounds, calls; curves."""
        metrics: dict[str, Any] = {}
        curves: dict[str, Any] = {}
        for variant in self.variants:
            runs = [res["runs"][variant] for res in results if variant in res.get("runs", {})]
            for key in ("success_round0", "success_final", "gain", "ciddp_round0", "ciddp_final", "rounds_run",
                        "calls"):  # fmt: skip
                metrics[f"{key}[{variant}]"] = mean([r[key] for r in runs]).to_dict()
            metrics[f"fallbacks[{variant}]"] = mean([float(_count(r.get("fallbacks"))) for r in runs]).to_dict()
            for d in DIMENSIONS:
                metrics[f"{d}[{variant}]"] = mean([r["final_ciddp"][d] for r in runs if r["final_ciddp"][d] is not None]
                                                  ).to_dict()  # fmt: skip
            curves[variant] = {"success": self._curve(results, variant, "queue_best_success"),
                               "ciddp": self._curve(results, variant, "queue_best_ciddp_mean")}  # fmt: skip
        metrics["curves"] = curves
        metrics["settings"] = {**self.settings, "min_gain": self.settings_gain}
        return metrics

    def report(self, summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
        """A table per variant (round 0, final, gain; the five dimensions) and the per-round curve."""
        m = summary["metrics"]

        def cell(key: str, digits: int = 3) -> str:
            v = m.get(key) or {}
            if v.get("value") is None:
                return "n/a"
            se = f" ± {v['se']:.{digits}f}" if v.get("se") is not None else ""
            return f"{v['value']:.{digits}f}{se}"

        models = results[0].get("models", {}) if results else {}
        lines = ["## EduPlanner lesson plans (Zhang et al. 2025)", "",
                 f"{len(results)} lessons; planner `{models.get('planner')}`, simulated learners "
                 f"`{models.get('student')}`, CIDDP judge `{models.get('evaluator')}`; settings "
                 + ", ".join(f"{k}={v}" for k, v in m.get("settings", {}).items()) + ". Predicted success is the "
                 "simulated learners' mean probability (0-1) of solving a test problem after the lesson (what the "
                 "loop optimises); CIDDP is the judge's mean of five 0-100 scores (reported, never optimised).", "",
                 "| variant | success r0 | success final | gain | CIDDP r0 | CIDDP final | rounds | calls |",
                 "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for v in self.variants:
            lines.append(f"| {v} | {cell(f'success_round0[{v}]')} | {cell(f'success_final[{v}]')} | "
                         f"{cell(f'gain[{v}]')} | {cell(f'ciddp_round0[{v}]', 1)} | {cell(f'ciddp_final[{v}]', 1)} | "
                         f"{cell(f'rounds_run[{v}]', 1)} | {cell(f'calls[{v}]', 0)} |")  # fmt: skip
        lines += ["", "### CIDDP of the final plan", "", "| variant | " + " | ".join(DIMENSIONS) + " |",
                  "|---" * (len(DIMENSIONS) + 1) + "|"]  # fmt: skip
        for v in self.variants:
            lines.append(f"| {v} | " + " | ".join(cell(f"{d}[{v}]", 1) for d in DIMENSIONS) + " |")
        fallbacks = ", ".join(f"{v} {cell(f'fallbacks[{v}]', 1)}" for v in self.variants)
        lines += ["", f"Simulated-learner predictions that failed and fell back to the heuristic, per lesson: "
                  f"{fallbacks}."]  # fmt: skip
        if any(r.get("models", {}).get("planner", "").startswith("scripted") for r in results):
            lines += ["", "> The planner is the built-in **scripted** model: plans, predictions and CIDDP come "
                      "from the deterministic heuristics of `methods.eduplanner.plans`, not from language models. "
                      "The gaps between variants are then the hand-set coefficients of those heuristics (e.g. "
                      "`predict_success`'s terms for pointed-out mistakes and pitched support): this table checks "
                      "the pipeline, it does not measure the method."]  # fmt: skip
        return "\n".join(lines)

    def plots(self, summary: dict[str, Any], results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
        """rounds.png (best predicted success and CIDDP against the round per variant), ciddp.png (final dims)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        curves = summary["metrics"].get("curves", {})
        if not curves:
            return []
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        for variant, c in curves.items():
            for ax, key in zip(axes, ("success", "ciddp"), strict=True):
                pts = [p for p in c[key] if p["mean"] is not None]
                ax.errorbar([p["round"] for p in pts], [p["mean"] for p in pts],
                            yerr=[p["se"] or 0 for p in pts], marker="o", capsize=3, label=variant)  # fmt: skip
        axes[0].set_ylabel("best predicted success")
        axes[1].set_ylabel("CIDDP of the best plan (0-100)")
        for ax in axes:
            ax.set_xlabel("round")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle(f"EduPlanner: {len(results)} lessons", fontsize=9)
        paths = [_save(fig, out_dir / "rounds.png")]
        m = summary["metrics"]
        fig, ax = plt.subplots(figsize=(7, 3.6))
        width = 0.8 / max(1, len(self.variants))
        for i, v in enumerate(self.variants):
            ys = [(m.get(f"{d}[{v}]") or {}).get("value") or 0 for d in DIMENSIONS]
            ax.bar([j + i * width for j in range(len(DIMENSIONS))], ys, width, label=v)
        ax.set_xticks([j + width * (len(self.variants) - 1) / 2 for j in range(len(DIMENSIONS))], DIMENSIONS)
        ax.set_ylabel("score of the final plan")
        ax.legend(fontsize=8)
        paths.append(_save(fig, out_dir / "ciddp.png"))
        return paths


def _count(value: Any) -> int:
    """A fallback count as the graph reports it (a number, or counts per node)."""
    if isinstance(value, dict):
        return sum(_count(v) for v in value.values())
    return int(value or 0) if isinstance(value, (int, float)) else 0


def _json_line(path: Path, number: int, line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{number}: not JSON ({exc.msg})") from None
