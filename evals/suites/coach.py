"""`coach`: the coach graph over many transcripts: score distributions, suggestions dropped as already done, ratings.

One item per transcript (default `mathdial/test.jsonl`: each MathDial dialogue is a tutoring transcript; any
.jsonl whose rows have a `transcript` text or a MathDial `conversation` works, with `id` or `qid` as the id).
The coach graph (`graphs/coach.py`) reads it on the run's coach model (rules on the scripted model).

Metrics: per dimension the mean score (± SE) and its distribution (counts per score, in `summary.json` and
`score_distributions.png`); the share of proposed suggestions the novelty check dropped as already done (pooled,
± SE) and per transcript; with a real evaluator model, its 1–3 ratings of every kept suggestion on relevance,
faithfulness, actionability and novelty (Wang & Demszky 2023's criteria; `prompts/coach/judge.md`). Option
`judge` (default true; ratings are skipped on a scripted evaluator, and the report says so).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from pedagraph.evals.metrics import Metric, mean, proportion
from pedagraph.evals.runner import Item, ItemContext, Suite, register_suite
from pedagraph.evals.suites.tutoring import _flag, metrics_of
from pedagraph.prompts import render
from pydantic import BaseModel, Field

from pedagraph.errors import DataError
from pedagraph.methods.coach.coaching import DIMENSIONS
from pedagraph.structured import ask

__all__ = ["CoachSuite", "SuggestionRating"]

CRITERIA = ("relevance", "faithfulness", "actionability", "novelty")


class SuggestionRating(BaseModel):
    """An evaluator's 1–3 ratings of one coaching suggestion."""

    relevance: int = Field(ge=1, le=3)
    faithfulness: int = Field(ge=1, le=3)
    actionability: int = Field(ge=1, le=3)
    novelty: int = Field(ge=1, le=3)


