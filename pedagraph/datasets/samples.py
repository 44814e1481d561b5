"""The bundled samples: the first few dozen rows of every registry file, shipped in the package.

A sample lives under `pedagraph/data/samples/<key>` (key `gsm8k/test.jsonl` -> `samples/gsm8k/test.jsonl`), with a
`SAMPLE.md` per dataset folder (licence, citation, how it was drawn). The registry falls back to a sample when no
full copy is configured or fetched, so every suite and tab runs on a fresh install; `pedagraph data fetch` gets
the full files. `scripts/make_samples.py` draws the samples again from a full copy with `draw`: the first `ROWS[key]`
rows in file order (files that match row for row keep the same rows), each row byte-identical for JSON Lines,
re-serialised with the same layout for JSON arrays and CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from pedagraph.datasets.registry import DATASETS, Dataset
from pedagraph.errors import DataError

SAMPLE_NOTE = "SAMPLE.md"

ROWS: dict[str, int | None] = {
    "gsm8k/test.jsonl": 40,
    "gsm8k/train.jsonl": 40,
    "gsm8k/test_socratic.jsonl": 40,  # the same problems as the gsm8k/test.jsonl sample (the files match row for row)
    "mathdial/test.jsonl": 40,
    "mathdial/test.csv": 40,  # the same dialogues as the mathdial/test.jsonl sample
    "mathdial/example.jsonl": None,  # 2 rows: the whole file
    "mrbench/MRBench/MRBench_V1.json": 24,
    "mrbench/MRBench/MRBench_V2.json": 24,
    "mrbench/BEA_Shared_Task_2025_Datasets/mrbench_v3_devset.json": 24,
    "strategyqa/dev.json": 40,
    "strategyqa/train.json": 48,  # the ToM pool: calibration items plus the student's, teacher's and mental-model demos
    "strategyqa/strategyqa_test.json": 40,
    "strategyqa/harmful_explanations.json": None,  # 12 items: the whole file
    "ecqa/cqa_data_test.csv": 40,
    "ecqa/cqa_data_val.csv": 48,  # the ToM pool of ECQA
    "bridge/test.json": 40,
    "bridge/train.json": 40,
    "bridge/validation.json": 40,
    # Bridge's published outputs: row i of these is test row i (the same 210 conversations)
    "bridge/outputs/step_a_error/gpt4.json": 40,
    "bridge/outputs/step_a_error/chatgpt.json": 40,
    "bridge/outputs/step_a_error/llama-2-70b-chat.json": 40,
    "bridge/outputs/step_bc_strategy_intention/gpt4.json": 40,
    "bridge/outputs/step_bc_strategy_intention/chatgpt.json": 40,
    "bridge/outputs/step_bc_strategy_intention/llama-2-70b-chat.json": 40,
    "bridge/outputs/responses/expert_gpt4.json": 40,
    # the decision ablation's 100 conversations: those of the test sample (see FOLLOWS)
    "bridge/outputs/responses/gpt4_gpt4.json": 40,
    "bridge/outputs/responses/none_gpt4.json": 40,
    "bridge/outputs/responses/random_gpt4.json": 40,
}
"""Rows kept per registry file key (None: the whole file; for a key in FOLLOWS, the leader's rows drawn)."""

FOLLOWS: dict[str, str] = {
    "bridge/outputs/responses/gpt4_gpt4.json": "bridge/test.json",
    "bridge/outputs/responses/none_gpt4.json": "bridge/test.json",
    "bridge/outputs/responses/random_gpt4.json": "bridge/test.json",
}
"""Files not row-aligned with their leader: their sample keeps the rows whose conversation (id and turns) is among
the leader's first `ROWS[leader]` rows, so a run on the samples pairs them as on the full files."""



def samples_root() -> Path:
    """The folder of the bundled samples inside the installed package."""
    return Path(str(resources.files("pedagraph") / "data" / "samples"))


def sample_path(key: str) -> Path | None:
    """The bundled sample of the registry file `key`, or None when there is none."""
    path = samples_root() / key.replace("\\", "/").strip().strip("/")
    return path if path.is_file() else None


def folder(key: str) -> str:
    """The dataset folder of a key: its first path component (`gsm8k/test_socratic.jsonl` -> `gsm8k`)."""
    return key.split("/", 1)[0]


def draw(key: str, source: Path, leader: Path | None = None) -> bytes:
    """The sample of the file `key` drawn from the full file `source` (its first `ROWS[key]` rows).

    A key in FOLLOWS needs `leader`, the full file of its leader: the rows of the leader's sampled conversations.
    """
    if key not in ROWS:
        raise DataError(f"no sample rule for {key}", hint="add it to pedagraph.datasets.samples.ROWS")
    n = ROWS[key]
    raw = source.read_bytes()
    if n is None:
        return raw
    suffix = Path(key).suffix
    if key in FOLLOWS:
        if leader is None:
            raise DataError(f"the sample of {key} follows {FOLLOWS[key]}, which was not given")
        from pedagraph.methods.copilot.bridge import conversation_key

        keep = {conversation_key(r) for r in json.loads(leader.read_bytes())[: ROWS[FOLLOWS[key]]]}
        rows = [r for r in json.loads(raw) if conversation_key(r) in keep]
        return (json.dumps(rows, indent=4, ensure_ascii=False) + "\n").encode("utf-8")
    if suffix == ".jsonl":
        lines = raw.decode("utf-8").splitlines(keepends=True)
        return "".join(lines[:n]).encode("utf-8")
    if suffix == ".json":
        rows = json.loads(raw)
        return (json.dumps(rows[:n], indent=4, ensure_ascii=False) + "\n").encode("utf-8")
    if suffix == ".csv":
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator="\n").writerows(rows[: n + 1])  # the header and n rows
        return out.getvalue().encode("utf-8")
    raise DataError(f"cannot sample {key}: unknown file type {suffix!r}")


