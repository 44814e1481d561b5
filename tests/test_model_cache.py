"""The one-time conversion cache of in-process models (`pedagraph.llm.convert`), with stand-in converters (fast)."""

from __future__ import annotations

import json
import os

import pytest

from pedagraph.errors import ModelError
from pedagraph.llm import convert


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A GGUF source file and converters that write small files and count their runs."""
    runs = {"hf": 0, "ct2": 0}

    def to_hf(source, gguf_file, out):
        runs["hf"] += 1
        out.mkdir(parents=True)
        (out / "model.safetensors").write_bytes(b"w" * 1000)
        (out / "tokenizer.json").write_text("{}")

    def to_ct2(hf_dir, out):
        runs["ct2"] += 1
        assert (hf_dir / "model.safetensors").is_file()
        out.mkdir(parents=True)
        (out / "model.bin").write_bytes(b"q" * 500)

    monkeypatch.setattr(convert, "_to_transformers", to_hf)
    monkeypatch.setattr(convert, "_to_ctranslate2", to_ct2)
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.Q4.gguf").write_bytes(b"GGUF" + b"x" * 4096)
    return src, tmp_path / "cache", runs


def test_converts_once_then_loads_from_the_cache(fake, capsys):
    src, root, runs = fake
    first = convert.converted(src, "m.Q4.gguf", root=root, progress=True)
    assert first.built and runs == {"hf": 1, "ct2": 1}
    assert "converting m.Q4" in capsys.readouterr().err  # the progress bar, the first time only
    assert (first.ct2 / "model.bin").is_file() and (first.hf / "model.safetensors").is_file()
    manifest = json.loads((first.path / convert.MANIFEST).read_text())
    assert set(manifest["files"]) == {"hf/model.safetensors", "hf/tokenizer.json", "ct2/model.bin"}
    assert first.path.name.startswith("m.Q4-") and manifest["source_sha256"][:16] in first.path.name
    again = convert.converted(src, "m.Q4.gguf", root=root, progress=True)
    assert not again.built and again.path == first.path and runs == {"hf": 1, "ct2": 1}
    assert capsys.readouterr().err == ""
    assert not list(root.glob(".tmp-*"))


def test_a_conversion_without_a_terminal_says_so_in_one_line(fake, capsys):
    """A log (the app's, a batch job's) gets one line naming the model, not a bar; a terminal gets the bar."""
    src, root, _ = fake
    (src / "model-chat.gguf").write_bytes(b"GGUF" + b"c" * 100)
    entry = convert.converted(src, "model-chat.gguf", root=root).path
    err = capsys.readouterr().err
    name = entry.name.removesuffix(f"-c{convert.converter_version()}")
    assert name.startswith("model-chat-") and err.count("\n") == 1
    assert f"converting {name} once for the fast engines (not converted yet)" in err
    convert.converted(src, "model-chat.gguf", root=root)
    assert capsys.readouterr().err == ""  # loaded from the cache: nothing


@pytest.mark.parametrize("damage", ["truncate", "same_size_change", "delete_manifest", "delete_file"])
def test_a_corrupt_or_partial_cache_is_detected_and_rebuilt(fake, damage):
    src, root, runs = fake
    entry = convert.converted(src, "m.Q4.gguf", root=root).path
    target = entry / "ct2" / "model.bin"
    if damage == "truncate":
        target.write_bytes(b"q" * 10)
    elif damage == "same_size_change":
        target.write_bytes(b"z" * 500)
        os.utime(target, ns=(1, 1))  # a changed modification time makes the checksum be read
    elif damage == "delete_manifest":
        (entry / convert.MANIFEST).unlink()
    else:
        target.unlink()
    assert convert.entry_problem(entry) is not None
    rebuilt = convert.converted(src, "m.Q4.gguf", root=root)
    assert rebuilt.built and runs == {"hf": 2, "ct2": 2}
    assert convert.entry_problem(entry) is None and target.read_bytes() == b"q" * 500


def test_an_interrupted_conversion_leaves_nothing_in_place(fake, monkeypatch):
    src, root, runs = fake

    def broken(hf_dir, out):
        out.mkdir(parents=True)
        (out / "model.bin").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(convert, "_to_ctranslate2", broken)
    with pytest.raises(KeyboardInterrupt):
        convert.converted(src, "m.Q4.gguf", root=root)
    assert not [p for p in root.iterdir() if p.is_dir()]  # no entry, no temporary directory


def test_the_key_follows_the_source_checksum_and_the_converter_version(fake, monkeypatch):
    src, root, runs = fake
    a = convert.converted(src, "m.Q4.gguf", root=root).path
    monkeypatch.setattr(convert, "CONVERTER_VERSION", "999")
    b = convert.converted(src, "m.Q4.gguf", root=root).path
    assert a != b and "-c999-" in b.name and runs["hf"] == 2
    assert not a.exists()  # superseded (see below)
    (src / "m.Q4.gguf").write_bytes(b"GGUF" + b"y" * 4096)
    c = convert.converted(src, "m.Q4.gguf", root=root).path
    assert c not in (a, b) and runs["hf"] == 3


@pytest.mark.parametrize("name", ["m.Q4.gguf", "m[Q4]*?.gguf"])
def test_a_new_converter_version_removes_the_older_copies_of_that_source_only(fake, monkeypatch, capsys, name):
    """An upgrade leaves one copy per model: older converter versions' copies of the same file go, others stay."""
    from filelock import FileLock

    src, root, _ = fake
    (src / name).write_bytes(b"GGUF" + b"x" * 4096)
    (src / "m.Q4b.gguf").write_bytes(b"GGUF" + b"other")  # another model
    (src / "m.Q4-other.gguf").write_bytes(b"GGUF" + b"x" * 4096)  # the same bytes under another name
    old = [convert.converted(src, name, root=root).path]
    others = [convert.converted(src, n, root=root).path for n in ("m.Q4b.gguf", "m.Q4-other.gguf")]
    monkeypatch.setattr(convert, "CONVERTER_VERSION", "998")
    old.append(convert.converted(src, name, root=root).path)  # dropped the first
    assert not old[0].exists()
    held = convert.converted(src, "m.Q4b.gguf", root=root).path  # superseded others[0] too
    monkeypatch.setattr(convert, "CONVERTER_VERSION", "999")
    with FileLock(str(root / f"{held.name}.lock")):  # in use elsewhere: left alone
        newest = convert.converted(src, "m.Q4b.gguf", root=root, progress=False)
    assert held.exists() and newest.dropped == ()
    capsys.readouterr()
    current = convert.converted(src, name, root=root, progress=True)
    assert current.built and current.dropped == (old[1].name,) and not old[1].exists()
    assert f"removed an older converted copy of this model ({(3000 + 500) / 1e6:.0f} MB)" in capsys.readouterr().err
    assert not others[0].exists() and others[1].exists()  # the same bytes under another name are another entry
    assert not list(root.glob(".trash-*")) and not list(root.glob(".tmp-*"))
    again = convert.converted(src, "m.Q4b.gguf", root=root)  # the copy that was in use stays until a next build
    assert not again.built and held.exists()


