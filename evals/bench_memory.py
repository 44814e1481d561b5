"""Benchmark the retrieval memory: ingest rate, query latency and retrieval quality, against brute-force numpy.

Index: every GSM8K test question is one chunk (its problem id is the target), padded with GSM8K train
questions (then train solutions) up to `--n-chunks`. Queries: every sub-question of the Socratic test split
(each step of `answer` starts with a sub-question followed by ` ** `). A query is a hit at k when its own
problem is among the top k. The same embeddings go through Chroma (HNSW, cosine) and an exact numpy search.

Run: .venv/bin/python evals/bench_memory.py [--data-dir DIR] [--n-chunks 10000]
(data: `--data-dir`, else PEDAGRAPH_DATA_DIR, else `pedagraph data fetch gsm8k gsm8k-socratic` into PEDAGRAPH_HOME)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# One BLAS thread for the numpy baseline: with two, a 10k x 384 matrix-vector product has p95 spikes of ~8 ms
# (thread wake-ups) on a 2-core machine. torch keeps its own thread pool (torch.get_num_threads()).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

_CALC = re.compile(r"<<[^>]*>>")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sub_questions(answer: str) -> list[str]:
    """Return the sub-questions of a Socratic GSM8K answer (the text before ` ** ` on each step)."""
    out = []
    for line in answer.splitlines():
        if " ** " in line and not line.startswith("####"):
            q = line.split(" ** ", 1)[0].strip()
            if q:
                out.append(q)
    return out


def build_corpus(
    data_dir: Path, n_chunks: int
) -> tuple[list[str], list[str], list[dict[str, Any]], list[tuple[str, int]]]:
    """Return chunk ids, texts, metadatas and (query, target problem index) pairs."""
    gsm = data_dir / "gsm8k"
    test = read_jsonl(gsm / "test_socratic.jsonl")
    if n_chunks < len(test):
        raise SystemExit(f"--n-chunks must be at least the {len(test)} test problems")
    ids, texts, metas = [], [], []
    queries: list[tuple[str, int]] = []
    for i, row in enumerate(test):
        ids.append(f"test-{i}")
        texts.append(row["question"].strip())
        metas.append({"split": "test", "problem": i, "source": "gsm8k/test_socratic.jsonl", "chunk_index": i})
        queries.extend((q, i) for q in sub_questions(row["answer"]))
    train = read_jsonl(gsm / "train.jsonl")
    padding = [("train-q", j, r["question"].strip()) for j, r in enumerate(train)]
    padding += [("train-a", j, _CALC.sub("", r["answer"].split("####")[0]).strip()) for j, r in enumerate(train)]
    for kind, j, text in padding:
        if len(ids) >= n_chunks:
            break
        ids.append(f"{kind}-{j}")
        texts.append(text)
        metas.append({"split": "train", "problem": j, "source": "gsm8k/train.jsonl", "chunk_index": j})
    if len(ids) < n_chunks:
        raise SystemExit(f"only {len(ids)} chunks available, fewer than --n-chunks {n_chunks}")
    return ids, texts, metas, queries


def pct(values: Sequence[float], q: float) -> float:
    """Percentile in milliseconds of values given in seconds."""
    return float(np.percentile(np.asarray(values), q) * 1000)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run fn and return its result and seconds."""
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def recall(ranked: list[list[int]], targets: list[int], k: int) -> float:
    """Share of queries whose target is in the first k results."""
    return sum(t in r[:k] for r, t in zip(ranked, targets, strict=True)) / len(targets)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="folder holding gsm8k/ (default: PEDAGRAPH_DATA_DIR, else PEDAGRAPH_HOME/data)")  # fmt: skip
    ap.add_argument("--n-chunks", type=int, default=10_000, help="chunks in the index (default %(default)s)")
    ap.add_argument("--k", type=int, default=5, help="results per query (default %(default)s)")
    ap.add_argument("--batch", type=int, default=64, help="embedding batch size (default %(default)s)")
    ap.add_argument("--e2e-queries", type=int, default=200, help="queries timed end to end (default %(default)s)")
    ap.add_argument("--home", type=Path, default=None, help="PEDAGRAPH_HOME to build the index in (default: temp)")
    args = ap.parse_args(argv)

    import torch

    from pedagraph.datasets import data_home, local_copy
    from pedagraph.memory import Memory
    from pedagraph.memory.embeddings import get_embedder

    ids, texts, metas, queries = build_corpus(args.data_dir or local_copy() or data_home(), args.n_chunks)
    n = len(ids)
    q_texts = [q for q, _ in queries]
    targets = [t for _, t in queries]
    id_to_problem = {cid: (m["problem"] if m["split"] == "test" else -1) for cid, m in zip(ids, metas, strict=True)}
    k = args.k

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}, numpy BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}, "
          f"Python {platform.python_version()}")  # fmt: skip
    print(f"load average at start (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"index: {n} chunks ({sum(m['split'] == 'test' for m in metas)} GSM8K test questions + padding); "
          f"queries: {len(queries)} Socratic sub-questions; k={k}")  # fmt: skip

    embedder, t_load = timed(get_embedder)
    print(f"model import + load: {t_load:.1f} s")

    tmp = None
    home = args.home
    if home is None:
        tmp = tempfile.TemporaryDirectory(prefix="pedagraph-bench-")
        home = Path(tmp.name)
    mem = Memory(home, embedder=embedder)
    if mem.count("materials"):
        mem.delete("materials", where={"split": {"$in": ["test", "train"]}})

    cpu0 = time.process_time()
    vectors, t_embed = timed(lambda: embedder.embed(texts, batch_size=args.batch))
    cpu_embed = time.process_time() - cpu0

    def add_all() -> None:
        for s in range(0, n, 1000):
            mem.add(
                "materials",
                texts[s : s + 1000],
                metas[s : s + 1000],
                ids[s : s + 1000],
                embeddings=vectors[s : s + 1000],
            )

    _, t_add = timed(add_all)
    assert mem.count("materials") == n
    print(f"ingest: embed {n / t_embed:.0f} chunks/s, store {n / t_add:.0f} chunks/s, "
          f"together {n / (t_embed + t_add):.0f} chunks/s ({t_embed + t_add:.1f} s); embedding used "
          f"{cpu_embed / t_embed:.2f} of 2 cores (below 2: other processes took CPU)")  # fmt: skip

    qvecs, t_qembed = timed(lambda: embedder.embed(q_texts, batch_size=args.batch))
    col = mem.collection("materials")
    test_filter = {"split": "test"}

    row_of = {cid: r for r, cid in enumerate(ids)}

    def run_chroma(where: dict[str, Any] | None) -> tuple[list[list[int]], list[list[int]], list[float]]:
        ranked, rows, lat = [], [], []
        for qv in qvecs:
            t0 = time.perf_counter()
            res = col.query(query_embeddings=qv[None, :], n_results=k, where=where, include=[])
            lat.append(time.perf_counter() - t0)
            ranked.append([id_to_problem[i] for i in res["ids"][0]])
            rows.append([row_of[i] for i in res["ids"][0]])
        return ranked, rows, lat

    matrix = np.ascontiguousarray(vectors)
    split_col = np.array([m["split"] for m in metas])
    row_problem = np.array([id_to_problem[i] for i in ids])

    def run_numpy(filtered: bool) -> tuple[list[list[int]], list[list[int]], list[float]]:
        ranked, hits, lat = [], [], []
        for qv in qvecs:
            t0 = time.perf_counter()
            rows = np.flatnonzero(split_col == "test") if filtered else None
            scores = (matrix[rows] if rows is not None else matrix) @ qv
            top = np.argpartition(-scores, k)[:k]
            top = top[np.argsort(-scores[top])]
            if rows is not None:
                top = rows[top]
            lat.append(time.perf_counter() - t0)
            ranked.append(row_problem[top].tolist())
            hits.append(top.tolist())
        return ranked, hits, lat

    results = {}
    for name, fn in (
        ("chroma", lambda: run_chroma(None)),
        ("chroma + filter", lambda: run_chroma(test_filter)),
        ("numpy", lambda: run_numpy(False)),
        ("numpy + filter", lambda: run_numpy(True)),
    ):
        ranked, rows, lat = fn()
        results[name] = {
            "p50": pct(lat, 50),
            "p95": pct(lat, 95),
            "r1": recall(ranked, targets, 1),
            "r5": recall(ranked, targets, 5),
            "rows": rows,
        }

    sample = q_texts[: args.e2e_queries]
    e2e = {}
    for name, flt in (("Memory.search", None), ("Memory.search + filter", test_filter)):
        lat = []
        for q in sample:
            t0 = time.perf_counter()
            mem.search("materials", q, k=k, where=flt)
            lat.append(time.perf_counter() - t0)
        e2e[name] = (pct(lat, 50), pct(lat, 95))
    single = []
    for q in sample[:100]:
        t0 = time.perf_counter()
        embedder.embed([q])
        single.append(time.perf_counter() - t0)

    agree = {
        a: statistics.mean(
            len(set(x) & set(y)) / k for x, y in zip(results[a]["rows"], results[b]["rows"], strict=True)
        )
        for a, b in (("chroma", "numpy"), ("chroma + filter", "numpy + filter"))
    }
    print()
    print(f"query embedding: batch {len(q_texts) / t_qembed:.0f} queries/s; one query p50 {pct(single, 50):.1f} ms, "
          f"p95 {pct(single, 95):.1f} ms")  # fmt: skip
    print()
    head = f"| search (k={k}, {len(q_texts)} queries, precomputed query vectors) | p50 ms | p95 ms |"
    print(head + " recall@1 | recall@5 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        print(f"| {name} | {r['p50']:.2f} | {r['p95']:.2f} | {r['r1']:.3f} | {r['r5']:.3f} |")
    print()
    print("| index / numpy ratio | p50 latency | p95 latency | recall@1 | recall@5 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for a, b in (("chroma", "numpy"), ("chroma + filter", "numpy + filter")):
        ra, rb = results[a], results[b]
        print(f"| {a} / {b} | {ra['p50'] / rb['p50']:.2f} | {ra['p95'] / rb['p95']:.2f} | "
              f"{ra['r1'] / rb['r1']:.3f} | {ra['r5'] / rb['r5']:.3f} |")  # fmt: skip
    print()
    print(
        f"HNSW top-{k} overlap with the exact top-{k} (same chunks): {agree['chroma']:.3f} without filter, "
        f"{agree['chroma + filter']:.3f} with filter"
    )
    print()
    print(f"| end to end (embed query + search), {len(sample)} queries | p50 ms | p95 ms |")
    print("| --- | ---: | ---: |")
    for name, (p50, p95) in e2e.items():
        print(f"| {name} | {p50:.1f} | {p95:.1f} |")
    print(f"load average at end (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    size = sum(f.stat().st_size for f in mem.chroma_dir.rglob("*") if f.is_file())
    print()
    print(f"Chroma store on disk: {size / 1e6:.0f} MB for {n} chunks")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
