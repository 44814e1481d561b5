"""A small HTTP file server for testing `pedagraph data fetch` offline (standard library only).

It serves the files under a directory on 127.0.0.1 as `GET /<key>` (the layout of a dataset mirror, e.g.
`/gsm8k/test.jsonl`), with `Content-Length`, a strong `ETag`, `Last-Modified`, single-range `Range: bytes=N-`
requests (206, or 416 past the end) and `If-Range`, and injects faults, queued one per request:

* `drop` — send the headers and half of the body, then close the connection;
* `no_range` — ignore `Range` and send the whole file (200);
* `corrupt` — send the file with its last byte changed;
* `bad_range` — answer a Range request with 206 and the whole file (`Content-Range: bytes 0-...`);
* `403`, `404`, `500` — answer with that status.

    with DataServer(Path("../shared/data"), faults={"gsm8k/test.jsonl": ["drop"]}) as server:
        fetch(["gsm8k"], mirror=server.url)

Run `python -m pedagraph.testing.data_server --root ../shared/data --port 8012` for a server in the foreground.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import socket
import threading
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["FAULTS", "DataServer", "ServedRequest", "main"]

FAULTS: tuple[str, ...] = ("drop", "no_range", "corrupt", "bad_range", "403", "404", "500")
_STATUS_FAULTS = ("403", "404", "500")


@dataclass(frozen=True)
class ServedRequest:
    """One request the server received and how it answered."""

    key: str
    range: str | None
    if_range: str | None
    status: int
    fault: str | None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: DataServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (it gave up on a bad range, say) is not an error of the server."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        if self.server.owner.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        """Serve one file (or a fault)."""
        owner = self.server.owner
        key = unquote(urlsplit(self.path).path).lstrip("/")
        fault = owner._next_fault(key)
        path = (owner.root / key).resolve()
        inside = path.is_relative_to(owner.root.resolve()) and path.is_file()
        if fault in _STATUS_FAULTS or not inside:
            status = int(fault) if fault in _STATUS_FAULTS else 404
            owner._log(ServedRequest(key, self.headers.get("Range"), self.headers.get("If-Range"), status, fault))
            self._answer(status, f"{status}\n".encode(), {})  # logged first: a client may look as soon as it has it
            return
        data = path.read_bytes()
        if fault == "corrupt":
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        modified = formatdate(path.stat().st_mtime, usegmt=True)
        headers = {"ETag": etag, "Last-Modified": modified, "Accept-Ranges": "bytes"}
        status, body = 200, data
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
        if match and fault != "no_range" and owner.ranges and if_range in (None, etag, modified):
            start = 0 if fault == "bad_range" else int(match.group(1))
            if start >= len(data):
                status, body = 416, b""
                headers["Content-Range"] = f"bytes */{len(data)}"
            else:
                status, body = 206, data[start:]
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        owner._log(ServedRequest(key, wanted, if_range, status, fault))
        if fault == "drop":
            self._answer(status, body, headers, cut=max(1, len(body) // 2))
        else:
            self._answer(status, body, headers)

    def _answer(self, status: int, body: bytes, headers: dict[str, str], cut: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        if cut is not None:  # the rest never comes: the client sees the connection close mid-body
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class DataServer:
    """Serve the files under `root` on 127.0.0.1 (port 0: a free one), with queued faults per key."""

    def __init__(
        self,
        root: Path,
        *,
        port: int = 0,
        faults: dict[str, list[str]] | None = None,
        ranges: bool = True,
        verbose: bool = False,
    ) -> None:
        self.root = Path(root)
        self.ranges = ranges
        self.verbose = verbose
        self._port = port
        self._lock = threading.Lock()
        self._faults: dict[str, deque[str]] = {}
        self._requests: list[ServedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        for key, queued in (faults or {}).items():
            self.add_faults(key, *queued)

    def start(self) -> DataServer:
        """Bind and serve in a daemon thread; return self."""
        if self._server is None:
            server = _Server(("127.0.0.1", self._port), _Handler)
            server.owner = self
            self._port = int(server.server_address[1])
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DataServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._port

    @property
    def url(self) -> str:
        """The mirror base URL, e.g. `http://127.0.0.1:8012`."""
        return f"http://127.0.0.1:{self._port}"

    def add_faults(self, key: str, *faults: str) -> None:
        """Queue faults for the next requests of `key`, one per request."""
        for fault in faults:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; one of {', '.join(FAULTS)}")
        with self._lock:
            self._faults.setdefault(key, deque()).extend(faults)

    @property
    def requests(self) -> list[ServedRequest]:
        """Every request served so far, in order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, key: str) -> list[ServedRequest]:
        """The requests of one key."""
        return [r for r in self.requests if r.key == key]

    def _next_fault(self, key: str) -> str | None:
        with self._lock:
            queue = self._faults.get(key)
            return queue.popleft() if queue else None

    def _log(self, request: ServedRequest) -> None:
        with self._lock:
            self._requests.append(request)


def main(argv: list[str] | None = None) -> None:
    """Serve a directory in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="directory laid out as <dataset>/<file>")
    parser.add_argument("--port", type=int, default=8012)
    parser.add_argument("--no-ranges", action="store_true", help="ignore Range requests")
    args = parser.parse_args(argv)
    server = DataServer(args.root, port=args.port, ranges=not args.no_ranges, verbose=True).start()
    print(f"serving {args.root} at {server.url} (PEDAGRAPH_DATA_URL_BASE={server.url})")  # noqa: T201
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
