"""Time to the first visible word of a model's reply, and to its end, through the tutor graph's stream.

What the learner waits for: from sending a message to the first token event that carries text (the stream
the app forwards to the browser), with a teacher behind the OpenAI-compatible stub (chunks of 4 characters,
`--stub-delay` seconds apart: a model writing ~100 characters a second) and with the tiny real model
(SmolLM2-135M, `--tiny N` turns). Run it from a checkout to measure that checkout (before/after a change):

    cd /work/main && .venv/bin/python /path/to/evals/bench_first_word.py --turns 8 --tiny 4

Usage: python evals/bench_first_word.py [--turns 8] [--stub-delay 0.04] [--tiny 0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["LANGSMITH_TRACING"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"
for _name in [n for n in os.environ if n.startswith(("PEDAGRAPH_MODEL", "PEDAGRAPH_TEACHER", "OPENAI_"))]:
    del os.environ[_name]
sys.path.insert(0, str(Path.cwd()))

PID = "gsm8k-sample-1"
REPLY = ("Good question. Think about what Janet does with her eggs each morning. Which numbers from the problem "
         "tell you how many eggs she uses, and what do you do with them? Try to write that step down.")  # fmt: skip
LEARNER = ["can I have a hint?", "I don't know where to start", "what should I do first?", "help me please"]


def first_words(model: Any, turns: int) -> list[tuple[float, float]]:
    """(seconds to the first visible word, seconds to the end of the turn), one per learner turn."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command
    from pedagraph.graphs.tutor import Context, build_graph

    graph = build_graph(checkpointer=InMemorySaver())
    out = []
    for i in range(turns):
        context = Context(learner_id=f"fw-{i}", teacher_model=model, leak_check=False)
        config = {"configurable": {"thread_id": f"fw-{i}-{time.monotonic_ns()}"}}
        graph.invoke({"problem_id": PID}, config, context=context)
        started, first = time.perf_counter(), None
        for chunk in graph.stream(Command(resume=LEARNER[i % len(LEARNER)]), config, context=context,
                                  stream_mode="custom"):  # fmt: skip
            if first is None and chunk.get("type") in ("token", "replace", "final") and chunk.get("text", "").strip():
                first = time.perf_counter() - started
        end = time.perf_counter() - started
        out.append((first if first is not None else end, end))
    return out


def _report(name: str, rows: list[tuple[float, float]]) -> None:
    firsts, ends = [r[0] for r in rows], [r[1] for r in rows]
    print(f"  {name:<34} first word median {statistics.median(firsts):6.3f} s (max {max(firsts):6.3f}); "
          f"whole turn median {statistics.median(ends):6.3f} s; n={len(rows)}")  # fmt: skip


def main() -> None:
    """Run the measurements and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=8, help="learner turns with the stub teacher")
    parser.add_argument("--stub-delay", type=float, default=0.04, help="seconds between the stub's 4-char chunks")
    parser.add_argument("--tiny", type=int, default=0, metavar="N", help="also N turns with the tiny real model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pedagraph-fw-") as home:
        os.environ["PEDAGRAPH_HOME"] = home
        from pedagraph.llm import get_model
        from pedagraph.testing.openai_stub import OpenAIStub

        print(f"time to the first visible word ({Path.cwd().name})")
        stub = OpenAIStub(reply_fn=lambda body: None if body.get("response_format") or body.get("tools") else REPLY,
                          stream_chunk_chars=4, stream_delay=args.stub_delay)  # fmt: skip
        with stub:
            model = get_model("teacher", model="openai:stub-model", base_url=stub.base_url)
            _report(f"stub, {args.stub_delay * 1000:.0f} ms per 4 chars", first_words(model, args.turns))
        if args.tiny:
            tiny = get_model("teacher", model="tiny", max_tokens=48)
            first_words(tiny, 1)  # load the model once before timing
            _report("tiny real model (SmolLM2-135M)", first_words(tiny, args.tiny))


if __name__ == "__main__":
    main()
