"""A PostgreSQL database for tests: the server `.ci/run` starts, one fresh schema per test.

`scripts/test_postgres.sh start` starts a throwaway server and prints its URL; `.ci/run` exports it as
`PEDAGRAPH_TEST_DATABASE_URL`. `unavailable()` says why a test must skip (no URL, psycopg missing, server down);
`fresh_schema(url)` creates an empty schema, yields a URL whose connections use it, and drops it afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TEST_URL_ENV = "PEDAGRAPH_TEST_DATABASE_URL"
TEST_URL: str | None = os.environ.get(TEST_URL_ENV) or None
"""Read at import: the tests' isolation fixture clears PEDAGRAPH_* variables before each test."""


def unavailable(url: str | None = TEST_URL) -> str | None:
    """Return why PostgreSQL tests cannot run here (None when they can)."""
    if not url:
        return f"no PostgreSQL server: set {TEST_URL_ENV} (scripts/test_postgres.sh start prints one; CI does)"
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'pedagraph[postgres]')"
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {TEST_URL_ENV} is not reachable: {str(exc).strip().splitlines()[0]}"
    return None


def with_schema(url: str, schema: str) -> str:
    """Return `url` with its connections' search_path set to `schema`."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """Create an empty schema, yield a URL that uses it, then drop it with everything in it."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_schema(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
