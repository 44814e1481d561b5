"""A small, real OpenAI-compatible HTTP server for tests and benchmarks (standard library only).

It answers `POST /v1/chat/completions` (plain and `stream: true` server-sent events) and `GET /v1/models`
on 127.0.0.1, with schema-valid JSON for structured-output requests and tool calls, token usage, a
configurable delay, scripted replies and fault injection (rate limits, server errors, hangs, malformed
bodies, invalid JSON content, dropped connections), either queued one per request or drawn at random.

    with OpenAIStub(delay=0.01, faults=["429"]) as stub:
        model = get_model("teacher", model="openai:stub-model", base_url=stub.base_url)

Run `python -m pedagraph.testing.openai_stub --port 8011 --fail-rate 0.2` for a server in the foreground.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import signal
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pedagraph.llm.schema import build_instance

__all__ = ["FAULTS", "OpenAIStub", "RecordedRequest", "main"]

FAULTS: tuple[str, ...] = ("429", "500", "hang", "malformed", "bad_json_content", "disconnect")
# Faults `fail_rate` picks from by default: all of them answer (or fail) at once, unlike "hang".
RANDOM_FAULTS: tuple[str, ...] = ("429", "500", "malformed", "disconnect")
REDACTED = "REDACTED"
_SENSITIVE_HEADERS = {"authorization", "api-key", "x-api-key", "proxy-authorization", "cookie"}

Reply = str | dict[str, Any]
ReplyFn = Callable[[dict[str, Any]], Reply | None]
LogprobsFn = Callable[[dict[str, Any], str], dict[str, float] | None]
"""(request JSON, reply text) -> probabilities of the candidate first tokens (None: the reply's first token, p=1)."""


@dataclass
class RecordedRequest:
    """One request the stub received: method, path, headers (secrets redacted) and parsed JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any = None
    authorized: bool | None = None  # whether the bearer key matched `api_key` (None when no key is required)
    fault: str | None = None  # the fault injected into the answer, if any
    time: float = field(default_factory=time.monotonic)

    def header(self, name: str, default: str | None = None) -> str | None:
        """Return a header value by case-insensitive name (secret values read `REDACTED`)."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), default)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of a chat-completions request (empty otherwise)."""
        body = self.body if isinstance(self.body, dict) else {}
        return list(body.get("messages") or [])

    @property
    def text(self) -> str:
        """All message text of the request, joined (handy for `in` checks)."""
        return "\n".join(_content_text(m.get("content")) for m in self.messages)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _approx_tokens(text: str) -> int:
    """Approximate a token count from text length (about four characters per token)."""
    return max(1, (len(text) + 3) // 4)


def _redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        if name.lower() in _SENSITIVE_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} {REDACTED}".strip()
        out[name] = value
    return out


def _mask_key(key: str) -> str:
    return f"{key[:3]}***{key[-4:]}" if len(key) > 10 else "***"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # listen backlog: 64+ concurrent clients must not wait on the default of 5
    stub: OpenAIStub


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    wbufsize = 1 << 16  # headers and body leave in one write; with TCP_NODELAY, no delayed-ACK stalls

    # -- plumbing ------------------------------------------------------------------------------------------
    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        self.server.stub._track_connection(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.stub._track_connection(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        if self.server.stub.verbose:
            super().log_message(format, *args)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_raw(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_error(self, status: int, message: str, etype: str, code: str | None = None, **headers: str) -> None:
        payload = {"error": {"message": message, "type": etype, "param": None, "code": code}}
        self._send_json(status, payload, {k.replace("_", "-"): v for k, v in headers.items()})

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return raw.decode("utf-8", "replace")

    def _drop(self) -> None:
        """Close the connection without sending anything."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- routes --------------------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        """Serve `GET /v1/models` (and `/v1/models/<id>`)."""
        stub = self.server.stub
        record = stub._record(self, None)
        if not self._authorized(record):
            return
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "pedagraph-stub"} for m in stub.models]
            self._send_json(200, {"object": "list", "data": data})
        elif path.startswith(("/v1/models/", "/models/")):
            name = path.split("/models/", 1)[1]
            if stub.strict_models and name not in stub.models:
                self._send_error(404, f"The model `{name}` does not exist", "invalid_request_error", "model_not_found")
            else:
                self._send_json(200, {"id": name, "object": "model", "created": 0, "owned_by": "pedagraph-stub"})
        else:
            self._send_error(404, f"unknown path {path}", "invalid_request_error")

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        """Serve `POST /v1/chat/completions`."""
        stub = self.server.stub
        body = self._read_body()
        record = stub._record(self, body)
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error(404, f"unknown path {path}", "invalid_request_error")
            return
        with stub._in_flight():
            if stub.delay > 0 and stub._stopping.wait(stub.delay):
                self._drop()
                return
            if not self._authorized(record):
                return
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                self._send_error(400, "request body must be a JSON object with `messages`", "invalid_request_error")
                return
            name = str(body.get("model", ""))
            if stub.strict_models and name not in stub.models:
                self._send_error(
                    404,
                    f"The model `{name}` does not exist or you do not have access to it.",
                    "invalid_request_error",
                    "model_not_found",
                )
                return
            fmt = body.get("response_format")
            kind = fmt.get("type") if isinstance(fmt, dict) else None
            if kind in stub.refuse_formats:  # a server without this structured-output mode
                self._send_error(stub.refusal_status, stub.refusal_message.replace("{type}", str(kind)),
                                 "invalid_request_error")  # fmt: skip
                return
            fault = stub._next_fault()
            record.fault = fault
            if fault and self._fault(fault):
                return
            completion = stub._completion(body, bad_json=fault == "bad_json_content")
            if body.get("stream"):
                self._stream(completion, body)
            else:
                self._send_json(200, completion)

    def _authorized(self, record: RecordedRequest) -> bool:
        if record.authorized is False:
            given = self.headers.get("Authorization", "")
            key = given.split(" ", 1)[1] if " " in given else given
            shown = _mask_key(key) if key else "(none)"
            self._send_error(401, f"Incorrect API key provided: {shown}.", "invalid_request_error", "invalid_api_key")
            return False
        return True

    def _fault(self, fault: str) -> bool:
        """Answer with `fault`; return False when the fault only changes the content (bad_json_content)."""
        stub = self.server.stub
        if fault == "429":
            self._send_error(
                429,
                "Rate limit reached (stub).",
                "requests",
                "rate_limit_exceeded",
                Retry_After=f"{stub.retry_after:g}",
            )
        elif fault == "500":
            self._send_error(500, "The server had an error processing your request (stub).", "server_error")
        elif fault == "hang":
            stub._stopping.wait(stub.hang_seconds)
            self._drop()
        elif fault == "malformed":
            self._send_raw(200, b"<html>this is not JSON {", "application/json")
        elif fault == "disconnect":
            self._drop()
        elif fault == "bad_json_content":
            return False
        else:
            self._send_error(500, f"unknown stub fault {fault!r}", "server_error")
        return True

    def _stream(self, completion: dict[str, Any], body: dict[str, Any]) -> None:
        stub = self.server.stub
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        try:
            for event in _stream_events(completion, stub.stream_chunk_chars, include_usage):
                data = f"data: {event}\n\n".encode()
                self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
                if stub.stream_delay > 0 and stub._stopping.wait(stub.stream_delay):
                    self._drop()
                    return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def _split(text: str, size: int) -> list[str]:
    """Split text into pieces of about `size` characters, on word boundaries when possible."""
    pieces: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and len(candidate) > size:
            pieces.append(current + " ")
            current = word
        else:
            current = candidate
    if current or not pieces:
        pieces.append(current)
    return pieces


def _stream_events(completion: dict[str, Any], size: int, include_usage: bool) -> Iterator[str]:
    base = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    message = completion["choices"][0]["message"]
    finish = completion["choices"][0]["finish_reason"]

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return json.dumps({**base, "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    if message.get("content"):
        for piece in _split(message["content"], size):
            yield chunk({"content": piece})
    for index, call in enumerate(message.get("tool_calls") or []):
        args = call["function"]["arguments"]
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        yield chunk({"tool_calls": [head]})
        for start in range(0, len(args), size):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": args[start : start + size]}}]})
    yield chunk({}, finish)
    if include_usage:
        yield json.dumps({**base, "choices": [], "usage": completion["usage"]})
    yield "[DONE]"


class OpenAIStub:
    """An OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

    Args:
        models: Model ids listed by `GET /v1/models`; with `strict_models`, any other name gets a 404.
        api_key: When set, requests must carry `Authorization: Bearer <api_key>` (401 otherwise).
        delay: Seconds to wait before answering each chat request.
        replies: Replies used in order, one per chat request, before `reply_fn` and the defaults.
        reply_fn: Called with the request JSON; returns the content (str), a structured payload (dict:
            tool-call arguments when a tool call is due, JSON content otherwise) or None for the default.
        logprobs_fn: For requests with `logprobs: true`: called with the request JSON and the reply text, returns
            the probabilities of the first token's candidates (`{"yes": 0.8, "no": 0.2}`), sent as its
            `top_logprobs`; None (or no function) gives the reply's first token probability 1.
        logprobs_slot: "first" (default) puts those candidates on the reply's first token; "last" on its last
            token that is one of them (the answer a reasoned reply ends with).
        faults: Faults consumed one per chat request, in order (see `FAULTS`); None means "no fault".
        fail_rate: Probability that a chat request (with no queued fault) gets a random fault.
        random_faults: The faults `fail_rate` draws from.
        seed: Seed of the random fault picker.
        retry_after: Value of the Retry-After header sent with 429s, in seconds.
        hang_seconds: How long a "hang" fault waits before closing (longer than any client timeout).
        stream_chunk_chars: About how many characters each streamed content chunk carries.
        stream_delay: Seconds between streamed chunks.
        port: Port to listen on (0 picks a free one); kept after `stop`, so `base_url` then refuses.
        host: Interface to bind.
        verbose: Log each request to stderr, as http.server does.
        refuse_formats: `response_format` types this server does not support (`json_schema`, `json_object`; None
            for requests without one): such a request gets `refusal_status` with `refusal_message` (`{type}` is
            replaced by the type), as servers without that structured-output mode answer.
    """

    def __init__(
        self,
        *,
        models: Iterable[str] = ("stub-model",),
        strict_models: bool = False,
        api_key: str | None = None,
        delay: float = 0.0,
        replies: Iterable[Reply] = (),
        reply_fn: ReplyFn | None = None,
        logprobs_fn: LogprobsFn | None = None,
        logprobs_slot: str = "first",
        faults: Iterable[str | None] = (),
        fail_rate: float = 0.0,
        random_faults: Iterable[str] = RANDOM_FAULTS,
        seed: int = 0,
        retry_after: float = 0.0,
        hang_seconds: float = 30.0,
        stream_chunk_chars: int = 8,
        stream_delay: float = 0.0,
        port: int = 0,
        host: str = "127.0.0.1",
        verbose: bool = False,
        refuse_formats: Iterable[str | None] = (),
        refusal_status: int = 400,
        refusal_message: str = "response_format type {type} is not supported",
    ) -> None:
        self.models = list(models)
        self.refuse_formats = frozenset(refuse_formats)
        self.refusal_status = refusal_status
        self.refusal_message = refusal_message
        self.strict_models = strict_models
        self.api_key = api_key
        self.delay = delay
        self.reply_fn = reply_fn
        self.logprobs_fn = logprobs_fn
        self.logprobs_slot = logprobs_slot
        self.fail_rate = fail_rate
        self.random_faults = tuple(random_faults)
        self.retry_after = retry_after
        self.hang_seconds = hang_seconds
        self.stream_chunk_chars = max(1, stream_chunk_chars)
        self.stream_delay = stream_delay
        self.verbose = verbose
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._replies: deque[Reply] = deque(replies)
        self._faults: deque[str | None] = deque()
        self.add_faults(*faults)
        for name in self.random_faults:
            _check_fault(name)
        self._rng = random.Random(seed)  # noqa: S311 - fault picking, not cryptography
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._active = 0
        self.max_concurrent = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> OpenAIStub:
        """Bind and serve in a daemon thread; return self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self._host, self._port), _Handler)
        server.stub = self
        self._port = int(server.server_address[1])  # a restart reuses the port it got
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"openai-stub-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: wake hanging handlers, close the listening socket and every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                conn.close()
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while the server accepts connections."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The port the server listens on (or last listened on; 0 before the first start)."""
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI base URL of this server, e.g. `http://127.0.0.1:8011/v1`."""
        return f"http://{self._host}:{self.port}/v1"

    # -- configuration at run time -------------------------------------------------------------------------
    def add_faults(self, *faults: str | None) -> None:
        """Queue faults for the next chat requests, one per request (None lets one request through)."""
        for fault in faults:
            if fault is not None:
                _check_fault(fault)
        with self._lock:
            self._faults.extend(faults)

    def add_replies(self, *replies: Reply) -> None:
        """Queue replies for the next chat requests, one per request."""
        with self._lock:
            self._replies.extend(replies)

    # -- what the stub saw ---------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a copy), oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The chat-completions requests received so far."""
        return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    @property
    def in_flight(self) -> int:
        """Chat requests being answered right now."""
        return self._active

    def reset(self) -> None:
        """Forget recorded requests, queued faults and replies, and the concurrency high-water mark."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._replies.clear()
            self.max_concurrent = self._active

    # -- internals used by the handler ---------------------------------------------------------------------
    def _track_connection(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _record(self, handler: BaseHTTPRequestHandler, body: Any) -> RecordedRequest:
        authorized: bool | None = None
        if self.api_key is not None:
            authorized = handler.headers.get("Authorization", "") == f"Bearer {self.api_key}"
        record = RecordedRequest(
            method=handler.command,
            path=handler.path,
            headers=_redact_headers(handler.headers.items()),
            body=body,
            authorized=authorized,
        )
        with self._lock:
            self._requests.append(record)
        return record

    @contextmanager
    def _in_flight(self) -> Iterator[None]:
        with self._lock:
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def _next_fault(self) -> str | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            if self.fail_rate > 0 and self.random_faults and self._rng.random() < self.fail_rate:
                return self._rng.choice(self.random_faults)
        return None

    def _next_reply(self, body: dict[str, Any]) -> Reply | None:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
        if self.reply_fn is not None:
            return self.reply_fn(body)
        return None

    def _completion(self, body: dict[str, Any], *, bad_json: bool = False) -> dict[str, Any]:
        """Build the chat.completion object answering `body`."""
        messages = body.get("messages") or []
        last_user = next((_content_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        reply = self._next_reply(body)
        tool = _tool_to_call(body.get("tools") or [], body.get("tool_choice"))
        schema = _response_schema(body.get("response_format"))
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        finish = "stop"
        if tool is not None and not isinstance(reply, str):
            fn = tool.get("function", {})
            if bad_json:
                args = "{this is not json"
            elif isinstance(reply, dict):
                args = json.dumps(reply)
            else:
                args = json.dumps(build_instance(fn.get("parameters") or {"type": "object"}, seed_text="stub"))
            call = {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": fn.get("name", "tool"), "arguments": args},
            }
            message["tool_calls"] = [call]
            finish = "tool_calls"
        elif bad_json:
            message["content"] = "Sure! Here is what you asked for, but not as JSON {oops"
        elif isinstance(reply, str):
            message["content"] = reply
        elif isinstance(reply, dict):
            message["content"] = json.dumps(reply)
        elif schema is not None:
            message["content"] = json.dumps(build_instance(schema, seed_text="stub"))
        elif (body.get("response_format") or {}).get("type") == "json_object":
            message["content"] = json.dumps({"reply": f"stub reply to: {last_user}"})
        else:
            message["content"] = f"stub reply to: {last_user}"
        prompt_text = "\n".join(_content_text(m.get("content")) for m in messages)
        out_text = (message["content"] or "") + "".join(
            c["function"]["arguments"] for c in message.get("tool_calls") or []
        )
        prompt_tokens, completion_tokens = _approx_tokens(prompt_text), _approx_tokens(out_text)
        logprobs = None
        if body.get("logprobs") and isinstance(message["content"], str):
            first = self.logprobs_fn(body, message["content"]) if self.logprobs_fn is not None else None
            logprobs = _logprobs(message["content"], first, int(body.get("top_logprobs") or 0), self.logprobs_slot)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model", self.models[0] if self.models else "stub-model")),
            "system_fingerprint": "fp_stub",
            "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _logprobs(content: str, first: dict[str, float] | None, top: int, slot: str = "first") -> dict[str, Any]:
    """An OpenAI `logprobs` object for `content`, one entry per word; `first` gives one word's candidates.

    `slot="first"`: the first word's; `slot="last"`: the last word that is one of the candidates (the answer a
    reasoned reply ends with), else the first word's.
    """
    words = [w for w in re.split(r"(?=\s)", content) if w] or [""]
    entries: list[dict[str, Any]] = [
        {"token": w, "logprob": 0.0, "bytes": list(w.encode()), "top_logprobs": []} for w in words
    ]
    candidates = first or {words[0]: 1.0}
    ranked = sorted(candidates.items(), key=lambda kv: -kv[1])[: max(top, 1)]
    names = {c.strip().lower() for c in candidates}
    at = next((i for i in reversed(range(len(words))) if words[i].strip(" \n.,:;!?").lower() in names), 0)
    at = at if slot == "last" else 0
    head = entries[at]
    head["top_logprobs"] = [
        {"token": t, "logprob": math.log(p) if p > 0 else -1e4, "bytes": list(t.encode())} for t, p in ranked
    ]
    head["logprob"] = next((e["logprob"] for e in head["top_logprobs"] if e["token"] == words[at]), 0.0)
    return {"content": entries, "refusal": None}


def _check_fault(name: str) -> None:
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; use one of: {', '.join(FAULTS)}")


def _response_schema(response_format: Any) -> dict[str, Any] | None:
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else {"type": "object"}
    return None


def _tool_to_call(tools: list[dict[str, Any]], tool_choice: Any) -> dict[str, Any] | None:
    """Return the tool a reply should call: the forced one, else the first tool (None when none or "none")."""
    if not tools or tool_choice == "none":
        return None
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        for tool in tools:
            if (tool.get("function") or {}).get("name") == name:
                return tool
    return tools[0]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Run a stub server in the foreground until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m pedagraph.testing.openai_stub", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8011, help="0 picks a free port")
    parser.add_argument("--model", action="append", dest="models", help="model id to list (repeatable)")
    parser.add_argument("--strict-models", action="store_true", help="404 for models not listed")
    parser.add_argument("--api-key", default=None, help="require this bearer key (401 otherwise)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="probability of a random fault")
    parser.add_argument("--faults", default=",".join(RANDOM_FAULTS), help="comma-separated faults to draw from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retry-after", type=float, default=1.0, help="Retry-After seconds sent with 429s")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    stub = OpenAIStub(
        models=args.models or ("stub-model",),
        strict_models=args.strict_models,
        api_key=args.api_key,
        delay=args.delay,
        fail_rate=args.fail_rate,
        random_faults=[f.strip() for f in args.faults.split(",") if f.strip()],
        seed=args.seed,
        retry_after=args.retry_after,
        port=args.port,
        host=args.host,
        verbose=not args.quiet,
    )
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    with stub:
        print(  # noqa: T201 - a foreground server says where it listens
            f"OpenAI-compatible stub at {stub.base_url} (models: {', '.join(stub.models)}); Ctrl-C to stop",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping")  # noqa: T201


if __name__ == "__main__":
    main()