def datasets_of(folder_name: str) -> list[Dataset]:
    """The registry datasets whose files live in a dataset folder."""
    return [d for d in DATASETS if any(folder(f.key) == folder_name for f in d.files)]


def sample_note(folder_name: str, keys: Iterable[str], root: Path) -> str:
    """SAMPLE.md of a dataset folder: what the sample holds, its licence and citation, how it was drawn."""
    lines = [f"# Bundled sample: `{folder_name}/`", ""]
    lines += [
        "A small sample shipped inside pedagraph so that every suite and app tab runs on a fresh install with",
        "nothing downloaded. A run on it says so (`run.json` → `data.source.origin` is `sample`, and the report's",
        f"data line). The full files are one command away: `pedagraph data fetch {datasets_of(folder_name)[0].name}`.",
        "",
        "| file | rows | sha256 of the sample | drawn from |",
        "| --- | --- | --- | --- |",
    ]
    for key in sorted(keys):
        path = root / key
        rows = ROWS[key]
        count = f"first {rows}" if rows is not None else "all"
        if key in FOLLOWS:
            count = f"those of the first {ROWS[FOLLOWS[key]]} `{FOLLOWS[key].split('/', 1)[1]}` conversations"
        digest = _sha256(path.read_bytes())
        lines.append(f"| `{key.split('/', 1)[1]}` | {count} | `{digest[:16]}…` | {_upstream(key)} |")
    lines += ["", "## Licence and citation", ""]
    for dataset in datasets_of(folder_name):
        lines.append(f"- {dataset.title}: licence {dataset.licence} ({dataset.licence_url}); cite {dataset.citation}. "
                     f"Source: {dataset.homepage}.")  # fmt: skip
    share_alike = any("SA" in d.licence for d in datasets_of(folder_name))
    if share_alike:
        lines += ["", "The sample is redistributed under the same licence as the dataset (share-alike), with the",
                  "attribution above; it is not covered by pedagraph's MIT licence."]  # fmt: skip
    lines += [
        "",
        "## How it was drawn",
        "",
        "`python scripts/make_samples.py --from DIR` (DIR holds the full files laid out by registry key) keeps the",
        "first rows of each file in file order: JSON Lines rows byte for byte, JSON arrays re-indented with 4",
        "spaces, CSV rows (header first) re-serialised with Python's csv module (minimal quoting, `\\n` line ends).",
        "Files that match row for row (GSM8K test and its Socratic version; MathDial's .jsonl and .csv) keep the",
        "same rows; Bridge's published outputs keep the rows of the test sample's conversations. Nothing else is",
        "changed. Drawing again from the same full files gives the same bytes.",
        "",
    ]
    return "\n".join(lines)


def _upstream(key: str) -> str:
    from pedagraph.datasets.store import find_file

    found = find_file(key)
    if found is None:
        return "?"
    file = found[1]
    return f"`{file.repo}` @ `{file.commit[:12]}`, `{file.path}`"


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def make_samples(source: Path, dest: Path | None = None, keys: Iterable[str] | None = None) -> list[Path]:
    """Draw every sample from the full copy `source` (laid out by key or as upstream clones) into `dest`."""
    from pedagraph.datasets.store import in_dir

    dest = dest or samples_root()
    written: list[Path] = []
    by_folder: dict[str, list[str]] = {}
    for key in keys or ROWS:
        src = in_dir(key, source)
        if src is None:
            raise DataError(f"{key} is not in {source}", hint="pass --from DIR holding the full files")
        leader = in_dir(FOLLOWS[key], source) if key in FOLLOWS else None
        out = dest / key
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(draw(key, src, leader))
        written.append(out)
        by_folder.setdefault(folder(key), []).append(key)
    for name, folder_keys in by_folder.items():
        note = dest / name / SAMPLE_NOTE
        note.write_text(sample_note(name, folder_keys, dest), encoding="utf-8")
        written.append(note)
    return written
