"""Draw the bundled Bridge sample: the first 40 rows of the test split and the published outputs on them.

Usage: python scripts/make_bridge_sample.py DIR  (DIR holds the pinned files laid out by registry key, e.g. the
project's shared data folder). Writes `pedagraph/data/samples/bridge/` (see its SAMPLE.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pedagraph.datasets import get_dataset

ROWS = 40
OUT = Path(__file__).resolve().parents[1] / "pedagraph" / "data" / "samples"


def conversation_key(row: dict) -> str:
    """A conversation's identity: its id and its turns (ids repeat across conversations of one session)."""
    return json.dumps([row.get("c_id"), row.get("c_h")], sort_keys=True)


def main(root: Path) -> None:
    """Write the sample files under OUT, keyed like the registry."""
    full = json.loads((root / "bridge" / "test.json").read_text(encoding="utf-8"))
    test = full[:ROWS]
    keep = {conversation_key(r) for r in test}
    for file in get_dataset("bridge").files:
        if file.key in ("bridge/train.json", "bridge/validation.json"):
            continue
        rows = json.loads((root / file.key).read_text(encoding="utf-8"))
        if len(rows) == len(full):  # row i is test row i (the test split, steps A and B/C, expert responses)
            picked = rows[:ROWS]
        else:  # the decision ablation's responses: the sample's conversations among them
            picked = [r for r in rows if conversation_key(r) in keep]
        target = OUT / file.key
        target.parent.mkdir(parents=True, exist_ok=True)
        rows_text = ",\n".join(json.dumps(r, ensure_ascii=False) for r in picked)  # one row a line
        target.write_text(f"[\n{rows_text}\n]\n", encoding="utf-8")
        print(f"{file.key}: {len(picked)} rows")  # noqa: T201 - a script reporting what it wrote


if __name__ == "__main__":
    main(Path(sys.argv[1]))
