"""A local stand-in for a tracing backend (LangSmith's run API, Langfuse's OTLP endpoint): it keeps what is sent.

Tests point `LANGSMITH_ENDPOINT` or `LANGFUSE_HOST` at it and then read `requests` to check what a trace holds.
It answers every POST/PATCH with 200 and `{}`, and `GET /info` with a minimal server description.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Captured", "TraceServer"]


@dataclass(frozen=True)
class Captured:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class TraceServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) that records every request; use as a context manager."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return

            def _record(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with owner._lock:
                    owner.requests.append(Captured(self.command, self.path, dict(self.headers), body))

            def _reply(self, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._record()
                self._reply({"version": "0.0.0", "batch_ingest_config": {}} if self.path.startswith("/info") else {})

            def do_POST(self) -> None:  # noqa: N802
                self._record()
                self._reply({})

            def do_PATCH(self) -> None:  # noqa: N802
                self._record()
                self._reply({})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> TraceServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bodies(self) -> bytes:
        """Every request body received so far, joined."""
        with self._lock:
            return b"\n".join(r.body for r in self.requests)
