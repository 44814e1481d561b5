"""The app's LangGraph checkpointer: SQLite in PEDAGRAPH_HOME by default, PostgreSQL by database URL.

`open_checkpointer(settings)` returns a `Checkpointer` whose `saver` is passed to `build_graph(checkpointer=...)`
(how graphs are built does not change). With `PEDAGRAPH_DATABASE_URL` (or `database_url` in pedagraph.toml)
set to a `postgresql://` URL, the saver is `langgraph-checkpoint-postgres`'s `PostgresSaver` over a connection
pool, so several app processes serve the same threads; otherwise a `SqliteSaver` on `settings.checkpoint_path`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from pedagraph.errors import ConfigError, DataError
from pedagraph.settings import Settings, ensure_home

__all__ = ["Checkpointer", "open_checkpointer"]

_SETUP_LOCK_KEY = 0x7065_6461_636B_7074  # serialises PostgresSaver.setup() across processes starting at once
POOL_SIZE = 8
"""Most PostgreSQL connections one app process's checkpointer opens."""


@dataclass
class Checkpointer:
    """A checkpoint saver and how to close what it holds."""

    saver: BaseCheckpointSaver
    kind: str
    """`sqlite` or `postgres`."""
    _close: Callable[[], None]

    def close(self) -> None:
        """Close the saver's database connection(s)."""
        self._close()


def open_checkpointer(settings: Settings) -> Checkpointer:
    """Open the configured checkpointer: PostgreSQL when a database URL is set, else SQLite in the home."""
    if settings.database_url is not None:
        return _open_postgres(settings.database_url.get_secret_value())
    from langgraph.checkpoint.sqlite import SqliteSaver

    ensure_home(settings)
    conn = sqlite3.connect(settings.checkpoint_path, check_same_thread=False)
    saver = SqliteSaver(conn)

    def close() -> None:
        with saver.lock:
            conn.close()

    return Checkpointer(saver=saver, kind="sqlite", _close=close)


def _wait_for_lock(conn: Any, timeout: float = 120.0) -> None:
    """Take the setup lock by polling, never by a waiting statement.

    A statement left waiting holds a snapshot, and the other process's `CREATE INDEX CONCURRENTLY` (in
    `PostgresSaver.setup`) waits for every older snapshot to end: the two would wait for each other.
    """
    deadline = time.monotonic() + timeout
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", (_SETUP_LOCK_KEY,)).fetchone()[0]:
        if time.monotonic() > deadline:
            raise TimeoutError("another process has been creating the checkpoint tables for too long")
        time.sleep(0.1)


def _open_postgres(url: str) -> Checkpointer:
    from pedagraph.learner_pg import redact_url

    try:
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool
    except ImportError:
        raise ConfigError(
            "PEDAGRAPH_DATABASE_URL names a PostgreSQL database, but langgraph-checkpoint-postgres is not installed",
            hint="pip install 'pedagraph[postgres]'",
        ) from None
    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}
    pool = ConnectionPool(url, min_size=1, max_size=POOL_SIZE, kwargs=kwargs, open=False)
    try:
        pool.open(wait=True, timeout=30)
        saver = PostgresSaver(pool)
        with psycopg.connect(url, autocommit=True) as lock_conn:  # one process creates the tables at a time
            _wait_for_lock(lock_conn)
            try:
                saver.setup()
            finally:
                lock_conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK_KEY,))
    except Exception as exc:
        pool.close()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"cannot open the checkpoint database {redact_url(url)}: {first}",
            hint="check that the PostgreSQL server is up and PEDAGRAPH_DATABASE_URL is right",
        ) from None
    return Checkpointer(saver=saver, kind="postgres", _close=pool.close)
