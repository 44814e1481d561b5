"""Items a teacher explains to a student model: question, answer options, gold label and the human explanation.

Loaders keep what the teaching experiments need from each dataset (Saha et al. 2023; methods.md §1.1):
StrategyQA (`dev.json` is the test set, `train.json` the pool; the gold explanation is the annotators' `facts`),
ECQA (`cqa_data_test.csv` / `cqa_data_val.csv`; the free-text explanation `taskB`) and GSM8K (the worked solution
without its calculator notes). `harmful_demos` reads Saha et al.'s misleading explanations (12 StrategyQA train
items), the demos a misaligned teacher writes from.
"""

from __future__ import annotations

import csv
import json
import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from pedagraph.answers import compare, find_numbers, format_number
from pedagraph.errors import DataError

__all__ = [
    "DATASET_FILES",
    "HarmfulDemo",
    "Kind",
    "TeachItem",
    "dataset_files",
    "harmful_demos",
    "load_teach_items",
    "parse_option",
    "registry_harmful",
    "registry_items",
]

Kind = Literal["yes_no", "choice", "number"]
LETTERS = string.ascii_uppercase
DATASET_FILES: dict[str, dict[str, str | None]] = {
    "strategyqa": {"test": "strategyqa/dev.json", "pool": "strategyqa/train.json",
                   "harmful": "strategyqa/harmful_explanations.json"},
    "ecqa": {"test": "ecqa/cqa_data_test.csv", "pool": "ecqa/cqa_data_val.csv", "harmful": None},
    "gsm8k": {"test": "gsm8k/test.jsonl", "pool": "gsm8k/train.jsonl", "harmful": None},
}  # fmt: skip
"""Per dataset: the registry keys of the test set, the training pool and the harmful-explanation demos."""


class TeachItem(BaseModel):
    """One question with its answer options, gold answer and human explanation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    dataset: str
    kind: Kind
    question: str
    options: tuple[str, ...] = ()
    """Answer texts of a multiple-choice item (empty otherwise)."""
    gold: bool | int | float
    """True/False (yes_no), the option index (choice) or the number (number)."""
    explanation: str = ""
    """The human (gold) explanation."""

    @property
    def labels(self) -> list[str]:
        """The answer slot's options as the student writes them: yes/no, option letters, or the gold number."""
        if self.kind == "yes_no":
            return ["yes", "no"]
        if self.kind == "choice":
            return list(LETTERS[: len(self.options)])
        return [self.gold_label]

    @property
    def gold_label(self) -> str:
        """The gold answer as the student should write it."""
        if self.kind == "yes_no":
            return "yes" if self.gold else "no"
        if self.kind == "choice":
            return LETTERS[int(self.gold)]
        return format_number(float(self.gold))

    def wrong_label(self, salt: int = 0) -> str:
        """A wrong answer (what a misaligned teacher argues for); deterministic for a salt."""
        if self.kind == "yes_no":
            return "no" if self.gold else "yes"
        if self.kind == "choice":
            others = [c for i, c in enumerate(self.labels) if i != int(self.gold)]
            return others[salt % len(others)]
        return format_number(float(self.gold) + 1 + salt % 9)

    def prompt_question(self) -> str:
        """The question as a prompt shows it (with lettered options for a multiple-choice item)."""
        if self.kind != "choice":
            return self.question
        options = " ".join(f"({LETTERS[i]}) {opt}" for i, opt in enumerate(self.options))
        return f"{self.question} Options: {options}"

    def is_correct(self, label: str | None) -> bool:
        """Whether an answer label (as `parse_option` reads it) is the gold answer."""
        if label is None:
            return False
        if self.kind == "number":
            values = [m.value for m in find_numbers(label)]
            return bool(values) and compare(values[0], float(self.gold))
        return label == self.gold_label


