"""The dataset registry and `pedagraph data`: pinned checksums, downloads from a local server, local copies.

Every download goes to `pedagraph.testing.data_server.DataServer` on 127.0.0.1, serving ../shared/data (the
registry's mirror layout) through the URL override; nothing reaches the network.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED_DATA, data_file
from rich.console import Console
from typer.testing import CliRunner

from pedagraph import datasets
from pedagraph.cli import app
from pedagraph.datasets import DATASETS, Fetcher, fetch, find_file, store, verify
from pedagraph.datasets.samples import FOLLOWS, ROWS, make_samples, sample_path, samples_root
from pedagraph.errors import DataError, PedagraphError
from pedagraph.methods.tom.items import harmful_demos
from pedagraph.testing.data_server import DataServer

REPO = Path(__file__).resolve().parents[1]
cli = CliRunner()

SMALL = "strategyqa/harmful_explanations.json"  # 8.8 kB, pinned
EXAMPLE = "mathdial/example.jsonl"  # 5 kB, pinned
UNPINNED = "gsm8k/test_socratic.jsonl"  # 775 kB here, a subset of upstream: no pinned sha256


@contextlib.contextmanager
def raises_line(pattern: str, kind: type[PedagraphError] = DataError):
    """Expect a pedagraph error whose one-line form (message — hint) matches `pattern`."""
    with pytest.raises(kind) as info:
        yield
    assert re.search(pattern, info.value.one_line()), info.value.one_line()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def registry_file(key: str) -> datasets.DataFile:
    found = find_file(key)
    assert found is not None
    return found[1]


@pytest.fixture
def online(monkeypatch):
    """No local copy configured: fetches go to the (local) network."""
    monkeypatch.delenv("PEDAGRAPH_DATA_DIR", raising=False)
    monkeypatch.delenv("PEDAGRAPH_DATA_URL_BASE", raising=False)


@pytest.fixture
def reference(tmp_path, monkeypatch) -> Path:
    """A copy holding every registry file: the full copy beside the repository (../shared/data or
    PEDAGRAPH_DATA_DIR), else a copy of the bundled samples with the registry pinned to their checksums (a sample
    of a few rows is not the upstream file; the whole-file samples keep the real pins)."""
    if SHARED_DATA is not None:
        return SHARED_DATA
    root = tmp_path / "reference"
    shutil.copytree(samples_root(), root)
    pinned = tuple(
        dataclasses.replace(d, files=tuple(
            dataclasses.replace(f, sha256=sha(root / f.key), size=(root / f.key).stat().st_size) if f.sha256 else f
            for f in d.files))
        for d in DATASETS
    )  # fmt: skip
    monkeypatch.setattr(store, "DATASETS", pinned)
    return root


@pytest.fixture
def reference_copy(reference, monkeypatch) -> Path:
    """The reference copy configured as the local copy (PEDAGRAPH_DATA_DIR), as conftest does with the full one."""
    monkeypatch.setenv("PEDAGRAPH_DATA_DIR", str(reference))
    return reference


class Served:
    """The files the test server serves: the reference copy (full files, else the samples) and their entries."""

    def __init__(self, root: Path) -> None:
        self.root, self.files = root, {k: registry_file(k) for k in (SMALL, EXAMPLE, UNPINNED)}

    def file(self, key: str) -> datasets.DataFile:
        return self.files[key]

    def path(self, key: str) -> Path:
        return self.root / key


@pytest.fixture
def served(online, reference):
    return Served(reference)


@pytest.fixture
def server(served):
    with DataServer(served.root) as srv:
        yield srv


def fetcher(server: DataServer, **kw) -> Fetcher:
    return Fetcher(mirror=server.url, **{"backoff": 0, **kw})


def fetch_one(server: DataServer, file: datasets.DataFile, **kw) -> datasets.FetchResult:
    with fetcher(server, **kw) as f:
        return f.fetch_file(file)


# ------------------------------------------------------------------------------------------------------------
# the registry
# ------------------------------------------------------------------------------------------------------------


def test_registry_entries_are_complete_and_pinned_to_commits():
    from pedagraph.evals.runner import load_suites

    suites = load_suites()
    names = [d.name for d in DATASETS]
    assert len(names) == len(set(names))
    assert {"gsm8k", "gsm8k-socratic", "mathdial", "mrbench-v1", "mrbench-v2", "bea2025-dev", "strategyqa",
            "ecqa"} <= set(names)  # fmt: skip
    keys = [f.key for d in DATASETS for f in d.files]
    assert len(keys) == len(set(keys))
    for d in DATASETS:
        assert d.licence and d.licence_url.startswith("https://") and d.citation and d.homepage.startswith("https://")
        assert d.suites and set(d.suites) <= set(suites), d.name
        for f in d.files:
            assert f.url == f"https://raw.githubusercontent.com/{f.repo}/{f.commit}/{f.path}"
            assert len(f.commit) == 40 and all(c in "0123456789abcdef" for c in f.commit)
            assert f.sha256 is None or len(f.sha256) == 64
            assert (f.sha256 is None) == (f.size is None)
            assert f.sha256 or "not verified here" in f.note, f.key
    for name, cls in suites.items():  # every suite's default data is a registry file
        found = find_file(cls.default_data)
        assert found is not None, name
        assert name in found[0].suites


def test_pinned_checksums_are_those_of_the_unmodified_shared_files():
    """The full files (when beside the repository) and the whole-file samples are the pinned upstream files."""
    files = [f for d in DATASETS for f in d.files]
    checked = 0
    for f in files:
        full = SHARED_DATA / f.key if SHARED_DATA is not None else None
        if full is not None and SHARED_DATA == REPO.parent / "shared" / "data":  # it holds every registry file
            assert full.is_file(), f.key
        whole_sample = sample_path(f.key) if ROWS[f.key] is None else None
        for path in (full, whole_sample):
            if f.sha256 and path is not None and path.is_file():
                assert sha(path) == f.sha256 and path.stat().st_size == f.size, (f.key, path)
                checked += 1
    assert checked >= 2  # at least the two whole-file samples


def test_every_registry_file_has_a_bundled_sample_drawn_reproducibly(tmp_path):
    """Each registry file has its sample (a few dozen rows, a SAMPLE.md with licence and citation per dataset
    folder), and drawing the samples again gives the same bytes: from the full files when they are here, else from
    the samples themselves (the first rows of the first rows)."""
    keys = [f.key for d in DATASETS for f in d.files]
    assert set(keys) <= set(ROWS)
    source = SHARED_DATA if SHARED_DATA is not None else samples_root()
    make_samples(source, tmp_path / "again", keys=keys)
    for key in keys:
        bundled = sample_path(key)
        assert bundled is not None, key
        assert (tmp_path / "again" / key).read_bytes() == bundled.read_bytes(), key
        rows = load_rows(bundled)
        expected = len(rows) if key in FOLLOWS or ROWS[key] is None else ROWS[key]
        assert len(rows) == expected and 2 <= len(rows) <= 60, key
    for d in DATASETS:
        note = (samples_root() / d.main.key.split("/")[0] / "SAMPLE.md").read_text(encoding="utf-8")
        assert d.licence in note and d.citation in note and "pedagraph data fetch" in note, d.name
    mit = (samples_root() / "mathdial" / "SAMPLE.md").read_text(encoding="utf-8")
    assert "share-alike" in mit


def load_rows(path: Path) -> list:
    """The rows of a JSON array, JSON Lines or CSV (header excluded) file."""
    import csv

    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return list(csv.reader(io.StringIO(text, newline="")))[1:]


def test_unknown_names_list_the_known_ones():
    with raises_line("unknown dataset 'mnist'.*known datasets: gsm8k, gsm8k-socratic, mathdial"):
        datasets.select(["mnist"])
    picked = datasets.select(["gsm8k/train.jsonl", "mrbench-v1", "gsm8k/train.jsonl"])
    assert [(d.name, [f.key for f in fs]) for d, fs in picked] == [
        ("gsm8k", ["gsm8k/train.jsonl"]), ("mrbench-v1", ["mrbench/MRBench/MRBench_V1.json"])]  # fmt: skip


# ------------------------------------------------------------------------------------------------------------
# downloads from the local server
# ------------------------------------------------------------------------------------------------------------


def test_fetch_downloads_verifies_and_is_idempotent(server, served, home):
    results = fetch(["strategyqa"], mirror=server.url)
    assert [r.key for r in results] == [f.key for f in datasets.get_dataset("strategyqa").files]
    for r in results:
        assert r.action == "downloaded" and r.checksum == "verified" and r.resumed_from == 0
        assert r.path == home / "data" / r.key and sha(r.path) == sha(served.path(r.key)) == r.sha256
        assert r.source == f"{server.url}/{r.key}" and r.transferred == r.size and r.throughput
    manifest = json.loads((home / "data" / "manifest.json").read_text())
    assert manifest[SMALL]["kind"] == "download" and manifest[SMALL]["sha256"] == sha(served.path(SMALL))
    assert not list((home / "data").rglob("*.part*"))
    served = len(server.requests)
    again = fetch(["strategyqa"], mirror=server.url)
    assert {r.action for r in again} == {"present"} and len(server.requests) == served  # nothing downloaded
    forced = fetch([SMALL], mirror=server.url, force=True)
    assert forced[0].action == "downloaded" and len(server.requests) == served + 1


@pytest.mark.parametrize("manifest", ["kept", "lost"])
def test_a_corrupted_file_under_its_key_is_not_taken_for_present(server, served, home, manifest):
    """A fetched file changed afterwards (a bad disk, an edit) is fetched again, never reported `already here`."""
    [first] = fetch([SMALL], mirror=server.url)
    first.path.write_bytes(first.path.read_bytes()[:-40] + b"corrupted")
    if manifest == "lost":
        (home / "data" / "manifest.json").unlink()
    [c] = verify([SMALL])
    assert c.status == "corrupt" and not c.ok, c
    result = cli.invoke(app, ["data", "fetch", SMALL, "--mirror", server.url, "-q"])
    assert result.exit_code == 0, result.output
    assert "already here" not in result.output and "downloaded" in result.output
    assert first.path.read_bytes() == served.path(SMALL).read_bytes()
    [c] = verify([SMALL])
    assert c.status == "verified"


def test_url_base_from_the_environment_and_progress_bar(server, home, monkeypatch):
    monkeypatch.setenv("PEDAGRAPH_DATA_URL_BASE", server.url + "/")
    buffer = io.StringIO()
    [r] = fetch([EXAMPLE], console=Console(file=buffer, force_terminal=True, width=100))
    assert r.source == f"{server.url}/{EXAMPLE}" and r.checksum == "verified"
    assert EXAMPLE in buffer.getvalue() and "5.0" in buffer.getvalue()  # the bar drew the file and its size


def test_checksum_mismatch_discards_the_download(server, served, home):
    server.add_faults(SMALL, "corrupt")
    with raises_line(r"checksum mismatch for strategyqa/harmful_explanations.json .*discarded"):
        fetch_one(server, served.file(SMALL))
    dest = home / "data" / SMALL
    assert not dest.exists() and not list(dest.parent.glob("*.part*"))
    assert fetch_one(server, served.file(SMALL)).checksum == "verified"  # the next try gets the right file


def test_unpinned_file_reports_its_checksum(server, served, home):
    r = fetch_one(server, served.file(UNPINNED))
    assert r.checksum == "unpinned" and r.sha256 == sha(served.path(UNPINNED))
    result = cli.invoke(app, ["data", "fetch", "gsm8k-socratic", "--mirror", server.url, "--force", "-q"])
    assert result.exit_code == 0, result.output
    assert f"sha256 {r.sha256[:16]}… no pinned upstream sha256 (not verified here)" in result.output


def test_dropped_connection_is_resumed_with_a_range_request(server, served, home):
    server.add_faults(SMALL, "drop")
    r = fetch_one(server, served.file(SMALL))
    size = (served.path(SMALL)).stat().st_size
    first, second = server.requests_for(SMALL)
    assert first.fault == "drop" and first.range is None
    assert second.status == 206 and second.range == f"bytes={size // 2}-" and second.if_range
    assert r.resumed_from == size // 2 and r.checksum == "verified" and sha(r.path) == sha(served.path(SMALL))
    assert r.transferred == size  # half, then the other half: nothing twice


def test_a_run_that_keeps_failing_keeps_the_part_and_the_next_run_resumes(server, served, home):
    server.add_faults(SMALL, "drop", "drop", "drop")
    with raises_line(r"after 3 attempts \(RemoteProtocolError.*run the same command again"):
        fetch_one(server, served.file(SMALL))
    dest = home / "data" / SMALL
    part = dest.with_name(dest.name + ".part")
    size = (served.path(SMALL)).stat().st_size
    assert not dest.exists() and 0 < part.stat().st_size < size  # a partial file never looks complete
    assert datasets.locate(SMALL, sample=False) is None
    held = part.stat().st_size
    r = fetch_one(server, served.file(SMALL))
    assert server.requests_for(SMALL)[-1].range == f"bytes={held}-" and r.resumed_from == held
    assert r.checksum == "verified" and not part.exists()


def test_a_server_without_range_support_replaces_the_partial_file(server, served, home):
    server.add_faults(SMALL, "drop")
    with pytest.raises(DataError):
        fetch_one(server, served.file(SMALL), attempts=1)
    server.add_faults(SMALL, "no_range")
    r = fetch_one(server, served.file(SMALL))
    last = server.requests_for(SMALL)[-1]
    assert last.range and last.status == 200  # asked to resume, got the whole file: started over
    assert r.resumed_from == 0 and r.checksum == "verified" and sha(r.path) == sha(served.path(SMALL))


def test_a_partial_file_past_the_end_or_of_another_url_starts_over(server, served, home):
    dest = home / "data" / SMALL
    dest.parent.mkdir(parents=True)
    part = dest.with_name(dest.name + ".part")
    meta = dest.with_name(dest.name + ".part.json")
    part.write_bytes(b"x" * 20_000)  # longer than the file: 416, then a fresh download
    meta.write_text(json.dumps({"url": f"{server.url}/{SMALL}", "validator": None}))
    r = fetch_one(server, served.file(SMALL))
    assert [q.status for q in server.requests_for(SMALL)] == [416, 200] and r.checksum == "verified"
    part.write_bytes(b"x" * 100)  # a partial file of another source is never continued
    meta.write_text(json.dumps({"url": "http://127.0.0.1:9/elsewhere", "validator": None}))
    r = fetch_one(server, served.file(SMALL), force=True)
    assert server.requests_for(SMALL)[-1].range is None and r.checksum == "verified"


def test_a_wrong_range_answer_starts_over(server, served, home):
    server.add_faults(SMALL, "drop", "bad_range")
    r = fetch_one(server, served.file(SMALL), backoff=0.01)
    assert [(q.status, q.fault, bool(q.range)) for q in server.requests_for(SMALL)] == [
        (200, "drop", False), (206, "bad_range", True), (200, None, False)]  # fmt: skip
    assert r.resumed_from == 0 and r.checksum == "verified" and sha(r.path) == sha(served.path(SMALL))


def test_resume_validator_prefers_a_strong_etag():
    from pedagraph.datasets.store import _validator

    modified = "Mon, 30 Nov 2026 15:02:00 GMT"
    assert _validator({"etag": '"abc"', "last-modified": modified}) == '"abc"'
    assert _validator({"etag": 'W/"abc"', "last-modified": modified}) == modified  # If-Range needs a strong one
    assert _validator({}) is None


def test_server_errors_are_retried(server, served, home):
    server.add_faults(SMALL, "500", "500")
    r = fetch_one(server, served.file(SMALL))
    assert [q.status for q in server.requests_for(SMALL)] == [500, 500, 200] and r.checksum == "verified"
    server.add_faults(EXAMPLE, "500", "500", "500")
    with raises_line(r"after 3 attempts \(HTTP 500\).*check the network"):
        fetch_one(server, served.file(EXAMPLE))


def test_other_client_errors_are_not_retried(server, served, home):
    server.add_faults(SMALL, "403")
    with raises_line(r"cannot download strategyqa/harmful_explanations.json from http://127.0.0.1:\d+/\S+: HTTP 403"):
        fetch_one(server, served.file(SMALL))
    assert len(server.requests_for(SMALL)) == 1 and not (home / "data" / SMALL).exists()


def test_404_is_one_clear_error(server, served, home):
    server.add_faults(SMALL, "404")
    with raises_line(r"strategyqa/harmful_explanations.json not found at http://127.0.0.1:\d+/"
                                        r"strategyqa/harmful_explanations.json \(HTTP 404\)"):  # fmt: skip
        fetch_one(server, served.file(SMALL))
    assert len(server.requests_for(SMALL)) == 1  # not retried
    assert not (home / "data" / SMALL).exists()


def test_unreachable_server(online, home):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    with raises_line(r"could not download .* after 2 attempts \(ConnectError.*--from DIR"):
        with Fetcher(mirror=f"http://127.0.0.1:{port}", attempts=2, backoff=0) as f:
            f.fetch_file(registry_file(SMALL))


def test_one_fetch_at_a_time(server, home):
    with fetcher(server):
        with raises_line("another `pedagraph data fetch` is writing to", PedagraphError):
            with fetcher(server):
                pass
    with fetcher(server):  # released
        pass


def test_bad_mirror_url(online):
    with raises_line("must start with http"):
        Fetcher(mirror="ftp://example")


# ------------------------------------------------------------------------------------------------------------
# local copies (--from DIR, PEDAGRAPH_DATA_DIR)
# ------------------------------------------------------------------------------------------------------------


def test_fetch_from_a_local_copy_reports_a_differing_checksum(online, home, tmp_path):
    copy = tmp_path / "mirror"
    (copy / "strategyqa").mkdir(parents=True)
    rows = json.loads(data_file(SMALL).path.read_text())
    (copy / SMALL).write_text(json.dumps(rows[:2]))  # a subset: differs from upstream
    [r] = fetch([SMALL], source_dir=copy)
    assert r.action == "copied" and r.checksum == "differs" and r.source == str(copy / SMALL)
    assert r.path.read_bytes() == (copy / SMALL).read_bytes()
    [c] = verify([SMALL])
    assert c.where == "fetched" and c.status == "differs" and c.ok and "copied from" in c.detail
    with raises_line(r"mathdial/example.jsonl is not in the local copy .*mirror"):
        fetch([EXAMPLE], source_dir=copy)


def test_fetch_uses_the_configured_local_copy_without_network(home, reference_copy, monkeypatch):
    monkeypatch.setenv("PEDAGRAPH_DATA_URL_BASE", "http://127.0.0.1:9")  # would fail if it were used
    results = fetch(["mrbench-v1", "mathdial"])
    assert {r.action for r in results} == {"copied"}
    assert {r.key: r.checksum for r in results} == {
        "mrbench/MRBench/MRBench_V1.json": "verified", "mathdial/test.jsonl": "unpinned",
        "mathdial/test.csv": "unpinned", "mathdial/example.jsonl": "verified"}  # fmt: skip


def test_upstream_clone_layout(online, reference, tmp_path, monkeypatch):
    clones = tmp_path / "clones"
    for d in DATASETS:
        for f in d.files:
            target = clones / f.clone_path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(reference / f.key)
    assert (clones / "grade-school-math/grade_school_math/data/test.jsonl").is_symlink()
    monkeypatch.setenv("PEDAGRAPH_DATA_DIR", str(clones))
    located = datasets.locate("mrbench/MRBench/MRBench_V1.json")
    assert located is not None and located.origin == "local copy"
    assert located.path == clones / "UnifyingAITutorEvaluation/MRBench/MRBench_V1.json"
    [r] = fetch(["mrbench/MRBench/MRBench_V1.json"])
    assert r.checksum == "verified"


# ------------------------------------------------------------------------------------------------------------
# verify
# ------------------------------------------------------------------------------------------------------------


def test_verify_finds_a_fetched_file_that_changed(server, home):
    fetch([SMALL, UNPINNED], mirror=server.url)
    checks = {(c.key, c.where): c for c in verify([SMALL, UNPINNED])}
    assert set(checks) == {(SMALL, "fetched"), (UNPINNED, "fetched")}  # no local copy configured
    assert checks[(SMALL, "fetched")].status == "verified" and checks[(UNPINNED, "fetched")].status == "unpinned"
    result = cli.invoke(app, ["data", "verify", "strategyqa", "gsm8k-socratic"])
    assert result.exit_code == 0, result.output
    assert "0 corrupt" in result.output
    with (home / "data" / UNPINNED).open("ab") as fh:
        fh.write(b"\n")
    [c] = verify([UNPINNED])
    assert c.status == "corrupt" and "changed since it was fetched" in c.detail
    result = cli.invoke(app, ["data", "verify", UNPINNED])
    assert result.exit_code == 1 and "1 corrupt" in result.output


def test_verify_the_shared_copy(home, reference_copy):
    checks = verify()
    assert checks and {c.where for c in checks} == {"local copy"}
    by_status = {c.key: c.status for c in checks}
    pinned = {f.key for d in DATASETS for f in d.files if f.sha256}
    assert {k for k, s in by_status.items() if s == "verified"} == pinned
    assert {k for k, s in by_status.items() if s == "unpinned"} == {f.key for d in DATASETS for f in d.files} - pinned


# ------------------------------------------------------------------------------------------------------------
# the CLI
# ------------------------------------------------------------------------------------------------------------


def test_cli_fetch_says_each_licence_once(server, home):
    result = cli.invoke(app, ["data", "fetch", "strategyqa", "mrbench-v1", "--mirror", server.url, "-q"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.count("licence MIT") == 1 and out.count("licence CC BY-SA 4.0") == 1
    assert out.count("matches the pinned upstream sha256") == 5 and "cite Geva et al. 2021" in out
    result = cli.invoke(app, ["data", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    row = next(line for line in result.output.splitlines() if "mrbench-v1" in line)
    assert "fetched" in row and "CC BY-SA 4.0" in row and "judge" in row
    result = cli.invoke(app, ["data", "path", "strategyqa/dev.json"])
    assert result.output.strip() == str(home / "data" / "strategyqa" / "dev.json")


def test_cli_errors(online, home):
    result = cli.invoke(app, ["data", "fetch"])
    assert isinstance(result.exception, PedagraphError) and "or pass --all" in str(result.exception)
    result = cli.invoke(app, ["data", "path", "mathdial"])  # nothing fetched: the bundled sample's files
    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(sample_path(f.key)) for f in datasets.get_dataset("mathdial").files]
    with raises_line(r"mathdial/test.jsonl has not been fetched — run `pedagraph data fetch mathdial`"):
        datasets.require("mathdial/test.jsonl", sample=False)


def _pedagraph(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("PEDAGRAPH_DATA")}
    return subprocess.run([sys.executable, "-m", "pedagraph.cli", *args], capture_output=True, text=True,
                          env={**full, **env}, timeout=120)  # fmt: skip


def test_cli_errors_are_one_line(home):
    proc = _pedagraph("data", "fetch", "mnist", env={"PEDAGRAPH_HOME": str(home)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: unknown dataset 'mnist' — known datasets: gsm8k, gsm8k-socratic, mathdial, mrbench-v1, mrbench-v2, "
        "bea2025-dev, strategyqa, ecqa, bridge"
    ]


# ------------------------------------------------------------------------------------------------------------
# suites resolve their data through the registry
# ------------------------------------------------------------------------------------------------------------


def test_nothing_configured_runs_on_the_sample_and_says_so(home):
    proc = _pedagraph("eval", "tutoring", "--limit", "1", "--out", str(home / "run"), "--no-progress",
                      env={"PEDAGRAPH_HOME": str(home)})  # fmt: skip
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert ("note: ran on the bundled sample of mathdial/test.jsonl (its first rows, not the full dataset); "
            "`pedagraph data fetch mathdial` gets the full data") in proc.stderr  # fmt: skip
    run = json.loads((home / "run" / "run.json").read_text())
    assert run["data"]["sample"] is True and run["data"]["source"]["origin"] == "sample"
    assert run["data"]["items"] == ROWS["mathdial/test.jsonl"]
    assert "**the bundled sample**" in (home / "run" / "report.md").read_text()


@pytest.mark.parametrize(("suite", "command"), [("solve", "pedagraph data fetch gsm8k"),
                                                 ("judge", "pedagraph data fetch mrbench-v1")])  # fmt: skip
def test_each_default_names_its_dataset(online, suite, command):
    from pedagraph.evals.runner import get_suite, resolve_data_path

    cls = get_suite(suite)
    assert resolve_data_path(cls, None) == sample_path(cls.default_data)  # nothing fetched: the sample
    with raises_line(f"run `{command}`"):
        datasets.require(cls.default_data, suite=suite, sample=False)


def test_a_local_copy_without_the_file(home, tmp_path, monkeypatch):
    from pedagraph.evals.runner import get_suite, resolve_data_path

    monkeypatch.setenv("PEDAGRAPH_DATA_DIR", str(tmp_path))
    with raises_line(r"neither in the local copy .* nor fetched .*`PEDAGRAPH_DATA_DIR= pedagraph "
                                        r"data fetch mrbench-v1`"):  # fmt: skip
        datasets.require("mrbench/MRBench/MRBench_V1.json", sample=False)
    assert resolve_data_path(get_suite("judge"), None) == sample_path("mrbench/MRBench/MRBench_V1.json")


def test_data_option_takes_paths_keys_and_names(home, reference_copy):
    from pedagraph.evals.runner import get_suite, resolve_data_path

    judge = get_suite("judge")
    v2 = reference_copy / "mrbench/MRBench/MRBench_V2.json"
    assert resolve_data_path(judge, "mrbench-v2") == v2.resolve()
    assert resolve_data_path(judge, "mrbench/MRBench/MRBench_V2.json") == v2.resolve()
    assert resolve_data_path(judge, str(v2)) == v2.resolve()
    other = "mrbench/BEA_Shared_Task_2025_Datasets/mrbench_v3_testset.json"  # in the local copy, not the registry
    if not (reference_copy / other).is_file():
        (reference_copy / other).write_text("[]")
    assert resolve_data_path(judge, other) == (reference_copy / other).resolve()
    with raises_line("data file not found: nope.json"):
        resolve_data_path(judge, "nope.json")


@pytest.mark.parametrize("suite", ["solve", "judge", "tutoring"])
def test_every_suite_runs_with_no_data_option(home, reference_copy, suite):
    """With PEDAGRAPH_DATA_DIR on the shared copy (conftest), each suite finds its default data."""
    out = home.parent / f"run-{suite}"
    result = cli.invoke(app, ["eval", suite, "--out", str(out), "--limit", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    cls_default = {"solve": "gsm8k/test.jsonl", "judge": "mrbench/MRBench/MRBench_V1.json",
                   "tutoring": "mathdial/test.jsonl"}[suite]  # fmt: skip
    source = run["data"]["source"]
    assert source["origin"] == "local copy" and source["file"] == cls_default
    assert source["root"] == str(reference_copy) and source["upstream"].startswith("https://raw.githubusercontent.com/")
    assert source["checksum"] == ("verified" if suite == "judge" else "unpinned")
    assert run["data"]["sha256"] == sha(reference_copy / cls_default) and run["data"]["sample"] is False
    assert "data source" in (out / "report.md").read_text()


def test_a_fetched_file_is_the_default_and_run_json_says_where_it_came_from(server, home):
    from pedagraph.evals.runner import RunConfig, build_run_record, get_suite, resolve_data_path

    judge = get_suite("judge")
    fetch(["mrbench-v1"], mirror=server.url)
    path = resolve_data_path(judge, None)
    assert path == (home / "data" / "mrbench/MRBench/MRBench_V1.json").resolve()
    record = build_run_record(judge({}), RunConfig(out_dir=home / "run", data_path=path), sha(path), 1)
    source = record["data"]["source"]
    assert source["origin"] == "fetched" and source["dataset"] == "mrbench-v1" and source["checksum"] == "verified"
    assert source["fetched_from"] == f"{server.url}/mrbench/MRBench/MRBench_V1.json" and source["fetched_at"]
    copy = home.parent / "elsewhere.json"  # the same bytes given with --data are recognised by their checksum
    shutil.copy(path, copy)
    record = build_run_record(judge({}), RunConfig(out_dir=home / "run", data_path=copy), sha(copy), 1)
    assert record["data"]["source"]["origin"] == "path" and record["data"]["source"]["dataset"] == "mrbench-v1"


# ------------------------------------------------------------------------------------------------------------
# data list for people and scripts; --data FILE finds the dataset's other files
# ------------------------------------------------------------------------------------------------------------


def test_data_list_is_one_row_per_dataset_when_piped_and_json_for_scripts(home):
    proc = _pedagraph("data", "list", env={"PEDAGRAPH_HOME": str(home), "COLUMNS": "40"})
    assert proc.returncode == 0, proc.stderr
    for d in DATASETS:  # `pedagraph data list | grep -w NAME` finds the whole row
        rows = [line for line in proc.stdout.splitlines() if re.search(rf"(^|\s){re.escape(d.name)}(\s|$)", line)]
        assert len(rows) == 1, (d.name, rows)
        assert d.main.key in rows[0] and d.licence in rows[0] and rows[0].rstrip().endswith("sample"), rows[0]
    proc = _pedagraph("data", "list", "--json", env={"PEDAGRAPH_HOME": str(home)})
    rows = json.loads(proc.stdout)
    assert [r["dataset"] for r in rows] == [d.name for d in DATASETS]
    strategyqa = next(r for r in rows if r["dataset"] == "strategyqa")
    assert strategyqa["files"][0] == "strategyqa/dev.json" and strategyqa["here"] == "sample"
    assert strategyqa["suites"] == ["solve", "tom"] and strategyqa["licence"] == "MIT"


def _tom(data: Path, out: Path) -> object:
    args = ["eval", "tom", "--data", str(data), "--limit", "1", "--seeds", "41", "--option", "calibration_items=2",
            "--option", "multiturn=", "--option", "samples=1", "--out", str(out), "--no-progress"]  # fmt: skip
    return cli.invoke(app, args)


@pytest.mark.parametrize("layout", ["key", "clone", "folder"])
def test_eval_data_file_finds_the_pool_beside_it_or_stops_at_once(online, home, tmp_path, layout):
    dev, train = data_file("strategyqa/dev.json").path, data_file("strategyqa/train.json").path
    key, pool = registry_file("strategyqa/dev.json"), registry_file("strategyqa/train.json")
    rel = {"key": (key.key, pool.key), "clone": (key.clone_path, pool.clone_path),
           "folder": ("mine/test.json", "mine/train.json")}[layout]  # fmt: skip
    data = tmp_path / "copy" / rel[0]
    data.parent.mkdir(parents=True)
    shutil.copy(dev, data)
    result = _tom(data, tmp_path / "run-missing")  # no pool beside it, none fetched: one line, before any item
    assert result.exit_code != 0 and isinstance(result.exception, DataError)
    assert result.exception.one_line().startswith(
        f"no data for the tom suite: the training pool strategyqa/train.json is not beside {data}")
    assert "pedagraph data fetch strategyqa" in result.exception.one_line()
    assert not (tmp_path / "run-missing" / "results.jsonl").exists()
    (tmp_path / "copy" / rel[1]).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(train, tmp_path / "copy" / rel[1])
    result = _tom(data, tmp_path / "run")
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok"]


def test_eval_data_file_takes_the_misleading_demos_from_beside_it(online, home, tmp_path):
    from pedagraph.evals.runner import RunConfig, get_suite, run_suite_sync

    from pedagraph.llm import StandInChatModel

    folder = tmp_path / "copy" / "strategyqa"
    folder.mkdir(parents=True)
    for name in ("dev.json", "train.json"):
        shutil.copy(data_file(f"strategyqa/{name}").path, folder / name)
    options = {"seeds": "41", "explanations": "human,harmful", "calibration_items": 2, "multiturn": "",
               "samples": 1, "functions": "random"}  # fmt: skip

    def run(out: Path) -> tuple[StandInChatModel, object]:
        teacher = StandInChatModel(model_name="teacher", reply_fn=lambda call: "It is not. So the answer is no.")
        config = RunConfig(out_dir=out, data_path=folder / "dev.json", limit=1, models={"teacher": {"model": teacher}})
        return teacher, run_suite_sync(get_suite("tom")(options), config, progress=False)

    # nothing beside it, none fetched: one line naming the file, before any item (never the registry's sample)
    with pytest.raises(DataError, match="the misleading demos strategyqa/harmful_explanations.json is not beside"):
        run(tmp_path / "run-missing")
    assert not (tmp_path / "run-missing" / "results.jsonl").exists()
    mine = "Penguins are fish, so they cannot be birds."
    (folder / "harmful_explanations.json").write_text(
        json.dumps(
            [{"qid": "mine", "question": "Is a penguin a bird?", "wrong_answer": "no", "harmful_explanation": [mine]}]
        )
    )
    teacher, result = run(tmp_path / "run")
    assert result.ok == 1 and result.errors == 0
    prompts = [c.last_user for c in teacher.calls if "Is a penguin a bird?" in c.last_user]
    assert prompts and all(mine in p for p in prompts)
    registry = harmful_demos(data_file("strategyqa/harmful_explanations.json").path)
    assert not any(d.explanation in c.last_user for d in registry for c in teacher.calls)


def test_a_run_whose_every_item_fails_with_one_data_error_exits_non_zero(home, tmp_path):
    from pedagraph.evals.runner import SUITES, Item, Suite, register_suite

    class Broken(Suite):
        name = "broken-data"
        description = "every item needs a file that is not there"
        roles = ()
        default_data = "gsm8k/test.jsonl"

        def load_items(self, path):
            return [Item(str(i), {}) for i in range(3)]

        async def run_item(self, item, ctx):
            if self.options.get("half") and item.id == "0":
                return {}
            raise DataError("pool.json not found")

        def summarize(self, results):
            return {}

    register_suite(Broken)
    try:
        result = cli.invoke(app, ["eval", "broken-data", "--out", str(tmp_path / "a"), "--no-progress"])
        assert result.exit_code == 1 and isinstance(result.exception, DataError)
        line = result.exception.one_line()
        assert line == "every item of the run failed with the same data error: pool.json not found"
        result = cli.invoke(app, ["eval", "broken-data", "--out", str(tmp_path / "b"), "--option", "half=1",
                                  "--no-progress"])  # fmt: skip
        assert result.exit_code == 0, result.output  # one item scored: the errors are the items', not the data's
    finally:
        SUITES.pop("broken-data", None)


def test_the_datasets_page_agrees_with_the_registry():
    """docs/datasets.md lists every dataset once with the registry's licence and suites (what `data list` prints)."""
    text = (REPO / "docs" / "datasets.md").read_text(encoding="utf-8")
    rows = {m.group(1): [c.strip() for c in m.group(2).split(" | ")]
            for m in re.finditer(r"^\| `([a-z0-9-]+)` \| (.*) \|$", text, re.M)}  # fmt: skip
    assert set(rows) == {d.name for d in DATASETS}
    for d in DATASETS:
        _source, licence, _size, suites = rows[d.name]
        assert licence == d.licence and suites == ", ".join(d.suites), d.name
        assert all(f.path in rows[d.name][0] for f in d.files), d.name


