"""Find, fetch and verify the registry's files: a local copy, `$PEDAGRAPH_HOME/data`, the pinned upstream URLs.

Where a file is looked up, in order: the local copy (`PEDAGRAPH_DATA_DIR`), laid out by key
(`<dir>/gsm8k/test.jsonl`) or as clones of the upstream repositories (`<dir>/grade-school-math/grade_school_math/
data/test.jsonl`); then the fetched copy `$PEDAGRAPH_HOME/data/<key>`; last the sample bundled in the package
(`pedagraph/data/samples/<key>`, the first few dozen rows), so every suite runs on a fresh install.
A fetch downloads into `<key>.part` and
moves the file into place only once it is complete and its checksum checked, so a file under its key is always
whole; a dropped connection is resumed with an HTTP Range request (the partial file is kept between runs), a
server that ignores Range makes it start over. `PEDAGRAPH_DATA_URL_BASE` (or `mirror=`) replaces the upstream
URLs by `<base>/<key>`. From a local copy (`source_dir=` or `PEDAGRAPH_DATA_DIR`) nothing touches the network,
and a checksum that differs from upstream (a split, a subset) is reported, not enforced.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pedagraph.datasets.registry import DATASETS, DataFile, Dataset
from pedagraph.datasets.samples import sample_path, samples_root
from pedagraph.errors import DataError, PedagraphError

DATA_DIR_ENV = "PEDAGRAPH_DATA_DIR"
URL_BASE_ENV = "PEDAGRAPH_DATA_URL_BASE"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".lock"
CHUNK = 1 << 16

Origin = Literal["local copy", "fetched", "sample", "path"]
Checksum = Literal["verified", "differs", "unpinned"]

CHECKSUM_TEXT: dict[str, str] = {
    "sample": "the bundled sample (the first rows of the file), not the full dataset",
    "verified": "matches the pinned upstream sha256",
    "differs": "differs from the pinned upstream sha256 (a split or subset?): reported, not enforced",
    "unpinned": "no pinned upstream sha256 (not verified here)",
}


# ----------------------------------------------------------------------------------------------------------
# The registry
# ----------------------------------------------------------------------------------------------------------


def all_datasets() -> tuple[Dataset, ...]:
    """Every dataset of the registry."""
    return DATASETS


def dataset_names() -> list[str]:
    """The registry's dataset names."""
    return [d.name for d in DATASETS]


def get_dataset(name: str) -> Dataset:
    """The dataset called `name` (a one-line error listing the known names otherwise)."""
    for dataset in DATASETS:
        if dataset.name == name:
            return dataset
    raise DataError(f"unknown dataset {name!r}", hint=f"known datasets: {', '.join(dataset_names())}")


def find_file(key: str) -> tuple[Dataset, DataFile] | None:
    """The dataset and file of a key such as `gsm8k/test.jsonl`, or None."""
    key = _norm_key(key)
    for dataset in DATASETS:
        for file in dataset.files:
            if file.key == key:
                return dataset, file
    return None


def select(names: Iterable[str]) -> list[tuple[Dataset, list[DataFile]]]:
    """Datasets and files named by dataset names or file keys, in order, each once."""
    out: dict[str, tuple[Dataset, list[DataFile]]] = {}
    for name in names:
        found = find_file(name)
        if found is not None:
            dataset, file = found
            files = out.setdefault(dataset.name, (dataset, []))[1]
            if file not in files:
                files.append(file)
            continue
        dataset = get_dataset(name)
        out[dataset.name] = (dataset, list(dataset.files))
    return list(out.values())


def fetch_command(key: str) -> str:
    """The `pedagraph data fetch` command that gets the file `key`."""
    found = find_file(key)
    return f"pedagraph data fetch {found[0].name if found else key}"


def _norm_key(key: str) -> str:
    return str(key).replace("\\", "/").strip().strip("/")


# ----------------------------------------------------------------------------------------------------------
# Where files are
# ----------------------------------------------------------------------------------------------------------


def local_copy() -> Path | None:
    """The local copy configured with PEDAGRAPH_DATA_DIR, or None."""
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else None


def data_home() -> Path:
    """Where `pedagraph data fetch` puts files: `$PEDAGRAPH_HOME/data`."""
    from pedagraph.settings import load_settings

    return load_settings().home / "data"


