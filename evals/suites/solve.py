"""The `solve` suite: a model answers GSM8K, StrategyQA or ECQA questions; answers are extracted and scored.

Data formats are detected from the file: GSM8K JSON Lines (`question`, `answer` ending in `#### N`),
StrategyQA JSON (a list of `question`, `answer: bool`, `qid`), ECQA CSV (`q_text`, `q_op1`..`q_op5`, `q_ans`),
or generic JSON Lines (`question`, `answer` as a number, yes/no or bool, optional `choices`, `id`, `dataset`).
It is the base the teacher–student suites build on: the same extraction decides what a student answered.
"""

from __future__ import annotations

import csv
import json
import re
import string
from pathlib import Path
from typing import Any

from pedagraph.evals.metrics import proportion
from pedagraph.evals.runner import Item, ItemContext, Suite, register_suite

from pedagraph.answers import check_answer, compare, find_numbers
from pedagraph.errors import DataError, PedagraphError
from pedagraph.llm.scripted import SCRIPTED_NOTICE

__all__ = ["SolveSuite", "extract_choice", "extract_number", "extract_yes_no", "load_solve_items"]

LETTERS = string.ascii_uppercase
_PROMPTS = {"number": "solve/gsm8k", "yes_no": "solve/yes_no", "choice": "solve/multiple_choice"}

# "Answer: ...", "Final answer is ...", "**Answer:** ..." — the text after the cue, to the end of the line.
_ANSWER_CUE = re.compile(
    r"(?i)(?:\bfinal\s+answer|\bthe\s+answer|\banswer)\s*(?:\*\*)?\s*(?:is\s*:?|:|：|=|-)\s*(?:\*\*)?\s*([^\n]*)"
)
_HASHES = re.compile(r"####\s*([^\n]*)")


def _answer_fragments(text: str) -> list[str]:
    """Texts after answer cues ("Answer:", "the answer is", "####"), in order of appearance."""
    found = [(m.start(), m.group(1)) for m in _ANSWER_CUE.finditer(text)]
    found += [(m.start(), m.group(1)) for m in _HASHES.finditer(text)]
    # the answer ends with its sentence: "the answer is 7 apples. Check: 7 - 4 = 3." states 7
    return [re.split(r"(?<=[.!?;])\s", frag, maxsplit=1)[0].strip(" *_`") for _, frag in sorted(found)]


# ----------------------------------------------------------------------------------------------------------
# Numbers
# ----------------------------------------------------------------------------------------------------------


def _number_in_fragment(fragment: str) -> tuple[float, tuple[float, ...]] | None:
    """The number an answer line states: after the last `=` if any, else the first (parentheses ignored)."""
    frag = re.sub(r"\([^)]*\)", " ", fragment)
    if "=" in frag:
        frag = frag.rsplit("=", 1)[1]
    matches = find_numbers(frag)
    if not matches:
        return None
    return matches[0].value, matches[0].values


def extract_number(text: str) -> tuple[float | None, tuple[float, ...], str | None]:
    """The final number of a reply: (value, alternative readings, method) or (None, (), None).

    Preference: the last answer cue ("Answer:", "the answer is", "####"); else pedagraph.answers' reading of the
    reply (answer/result cues, then the last stated number); a computation left undone or several competing
    final numbers count as no answer.
    """
    for frag in reversed(_answer_fragments(text)):
        got = _number_in_fragment(frag)
        if got is not None:
            return got[0], got[1], "answer_line"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    check = check_answer(text, 0.0)
    if check.verdict in ("correct", "incorrect") and check.value is not None:
        if lines:
            last = find_numbers(lines[-1])
            if last and any(compare(v, check.value) for v in last[-1].values):
                return check.value, last[-1].values, "last_line"
        return check.value, (check.value,), "cue"
    return None, (), None


# ----------------------------------------------------------------------------------------------------------
# Yes / no
# ----------------------------------------------------------------------------------------------------------

