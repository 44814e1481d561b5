"""The learner store on PostgreSQL, for several app processes (or machines) serving the same learners.

`PostgresLearnerStore` has the public API and semantics of `pedagraph.learner.LearnerStore` (the SQLite one
stays the embedded default); `get_learner_store()` returns it when `PEDAGRAPH_DATABASE_URL` (or `database_url`
in pedagraph.toml) is a `postgresql://` URL. Needs the `postgres` extra (psycopg 3).

Concurrency: every read-modify-write (`apply`, `record_evidence`, `update`, `save`, `delete`, ...) runs in one
transaction that first takes a transaction-scoped advisory lock on the learner id, then reads the row
`FOR UPDATE`. Writers of one learner therefore queue up across processes — even for a learner with no row yet,
which a row lock alone would not cover — and each reads the previous writer's committed record, so no update
is lost. A writer waits at most `timeout` seconds (`lock_timeout`), then gets a DataError. Reads take no lock.

The table is `learners` in the connection's schema (pick one with `?options=-csearch_path%3Dmyschema`), with
the same columns as the SQLite file: the JSON record as text, so the same migrations apply on read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pedagraph.errors import ConfigError, DataError
from pedagraph.learner import LearnerModel, LearnerStore, _now, validate_learner_id

__all__ = ["PostgresLearnerStore", "is_postgres_url", "redact_url"]

_LOCK_SEED = 0x7065_6461  # hashtextextended seed: keeps our advisory lock keys apart from other users'
_SETUP_LOCK_KEY = 0x7065_6461_6772_6170  # serialises CREATE TABLE across processes starting at once
POOL_SIZE = 10
"""Most connections one process's learner store opens (threads beyond it wait up to `timeout` for one)."""
_URL_PASSWORD = re.compile(r"(?P<head>://[^/:@]*:)[^@/]*@")


def is_postgres_url(url: str | None) -> bool:
    """Return whether `url` names a PostgreSQL database (`postgresql://` or `postgres://`)."""
    return bool(url) and str(url).split("://", 1)[0].lower() in ("postgresql", "postgres")


def redact_url(url: str) -> str:
    """Return the URL with its password replaced by `***` (for messages and reprs)."""
    return _URL_PASSWORD.sub(r"\g<head>***@", url)


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            "PEDAGRAPH_DATABASE_URL names a PostgreSQL database, but psycopg is not installed",
            hint="pip install 'pedagraph[postgres]'",
        ) from None
    return psycopg


