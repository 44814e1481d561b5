"""An optional on-disk response cache: the same model, parameters and messages give the stored reply."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, message_to_dict, messages_from_dict

_ACTIVE: ContextVar[ResponseCache | None] = ContextVar("pedagraph_response_cache", default=None)


class ResponseCache:
    """SQLite store of model replies keyed by model, parameters and messages (thread- and process-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, value TEXT, created REAL)"
        )
        self._conn.commit()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> AIMessage | None:
        """Return the stored reply for `key`, or None."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        (message,) = messages_from_dict([json.loads(row[0])])
        return message if isinstance(message, AIMessage) else AIMessage(content=message.content)

    def put(self, key: str, model: str, message: BaseMessage) -> None:
        """Store a reply (the first one stored for a key wins)."""
        value = json.dumps(message_to_dict(message), default=str)
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO responses (key, model, value, created) VALUES (?, ?, ?, ?)",
                (key, model, value, time.time()),
            )
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()


def cache_key(model: str, base_url: str | None, params: dict[str, Any], messages: list[BaseMessage],
              kwargs: dict[str, Any]) -> str:
    """Hash of everything that determines a reply: model, server, sampling parameters, messages, request options."""
    blob = json.dumps(
        {
            "model": model,
            "base_url": base_url,
            "params": params,
            "messages": [message_to_dict(m) for m in messages],
            "kwargs": kwargs,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def active_response_cache() -> ResponseCache | None:
    """The cache in effect in the current context, if any."""
    return _ACTIVE.get()


@contextmanager
def use_response_cache(cache: ResponseCache | str | Path | None) -> Iterator[ResponseCache | None]:
    """Serve and store model replies from `cache` for every call made inside this block."""
    if cache is not None and not isinstance(cache, ResponseCache):
        cache = ResponseCache(cache)
    token = _ACTIVE.set(cache)
    try:
        yield cache
    finally:
        _ACTIVE.reset(token)