_YES = {"yes": True, "true": True, "no": False, "false": False}
_NOT_AN_ANSWER = re.compile(r"(?i)\byes\s*(?:/|or|-or-)\s*no\b|\bno\s*(?:/|or)\s*yes\b|\btrue\s*(?:/|or)\s*false\b")
_YES_NO_WORD = re.compile(r"(?i)\b(yes|no|true|false)\b")
_NEGATED = re.compile(r"(?i)\b(?:not|n't|never)\s+(?:a\s+)?$")


def _decisive_yes_no(fragment: str) -> bool | None:
    """Yes/no at the start of an answer fragment ("No.", "yes, because", "not true" -> False)."""
    frag = fragment.strip(" *_`\"'(").lower()
    m = re.match(r"(not\s+|n't\s+)?(yes|no|true|false)\b", frag)
    if not m:
        return None
    value = _YES[m.group(2)]
    return (not value) if m.group(1) else value


def extract_yes_no(text: str) -> tuple[bool | None, str | None]:
    """The yes/no answer of a reply: (answer, method) or (None, None).

    Preference: the last answer cue ("Answer: No", "the answer is yes"); else a reply or last line that starts
    with yes/no; else a yes/no word standing alone (followed by punctuation or the end) in the last line, then
    anywhere (first such). "yes or no" echoes are ignored, "no" used as a determiner ("no one", "there is no
    evidence") does not count, and a negated "not true" reads as no.
    """
    cleaned = _NOT_AN_ANSWER.sub(" ", text)
    for frag in reversed(_answer_fragments(cleaned)):
        value = _decisive_yes_no(frag)
        if value is not None:
            return value, "answer_line"
    lines = [line.strip() for line in cleaned.strip().splitlines() if line.strip()]
    if not lines:
        return None, None
    for line, method in ((lines[0], "first_word"), (lines[-1], "last_line")):
        value = _decisive_yes_no(line)
        if value is not None and (method == "first_word" or len(lines) > 1):
            return value, method

    def standalone(segment: str) -> list[bool]:
        out = []
        for m in _YES_NO_WORD.finditer(segment):
            after = segment[m.end() :]
            if re.match(r"\s*(?:[.,!;:)\]*]|$)", after) or re.match(r"\s*(?:it|that|this)\b", after, re.I):
                value = _YES[m.group(1).lower()]
                if _NEGATED.search(segment[: m.start()]):
                    value = not value
                out.append(value)
        return out

    last = standalone(lines[-1])
    if last and len(set(last)) == 1:
        return last[-1], "last_line"
    anywhere = standalone(cleaned)
    if anywhere:
        return anywhere[0], "first_decisive"
    return None, None


# ----------------------------------------------------------------------------------------------------------
# Multiple choice
# ----------------------------------------------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split())


def _choice_in_fragment(fragment: str, options: list[str], *, strict: bool = False) -> int | None:
    """An option named by letter ("C", "(c)", "C) text"), number ("3") or text in an answer fragment."""
    frag = fragment.strip(" *_`\"'")
    letters = LETTERS[: len(options)]
    m = re.match(rf"^(?:option\s+|choice\s+)?\(?([{letters}])\)?(?=$|[\s.):,;])", frag, re.I)
    if m and (m.group(1).isupper() or re.match(r"^\(?[a-z](?:\)|\.|:|$)", frag)):
        return letters.index(m.group(1).upper())
    m = re.match(rf"^(?:option\s+|choice\s+)?\(?([1-{len(options)}])\)?(?=$|[\s.):,;])", frag, re.I)
    if m and len(options) <= 9:
        return int(m.group(1)) - 1
    if strict:
        return None
    body = f" {_norm(frag)} "
    hits = [(len(_norm(opt)), i) for i, opt in enumerate(options) if _norm(opt) and f" {_norm(opt)} " in body]
    if not hits:
        return None
    hits.sort(reverse=True)
    best_len, best = hits[0]
    best_text = _norm(options[best])
    others = [i for n, i in hits[1:] if _norm(options[i]) not in best_text]
    return None if others else best