def test_the_source_checksum_is_remembered_per_path_size_and_mtime(fake, monkeypatch):
    src, root, _ = fake
    file = src / "m.Q4.gguf"
    digest = convert.source_sha256(file, root)
    calls = []
    monkeypatch.setattr(convert, "sha256_file", lambda p, progress=None: calls.append(p) or "other")
    assert convert.source_sha256(file, root) == digest and calls == []  # not read again
    os.utime(file, ns=(5, 5))
    assert convert.source_sha256(file, root) == "other" and calls == [file]


def test_a_model_ctranslate2_cannot_convert_keeps_the_transformers_copy(fake, monkeypatch):
    src, root, runs = fake

    def unsupported(hf_dir, out):
        raise ValueError("No conversion is registered for the model configuration FancyConfig")

    monkeypatch.setattr(convert, "_to_ctranslate2", unsupported)
    copy = convert.converted(src, "m.Q4.gguf", root=root)
    assert copy.ct2 is None and (copy.hf / "model.safetensors").is_file()
    assert "FancyConfig" in json.loads((copy.path / convert.MANIFEST).read_text())["ct2_error"]
    assert not convert.converted(src, "m.Q4.gguf", root=root).built  # not retried on every start


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PEDAGRAPH_MODEL_CACHE", str(tmp_path / "mc"))
    assert convert.cache_root() == tmp_path / "mc"
    monkeypatch.delenv("PEDAGRAPH_MODEL_CACHE")
    monkeypatch.setenv("PEDAGRAPH_HOME", str(tmp_path / "home"))
    assert convert.cache_root() == tmp_path / "home" / "models"


def test_the_onnx_copy_is_built_beside_the_others_and_a_failure_keeps_them(fake, monkeypatch):
    src, root, runs = fake
    built = []

    def to_onnx(hf_dir, out, scratch):
        built.append(out)
        out.mkdir(parents=True)
        (out / "genai_config.json").write_text("{}")
        (out / "model.onnx").write_bytes(b"o" * 300)

    monkeypatch.setattr(convert, "_to_onnx", to_onnx)
    copy = convert.converted(src, "m.Q4.gguf", root=root, want_ort=True)
    assert copy.ort is not None and (copy.ort / "model.onnx").is_file() and copy.ct2 is not None
    manifest = json.loads((copy.path / convert.MANIFEST).read_text())
    assert "ort/model.onnx" in manifest["files"] and manifest["ort_error"] is None
    again = convert.converted(src, "m.Q4.gguf", root=root, want_ort=True)
    assert not again.built and len(built) == 1 and runs == {"hf": 1, "ct2": 1}

    other = tmp = root.parent / "src2"
    tmp.mkdir()
    (other / "n.Q4.gguf").write_bytes(b"GGUF" + b"y" * 4096)

    def broken(hf_dir, out, scratch):
        raise RuntimeError("NotImplementedError: The FancyForCausalLM model is not currently supported.")

    monkeypatch.setattr(convert, "_to_onnx", broken)
    copy = convert.converted(other, "n.Q4.gguf", root=root, want_ort=True)
    assert copy.ort is None and copy.ct2 is not None and (copy.hf / "model.safetensors").is_file()
    assert "FancyForCausalLM" in json.loads((copy.path / convert.MANIFEST).read_text())["ort_error"]
    assert not convert.converted(other, "n.Q4.gguf", root=root, want_ort=True).built  # not retried on every start


def test_an_entry_without_the_onnx_copy_gets_it_and_keeps_the_others(fake, monkeypatch):
    src, root, runs = fake
    first = convert.converted(src, "m.Q4.gguf", root=root)
    assert first.ort is None

    def to_onnx(hf_dir, out, scratch):
        out.mkdir(parents=True)
        (out / "genai_config.json").write_text("{}")

    monkeypatch.setattr(convert, "_to_onnx", to_onnx)
    second = convert.converted(src, "m.Q4.gguf", root=root, want_ort=True)
    assert second.built and second.ort is not None and second.ct2 is not None


def test_a_cache_that_cannot_be_written_is_a_clear_error(fake, tmp_path):
    src, _, runs = fake
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ModelError, match="cannot convert the model into the cache") as info:
        convert.converted(src, "m.Q4.gguf", root=blocker / "models")
    assert convert.CACHE_ENV in (info.value.hint or "") and runs == {"hf": 0, "ct2": 0}
