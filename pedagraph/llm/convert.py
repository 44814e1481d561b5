"""One-time conversion of an in-process model into the fast engine's format, cached under `PEDAGRAPH_HOME/models`.

A GGUF file is de-quantised once by transformers into a safetensors copy (`hf/`: weights, config, tokenizer, chat
template), and that copy (or a transformers model directory as given) is converted once by CTranslate2 into int8
(`ct2/`) and by ONNX Runtime GenAI's model builder into int8 ONNX (`ort/`), for whichever of the two is installed.
The cache entry is named by the source's sha256 and `CONVERTER_VERSION` (with the engines' versions), is
built in a temporary directory and renamed into place whole, and carries a manifest with every file's size and
sha256. An entry without a manifest, with a missing or resized file, or with a file whose checksum no longer matches
(checked when its modification time moved) is rebuilt. A file lock keeps two processes from building it at once.

The source's sha256 is computed once per (path, size, mtime) and remembered in `index.json`, so later starts do
not re-read a large file.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pedagraph.errors import ModelError

CONVERTER_VERSION = "3"
"""Bump when the conversion's output changes: every cached copy is rebuilt under a new key."""
CACHE_ENV = "PEDAGRAPH_MODEL_CACHE"
MANIFEST = "manifest.json"
_CHUNK = 1 << 22


def cache_root() -> Path:
    """Where converted models live: `PEDAGRAPH_MODEL_CACHE`, else `PEDAGRAPH_HOME/models` (~/.pedagraph/models)."""
    explicit = os.environ.get(CACHE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("PEDAGRAPH_HOME") or "~/.pedagraph").expanduser() / "models"


def _version(package: str) -> str:
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:  # noqa: BLE001 - not installed
        return "none"


def converter_version() -> str:
    """The version that keys cached copies: ours and the engines' (their model formats follow their versions)."""
    ort = _version("onnxruntime-genai")
    return f"{CONVERTER_VERSION}-ct2.{_version('ctranslate2')}" + (f"-ort.{ort}" if ort != "none" else "")


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def source_files(source: Path) -> list[Path]:
    """The files that define a model: the GGUF file itself, or a model directory's weights, config and tokenizer."""
    if source.is_file():
        return [source]
    wanted = ("*.safetensors", "*.bin", "config.json", "tokenizer.json", "tokenizer_config.json", "*.jinja")
    return sorted({p for pattern in wanted for p in source.glob(pattern) if p.is_file()})


def source_sha256(source: Path, root: Path) -> str:
    """The sha256 of a model source (a file, or a directory's defining files), remembered per (path, size, mtime)."""
    files = source_files(source)
    if not files:
        raise ModelError(f"no model files in {source}", hint="give a GGUF file or a transformers model directory")
    stamp = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    index_path = root / "index.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    key = str(source.resolve())
    hit = index.get(key)
    if isinstance(hit, dict) and hit.get("stamp") == stamp and isinstance(hit.get("sha256"), str):
        return hit["sha256"]
    if len(files) == 1 and source.is_file():
        digest = sha256_file(files[0])
    else:
        outer = hashlib.sha256()
        for p in files:
            outer.update(f"{p.name}\0{sha256_file(p)}\0".encode())
        digest = outer.hexdigest()
    index[key] = {"stamp": stamp, "sha256": digest}
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = index_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(index, indent=1))
        os.replace(tmp, index_path)
    except OSError:
        pass  # a read-only cache still works; the checksum is computed again next time
    return digest


@dataclass(frozen=True)
class Converted:
    """A cached converted model: the transformers copy (`hf`: the source directory when it serves), `ct2`, `ort`."""

    path: Path
    hf: Path
    ct2: Path | None
    built: bool
    seconds: float
    ort: Path | None = None
    dropped: tuple[str, ...] = ()
    """The older copies of the same source (another converter version) removed when this one was built."""


def entry_problem(entry: Path) -> str | None:
    """Why a cache entry cannot be used (missing, partial, resized or changed file), or None when it is sound."""
    manifest_path = entry / MANIFEST
    if not manifest_path.is_file():
        return "no manifest (missing or partial)"
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable manifest"
    for rel, meta in files.items():
        path = entry / rel
        try:
            stat = path.stat()
        except OSError:
            return f"missing {rel}"
        if stat.st_size != meta["size"]:
            return f"{rel} has {stat.st_size} bytes, expected {meta['size']}"
        if stat.st_mtime_ns != meta["mtime_ns"] and sha256_file(path) != meta["sha256"]:
            return f"{rel} checksum differs"
    return None


def _manifest(entry: Path, extra: dict[str, Any]) -> None:
    files = {}
    for path in sorted(p for p in entry.rglob("*") if p.is_file() and p.name != MANIFEST):
        stat = path.stat()
        files[str(path.relative_to(entry))] = {
            "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256_file(path)
        }  # fmt: skip
    (entry / MANIFEST).write_text(json.dumps({**extra, "files": files}, indent=1))