def extract_choice(text: str, options: list[str]) -> tuple[int | None, str | None]:
    """The option a reply picks: (index, method) or (None, None).

    Preference: the last answer cue ("Answer: C", "the answer is (c) boss", "Answer: have knowledge"); else
    the last line as an option letter or text; else the last "option C" / "(C)" mention. Two different options
    named at the same place count as no answer.
    """
    for frag in reversed(_answer_fragments(text)):
        index = _choice_in_fragment(frag, options)
        if index is not None:
            return index, "answer_line"
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if lines:
        index = _choice_in_fragment(lines[-1], options, strict=len(lines[-1]) > 60)
        if index is not None:
            return index, "last_line"
    letters = LETTERS[: len(options)]
    mentions = list(re.finditer(rf"(?:\b(?:option|choice)\s+\(?([{letters}])\)?\b|\(([{letters}])\))", text, re.I))
    if mentions:
        m = mentions[-1]
        return letters.index((m.group(1) or m.group(2)).upper()), "mention"
    return None, None


# ----------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------


def _gold_number(answer: Any, where: str) -> float:
    if isinstance(answer, bool):
        raise DataError(f"{where}: expected a numeric answer, got {answer!r}")
    if isinstance(answer, (int, float)):
        return float(answer)
    text = str(answer)
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    matches = find_numbers(text.replace(",", ""))
    if not matches:
        raise DataError(f"{where}: no number in the answer {text.strip()[:60]!r}")
    return matches[-1].value


def _generic_item(row: Any, index: int, stem: str, where: str) -> Item:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    question = row.get("question") or row.get("q_text")
    if not isinstance(question, str) or not question.strip():
        raise DataError(f"{where}: no 'question' text", hint="each item needs 'question' and 'answer'")
    if "answer" not in row or row["answer"] is None:
        raise DataError(f"{where}: no 'answer'", hint="the solve suite needs gold answers to score")
    answer = row["answer"]
    choices = row.get("choices") or row.get("options")
    gsm8k = isinstance(answer, str) and "####" in answer
    dataset = str(row.get("dataset") or ("gsm8k" if gsm8k else stem))
    item_id = str(row.get("id") or row.get("qid") or (f"gsm8k-{index}" if gsm8k else f"{stem}-{index}"))
    data: dict[str, Any] = {"dataset": dataset, "question": question.strip()}
    if choices:
        if not isinstance(choices, list) or len(choices) < 2 or len(choices) > 26:
            raise DataError(f"{where}: 'choices' must be a list of 2 to 26 options")
        options = [str(c) for c in choices]
        gold: int | None = None
        if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(options):
            gold = answer
        elif isinstance(answer, str) and answer.strip().upper() in LETTERS[: len(options)] and len(answer.strip()) == 1:
            gold = LETTERS.index(answer.strip().upper())
        elif str(answer) in options:
            gold = options.index(str(answer))
        if gold is None:
            raise DataError(f"{where}: answer {answer!r} is none of the choices")
        data.update(kind="choice", options=options, gold=gold)
    elif isinstance(answer, bool) or (isinstance(answer, str) and answer.strip().lower() in _YES):
        data.update(kind="yes_no", gold=answer if isinstance(answer, bool) else _YES[answer.strip().lower()])
    else:
        data.update(kind="number", gold=_gold_number(answer, where))
    return Item(item_id, data)


def _load_jsonl(path: Path) -> list[Item]:
    from pedagraph.datasets import jsonl_rows

    items: list[Item] = []
    for number, row in jsonl_rows(path):
        items.append(_generic_item(row, len(items), path.stem, f"{path}: line {number}"))
    return items