def _candidates(key: str, root: Path) -> list[Path]:
    found = find_file(key)
    paths = [root / _norm_key(key)]
    if found is not None:
        paths.append(root / found[1].clone_path)
    return paths


def in_dir(key: str, root: Path) -> Path | None:
    """The file `key` in a directory laid out by key or as upstream clones, or None."""
    for path in _candidates(key, root):
        if path.is_file():
            return path
    return None


@dataclass(frozen=True)
class Located:
    """A data file found on this machine, and where it came from."""

    path: Path
    origin: Origin
    root: Path | None = None
    key: str | None = None

    @property
    def registry(self) -> tuple[Dataset, DataFile] | None:
        """The registry entry of the file, when it is one."""
        return find_file(self.key) if self.key else None


def locate(
    key: str, *, local: Path | None = None, home: Path | None = None, use_env: bool = True, sample: bool = True
) -> Located | None:
    """Find the file `key`: in the local copy (PEDAGRAPH_DATA_DIR), `$PEDAGRAPH_HOME/data`, then the bundled sample."""
    key = _norm_key(key)
    local = local if local is not None else (local_copy() if use_env else None)
    if local is not None:
        path = in_dir(key, local)
        if path is not None:
            return Located(path, "local copy", local, key)
    home = home if home is not None else data_home()
    path = home / key
    if path.is_file():
        return Located(path, "fetched", home, key)
    if sample:
        path = sample_path(key)
        if path is not None:
            return Located(path, "sample", samples_root(), key)
    return None


def require(key: str, *, suite: str | None = None, sample: bool = True) -> Located:
    """Find the file `key` (full copy, else its bundled sample) or raise a one-line DataError naming the fetch."""
    located = locate(key, sample=sample)
    if located is not None:
        return located
    key = _norm_key(key)
    what = f"no data for the {suite} suite: {key}" if suite else key
    local = local_copy()
    found = find_file(key)
    if found is None:
        where = f"the local copy {local} ({DATA_DIR_ENV}) nor in " if local else ""
        raise DataError(f"{what} is neither in {where}{data_home()}", hint="pass --data PATH" if suite else "")
    if local is not None:
        raise DataError(
            f"{what} is neither in the local copy {local} ({DATA_DIR_ENV}) nor fetched",
            hint=f"add it there as {local / key}, or run `{DATA_DIR_ENV}= {fetch_command(key)}` to download it",
        )
    also = "pass --data PATH, or " if suite else ""
    raise DataError(
        f"{what} has not been fetched",
        hint=f"run `{fetch_command(key)}` (or {also}set {DATA_DIR_ENV} to a local copy)",
    )


def sample_notice(key: str) -> str:
    """A sentence for an app's status line when `key` is read from its bundled sample ("" for a full copy)."""
    from pedagraph.datasets.samples import ROWS

    located = locate(key)
    if located is None or located.origin != "sample":
        return ""
    found = find_file(key)
    title = found[0].title if found else key
    rows = ROWS.get(located.key or key)
    part = f"its first {rows} rows" if rows else "the whole file"
    return (f"The {title} items come from the small sample shipped with pedagraph ({part}), not the full dataset; "
            "whoever runs this app can fetch the full one.")


def beside(path: Path, key: str, other: str) -> Path | None:
    """The registry file `other` next to `path`, a copy of the file `key` (the same data root, else the same folder).

    `DIR/strategyqa/dev.json` (laid out by key or as upstream clones) finds `DIR/strategyqa/train.json`; a file
    elsewhere finds a file of the same name in its folder.
    """
    path = Path(path).absolute()
    found = find_file(key)
    layouts = [_norm_key(key)] + ([found[1].clone_path] if found else [])
    candidates: list[Path] = []
    for rel in layouts:
        parts = Path(rel).parts
        if len(path.parts) > len(parts) and path.parts[-len(parts) :] == parts:
            candidates += _candidates(other, Path(*path.parts[: -len(parts)]))
    candidates.append(path.parent / Path(other).name)
    return next((p for p in candidates if p.is_file()), None)