def _suite_names() -> list[str]:
    from pedagraph.evals.runner import load_suites

    return sorted(load_suites())


@pytest.mark.parametrize("suite", _suite_names())
def test_every_suite_runs_on_its_bundled_sample_with_nothing_configured(online, home, suite):
    """A fresh install (no local copy, nothing fetched): `eval SUITE --limit 2` runs and says it used a sample."""
    assert {"solve", "judge", "tutoring", "tom", "lesson", "copilot", "coach", "distill"} <= set(_suite_names())
    out = home.parent / f"run-{suite}"
    result = cli.invoke(app, ["eval", suite, "--out", str(out), "--limit", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "2 scored, 0 errors of 2 items" in result.output
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    shown = [n for n, m in metrics.items() if isinstance(m, dict) and m.get("value") is not None][:3]
    assert all(f"{name} " in result.output for name in shown), (shown, result.output)  # as summary.json names them
    run = json.loads((out / "run.json").read_text())
    assert run["data"]["sample"] is True and run["data"]["source"]["origin"] == "sample"
    assert run["data"]["source"]["full_data"].startswith("pedagraph data fetch ")
    assert "**the bundled sample**" in (out / "report.md").read_text()


def test_jsonl_rows_skip_blank_lines_and_name_the_line_that_is_not_json(tmp_path):
    """One JSON Lines reader for every loader: blank lines skipped, a broken line is one DataError with its number."""
    from pedagraph.datasets import jsonl_rows

    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{broken\n', encoding="utf-8")
    rows = jsonl_rows(path)
    assert next(rows) == (1, {"a": 1}) and next(rows) == (3, {"a": 2})
    with pytest.raises(DataError, match=r"rows.jsonl: line 4 is not JSON"):
        next(rows)