def _load_json(path: Path) -> list[Item]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(rows, dict):
        rows = rows.get("data") or rows.get("examples") or rows.get("items")
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a JSON list of questions")
    stem = "strategyqa" if rows and isinstance(rows[0], dict) and "qid" in rows[0] else path.stem
    items = []
    for i, row in enumerate(rows):
        if isinstance(row, dict) and "qid" in row and "answer" not in row:
            raise DataError(f"{path}: item {i} has no answer (the StrategyQA test split is unlabelled)",
                            hint="use strategyqa/dev.json or train.json")  # fmt: skip
        if isinstance(row, dict) and stem == "strategyqa":
            row = {**row, "dataset": row.get("dataset", "strategyqa")}
        items.append(_generic_item(row, i, stem, f"{path}: item {i}"))
    return items


def _load_csv(path: Path) -> list[Item]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = set(reader.fieldnames or [])
        needed = {"q_text", "q_ans", *(f"q_op{i}" for i in range(1, 6))}
        if not needed <= fields:
            raise DataError(f"{path}: not an ECQA CSV (missing columns {', '.join(sorted(needed - fields))})")
        items = []
        for i, row in enumerate(reader):
            where = f"{path}: row {i + 2}"
            options = [row[f"q_op{k}"].strip() for k in range(1, 6)]
            answer = row["q_ans"].strip()
            if answer not in options:
                raise DataError(f"{where}: answer {answer!r} is none of the options")
            item_id = row.get("q_no") or f"ecqa-{i}"
            items.append(
                Item(
                    str(item_id),
                    {"dataset": "ecqa", "question": row["q_text"].strip(), "kind": "choice", "options": options,
                     "gold": options.index(answer)},  # fmt: skip
                )
            )
    return items


def load_solve_items(path: Path) -> list[Item]:
    """Read GSM8K (.jsonl), StrategyQA (.json), ECQA (.csv) or generic question/answer JSON Lines."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            items = _load_jsonl(path)
        elif suffix == ".json":
            items = _load_json(path)
        elif suffix == ".csv":
            items = _load_csv(path)
        else:
            raise DataError(f"{path}: unsupported file type {suffix or '(none)'}", hint="use .jsonl, .json or .csv")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not items:
        raise DataError(f"{path}: no questions found")
    return items


# ----------------------------------------------------------------------------------------------------------
# The suite
# ----------------------------------------------------------------------------------------------------------


def _render_prompt(data: dict[str, Any]) -> str:
    from pedagraph.prompts import render

    kind = data["kind"]
    if kind == "choice":
        choices = "\n".join(f"{LETTERS[i]}) {opt}" for i, opt in enumerate(data["options"]))
        return render(_PROMPTS[kind], question=data["question"], choices=choices)
    return render(_PROMPTS[kind], question=data["question"])


def score(data: dict[str, Any], reply: str) -> dict[str, Any]:
    """Extract the answer of `reply` for an item's kind and compare it with the gold answer."""
    kind, gold = data["kind"], data["gold"]
    if kind == "number":
        value, readings, method = extract_number(reply)
        correct = value is not None and any(compare(v, gold) for v in readings or (value,))
        return {"pred": value, "extraction": method, "correct": correct}
    if kind == "yes_no":
        answer, method = extract_yes_no(reply)
        return {"pred": answer, "extraction": method, "correct": answer is not None and answer == gold}
    index, method = extract_choice(reply, data["options"])
    return {
        "pred": index,
        "pred_text": data["options"][index] if index is not None else None,
        "extraction": method,
        "correct": index is not None and index == gold,
    }


