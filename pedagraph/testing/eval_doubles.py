"""Suites with known failure behaviour for testing the eval runner's backends.

`WorkerKillingSolve` is the `solve` suite, except that the first attempt of each listed item kills the process
running it (SIGKILL, as the kernel's OOM killer or a lost node would). On the Ray backend that is a worker dying
mid-item: Ray runs the task again and the item must still appear exactly once, with the same result. With
`every_attempt`, the item kills every process that tries it (a poison item): it must end as an error.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pedagraph.evals.runner import Item, ItemContext
from pedagraph.evals.suites.solve import SolveSuite

__all__ = ["WorkerKillingSolve", "sum_items"]


def sum_items(path: Path, n: int) -> Path:
    """Write n generic `solve` items (`What is i plus i?` -> 2i) to a JSONL file, so no dataset is needed."""
    with path.open("w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"q{i}", "question": f"What is {i} plus {i}?", "answer": 2 * i}) + "\n")
    return path


class WorkerKillingSolve(SolveSuite):
    """The solve suite; the first attempt of each of `kill_items` kills its own process (marker files in `marks`)."""

    def __init__(self, kill_items: Iterable[str], marks: Path, *, every_attempt: bool = False) -> None:
        super().__init__({})
        self.kill_items = frozenset(kill_items)
        self.marks = Path(marks)
        self.every_attempt = every_attempt
        """Kill on every attempt (a poison item), not only the first."""

    def killed(self) -> list[str]:
        """The items whose first attempt killed its process."""
        return sorted(p.stem for p in self.marks.glob("*.killed"))

    async def run_item(self, item: Item, ctx: ItemContext) -> dict[str, Any]:
        """Kill this process on an item's first attempt when it is listed; otherwise run it as `solve` does."""
        mark = self.marks / f"{item.id}.killed"
        if item.id in self.kill_items and (self.every_attempt or not mark.exists()):
            mark.parent.mkdir(parents=True, exist_ok=True)
            mark.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return await super().run_item(item, ctx)