def companion(path: Path, key: str, other: str, *, what: str, suite: str) -> Path:
    """The file `other` that goes with the data file `path` (a copy of `key`): beside it, else a full copy here.

    Raises a one-line DataError naming what is missing, before any item runs.
    """
    near = beside(path, key, other)
    if near is not None:
        return near
    located = locate(other, sample=False)
    if located is not None:
        return located.path
    found = find_file(other)
    fetch = f", or `{fetch_command(other)}`" if found else ""
    raise DataError(
        f"no data for the {suite} suite: {what} {other} is not beside {path}",
        hint=f"put {Path(other).name} next to it{fetch} (or pass --option pool=PATH)",
    )


def resolve_name(name: str) -> Located | None:
    """Find `name` given as a file key, a dataset name (its main file) or a path relative to a data root."""
    if find_file(name) is None and name in dataset_names():
        name = get_dataset(name).main.key
    return locate(name)


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) of every non-blank line of a JSON Lines file; a line that is not JSON is one `DataError`."""
    from pedagraph.errors import DataError

    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {number} is not JSON ({exc.msg})") from None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_status(file: DataFile, sha256: str) -> Checksum:
    """How a file's sha256 compares with the registry's pinned upstream one."""
    if not file.sha256:
        return "unpinned"
    return "verified" if sha256 == file.sha256 else "differs"


def read_manifest(home: Path | None = None) -> dict[str, dict[str, Any]]:
    """What `pedagraph data fetch` recorded about each fetched file (source, sha256, time)."""
    path = (home or data_home()) / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(path: Path, sha256: str) -> dict[str, Any]:
    """Where a data file of a run came from, for run.json: registry file, origin, upstream URL, checksum status."""
    path = Path(path).resolve()
    local, home = local_copy(), data_home()
    for dataset in DATASETS:
        for file in dataset.files:
            sample = sample_path(file.key)
            if sample is not None and _same(path, sample):
                return {"origin": "sample", "root": str(samples_root()), "dataset": dataset.name, "file": file.key,
                        "upstream": file.url, "upstream_sha256": file.sha256, "checksum": "sample",
                        "full_data": fetch_command(file.key)}  # fmt: skip
            for origin, root in (("local copy", local), ("fetched", home)):
                if root is None or not any(_same(path, p) for p in _candidates(file.key, root)):
                    continue
                out: dict[str, Any] = {
                    "origin": origin,
                    "root": str(root),
                    "dataset": dataset.name,
                    "file": file.key,
                    "upstream": file.url,
                    "upstream_sha256": file.sha256,
                    "checksum": checksum_status(file, sha256),
                }
                if origin == "fetched":
                    entry = read_manifest(home).get(file.key) or {}
                    out["fetched_from"] = entry.get("source")
                    out["fetched_at"] = entry.get("fetched_at")
                return out
    for dataset in DATASETS:
        for file in dataset.files:
            if file.sha256 == sha256:
                return {"origin": "path", "dataset": dataset.name, "file": file.key, "upstream": file.url,
                        "upstream_sha256": file.sha256, "checksum": "verified"}  # fmt: skip
    return {"origin": "path", "dataset": None}


def _same(a: Path, b: Path) -> bool:
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


# ----------------------------------------------------------------------------------------------------------
# Fetching
# ----------------------------------------------------------------------------------------------------------


@dataclass
class FetchResult:
    """What fetching one file did."""

    key: str
    path: Path
    sha256: str
    size: int
    source: str
    action: Literal["downloaded", "copied", "present"]
    checksum: Checksum
    resumed_from: int = 0
    transferred: int = 0
    seconds: float = 0.0

    @property
    def throughput(self) -> float | None:
        """Bytes per second moved by this fetch (None when nothing was moved)."""
        return self.transferred / self.seconds if self.transferred and self.seconds > 0 else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _unlink(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass
class Fetcher:
    """Fetch registry files into `home` (default `$PEDAGRAPH_HOME/data`) from a local copy, a mirror or upstream.

    Use as a context manager: it holds a lock on `home` (one fetch at a time), one HTTP client and one
    progress display (`console` is a rich Console; None shows no progress).
    """

    home: Path | None = None
    source_dir: Path | None = None
    mirror: str | None = None
    force: bool = False
    console: Any = None
    attempts: int = 3
    backoff: float = 0.5
    timeout: float = 30.0
    use_env: bool = True
    _client: Any = field(default=None, init=False, repr=False)
    _progress: Any = field(default=None, init=False, repr=False)
    _lock: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.home = Path(self.home) if self.home is not None else data_home()
        if self.source_dir is None and self.mirror is None and self.use_env:
            self.source_dir = local_copy()
            if self.source_dir is None:
                self.mirror = os.environ.get(URL_BASE_ENV, "").strip() or None
        if self.source_dir is not None:
            self.source_dir = Path(self.source_dir).expanduser()
            if not self.source_dir.is_dir():
                raise DataError(
                    f"local copy {self.source_dir} is not a directory", hint=f"check --from / {DATA_DIR_ENV}"
                )
        if self.mirror is not None and not re.match(r"https?://", self.mirror):
            raise DataError(
                f"mirror URL {self.mirror!r} must start with http:// or https://",
                hint=f"check --mirror / {URL_BASE_ENV}",
            )
        if self.attempts < 1:
            raise PedagraphError(f"attempts must be at least 1, got {self.attempts}")

    @property
    def offline(self) -> bool:
        """Whether files come from a local copy (no network)."""
        return self.source_dir is not None

    def url_of(self, file: DataFile) -> str:
        """Where `file` is downloaded from: the mirror's `<base>/<key>`, else the pinned upstream URL."""
        return f"{self.mirror.rstrip('/')}/{file.key}" if self.mirror else file.url

    def __enter__(self) -> Fetcher:
        assert self.home is not None
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create {self.home}: {exc.strerror or exc}", hint="check PEDAGRAPH_HOME") from None
        self._lock = _lock(self.home)
        self._lock.__enter__()
        try:
            if not self.offline:
                import httpx

                self._client = httpx.Client(
                    timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
                    follow_redirects=True,
                    headers={"Accept-Encoding": "identity", "User-Agent": _user_agent()},
                )
            self._progress = _make_progress(self.console)
            self._progress.__enter__()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._progress is not None:
                self._progress.__exit__(None, None, None)
            if self._client is not None:
                self._client.close()
        finally:
            self._lock.__exit__(None, None, None)

    # -- one file ------------------------------------------------------------------------------------------

    def fetch_file(self, file: DataFile) -> FetchResult:
        """Fetch one file unless a whole copy is already in place; return what was done."""
        assert self.home is not None
        dest = self.home / file.key
        manifest = read_manifest(self.home)
        if dest.is_file() and not self.force:
            sha = sha256_file(dest)
            entry = manifest.get(file.key) or {}
            if sha == file.sha256 or sha == entry.get("sha256"):
                return FetchResult(file.key, dest, sha, dest.stat().st_size, str(entry.get("source") or dest),
                                   "present", checksum_status(file, sha))  # fmt: skip
        dest.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        if self.offline:
            assert self.source_dir is not None
            src = in_dir(file.key, self.source_dir)
            if src is None:
                raise DataError(
                    f"{file.key} is not in the local copy {self.source_dir}",
                    hint=f"lay it out as {self.source_dir / file.key} (or {self.source_dir / file.clone_path}), "
                    f"or drop --from / unset {DATA_DIR_ENV} to download it",
                )
            sha, size = self._copy(file, src)
            source, action, resumed, moved = str(src), "copied", 0, size
        else:
            source = self.url_of(file)
            sha, size, resumed, moved = self._download(file, source)
            action = "downloaded"
        seconds = time.perf_counter() - start
        status = checksum_status(file, sha)
        manifest = read_manifest(self.home)
        manifest[file.key] = {
            "sha256": sha,
            "size": size,
            "source": source,
            "kind": "copy" if self.offline else "download",
            "upstream_sha256": file.sha256,
            "checksum": status,
            "fetched_at": _now(),
        }
        _write_json(self.home / MANIFEST_FILE, manifest)
        return FetchResult(file.key, dest, sha, size, source, action, status, resumed, moved, seconds)  # type: ignore[arg-type]

    def _finish(self, file: DataFile, part: Path) -> Path:
        assert self.home is not None
        dest = self.home / file.key
        os.replace(part, dest)
        _fsync_dir(dest.parent)
        return dest

    def _copy(self, file: DataFile, src: Path) -> tuple[str, int]:
        assert self.home is not None
        part = (self.home / file.key).with_name(Path(file.key).name + ".part")
        digest = hashlib.sha256()
        size = src.stat().st_size
        task = self._progress.add_task(file.key, total=size)
        try:
            with src.open("rb") as fin, part.open("wb") as fout:
                for block in iter(lambda: fin.read(CHUNK), b""):
                    fout.write(block)
                    digest.update(block)
                    self._progress.advance(task, len(block))
                fout.flush()
                os.fsync(fout.fileno())
        except OSError as exc:
            _unlink(part)
            raise DataError(f"cannot copy {src}: {exc.strerror or exc}") from None
        self._finish(file, part)
        return digest.hexdigest(), size

    def _download(self, file: DataFile, url: str) -> tuple[str, int, int, int]:
        """Download `url` into `<key>.part` (resuming a partial file), check it and move it into place.

        Returns the sha256, the size, the offset the last attempt resumed from and the bytes moved in all.
        """
        import httpx

        assert self.home is not None
        dest = self.home / file.key
        part = dest.with_name(dest.name + ".part")
        meta = dest.with_name(dest.name + ".part.json")
        task = self._progress.add_task(file.key, total=file.size)
        last_error = ""
        resumed_from = moved = 0
        for attempt in range(self.attempts):
            if attempt and self.backoff:
                time.sleep(self.backoff * attempt)
            offset, validator = _partial(part, meta, url)
            headers = {}
            if offset:
                headers["Range"] = f"bytes={offset}-"
                if validator:
                    headers["If-Range"] = validator
            try:
                with self._client.stream("GET", url, headers=headers) as resp:
                    code = resp.status_code
                    if code == 404:
                        _unlink(part, meta)
                        raise DataError(
                            f"{file.key} not found at {url} (HTTP 404)",
                            hint="the mirror lacks it" if self.mirror else "the upstream repository moved it",
                        )
                    if code == 416 and offset:  # the partial file is not a prefix the server can continue
                        _unlink(part, meta)
                        last_error = "HTTP 416 for the resumed range; starting over"
                        continue
                    if code == 429 or code >= 500:
                        last_error = f"HTTP {code}"
                        continue
                    if code not in (200, 206):
                        raise DataError(f"cannot download {file.key} from {url}: HTTP {code}")
                    if code == 206 and _range_start(resp.headers.get("content-range")) != offset:
                        _unlink(part, meta)
                        last_error = "the server answered a different range; starting over"
                        continue
                    if code == 200:
                        offset = 0  # no Range support, or the file changed (If-Range): start over
                    length = _int(resp.headers.get("content-length"))
                    total = offset + length if length is not None else file.size
                    _write_json(meta, {"url": url, "validator": _validator(resp.headers)})
                    digest = _hash_prefix(part, offset)
                    resumed_from = offset
                    self._progress.update(task, total=total, completed=offset)
                    received = offset
                    with part.open("ab" if offset else "wb") as fh:
                        try:  # a body cut short raises (httpx checks Content-Length): the bytes so far are kept
                            for chunk in resp.iter_raw():  # as received: a chunk size would buffer bytes a drop loses
                                fh.write(chunk)
                                digest.update(chunk)
                                received += len(chunk)
                                moved += len(chunk)
                                self._progress.update(task, completed=received)
                        finally:
                            fh.flush()
                            os.fsync(fh.fileno())
            except httpx.TransportError as exc:
                last_error = _transport_error(exc)
                continue
            sha = digest.hexdigest()
            if file.sha256 and sha != file.sha256:
                _unlink(part, meta)
                raise DataError(
                    f"checksum mismatch for {file.key} from {url}: expected sha256 {file.sha256[:16]}…, got "
                    f"{sha[:16]}…; the download was discarded",
                    hint="the file at that URL is not the pinned upstream file; check the mirror, or use --from DIR",
                )
            self._finish(file, part)
            _unlink(meta)
            return sha, received, resumed_from, moved
        kept = part.is_file() and part.stat().st_size > 0
        raise DataError(
            f"could not download {file.key} from {url} after {self.attempts} attempt"
            f"{'s' if self.attempts > 1 else ''} ({last_error})",
            hint=f"{part.stat().st_size} bytes are kept in {part}: run the same command again to resume"
            if kept
            else f"check the network; on an offline machine use --from DIR or set {DATA_DIR_ENV}",
        )