class _Stages:
    """A progress bar over the conversion's stages, on stderr, shown only while a conversion runs."""

    def __init__(self, title: str, stages: list[str], show: bool) -> None:
        self.bar: Any = None
        if show:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(stages), desc=title, unit="step", file=sys.stderr, leave=True)

    def step(self, label: str) -> None:
        """Mark the start of one stage."""
        if self.bar is not None:
            self.bar.set_postfix_str(label)

    def done(self) -> None:
        """One stage finished."""
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()


def _to_transformers(source: Path, gguf_file: str, out: Path) -> None:
    """De-quantise a GGUF file once into a safetensors model directory with its tokenizer and chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pedagraph.llm.hf import quiet_loading

    with quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(str(source), gguf_file=gguf_file, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            str(source), gguf_file=gguf_file, dtype=torch.float32, local_files_only=True
        )
        model.hf_quantizer = None  # the weights are de-quantised: save them as plain tensors
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))


def _to_ctranslate2(hf_dir: Path, out: Path) -> None:
    """Convert a transformers model directory to CTranslate2 int8 (weights only; the tokenizer stays in `hf`)."""
    import ctranslate2

    from pedagraph.llm.hf import quiet_loading

    with quiet_loading():
        ctranslate2.converters.TransformersConverter(str(hf_dir), low_cpu_mem_usage=True).convert(
            str(out), quantization="int8", force=True
        )


def _to_onnx(hf_dir: Path, out: Path, scratch: Path) -> None:
    """Export a transformers model directory to ONNX int8 for ONNX Runtime GenAI (its model builder, in a child).

    The builder prints progress of its own and holds the whole float model; a child process keeps both out of ours.
    Weights are int8 in blocks of 64. Against the float copy of the same weights, next-token KL 0.010 and the same
    top token 94% of the time; int4 in blocks of 32 gave KL 0.46 and 60%. int8 also reads prompts faster here (373
    against 285 tok/s at 500 tokens) and decodes about as fast. Blocks of 128 read faster still, but the runtime's
    three-token read then differs from its longer reads, which would break exact cache reuse (`pedagraph.llm.ort`).
    `prune_lm_head` computes the vocabulary logits of a read's last position only (not of every prompt token): 20%
    faster first reads, and no logits buffer of prompt length x vocabulary.
    """
    import subprocess

    command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf_dir), "-o", str(out),
               "-p", "int8", "-e", "cpu", "-c", str(scratch),
               "--extra_options", "prune_lm_head=true", "block_size=64"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not (out / "genai_config.json").is_file():
        lines = [line for line in (done.stderr or done.stdout or "").splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"the ONNX model builder exited with {done.returncode}")


def converted(
    source: Path,
    gguf_file: str | None,
    *,
    want_ct2: bool = True,
    want_ort: bool = False,
    progress: bool | None = None,
    root: Path | None = None,
) -> Converted:
    """The cached conversion of a model (a GGUF file in `source`, or the model directory `source`), built once.

    `want_ct2` also converts for CTranslate2 and `want_ort` for ONNX Runtime GenAI (a failure there leaves that copy
    None, recorded in the manifest, and the transformers copy usable).
    """
    root = root or cache_root()
    try:
        return _converted(source, gguf_file, want_ct2, want_ort, progress, root)
    except OSError as exc:  # a cache folder that cannot be made or written, a full disk
        where = exc.filename or root
        raise ModelError(
            f"cannot convert the model into the cache {root}: {exc.strerror or exc} ({where})",
            hint=f"set {CACHE_ENV} (or PEDAGRAPH_HOME) to a folder you can write, with about 1 GB free per model",
        ) from None


def _converted(
    source: Path, gguf_file: str | None, want_ct2: bool, want_ort: bool, progress: bool | None, root: Path
) -> Converted:
    from filelock import FileLock

    start = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    file = source / gguf_file if gguf_file else source
    digest = source_sha256(file, root)
    stem = (Path(gguf_file).stem if gguf_file else source.name)[:48] or "model"
    key = f"{stem}-{digest[:16]}-c{converter_version()}"
    entry = root / key
    with FileLock(str(root / f"{key}.lock")):
        problem = entry_problem(entry) if entry.exists() else "not converted yet"
        if problem is None:
            if want_ct2 and not (entry / "ct2" / "model.bin").is_file() and not (entry / "ct2.failed").is_file():
                problem = "no CTranslate2 copy yet"
            elif want_ort and not (entry / ORT_CONFIG).is_file() and not (entry / "ort.failed").is_file():
                problem = "no ONNX copy yet"
            else:
                return _entry(entry, source, False, start)
        want_ct2 = want_ct2 or (entry / "ct2").is_dir()  # a rebuild keeps what the entry had
        want_ort = want_ort or (entry / "ort").is_dir()
        _build(source, gguf_file, entry, root, key, digest, (want_ct2, want_ort), problem, progress)
        dropped = drop_superseded(root, entry, key.removesuffix(f"-c{converter_version()}"))
    if dropped and (sys.stderr.isatty() if progress is None else progress):
        copies = "an older converted copy" if len(dropped) == 1 else f"{len(dropped)} older converted copies"
        sys.stderr.write(f"removed {copies} of this model ({sum(dropped.values()) / 1e6:.0f} MB)\n")
    return _entry(entry, source, True, start, tuple(dropped))


def drop_superseded(root: Path, entry: Path, source_key: str) -> dict[str, int]:
    """Remove the copies of the same source (`{stem}-{sha256[:16]}`) by other converter versions: name to bytes.

    A copy whose lock another process holds (it is being checked or built) is left for the next build.
    """
    from filelock import FileLock, Timeout

    dropped: dict[str, int] = {}
    for other in sorted(root.glob(f"{glob.escape(source_key)}-c*")):
        if other == entry or not other.is_dir() or other.name.startswith("."):
            continue
        try:
            with FileLock(str(root / f"{other.name}.lock"), timeout=0):
                size = sum(f.stat().st_size for f in other.rglob("*") if f.is_file())
                trash = root / f".trash-{other.name}-{os.getpid()}"
                os.replace(other, trash)
                shutil.rmtree(trash, ignore_errors=True)
                dropped[other.name] = size
        except (Timeout, OSError):
            continue  # its (empty) lock file stays: removing a lock file another process may open is a race
    for stale in root.glob(f".trash-{glob.escape(source_key)}-c*"):  # left by a removal that was interrupted
        shutil.rmtree(stale, ignore_errors=True)
    return dropped


ORT_CONFIG = "ort/genai_config.json"


def _entry(entry: Path, source: Path, built: bool, start: float, dropped: tuple[str, ...] = ()) -> Converted:
    hf = entry / "hf" if (entry / "hf").is_dir() else source
    ct2, ort = entry / "ct2", entry / "ort"
    return Converted(entry, hf, ct2 if ct2.is_dir() else None, built, time.perf_counter() - start,
                     ort if (entry / ORT_CONFIG).is_file() else None, dropped)  # fmt: skip


def _build(
    source: Path,
    gguf_file: str | None,
    entry: Path,
    root: Path,
    key: str,
    digest: str,
    want: tuple[bool, bool],
    problem: str,
    progress: bool | None,
) -> None:
    """Convert into a temporary directory, write the manifest, then move it into place whole."""
    want_ct2, want_ort = want
    stages = (["de-quantise GGUF"] if gguf_file else []) + (["CTranslate2 int8"] if want_ct2 else [])
    stages += (["ONNX int8"] if want_ort else []) + ["checksums"]
    show = sys.stderr.isatty() if progress is None else progress
    name = key.removesuffix(f"-c{converter_version()}")
    if show and problem != "not converted yet":
        sys.stderr.write(f"rebuilding the converted model {entry.name}: {problem}\n")
    elif progress is None and not show:  # a log, not a terminal: one line instead of the bar
        sys.stderr.write(f"converting {name} once for the fast engines ({problem}); later starts load in seconds\n")
    bar = _Stages(f"converting {name} (once)", stages, show)
    for stale in root.glob(f".tmp-{key}-*"):  # left by an interrupted conversion (we hold the lock)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
    try:
        hf_dir = source
        if gguf_file:
            bar.step(stages[0])
            hf_dir = tmp / "hf"
            _to_transformers(source, gguf_file, hf_dir)
            bar.done()
        failed = None
        if want_ct2:
            bar.step("CTranslate2 int8")
            try:
                _to_ctranslate2(hf_dir, tmp / "ct2")
            except Exception as exc:  # noqa: BLE001 - an architecture CTranslate2 cannot run: transformers serves
                shutil.rmtree(tmp / "ct2", ignore_errors=True)
                failed = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                (tmp / "ct2.failed").write_text(failed + "\n")
            bar.done()
        ort_failed = None
        if want_ort:
            bar.step("ONNX int8")
            try:
                _to_onnx(hf_dir, tmp / "ort", tmp / "ort-cache")
            except Exception as exc:  # noqa: BLE001 - an architecture the builder cannot export: another engine serves
                shutil.rmtree(tmp / "ort", ignore_errors=True)
                ort_failed = f"{type(exc).__name__}: {' '.join(str(exc).split())[-300:]}"
                (tmp / "ort.failed").write_text(ort_failed + "\n")
            shutil.rmtree(tmp / "ort-cache", ignore_errors=True)
            bar.done()
        bar.step("checksums")
        _manifest(tmp, {"source": str(source / gguf_file if gguf_file else source), "source_sha256": digest,
                        "converter": converter_version(), "ct2_error": failed, "ort_error": ort_failed})  # fmt: skip
        bar.done()
        if entry.exists():
            trash = root / f".trash-{key}-{os.getpid()}"
            os.replace(entry, trash)
            shutil.rmtree(trash, ignore_errors=True)
        os.replace(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()