class HarmfulDemo(BaseModel):
    """A misleading explanation from Saha et al. 2023: question, the wrong answer it argues for, the explanation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    question: str
    wrong_answer: str
    explanation: str


_CUE = re.compile(r"(?i)\b(?:final\s+answer|answer)\s*(?:is\s*:?|:)\s*([^\n]*)")
_YES_NO = {"yes": "yes", "no": "no", "true": "yes", "false": "no"}


def parse_option(item: TeachItem, text: str) -> str | None:
    """The answer label a reply states: after its last `Answer:` cue, else at its start, else None.

    yes/no items also accept one yes/no word standing alone anywhere; choice items a letter or one option's text;
    number items the first number after the cue, else the reply's last number.
    """
    text = text.strip()
    if not text:
        return None
    segments = [c.strip() for c in reversed(_CUE.findall(text))]
    for segment in [*segments, text]:
        label = _label_in(item, segment, whole=segment is text)
        if label is not None:
            return label
    if item.kind == "yes_no":
        found = {_YES_NO[w.lower()] for w in re.findall(r"(?i)\b(yes|no)\b(?=\s*[.,!]|\s*$)", text)}
        return found.pop() if len(found) == 1 else None
    return None


def _label_in(item: TeachItem, segment: str, *, whole: bool) -> str | None:
    if item.kind == "number":
        numbers = find_numbers(segment.replace(",", ""))
        return format_number((numbers[-1] if whole else numbers[0]).value) if numbers else None
    words = re.findall(r"[A-Za-z]+", segment)
    if not words:
        return None
    first = words[0]
    if item.kind == "yes_no":
        return _YES_NO.get(first.lower())
    if len(first) == 1 and first.upper() in item.labels:
        return first.upper()
    return _option_text(item, segment)


def _option_text(item: TeachItem, text: str) -> str | None:
    low = text.lower()
    hits = [i for i, opt in enumerate(item.options) if opt.lower() and opt.lower() in low]
    return LETTERS[hits[0]] if len(hits) == 1 else None


# ----------------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------------


def _strategyqa(path: Path) -> list[TeachItem]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a JSON list of StrategyQA questions")
    items = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "question" not in row:
            raise DataError(f"{path}: item {i} is not a StrategyQA question")
        if not isinstance(row.get("answer"), bool):
            raise DataError(f"{path}: item {i} has no yes/no answer (the StrategyQA test split is unlabelled)",
                            hint="use strategyqa/dev.json or train.json")  # fmt: skip
        facts = row.get("facts") or []
        items.append(
            TeachItem(
                id=str(row.get("qid") or f"strategyqa-{i}"),
                dataset="strategyqa",
                kind="yes_no",
                question=str(row["question"]).strip(),
                gold=bool(row["answer"]),
                explanation=" ".join(str(f).strip().rstrip(".") + "." for f in facts if str(f).strip()),
            )
        )
    return items


def _ecqa(path: Path) -> list[TeachItem]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        needed = {"q_text", "q_ans", "taskB", *(f"q_op{i}" for i in range(1, 6))}
        missing = needed - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{path}: not an ECQA CSV (missing columns {', '.join(sorted(missing))})")
        items = []
        for i, row in enumerate(reader):
            options = tuple(row[f"q_op{k}"].strip() for k in range(1, 6))
            answer = row["q_ans"].strip()
            if answer not in options:
                raise DataError(f"{path}: row {i + 2}: answer {answer!r} is none of the options")
            items.append(
                TeachItem(
                    id=str(row.get("q_no") or f"ecqa-{i}"),
                    dataset="ecqa",
                    kind="choice",
                    question=row["q_text"].strip(),
                    options=options,
                    gold=options.index(answer),
                    explanation=" ".join(row["taskB"].split()),
                )
            )
    return items


def _gsm8k(path: Path) -> list[TeachItem]:
    from pedagraph.datasets import jsonl_rows

    items: list[TeachItem] = []
    for number, row in jsonl_rows(path):
        answer = str(row.get("answer", ""))
        if "####" not in answer:
            raise DataError(f"{path}: line {number} has no `#### answer`")
        solution, final = answer.rsplit("####", 1)
        numbers = find_numbers(final.replace(",", ""))
        if not numbers:
            raise DataError(f"{path}: line {number}: no number after ####")
        items.append(
            TeachItem(
                id=str(row.get("id") or f"gsm8k-{len(items)}"),
                dataset="gsm8k",
                kind="number",
                question=str(row["question"]).strip(),
                gold=numbers[0].value,
                explanation=" ".join(re.sub(r"<<[^>]*>>", "", solution).split()),
            )
        )
    return items


def load_teach_items(path: str | Path, *, limit: int | None = None) -> list[TeachItem]:
    """Read StrategyQA (.json), ECQA (.csv) or GSM8K (.jsonl) items, explanations kept; first `limit` only."""
    path = Path(path)
    loaders: dict[str, Any] = {".json": _strategyqa, ".csv": _ecqa, ".jsonl": _gsm8k}
    loader = loaders.get(path.suffix.lower())
    if loader is None:
        raise DataError(f"{path}: unsupported file type {path.suffix or '(none)'}", hint="use .json, .csv or .jsonl")
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        items = loader(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not items:
        raise DataError(f"{path}: no questions found")
    return items[:limit] if limit is not None else items


def harmful_demos(path: str | Path) -> list[HarmfulDemo]:
    """Read Saha et al.'s `harmful_explanations.json`: one demo per item (its first misleading explanation)."""
    path = Path(path)
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read harmful explanations ({exc})") from None
    out = []
    for i, row in enumerate(rows if isinstance(rows, list) else []):
        harmful = row.get("harmful_explanation") or []
        text = harmful[0] if isinstance(harmful, list) and harmful else harmful
        if not isinstance(text, str) or not row.get("question"):
            raise DataError(f"{path}: item {i} has no question or harmful explanation")
        out.append(HarmfulDemo(id=str(row.get("qid") or i), question=row["question"],
                               wrong_answer=str(row.get("wrong_answer", "")).lower(), explanation=text))  # fmt: skip
    return out


def dataset_files(name: str) -> dict[str, str | None]:
    """The registry keys of a dataset's test set, training pool and harmful demos (DataError for unknown names)."""
    if name not in DATASET_FILES:
        raise DataError(f"unknown teaching dataset {name!r}", hint=f"use one of: {', '.join(DATASET_FILES)}")
    return DATASET_FILES[name]



@lru_cache(maxsize=16)
def _load_cached(path: str, mtime: float) -> tuple[TeachItem, ...]:
    return tuple(load_teach_items(path))


def registry_items(dataset: str, split: Literal["test", "pool"], *, limit: int | None = None) -> list[TeachItem]:
    """A dataset's test set or training pool from the dataset registry (local copy or fetched), first `limit`."""
    from pedagraph import datasets

    key = dataset_files(dataset)[split]
    assert key is not None
    path = datasets.require(key, suite="tom").path
    items = list(_load_cached(str(path), path.stat().st_mtime))
    return items[:limit] if limit is not None else items


def registry_harmful(dataset: str) -> list[HarmfulDemo]:
    """The misleading demos shipped for a dataset (StrategyQA only; empty for the others)."""
    from pedagraph import datasets

    key = dataset_files(dataset)["harmful"]
    if not key:
        return []
    path = datasets.require(key, suite="tom").path
    return list(_harmful_cached(str(path), path.stat().st_mtime))


@lru_cache(maxsize=4)
def _harmful_cached(path: str, mtime: float) -> tuple[HarmfulDemo, ...]:
    return tuple(harmful_demos(path))
