"""`bridge`: Bridge's decisions (Wang et al., NAACL 2024) against its experts, and the paper's decision ablation.

One item per row of a Bridge split (default `bridge/test.json`; 210 rows, 187 conversations: 23 were annotated by
two experts). The published outputs are read from `outputs/` beside the data file (the registry keys
`bridge/outputs/...`; the bundled sample has the same layout).

* Steps A (error), B (strategy), C (intention) against the expert's labels: accuracy and macro-F1 with bootstrap
  95% intervals, on the rows whose expert label is one of the dataset's codes (free-text labels are mapped to
  `no_error` / `other` by `methods.copilot.bridge.gold_labels` and counted, not scored). Rows of the table: the
  configured teacher model's decisions (three structured calls in sequence, `methods.copilot.bridge.decide`; on the
  scripted model, the copilot's rule decision for a wrong answer of unknown type), the paper's published
  predictions of GPT-4, ChatGPT and Llama-2-70B-chat (`outputs/step_a_error`, `outputs/step_bc_strategy_intention`;
  an unreadable answer counts as wrong), and the majority label of the scored rows.
* The decision ablation: responses written with the expert's, the model's, random and no decisions, compared in
  pairs by the evaluator (a real evaluator: one preference call per pair, sides shuffled per item; the scripted
  evaluator: more desirable MRBench labels by rules, so its table checks the pipeline, not quality). Win rate of
  the first over the second (ties count half) with a bootstrap 95% interval; for the configured teacher (needs a
  real teacher model) and for GPT-4's published responses of the four conditions (first occurrence of a
  conversation only).

Options: `ablation` (default true), `published_ablation` (default true).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

from pedagraph.evals.metrics import accuracy, bootstrap, macro_f1, mean
from pedagraph.evals.runner import Item, ItemContext, Suite, format_metric, register_suite
from pedagraph.evals.suites.tutoring import _flag, metrics_of
from pedagraph.prompts import render
from pydantic import BaseModel, Field

from pedagraph.errors import DataError
from pedagraph.methods.copilot.bridge import (
    PAPER_ERRORS,
    PAPER_INTENTIONS,
    PAPER_STRATEGIES,
    conversation_key,
    conversation_lines,
    decide,
    gold_labels,
    published_pick,
    random_decisions,
    rule_decisions,
    write_response,
)
from pedagraph.structured import ask
from pedagraph.taxonomy import MOVE_LABELS

__all__ = ["BridgeSuite", "Preference", "RULE_DECISION"]

STEPS = ("error", "strategy", "intention")
PUBLISHED = {"gpt4": "GPT-4 (published)", "chatgpt": "ChatGPT (published)",
             "llama-2-70b-chat": "Llama-2-70B-chat (published)"}  # fmt: skip
CONDITIONS = ("expert", "model", "random", "none")
PAIRS = (("expert", "none"), ("model", "none"), ("random", "none"), ("expert", "random"), ("model", "random"),
         ("expert", "model"))  # fmt: skip
_PUBLISHED_FIELDS = (
    ("step_a_error", (("error", "answer", PAPER_ERRORS),)),
    ("step_bc_strategy_intention", (("strategy", "strategy", PAPER_STRATEGIES),
                                    ("intention", "intention", PAPER_INTENTIONS))),
)  # fmt: skip
"""Per published folder: (step, the answer's field, the numbered options of the paper's prompt)."""
_RESPONSE_FILES = {"expert": "expert_gpt4", "model": "gpt4_gpt4", "random": "random_gpt4", "none": "none_gpt4"}

_probe = MOVE_LABELS["probe"]
RULE_DECISION = {"error": "diagnose", "strategy": _probe[1].value, "intention": _probe[2].value}
"""The copilot's rule decision for a wrong answer of unknown type (step A `diagnose`, then the policy's probe)."""


class Preference(BaseModel):
    """The evaluator's pairwise preference between two tutor responses."""

    better: Literal["A", "B", "tie"] = Field(description="The more useful and caring response, or tie.")
    reason: str = ""


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise DataError(f"{path}: a Bridge file is a JSON list of objects")
    return rows