@register_suite
class CoachSuite(Suite):
    """The teacher coach over transcripts: scores, the novelty check, judge ratings of kept suggestions."""

    name: ClassVar[str] = "coach"
    description: ClassVar[str] = "Teacher coach: score distributions, suggestions dropped as already done, ratings"
    roles: ClassVar[tuple[str, ...]] = ("coach", "evaluator")
    default_data: ClassVar[str] = "mathdial/test.jsonl"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        unknown = set(options) - {"judge"}
        if unknown:
            raise DataError(f"coach: unknown option(s) {', '.join(sorted(unknown))}", hint="judge")
        self.judge = _flag(options.get("judge", True))

    def load_items(self, path: Path) -> list[Item]:
        """One item per row with a `transcript` or a MathDial `conversation` (.jsonl)."""
        items = []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{i}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("transcript") or row.get("conversation"), str):
                raise DataError(f"{path}:{i}: a row needs a transcript or a MathDial conversation")
            ident = str(row.get("id") or f"{row.get('qid') or 'line'}-{i}")  # MathDial qids repeat
            items.append(Item(id=ident, data=row))
        if not items:
            raise DataError(f"{path}: no transcripts")
        return items

    def _run(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        from pedagraph.graphs.coach import Context, build_graph

        graph = build_graph()  # the full state (the served `graph` shows a learner-facing view)

        row = item.data
        inp = {"transcript": row["transcript"]} if isinstance(row.get("transcript"), str) else {"mathdial": row}
        out = graph.invoke(inp, context=Context(coach_model=ctx.model("coach")))
        evaluator = ctx.model("evaluator")
        ratings: list[dict[str, Any]] = []
        if self.judge and not evaluator.is_scripted:
            numbered = "\n".join(f"{t['n']}. {t['speaker'].capitalize()}: {t['text']}" for t in out["turns"])
            for s in out["suggestions"]:
                prompt = render("coach/judge", transcript=numbered, turn=s["turn"], suggestion=s["suggestion"])
                rating = ask(evaluator, SuggestionRating, prompt, node="coach.judge")
                ratings.append(rating.model_dump() if rating is not None else {"error": "no rating"})
        return {"id": item.id, "turns": len(out["turns"]), "scores": {s["code"]: s["score"] for s in out["scores"]},
                "proposed": len(out["suggestions"]) + len(out["dropped"]), "kept": out["suggestions"],
                "dropped": out["dropped"], "sources": out["sources"], "ratings": ratings,
                "judged": self.judge and not evaluator.is_scripted}  # fmt: skip

    async def run_item(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        """Coach one transcript (and rate its kept suggestions with a real evaluator)."""
        return await asyncio.to_thread(self._run, item, ctx)

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """Mean score and distribution per dimension; share dropped as already done; mean ratings (± SE)."""
        summary: dict[str, Any] = {"transcripts": len(results)}
        if not results:
            return summary
        for code in DIMENSIONS:
            values = [r["scores"][code] for r in results if code in r.get("scores", {})]
            summary[f"score.{code}"] = mean(values).to_dict()
            summary[f"distribution.{code}"] = dict(sorted(Counter(str(v) for v in values).items()))
        flags = [d for r in results for d in [True] * len(r["dropped"]) + [False] * len(r["kept"])]
        summary["dropped_share"] = proportion(flags).to_dict()
        summary["dropped_per_transcript"] = mean([float(len(r["dropped"])) for r in results]).to_dict()
        summary["kept_per_transcript"] = mean([float(len(r["kept"])) for r in results]).to_dict()
        ratings = [x for r in results for x in r.get("ratings", []) if "error" not in x]
        for c in CRITERIA:
            if ratings:
                summary[f"rating.{c}"] = mean([float(x[c]) for x in ratings]).to_dict()
        summary["judged"] = any(r.get("judged") for r in results)
        return summary

    def report(self, summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
        """Scores per dimension with their distribution, the novelty check, and the ratings of kept suggestions."""
        m = metrics_of(summary)
        if not m.get("transcripts"):
            return "No transcripts.\n"
        lines = ["| dimension | mean score | distribution (score: count) |", "| --- | --- | --- |"]
        for code, (name, top) in DIMENSIONS.items():
            dist = ", ".join(f"{k}: {v}" for k, v in m.get(f"distribution.{code}", {}).items())
            lines.append(f"| {name} ({code}, 1–{top}) | {Metric(**m[f'score.{code}']).format()} | {dist} |")
        lines += ["", f"Novelty check: {Metric(**m['dropped_share']).format(percent=True)} of the proposed suggestions "
                  "were dropped as already done by the teacher (the study found 82% of ChatGPT's pointed at what "
                  f"the teacher already did); kept per transcript {Metric(**m['kept_per_transcript']).format()}."]
        if m.get("judged"):
            lines += ["", "| rating of kept suggestions (1–3) | mean |", "| --- | --- |"]
            lines += [f"| {c} | {Metric(**m[f'rating.{c}']).format()} |" for c in CRITERIA if f"rating.{c}" in m]
        else:
            lines += ["", "Kept suggestions were not rated: the evaluator is the scripted model (or `judge=false`)."]
        return "\n".join(lines) + "\n"

    def plots(self, summary: dict[str, Any], results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
        """score_distributions.png: one histogram per dimension."""
        m = metrics_of(summary)
        if not m.get("transcripts"):
            return []
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(DIMENSIONS), figsize=(10, 2.8))
        for ax, (code, (_name, top)) in zip(axes, DIMENSIONS.items(), strict=True):
            dist = m.get(f"distribution.{code}", {})
            ax.bar(range(1, top + 1), [dist.get(str(v), 0) for v in range(1, top + 1)])
            ax.set_title(code, fontsize=9)
            ax.set_xticks(range(1, top + 1))
        axes[0].set_ylabel("transcripts")
        fig.tight_layout()
        path = out_dir / "score_distributions.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]