@register_suite
class SolveSuite(Suite):
    """A model answers each question (reasoning, then a final answer line); the answer is extracted and scored."""

    name = "solve"
    description = "a model answers GSM8K / StrategyQA / ECQA questions; answers extracted and scored (accuracy ± SE)"
    roles = ("student",)
    default_data = "gsm8k/test.jsonl"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        if options:
            raise PedagraphError(f"the solve suite takes no options (got {', '.join(sorted(options))})")

    def load_items(self, path: Path) -> list[Item]:
        """GSM8K jsonl, StrategyQA json, ECQA csv or generic question/answer jsonl."""
        return load_solve_items(path)

    async def run_item(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        """Ask the student model, extract its answer, score it."""
        from langchain_core.messages import HumanMessage

        data = item.data
        prompt = _render_prompt(data)
        model = ctx.model("student")
        reply = await model.ainvoke([HumanMessage(content=prompt)])
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        scored = score(data, text)
        return {
            "dataset": data["dataset"],
            "kind": data["kind"],
            "gold": data["gold"],
            **scored,
            "model": model.model_spec,
            "scripted": model.is_scripted and SCRIPTED_NOTICE in text,
            "transcript": [{"role": "user", "content": prompt}, {"role": "assistant", "content": text}],
        }

    def summarize(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """Accuracy and extraction failure rate (overall, and per dataset when there are several)."""
        metrics = {
            "accuracy": proportion([bool(r["correct"]) for r in results]).to_dict(),
            "extraction_failure_rate": proportion([r["extraction"] is None for r in results]).to_dict(),
            "accuracy_when_extracted": proportion(
                [bool(r["correct"]) for r in results if r["extraction"] is not None]
            ).to_dict(),
        }
        datasets = sorted({r["dataset"] for r in results})
        if len(datasets) > 1:
            for ds in datasets:
                values = [bool(r["correct"]) for r in results if r["dataset"] == ds]
                metrics[f"accuracy[{ds}]"] = proportion(values).to_dict()
        return metrics

    def report(self, summary: dict[str, Any], results: list[dict[str, Any]]) -> str:
        """Per-dataset table, extraction methods and a note when replies were scripted."""
        lines = ["## Solve", "", "| dataset | n | accuracy | ± SE | extraction failures |"]
        lines.append("| --- | --- | --- | --- | --- |")
        for ds in sorted({r["dataset"] for r in results}):
            rows = [r for r in results if r["dataset"] == ds]
            acc = proportion([bool(r["correct"]) for r in rows])
            fail = proportion([r["extraction"] is None for r in rows])
            lines.append(f"| {ds} | {acc.n} | {acc.value:.3f} | {acc.se:.3f} | {fail.value:.1%} |")
        methods: dict[str, int] = {}
        for r in results:
            key = r["extraction"] or "none (failed)"
            methods[key] = methods.get(key, 0) + 1
        lines += ["", "Where the answer was found: " + ", ".join(f"{k} {v}" for k, v in sorted(methods.items())) + "."]
        if any(r.get("scripted") for r in results):
            lines += ["", "The replies were the **scripted** model's templates (it echoes the question), so "
                      "these scores are near zero by construction; configure one with `--model student=...`."]
        return "\n".join(lines)

    def plots(self, summary: dict[str, Any], results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
        """accuracy.png: accuracy per dataset with a standard-error bar."""
        import matplotlib.pyplot as plt

        datasets = sorted({r["dataset"] for r in results})
        stats = [proportion([bool(r["correct"]) for r in results if r["dataset"] == ds]) for ds in datasets]
        fig, ax = plt.subplots(figsize=(max(3.5, 1.4 * len(datasets) + 1.5), 3.2))
        ax.bar(datasets, [s.value or 0 for s in stats], yerr=[s.se or 0 for s in stats], capsize=6, color="#4c78a8")
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy (± SE)")
        model = results[0].get("model", "")
        ax.set_title(f"solve: {model}", fontsize=9)
        for x, s in enumerate(stats):
            ax.text(x, min(0.95, (s.value or 0) + (s.se or 0) + 0.03), f"n={s.n}", ha="center", fontsize=8)
        fig.tight_layout()
        path = out_dir / "accuracy.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return [path]
