"""`judge`: calibrate the evaluator agent against MRBench's human labels of tutor responses.

One item per (conversation, tutor response) of MRBench V1 (default), V2 or the BEA 2025 devset (4 dimensions).
The evaluator labels each response on the dimensions the file annotates (`agents/evaluator.py`); the suite
reports, per dimension, agreement with the human label: accuracy ± SE and macro-F1 with a bootstrap 95% CI
(over the labels seen in gold or prediction, as scikit-learn does), plus each tutor's desirable-label rate as
the humans and as the judge see it (methods.md §7.5).

Options: `dimensions` (comma-separated or a list; default: every dimension the item is annotated on),
`reference` (give the judge the reference solution when the file has one; default true), `tutors` (keep
only these tutors, comma-separated), `shuffle` (a seed: order the items by a hash of seed and id, so that
`--limit N` takes a random sample of responses instead of the first N/8 conversations).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from pedagraph.agents.evaluator import (
    ALL_DIMENSIONS,
    DESIRABLE,
    LABELS,
    judge_response,
    normalize_annotation,
    parse_dimensions,
)
from pedagraph.evals.metrics import Metric, accuracy, macro_f1, proportion
from pedagraph.evals.runner import Item, ItemContext, Suite, register_suite

from pedagraph.errors import DataError
from pedagraph.taxonomy import MRBenchDimension

_SHORT = {
    MRBenchDimension.MISTAKE_IDENTIFICATION: "MI",
    MRBenchDimension.MISTAKE_LOCATION: "ML",
    MRBenchDimension.REVEALING_OF_THE_ANSWER: "RA",
    MRBenchDimension.PROVIDING_GUIDANCE: "PG",
    MRBenchDimension.ACTIONABILITY: "Act",
    MRBenchDimension.COHERENCE: "Coh",
    MRBenchDimension.TUTOR_TONE: "Tone",
    MRBenchDimension.HUMANLIKENESS: "Human",
}


def option_bool(value: Any, default: bool) -> bool:
    """Read a boolean option given as a bool or as text (`true`, `no`, `0`, ...)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y")


def option_list(value: Any) -> list[str]:
    """Read a list option given as a list or as comma-separated text."""
    if value is None or value == "":
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(v).strip() for v in items if str(v).strip()]


def metrics_of(summary: dict[str, Any]) -> dict[str, Any]:
    """The suite's metrics from the runner's summary (which nests them under `metrics`) or from `summarize`."""
    metrics = summary.get("metrics")
    return metrics if isinstance(metrics, dict) else summary