class PostgresLearnerStore(LearnerStore):
    """Durable learner records in a PostgreSQL table, safe for concurrent threads, processes and machines."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:  # noqa: D417 - same API as LearnerStore
        if not is_postgres_url(url):
            raise ConfigError(f"not a PostgreSQL URL: {redact_url(str(url))}", hint="use postgresql://user@host/db")
        self._psycopg = _psycopg()
        self.url = url
        self._start(timeout)

    def __repr__(self) -> str:
        return f"PostgresLearnerStore({redact_url(self.url)!r})"

    @property
    def path(self) -> str:  # type: ignore[override]
        """Where the records live, without the password (the SQLite store's is a file path)."""
        return redact_url(self.url)

    # -- plumbing

    def _error(self, exc: Exception) -> DataError:
        return DataError(
            f"learner database {redact_url(self.url)}: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}",
            hint="check that the PostgreSQL server is up and PEDAGRAPH_DATABASE_URL is right; retry",
        )

    def _open(self) -> Any:  # type: ignore[override]
        try:
            conn = self._psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.timeout)))
            conn.execute(f"SET lock_timeout = {int(self.timeout * 1000)}")
            return conn
        except self._psycopg.Error as exc:
            raise self._error(exc) from None

    def _init_db(self) -> None:
        with self._init_lock:
            conn = self._open()
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK_KEY,))
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS learners ("
                        " learner_id TEXT PRIMARY KEY,"
                        " schema_version INTEGER NOT NULL,"
                        " updated_at TIMESTAMPTZ NOT NULL,"
                        " data TEXT NOT NULL)"
                    )
            except self._psycopg.Error as exc:
                raise self._error(exc) from None
            finally:
                conn.close()
            self._initialised = True
            self._generation += 1

    def _pool(self) -> Any:
        """This process's connection pool (at most `POOL_SIZE` connections; a forked child makes its own)."""
        pool = getattr(self, "_pool_of", None)
        if pool is not None and pool[0] == os.getpid():
            return pool[1]
        from psycopg_pool import ConnectionPool

        lock_timeout = int(self.timeout * 1000)

        def configure(conn: Any) -> None:
            conn.execute(f"SET lock_timeout = {lock_timeout}")

        with self._init_lock:
            pool = getattr(self, "_pool_of", None)
            if pool is not None and pool[0] == os.getpid():
                return pool[1]
            new = ConnectionPool(
                self.url, min_size=1, max_size=POOL_SIZE, timeout=self.timeout, configure=configure, open=False,
                check=ConnectionPool.check_connection,  # a connection the server dropped is replaced, not used
                kwargs={"autocommit": True, "connect_timeout": max(1, int(self.timeout))},
            )  # fmt: skip
            new.open(wait=False)
            self._pool_of = (os.getpid(), new)
        return new

    def close(self) -> None:
        """Close this process's connections to the database."""
        pool = getattr(self, "_pool_of", None)
        self._pool_of = None
        if pool is not None and pool[0] == os.getpid():
            pool[1].close()

    @contextmanager
    def _connection(self, *, write: bool) -> Iterator[Any]:  # type: ignore[override]
        from psycopg_pool import PoolTimeout

        try:
            with self._pool().connection() as conn:
                if write:
                    with conn.transaction():
                        yield conn
                else:
                    yield conn
        except (self._psycopg.Error, PoolTimeout) as exc:
            raise self._error(exc) from None

    @staticmethod
    def _read(conn: Any, learner_id: str) -> LearnerModel | None:  # type: ignore[override]
        """Read a learner; inside a write transaction, lock it first (advisory lock, then the row)."""
        status = conn.info.transaction_status
        locking = status == type(status).INTRANS
        if locking:
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, %s))", (learner_id, _LOCK_SEED))
        sql = "SELECT data FROM learners WHERE learner_id = %s" + (" FOR UPDATE" if locking else "")
        row = conn.execute(sql, (learner_id,)).fetchone()
        return None if row is None else LearnerStore._decode(learner_id, row[0])

    @staticmethod
    def _write(conn: Any, model: LearnerModel) -> LearnerModel:  # type: ignore[override]
        model.revision += 1
        model.updated_at = _now()
        conn.execute(
            "INSERT INTO learners (learner_id, schema_version, updated_at, data) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (learner_id) DO UPDATE SET schema_version = excluded.schema_version, "
            "updated_at = excluded.updated_at, data = excluded.data",
            (model.learner_id, model.schema_version, model.updated_at, model.model_dump_json()),
        )
        return model

    # -- the public methods that run their own SQL

    def exists(self, learner_id: str) -> bool:
        """Return whether a record is stored for this learner id."""
        learner_id = validate_learner_id(learner_id)
        with self._connection(write=False) as conn:
            row = conn.execute("SELECT 1 FROM learners WHERE learner_id = %s", (learner_id,)).fetchone()
        return row is not None

    def list_learners(self) -> list[str]:
        """Return the ids of all stored learners, sorted (corrupt records are listed too)."""
        with self._connection(write=False) as conn:
            rows = conn.execute("SELECT learner_id FROM learners ORDER BY learner_id COLLATE \"C\"").fetchall()
        return [row[0] for row in rows]

    def delete(self, learner_id: str) -> bool:
        """Delete a learner's record (even a corrupt one); return whether there was one."""
        learner_id = validate_learner_id(learner_id)
        with self._connection(write=True) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, %s))", (learner_id, _LOCK_SEED))
            return conn.execute("DELETE FROM learners WHERE learner_id = %s", (learner_id,)).rowcount > 0