def fetch(
    names: Iterable[str],
    *,
    source_dir: Path | None = None,
    mirror: str | None = None,
    force: bool = False,
    home: Path | None = None,
    console: Any = None,
    **options: Any,
) -> list[FetchResult]:
    """Fetch the named datasets or files (see `Fetcher`) and return one result per file."""
    selection = select(names)
    with Fetcher(home=home, source_dir=source_dir, mirror=mirror, force=force, console=console, **options) as f:
        return [f.fetch_file(file) for _, files in selection for file in files]


def _partial(part: Path, meta: Path, url: str) -> tuple[int, str | None]:
    """Bytes of a partial download of `url` that can be resumed, and its validator (0 when there is none)."""
    if not part.is_file():
        _unlink(meta)
        return 0, None
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = {}
    if info.get("url") != url:  # a partial file of another source cannot be continued
        _unlink(part, meta)
        return 0, None
    return part.stat().st_size, info.get("validator")


def _hash_prefix(part: Path, offset: int) -> Any:
    digest = hashlib.sha256()
    if offset:
        with part.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest


def _range_start(value: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", value or "")
    return int(match.group(1)) if match else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _validator(headers: Any) -> str | None:
    etag = headers.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("last-modified")


def _transport_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]


def _user_agent() -> str:
    from pedagraph import __version__

    return f"pedagraph/{__version__} (dataset fetch)"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def _lock(home: Path) -> Iterator[None]:
    """One fetch at a time per data directory (two would write the same .part files)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with (home / LOCK_FILE).open("a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise PedagraphError(
                f"another `pedagraph data fetch` is writing to {home}", hint="wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _make_progress(console: Any) -> Any:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=console is None,
        transient=False,
    )


# ----------------------------------------------------------------------------------------------------------
# Verifying
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One file's verification: where it is, its sha256 and what that means."""

    dataset: str
    key: str
    where: Literal["local copy", "fetched"]
    path: Path
    sha256: str
    status: Literal["verified", "differs", "unpinned", "corrupt"]
    detail: str

    @property
    def ok(self) -> bool:
        """False only for a fetched file that is not what was fetched (or not the pinned upstream file)."""
        return self.status != "corrupt"