def _occurrences(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(conversation key, how many rows of that conversation came before) per row."""
    seen: Counter[str] = Counter()
    out = []
    for row in rows:
        key = conversation_key(row)
        out.append((key, seen[key]))
        seen[key] += 1
    return out


def _response_text(row: dict[str, Any]) -> str | None:
    turns = row.get("c_r_") or []
    text = " ".join(str(t.get("text", "")) for t in turns if isinstance(t, dict)).strip()
    return text or None


@register_suite
class BridgeSuite(Suite):
    """Bridge steps A/B/C against experts with the paper's published predictions; the decision ablation."""

    name: ClassVar[str] = "bridge"
    description: ClassVar[str] = (
        "Bridge: error/strategy/intention vs expert labels (with GPT-4, ChatGPT, Llama-2 published rows); "
        "decision ablation win rates"
    )
    roles: ClassVar[tuple[str, ...]] = ("teacher", "evaluator")
    default_data: ClassVar[str] = "bridge/test.json"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        unknown = set(options) - {"ablation", "published_ablation"}
        if unknown:
            raise DataError(f"bridge: unknown option(s) {', '.join(sorted(unknown))}",
                            hint="ablation, published_ablation")  # fmt: skip
        self.ablation = _flag(options.get("ablation", True))
        self.published_ablation = _flag(options.get("published_ablation", True))

    def load_items(self, path: Path) -> list[Item]:
        """One item per row, with the expert's labels and the published outputs on the same row attached."""
        rows = _read(path)
        if not rows or not all("c_h" in r and "e" in r for r in rows):
            raise DataError(f"{path}: not a Bridge split (rows need c_h, e, z_what, z_why)")
        outputs = path.parent / "outputs"
        missing = [f for f in ("step_a_error/gpt4.json", "step_bc_strategy_intention/gpt4.json")
                   if not (outputs / f).is_file()]  # fmt: skip
        if missing:
            raise DataError(f"{path}: the published outputs are not beside it ({outputs / missing[0]})",
                            hint="`pedagraph data fetch bridge` gets the split with its outputs/")  # fmt: skip
        keys = _occurrences(rows)
        published: dict[str, dict[tuple[str, int], dict[str, str | None]]] = {}
        for model in PUBLISHED:
            picks: dict[tuple[str, int], dict[str, str | None]] = {}
            for sub, fields in _PUBLISHED_FIELDS:
                file = outputs / sub / f"{model}.json"
                if not file.is_file():
                    continue
                out_rows = _read(file)
                for key, out_row in zip(_occurrences(out_rows), out_rows, strict=True):
                    for step, field_name, options in fields:
                        picks.setdefault(key, {})[step] = published_pick(out_row.get("pred_e"), field_name, options)
            if picks:
                published[model] = picks
        responses: dict[str, dict[str, str]] = {}
        for condition, stem in _RESPONSE_FILES.items():
            file = outputs / "responses" / f"{stem}.json"
            for r in _read(file) if file.is_file() else []:
                text = _response_text(r)
                if text:
                    responses.setdefault(conversation_key(r), {}).setdefault(condition, text)
        items = []
        for (key, n), row in zip(keys, rows, strict=True):
            data = {"row": row, "gold": gold_labels(row),
                    "published": {m: p[(key, n)] for m, p in published.items() if (key, n) in p},
                    "responses": responses.get(key, {}) if n == 0 else {}}  # fmt: skip
            items.append(Item(id=f"{row.get('c_id')}#{n}", data=data))
        return items

    # -- one item ----------------------------------------------------------------------------------------------

    def _prefer(self, evaluator: Any, topic: str, conversation: str, a: str, b: str, swap: bool) -> float | None:
        """1.0 when `a` is preferred, 0.5 for a tie, 0.0 when `b` is; None when the evaluator's call failed."""
        if evaluator.is_scripted:
            from pedagraph.agents.evaluator import judge_response

            score_a = sum(judge_response(evaluator, conversation, a).desirable().values())
            score_b = sum(judge_response(evaluator, conversation, b).desirable().values())
            return 1.0 if score_a > score_b else 0.0 if score_b > score_a else 0.5
        first, second = (b, a) if swap else (a, b)
        prompt = render("evaluator/pairwise", topic=topic, conversation=conversation, a=first, b=second)
        answer = ask(evaluator, Preference, prompt, node="bridge.judge")
        if answer is None:
            return None
        if answer.better == "tie":
            return 0.5
        return 1.0 if (answer.better == "A") != swap else 0.0

    def _pairs(self, evaluator: Any, topic: str, conversation: str, texts: dict[str, str],
               ctx: ItemContext) -> tuple[dict[str, float], int]:  # fmt: skip
        """Win score per pair (a failed comparison counts as a tie) and how many comparisons failed."""
        out, failed = {}, 0
        for a, b in PAIRS:
            if texts.get(a) and texts.get(b):
                swap = ctx.rng.random() < 0.5
                score = self._prefer(evaluator, topic, conversation, texts[a], texts[b], swap)
                failed += score is None
                out[f"{a}_vs_{b}"] = 0.5 if score is None else score
        return out, failed

    def _run(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        row, gold = item.data["row"], item.data["gold"]
        topic, conversation = str(row.get("lesson_topic") or ""), conversation_lines(row)
        teacher, evaluator = ctx.model("teacher"), ctx.model("evaluator")
        if teacher.is_scripted:
            decided = rule_decisions(RULE_DECISION).dump()
        else:
            decided = decide(teacher, topic=topic, conversation=conversation, rules=RULE_DECISION).dump()
        scripted = {"teacher": teacher.is_scripted, "evaluator": evaluator.is_scripted}
        result: dict[str, Any] = {"id": item.id, "gold": gold, "model": decided, "published": item.data["published"],
                                  "scripted": scripted}  # fmt: skip
        if self.ablation and not teacher.is_scripted:
            conditions = {"expert": {s: gold[s] for s in STEPS}, "model": {s: decided[s] for s in STEPS},
                          "random": random_decisions(ctx.rng), "none": None}  # fmt: skip
            texts = {c: write_response(teacher, topic=topic, conversation=conversation, decisions=d)
                     for c, d in conditions.items()}  # fmt: skip
            result["responses"] = texts
            written = {k: v for k, v in texts.items() if v}
            result["ablation"], result["judge_failed.ablation"] = self._pairs(evaluator, topic, conversation, written,
                                                                             ctx)  # fmt: skip
        published = item.data.get("responses") or {}
        if self.published_ablation and published:
            result["published_ablation"], result["judge_failed.published_ablation"] = self._pairs(
                evaluator, topic, conversation, published, ctx)
        return result

    async def run_item(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        """Decide steps A, B, C for one row (and, with a real teacher, write and judge the four responses)."""
        return await asyncio.to_thread(self._run, item, ctx)

    # -- metrics -----------------------------------------------------------------------------------------------

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """Accuracy and macro-F1 per step and decision maker on the coded rows; win rates per pair; counts."""
        summary: dict[str, Any] = {"rows": len(results)}
        if not results:
            return summary
        makers = ["model", *[m for m in PUBLISHED if any(m in r["published"] for r in results)], "majority"]
        for step in STEPS:
            scored = [r for r in results if step not in r["gold"]["mapped"]]
            summary[f"mapped.{step}"] = len(results) - len(scored)
            gold = [r["gold"][step] for r in scored]
            majority = Counter(gold).most_common(1)[0][0] if gold else None
            for maker in makers:
                if maker == "model":
                    pred = [r["model"][step] for r in scored]
                elif maker == "majority":
                    pred = [majority] * len(scored)
                else:
                    rows = [r for r in scored if maker in r["published"]]
                    if not rows:
                        continue
                    pred = [r["published"][maker].get(step) or "(unread)" for r in rows]
                    gold_m = [r["gold"][step] for r in rows]
                    summary[f"{step}.{maker}.accuracy"] = _acc_ci(gold_m, pred)
                    summary[f"{step}.{maker}.macro_f1"] = macro_f1(gold_m, pred).to_dict()
                    summary[f"{step}.{maker}.unread"] = sum(p == "(unread)" for p in pred)
                    continue
                summary[f"{step}.{maker}.accuracy"] = _acc_ci(gold, pred)
                summary[f"{step}.{maker}.macro_f1"] = macro_f1(gold, pred).to_dict()
        by = Counter(b for r in results for b in (r["model"].get("by") or {}).values())
        summary["decisions.model"] = by.get("model", 0)
        summary["decisions.rules"] = by.get("rules", 0)
        summary["decisions.replaced"] = sum(len(r["model"].get("replaced") or {}) for r in results)
        summary["decisions.rules_share"] = mean([float(b == "rules") for r in results
                                                 for b in (r["model"].get("by") or {}).values()]).to_dict()  # fmt: skip
        for source in ("ablation", "published_ablation"):
            for a, b in PAIRS:
                scores = [r[source][f"{a}_vs_{b}"] for r in results if f"{a}_vs_{b}" in (r.get(source) or {})]
                if scores:
                    summary[f"{source}.{a}_vs_{b}"] = bootstrap(lambda s: sum(s) / len(s), scores).to_dict()
            summary[f"{source}.judge_failed"] = sum(int(r.get(f"judge_failed.{source}") or 0) for r in results)
            summary[f"{source}.compared"] = sum(len(r.get(source) or {}) for r in results)
        summary["judge_scripted"] = any(r["scripted"]["evaluator"] for r in results)
        summary["teacher_scripted"] = any(r["scripted"]["teacher"] for r in results)
        return summary

    def report(self, summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
        """The decision table (rows: decision makers; columns: steps) and the ablation win rates."""
        m = metrics_of(summary)
        if not m.get("rows"):
            return "No rows.\n"
        model_name = "rules (scripted teacher)" if m.get("teacher_scripted") else "configured teacher model"
        names = {"model": model_name, **PUBLISHED, "majority": "majority label (of the scored rows)"}
        lines = ["### Decisions against the expert (accuracy, macro-F1 with 95% bootstrap intervals)", "",
                 "| decided by | A error acc | A macro-F1 | B strategy acc | B macro-F1 | C intention acc "
                 "| C macro-F1 |",
                 "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for maker, label in names.items():
            cells = []
            for step in STEPS:
                for metric in ("accuracy", "macro_f1"):
                    value = m.get(f"{step}.{maker}.{metric}")
                    cells.append(" ".join(format_metric(value)[:2]) if value else "–")
            if any(c != "–" for c in cells):
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
        n = {s: (m["rows"] - m.get(f"mapped.{s}", 0)) for s in STEPS}
        lines += ["", f"Scored rows: A {n['error']}, B {n['strategy']}, C {n['intention']} of {m['rows']}; the "
                  f"expert wrote free text instead of a code in {m.get('mapped.error', 0)} / "
                  f"{m.get('mapped.strategy', 0)} / {m.get('mapped.intention', 0)} rows (mapped to no_error / "
                  "other, not scored). A published answer that cannot be read counts as wrong "
                  + ", ".join(f"({PUBLISHED[k]}: {m.get(f'error.{k}.unread', 0)} in A)" for k in PUBLISHED
                              if f"error.{k}.unread" in m) + "."]  # fmt: skip
        lines += ["", f"Decisions of the configured teacher: {m.get('decisions.model', 0)} by the model, "
                  f"{m.get('decisions.rules', 0)} by the rules ({m.get('decisions.replaced', 0)} of them replaced an "
                  "invalid model decision; the others are failed calls or the scripted teacher)."]  # fmt: skip
        check = " (scripted evaluator: MRBench labels by rules — this table checks the pipeline, not quality)"
        for source, title in (("ablation", "responses of the configured teacher"),
                              ("published_ablation", "GPT-4's published responses")):  # fmt: skip
            rows = [(a, b) for a, b in PAIRS if f"{source}.{a}_vs_{b}" in m]
            if not rows:
                if source == "ablation":
                    lines += ["", "Decision ablation of the configured teacher: not run (it needs a real teacher "
                              "model, or `ablation=false`)."]  # fmt: skip
                continue
            lines += ["", f"### Decision ablation: {title}{check if m.get('judge_scripted') else ''}", "",
                      "| pair (first vs second) | win rate of first (ties half) | 95% CI | n |",
                      "| --- | --- | --- | --- |"]  # fmt: skip
            for a, b in rows:
                value, unc, count = format_metric(m[f"{source}.{a}_vs_{b}"])
                lines.append(f"| {a} vs {b} | {value} | {unc} | {count} |")
            if m.get(f"{source}.judge_failed"):
                lines += ["", f"The evaluator's call failed on {m[f'{source}.judge_failed']} of "
                          f"{m.get(f'{source}.compared', 0)} comparisons; they count as ties above."]  # fmt: skip
        return "\n".join(lines) + "\n"


def _acc_ci(gold: list[str], pred: list[str]) -> dict[str, Any]:
    """Accuracy with a bootstrap 95% interval (and its binomial SE dropped, so the interval is what prints)."""
    point = accuracy(gold, pred)
    ci = bootstrap(lambda rows: sum(g == p for g, p in rows) / len(rows), list(zip(gold, pred, strict=True)))
    return {**point.to_dict(), "se": None, "ci_low": ci.ci_low, "ci_high": ci.ci_high}