def load_mrbench(path: Path) -> list[Item]:
    """Items of an MRBench V1/V2 or BEA 2025 file: one per annotated tutor response, keys and labels normalised."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot read {path} as JSON: {exc}") from None
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a JSON array of conversations, got {type(rows).__name__}")
    items: list[Item] = []
    seen: Counter[str] = Counter()
    unlabelled = 0
    for index, row in enumerate(rows):
        where = f"{path.name}, entry {index}"
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected an object")
        responses = row.get("anno_llm_responses", row.get("tutor_responses"))
        history = row.get("conversation_history")
        if not isinstance(responses, dict) or not isinstance(history, str):
            raise DataError(
                f"{where}: not an MRBench conversation",
                hint="expected conversation_history and anno_llm_responses (V1/V2) or tutor_responses (BEA 2025)",
            )
        cid = str(row.get("conversation_id") or index)
        seen[cid] += 1
        base = cid if seen[cid] == 1 else f"{cid}#{seen[cid]}"
        for tutor, entry in responses.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("response"), str):
                raise DataError(f"{where}, tutor {tutor}: missing 'response' text")
            annotation = entry.get("annotation")
            if not annotation:
                unlabelled += 1
                continue
            if not isinstance(annotation, dict):
                raise DataError(f"{where}, tutor {tutor}: 'annotation' is not an object")
            try:
                gold = normalize_annotation(annotation)
            except ValueError as exc:
                raise DataError(f"{where}, tutor {tutor}: {exc}") from None
            if not gold:
                unlabelled += 1
                continue
            data = {
                "conversation_id": cid,
                "conversation_history": history,
                "tutor": str(tutor),
                "response": entry["response"],
                "ground_truth": row.get("Ground_Truth_Solution") or None,
                "source": row.get("Data") or path.stem,
                "gold": gold,
            }
            items.append(Item(id=f"{base}/{tutor}", data=data))
    if not items:
        why = f" ({unlabelled} responses have no annotation)" if unlabelled else ""
        raise DataError(
            f"{path}: no annotated tutor responses{why}",
            hint="the BEA 2025 test set has no released labels; use MRBench V1/V2 or the BEA devset",
        )
    return items


def _bare(metric: Metric) -> str:
    return metric.format().rsplit(" (n=", 1)[0]


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common())


def _pairs(results: list[dict[str, Any]], dim: MRBenchDimension) -> list[tuple[str, str, str]]:
    """(tutor, gold, pred) for every result where both labels of `dim` are present."""
    out = []
    for r in results:
        gold, pred = (r.get("gold") or {}).get(dim.value), (r.get("pred") or {}).get(dim.value)
        if gold is not None and pred is not None:
            out.append((str(r.get("tutor")), gold, pred))
    return out


def agreement(results: list[dict[str, Any]]) -> dict[MRBenchDimension, tuple[Metric, Metric]]:
    """Per judged dimension: (accuracy ± SE, macro-F1 with a bootstrap CI) of the judge against the gold labels."""
    out = {}
    for dim in ALL_DIMENSIONS:
        pairs = _pairs(results, dim)
        if not pairs:
            continue
        gold, pred = [g for _, g, _ in pairs], [p for _, _, p in pairs]
        out[dim] = (accuracy(gold, pred), macro_f1(gold, pred, labels=LABELS[dim]))
    return out


def per_tutor(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Metric]]]:
    """Per tutor and dimension: the desirable-label rate by the human labels and by the judge."""
    out: dict[str, dict[str, dict[str, Metric]]] = {}
    tutors = sorted({str(r.get("tutor")) for r in results})
    for dim in ALL_DIMENSIONS:
        pairs = _pairs(results, dim)
        for tutor in tutors:
            mine = [(g, p) for t, g, p in pairs if t == tutor]
            if not mine:
                continue
            out.setdefault(tutor, {})[dim.value] = {
                "human": proportion([g == DESIRABLE[dim] for g, _ in mine]),
                "judge": proportion([p == DESIRABLE[dim] for _, p in mine]),
            }
    return out


@register_suite
class JudgeSuite(Suite):
    """The evaluator agent's agreement with MRBench human labels, per dimension."""

    name: ClassVar[str] = "judge"
    description: ClassVar[str] = (
        "MRBench: the evaluator labels tutor responses on 8 dimensions; agreement with human labels "
        "(accuracy, macro-F1) per dimension and per-tutor desirable rates"
    )
    roles: ClassVar[tuple[str, ...]] = ("evaluator",)
    default_data: ClassVar[str] = "mrbench/MRBench/MRBench_V1.json"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        try:
            requested = option_list(self.options.get("dimensions"))
            self.dimensions = parse_dimensions(requested) if requested else None
        except ValueError as exc:
            raise DataError(f"judge: {exc}") from None
        self.reference = option_bool(self.options.get("reference"), True)
        self.tutors = set(option_list(self.options.get("tutors")))
        shuffle = self.options.get("shuffle")
        self.shuffle: str | None = None if shuffle in (None, "", False, "false", "no") else str(shuffle)

    def load_items(self, path: Path) -> list[Item]:
        """One item per annotated tutor response (optionally only some tutors)."""
        items = load_mrbench(path)
        if self.tutors:
            items = [i for i in items if i.data["tutor"] in self.tutors]
            if not items:
                raise DataError(f"{path}: no responses of tutors {', '.join(sorted(self.tutors))}")
        if self.shuffle is not None:
            items.sort(key=lambda i: hashlib.sha256(f"{self.shuffle}:{i.id}".encode()).hexdigest())
        return items

    def item_dimensions(self, item: Item) -> tuple[MRBenchDimension, ...]:
        """The dimensions judged for an item: the requested ones that the item is annotated on."""
        annotated = [MRBenchDimension(k) for k in item.data["gold"]]
        wanted = self.dimensions or ALL_DIMENSIONS
        return tuple(d for d in wanted if d in annotated)

    async def run_item(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        """Ask the evaluator for the labels of one response and compare them with the gold labels."""
        dims = self.item_dimensions(item)
        if not dims:
            raise DataError(f"item {item.id} has none of the requested dimensions")
        model = ctx.model("evaluator")
        truth = item.data.get("ground_truth") if self.reference else None
        judgement = await asyncio.to_thread(
            judge_response, model, item.data["conversation_history"], item.data["response"], truth, dims
        )
        gold = {d.value: item.data["gold"][d.value] for d in dims}
        return {
            "conversation_id": item.data["conversation_id"],
            "tutor": item.data["tutor"],
            "source": item.data.get("source"),
            "gold": gold,
            "pred": judgement.labels,
            "match": {k: judgement.labels.get(k) == v for k, v in gold.items()},
            "rationale": judgement.rationale,
            "judge_model": model.model_spec,
            "judge_scripted": model.is_scripted,
        }

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """Per dimension `<dim>.accuracy` and `<dim>.macro_f1`; pooled `all.accuracy`; `per_tutor` rates."""
        summary: dict[str, Any] = {}
        pooled: list[bool] = []
        for dim, (acc, f1) in agreement(results).items():
            summary[f"{dim.value}.accuracy"] = acc.to_dict()
            summary[f"{dim.value}.macro_f1"] = f1.to_dict()
            pooled += [g == p for _, g, p in _pairs(results, dim)]
        summary["all.accuracy"] = proportion(pooled).to_dict()
        summary["per_tutor"] = {
            tutor: {dim: {who: m.to_dict() for who, m in rates.items()} for dim, rates in dims.items()}
            for tutor, dims in per_tutor(results).items()
        }
        return summary

    def report(self, summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
        """Agreement per dimension with label distributions, and the per-tutor desirable rates."""
        summary = metrics_of(summary)
        scripted = any(r.get("judge_scripted") for r in results)
        models = sorted({str(r.get("judge_model")) for r in results})
        lines = ["## Judge agreement with MRBench human labels", ""]
        if scripted:
            lines += [
                "> The judge was the **scripted** model: its labels are schema-valid defaults, not judgements, so "
                "the agreement below measures nothing but the label distribution.",
                "",
            ]
        lines += [f"Judge model: {', '.join(f'`{m}`' for m in models)}.", ""]
        lines += [
            "| dimension | n | accuracy ± SE | macro-F1 [95% CI] | gold labels | judge labels |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for dim in ALL_DIMENSIONS:
            pairs = _pairs(results, dim)
            if not pairs:
                continue
            acc = Metric(**summary[f"{dim.value}.accuracy"])
            f1 = Metric(**summary[f"{dim.value}.macro_f1"])
            gold = Counter(g for _, g, _ in pairs)
            pred = Counter(p for _, _, p in pairs)
            cells = [dim.value, str(acc.n), _bare(acc), _bare(f1), _counts(gold), _counts(pred)]
            lines.append("| " + " | ".join(cells) + " |")
        tutors = summary.get("per_tutor") or {}
        dims = [d for d in ALL_DIMENSIONS if any(d.value in v for v in tutors.values())]
        if tutors and dims:
            lines += [
                "",
                "### Desirable-label rate per tutor (human / judge, %)",
                "",
                "Desirable: Yes, except No for revealing the answer and Encouraging for tone.",
                "",
                "| tutor | n | " + " | ".join(_SHORT[d] for d in dims) + " |",
                "| --- | --- |" + " --- |" * len(dims),
            ]
            for tutor, rates in tutors.items():
                n = max(r["human"]["n"] for r in rates.values())
                cells = []
                for d in dims:
                    r = rates.get(d.value)
                    if r is None or r["human"]["value"] is None:
                        cells.append("-")
                    else:
                        cells.append(f"{100 * r['human']['value']:.0f} / {100 * r['judge']['value']:.0f}")
                lines.append(f"| {tutor} | {n} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def plots(self, summary: dict[str, Any], results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
        """Per-dimension bars of accuracy (± 1.96 SE) and macro-F1 (bootstrap 95% CI)."""
        import matplotlib.pyplot as plt

        summary = metrics_of(summary)
        dims = [d for d in ALL_DIMENSIONS if f"{d.value}.accuracy" in summary]
        if not dims:
            return []
        accs = [Metric(**summary[f"{d.value}.accuracy"]) for d in dims]
        f1s = [Metric(**summary[f"{d.value}.macro_f1"]) for d in dims]
        xs = list(range(len(dims)))
        width = 0.38
        fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(dims) + 2), 4.2))
        acc_vals = [m.value or 0.0 for m in accs]
        acc_err = [
            [min(v, 1.96 * (m.se or 0.0)) for v, m in zip(acc_vals, accs, strict=True)],
            [min(1.0 - v, 1.96 * (m.se or 0.0)) for v, m in zip(acc_vals, accs, strict=True)],
        ]
        f1_vals = [m.value or 0.0 for m in f1s]
        f1_err = [
            [max(0.0, (m.value or 0.0) - (m.ci_low if m.ci_low is not None else m.value or 0.0)) for m in f1s],
            [max(0.0, (m.ci_high if m.ci_high is not None else m.value or 0.0) - (m.value or 0.0)) for m in f1s],
        ]
        ax.bar([x - width / 2 for x in xs], acc_vals, width, yerr=acc_err, capsize=3, label="accuracy (±1.96 SE)")
        ax.bar([x + width / 2 for x in xs], f1_vals, width, yerr=f1_err, capsize=3, label="macro-F1 (95% CI)")
        ax.set_xticks(xs, [_SHORT[d] for d in dims])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("agreement with human labels")
        n = accs[0].n if accs else 0
        scripted = " (scripted judge)" if any(r.get("judge_scripted") for r in results) else ""
        ax.set_title(f"Judge vs MRBench human labels, n={n}{scripted}")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        path = out_dir / "judge_agreement.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return [path]