def verify(
    names: Iterable[str] | None = None, *, local: Path | None = None, home: Path | None = None, use_env: bool = True
) -> list[Check]:
    """Check the sha256 of every file of the named datasets (default all) in the local copy and the fetched copy."""
    selection = select(names) if names else [(d, list(d.files)) for d in DATASETS]
    local = local if local is not None else (local_copy() if use_env else None)
    home = home if home is not None else data_home()
    manifest = read_manifest(home)
    checks: list[Check] = []
    for dataset, files in selection:
        for file in files:
            if local is not None and (path := in_dir(file.key, local)) is not None:
                sha = sha256_file(path)
                status = checksum_status(file, sha)
                checks.append(Check(dataset.name, file.key, "local copy", path, sha, status, CHECKSUM_TEXT[status]))
            path = home / file.key
            if path.is_file():
                checks.append(_check_fetched(dataset, file, path, manifest.get(file.key) or {}))
    return checks


def _check_fetched(dataset: Dataset, file: DataFile, path: Path, entry: dict[str, Any]) -> Check:
    sha = sha256_file(path)
    status: Any = checksum_status(file, sha)
    detail = CHECKSUM_TEXT[status]
    recorded = entry.get("sha256")
    if recorded and recorded != sha:
        status, detail = "corrupt", f"changed since it was fetched (recorded sha256 {recorded[:16]}…)"
    elif status == "differs" and entry.get("kind") != "copy":
        expected = (file.sha256 or "")[:16]
        status, detail = "corrupt", f"not the pinned upstream file (expected sha256 {expected}…)"
    elif status == "differs":
        detail = f"copied from {entry.get('source')}; " + detail
    return Check(dataset.name, file.key, "fetched", path, sha, status, detail)
